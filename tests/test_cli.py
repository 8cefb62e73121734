"""End to end: the ``fastrpca`` command on small generated image folders, arrays and video."""

import io as _io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastrpca
from fastrpca import precision_recall
from fastrpca import roc_auc as fastrpca_roc_auc
from fastrpca._core.result import Result
from fastrpca.app import cli
from fastrpca.app.demo import make_factory_line

iio = pytest.importorskip("imageio.v3")
pytest.importorskip("matplotlib")

N, H, W = 24, 32, 48


@pytest.fixture(scope="module")
def line():
    return make_factory_line(N, H, W, random_state=11)


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory, line):
    folder = tmp_path_factory.mktemp("camera")
    for i, frame in enumerate(line.frames):  # img1 ... img24: natural order matters
        iio.imwrite(folder / f"img{i + 1}.png", np.rint(frame * 255).astype(np.uint8))
    (folder / "notes.txt").write_text("not an image, ignored")
    return folder


def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def leftovers(parent: Path):
    return [p.name for p in parent.iterdir() if ".partial-" in p.name or ".old-" in p.name]


def sheet_size(rows, h, w):
    """Pixel size of the contact sheet for small frames: tiles zoomed to ~128 px, 4 px
    gaps, header 28, left margin 56 (io.save_contact_sheet)."""
    z = max(1, 128 // h)
    return rows * h * z + (rows + 1) * 4 + 28, 4 * w * z + 5 * 4 + 56


def test_contact_sheet_of_large_frames_is_reduced(tmp_path):
    from fastrpca.app.pictures import save_contact_sheet

    n, h, w = 3, 600, 800
    frames = np.zeros((n, h, w), np.float32)
    mask = np.zeros((n, h, w), bool)
    mask[1, 300, 400] = True  # a one-pixel anomaly must stay visible after reduction
    size = save_contact_sheet(
        tmp_path / "s.png", frames, frames, mask.astype(np.float32), mask, [0, 1]
    )
    sheet = iio.imread(tmp_path / "s.png")
    # shrink 3: tiles 200 x 266
    assert sheet.shape[:2] == size == (2 * 200 + 3 * 4 + 28, 4 * 266 + 5 * 4 + 56)
    red = (sheet[..., 0] > 200) & (sheet[..., 1] < 60)
    assert red.sum() == 1


# --------------------------------------------------------------------------- decompose


def test_png_folder_round_trip(tmp_path, png_folder, line, capsys):
    out = tmp_path / "result"
    code, stdout, err = run(["decompose", png_folder, "--out", out], capsys)
    assert code == 0, err
    assert "stable PCP" in stdout and "converged in" in stdout and "pictures in" in stdout
    assert "residual" in err  # the progress report
    for sub in ("background", "foreground", "mask"):
        files = sorted((out / sub).glob("*.png"))
        assert len(files) == N
        for f in files[:3]:
            assert iio.imread(f).shape == (H, W)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input"]["frames"] == N and summary["input"]["frame_shape"] == [H, W]
    assert summary["matrix_shape"] == [H * W, N]
    assert summary["rpca"]["converged"] and summary["rpca"]["n_iter"] > 0
    assert len(summary["anomaly_fraction_per_frame"]) == N
    # natural order: frame 1 is img2.png, frame 9 is img10.png
    assert [f["source"] for f in summary["frames"][:2]] == ["img1.png", "img2.png"]
    assert summary["frames"][9]["source"] == "img10.png"
    # the PNGs hold what the arrays hold
    arrays = np.load(out / "decomposition.npz")
    mask = np.stack([iio.imread(out / "mask" / f"frame_{i:05d}.png") > 0 for i in range(N)])
    np.testing.assert_array_equal(mask, arrays["mask"])
    bg = iio.imread(out / "background" / "frame_00003.png").astype(float) / 255
    np.testing.assert_allclose(bg, np.clip(arrays["background"][3], 0, 1), atol=0.5 / 255 + 1e-6)
    # read back from PNG, the defects are still found
    precision, recall = precision_recall(line.truth, mask)
    assert precision > 0.8 and recall > 0.8
    # pictures of the right size
    shown = summary["files"]["contact_sheet_frames"]
    assert len(shown) == 8
    sheet = iio.imread(out / "contact_sheet.png")
    assert sheet.shape[:2] == sheet_size(8, H, W) == tuple(summary["files"]["contact_sheet_size"])
    assert iio.imread(out / "convergence.png").shape[:2] == (320, 800)
    assert leftovers(tmp_path) == []


def test_json_output_and_json_progress(tmp_path, png_folder, capsys):
    out = tmp_path / "r"
    code, stdout, err = run(
        ["decompose", png_folder, "--out", out, "--json", "--no-arrays", "--threshold", "0.1"],
        capsys,
    )
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["threshold"] == {
        "value": 0.1,
        "automatic": False,
        "noise_scale": pytest.approx(summary["threshold"]["noise_scale"]),
        "rule": "fixed by the user",
        "k": None,
        "min_contrast": None,
        "per_bin": None,
        "bin_edges": None,
        "quantum": None,
    }
    assert summary["out_dir"] == str(out)
    events = [json.loads(line) for line in err.splitlines()]
    assert events[-1]["event"] == "done"
    assert events[-1]["n_iter"] == summary["rpca"]["n_iter"]
    assert not (out / "decomposition.npz").exists()


def test_not_converged_is_reported_but_written(tmp_path, png_folder, capsys):
    out = tmp_path / "short"
    code, stdout, err = run(["decompose", png_folder, "--out", out, "--max-iter", "3"], capsys)
    assert code == 0
    assert "did NOT converge in 3 iterations" in stdout
    assert "fastrpca: warning: not converged" in err
    s = json.loads((out / "summary.json").read_text())
    assert not s["rpca"]["converged"] and s["rpca"]["n_iter"] == 3
    assert s["warnings"] and "max_iter=3" in s["warnings"][0]


def test_quiet_prints_nothing(tmp_path, png_folder, capsys):
    code, stdout, err = run(["decompose", png_folder, "--out", tmp_path / "q", "-q"], capsys)
    assert code == 0 and stdout == "" and err == ""


def test_image_list_colour_and_grey_mode(tmp_path, capsys):
    col = make_factory_line(12, 24, 32, color=True, random_state=2)
    files = []
    for i, frame in enumerate(col.frames):
        f = tmp_path / f"c{i:02d}.jpg" if i % 2 else tmp_path / f"c{i:02d}.png"
        iio.imwrite(f, np.rint(frame * 255).astype(np.uint8))
        files.append(f)
    code, _, err = run(["decompose", *files, "--out", tmp_path / "stack", "-q"], capsys)
    assert code == 0, err
    assert iio.imread(tmp_path / "stack" / "background" / "frame_00000.png").shape == (24, 32, 3)
    s = json.loads((tmp_path / "stack" / "summary.json").read_text())
    assert s["matrix_shape"] == [24 * 32 * 3, 12] and s["color"] == "stack"
    code, _, err = run(
        [
            "decompose",
            *files,
            "--out",
            tmp_path / "grey",
            "-q",
            "--color",
            "grey",
            "--sheet-frames",
            "3",
        ],
        capsys,
    )
    assert code == 0, err
    assert iio.imread(tmp_path / "grey" / "foreground" / "frame_00011.png").shape == (24, 32)
    s = json.loads((tmp_path / "grey" / "summary.json").read_text())
    assert s["matrix_shape"] == [24 * 32, 12]
    assert iio.imread(tmp_path / "grey" / "contact_sheet.png").shape[:2] == sheet_size(3, 24, 32)


def test_npy_and_npz_arrays(tmp_path, line, capsys):
    frames = (line.frames * 1000.0).astype(np.float32)  # arbitrary float units
    np.save(tmp_path / "f.npy", frames)
    code, _, err = run(
        [
            "decompose",
            tmp_path / "f.npy",
            "--out",
            tmp_path / "a",
            "-q",
            "--start",
            "1",
            "--step",
            "2",
            "--max-frames",
            "10",
        ],
        capsys,
    )
    assert code == 0, err
    s = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert s["input"]["frames"] == 10 and s["input"]["kind"] == "array"
    assert s["frames"][1]["source"] == "f.npy[3]"
    assert s["input"]["display_range"] == [
        pytest.approx(frames[1::2][:10].min()),
        pytest.approx(frames[1::2][:10].max()),
    ]
    arr = np.load(tmp_path / "a" / "decomposition.npz")
    # stable PCP by default: frames = L + S + E, to its tolerance 1e-3
    parts = arr["background"] + arr["foreground"] + arr["noise"]
    assert np.linalg.norm(parts - frames[1::2][:10]) < 1e-3 * np.linalg.norm(frames[1::2][:10])
    # in data units the threshold scales with the data
    assert s["threshold"]["value"] > 1.0

    np.savez(tmp_path / "two.npz", frames=frames[:6], other=np.zeros(3))
    code, _, err = run(["decompose", tmp_path / "two.npz", "--out", tmp_path / "b", "-q"], capsys)
    assert code == 0, err
    np.savez(tmp_path / "amb.npz", a=frames[:6], b=frames[:6])
    code, _, err = run(["decompose", tmp_path / "amb.npz", "--out", tmp_path / "c", "-q"], capsys)
    assert code == 1 and "--key" in err
    code, _, err = run(
        [
            "decompose",
            tmp_path / "amb.npz",
            "--out",
            tmp_path / "c",
            "-q",
            "--key",
            "b",
            "--downsample",
            "2",
        ],
        capsys,
    )
    assert code == 0, err
    assert iio.imread(tmp_path / "c" / "mask" / "frame_00000.png").shape == (H // 2, W // 2)


def test_video(tmp_path, capsys):
    pytest.importorskip("av")
    clip = make_factory_line(12, 32, 48, color=True, random_state=4)
    video = tmp_path / "line.mp4"
    iio.imwrite(
        video, np.rint(clip.frames * 255).astype(np.uint8), plugin="pyav", codec="libx264", fps=10
    )
    code, _, err = run(
        ["decompose", video, "--out", tmp_path / "v", "-q", "--max-frames", "10"], capsys
    )
    assert code == 0, err
    s = json.loads((tmp_path / "v" / "summary.json").read_text())
    assert s["input"]["kind"] == "video" and s["input"]["frames"] == 10
    assert s["frames"][3]["source"] == "line.mp4#3"
    assert len(list((tmp_path / "v" / "background").glob("*.png"))) == 10


# --------------------------------------------------------------------------- errors


@pytest.fixture
def bad_inputs(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "one").mkdir()
    iio.imwrite(tmp_path / "one" / "a.png", np.zeros((20, 30), np.uint8))
    (tmp_path / "mixed").mkdir()
    iio.imwrite(tmp_path / "mixed" / "a.png", np.zeros((20, 30), np.uint8))
    iio.imwrite(tmp_path / "mixed" / "b.png", np.zeros((22, 30), np.uint8))
    (tmp_path / "broken").mkdir()
    iio.imwrite(tmp_path / "broken" / "a.png", np.zeros((20, 30), np.uint8))
    (tmp_path / "broken" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    np.save(tmp_path / "flat.npy", np.zeros((4, 5)))
    np.save(tmp_path / "no_pixels.npy", np.zeros((4, 0, 5)))
    (tmp_path / "data.csv").write_text("1,2\n")
    return tmp_path


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["empty"], 1, "no images in folder"),
        (["one"], 1, "only one frame"),
        (["mixed"], 1, "frames differ in size: a.png is 20x30 but b.png is 22x30"),
        (["broken"], 1, "cannot read"),
        (["flat.npy"], 1, "expected frames of shape"),
        (["no_pixels.npy"], 1, "which have no pixels"),
        (["data.csv"], 1, "unknown file type"),
        (["missing"], 2, "missing does not exist"),
        (["mixed/a.png", "empty"], 1, "not several folders"),
    ],
)
def test_input_errors(bad_inputs, argv, code, message, capsys):
    out = bad_inputs / "out"
    got, stdout, err = run(["decompose", *[bad_inputs / a for a in argv], "--out", out], capsys)
    assert got == code
    assert message in err and err.startswith("fastrpca: error: ")
    assert "Traceback" not in err
    assert not out.exists() and leftovers(bad_inputs) == []


def test_usage_errors(tmp_path, png_folder, capsys):
    code, _, err = run(["decompose", png_folder, "--out", tmp_path / "o", "--lam", "-1"], capsys)
    assert code == 2 and "--lam" in err
    code, _, err = run(["decompose", png_folder], capsys)
    assert code == 2 and "--out" in err
    code, _, err = run(["frobnicate"], capsys)
    assert code == 2
    code, _, err = run([], capsys)
    assert code == 2 and "decompose" in err
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "decompose" in out and "exit codes" in out
    code, out, _ = run(["decompose", "--help"], capsys)
    assert code == 0 and "anomaly threshold" in out and "1.4826" in out


def test_existing_output_is_refused_then_replaced_with_force(tmp_path, png_folder, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    code, _, err = run(["decompose", png_folder, "--out", out, "-q"], capsys)
    assert code == 2 and "--force" in err
    assert (out / "keep.txt").read_text() == "precious"
    code, _, err = run(["decompose", png_folder, "--out", out, "-q", "--force"], capsys)
    assert code == 0, err
    assert not (out / "keep.txt").exists() and (out / "summary.json").exists()
    assert leftovers(tmp_path) == []
    afile = tmp_path / "file"
    afile.write_text("x")
    code, _, err = run(["decompose", png_folder, "--out", afile, "-q"], capsys)
    assert code == 2 and "not a folder" in err
    (tmp_path / "empty_out").mkdir()  # an empty folder is fine
    code, _, err = run(["decompose", png_folder, "--out", tmp_path / "empty_out", "-q"], capsys)
    assert code == 0, err


def test_output_holding_the_input_is_refused(tmp_path, png_folder, capsys):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.png", "b.png"):
        (src / name).write_bytes((png_folder / "img1.png").read_bytes())
    for argv in ([src], [src / "a.png", src / "b.png"]):  # the folder, or files inside it
        code, _, err = run(["decompose", *argv, "--out", src, "-q", "--force"], capsys)
        assert code == 2 and "holds the input" in err
        assert sorted(p.name for p in src.iterdir()) == ["a.png", "b.png"]


def test_failure_while_writing_leaves_nothing(tmp_path, png_folder, capsys, monkeypatch):
    import fastrpca.app.outputs as fio

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(fio, "save_convergence_plot", boom)
    code, _, err = run(["decompose", png_folder, "--out", tmp_path / "r", "-q"], capsys)
    assert code == 1 and "disk full" in err and "nothing was written" in err
    assert f"cannot write the output folder {tmp_path / 'r'}" in err and ".partial-" not in err
    assert not (tmp_path / "r").exists() and leftovers(tmp_path) == []
    # with --force the previous result survives a failed replacement
    old = tmp_path / "old"
    old.mkdir()
    (old / "summary.json").write_text("{}")
    code, _, err = run(["decompose", png_folder, "--out", old, "-q", "--force"], capsys)
    assert code == 1
    assert (old / "summary.json").read_text() == "{}" and leftovers(tmp_path) == []


def test_too_large_for_memory_is_refused_in_memory(tmp_path, png_folder, capsys, monkeypatch):
    import fastrpca.app.reading as fio

    monkeypatch.setattr(fio, "physical_memory", lambda: 100_000)
    code, _, err = run(["decompose", png_folder, "--out", tmp_path / "r", "--in-memory"], capsys)
    assert code == 1 and "--downsample" in err and "GiB" in err
    assert not (tmp_path / "r").exists()


# --------------------------------------------------------------------------- out of core


def _pngs(folder):
    return np.stack([iio.imread(p) for p in sorted(folder.glob("*.png"))]).astype(int)


def _same_decomposition(a_dir, b_dir):
    a = json.loads((a_dir / "summary.json").read_text())
    b = json.loads((b_dir / "summary.json").read_text())
    for key in ("n_iter", "rank", "converged"):
        assert a["rpca"][key] == b["rpca"][key]
    assert b["rpca"]["sigma"] == pytest.approx(a["rpca"]["sigma"], rel=1e-9)
    assert b["rpca"]["residual"] == pytest.approx(a["rpca"]["residual"], rel=1e-3)
    assert b["threshold"]["value"] == pytest.approx(a["threshold"]["value"], rel=1e-3)
    assert [f["source"] for f in a["frames"]] == [f["source"] for f in b["frames"]]
    for sub in ("background", "mask"):  # float32 rounding may move a pixel by one level
        x, y = _pngs(a_dir / sub), _pngs(b_dir / sub)
        assert x.shape == y.shape and np.abs(x - y).max() <= (1 if sub == "background" else 255)
        assert np.mean(x != y) < 1e-3
    return a, b


def test_video_forced_out_of_core_equals_in_memory(tmp_path, capsys):
    pytest.importorskip("av")
    pytest.importorskip("dask")
    clip = make_factory_line(24, 32, 48, color=True, random_state=4)
    video = tmp_path / "line.mp4"
    iio.imwrite(
        video, np.rint(clip.frames * 255).astype(np.uint8), plugin="pyav", codec="libx264", fps=10
    )
    code, _, err = run(["decompose", video, "--out", tmp_path / "m", "-q"], capsys)
    assert code == 0, err
    code, _, err = run(["decompose", video, "--out", tmp_path / "o", "-q", "--out-of-core"], capsys)
    assert code == 0, err
    _, s = _same_decomposition(tmp_path / "m", tmp_path / "o")
    assert s["input"]["kind"] == "video" and s["input"]["frames"] == 24
    assert s["out_of_core"]["passes"] >= 2 * s["rpca"]["n_iter"]  # stable PCP: two a pass
    assert (tmp_path / "o" / "contact_sheet.png").exists()
    assert iio.imread(tmp_path / "o" / "contact_sheet.png").shape[:2] == tuple(
        s["files"]["contact_sheet_size"]
    )
    # the arrays: L's factors and S as pixels x frames
    with np.load(tmp_path / "o" / "factors.npz") as f:
        L = (f["U"] * f["s"]) @ f["Vh"]
    assert L.shape == (32 * 48 * 3, 24)
    import zarr

    S = zarr.open_array(str(tmp_path / "o" / "foreground.zarr"), mode="r")
    assert S.shape == L.shape
    # the scratch folder (store, solver state) is gone, nothing partial is left
    assert not [p for p in (tmp_path / "o").iterdir() if p.name.startswith(".")]
    assert leftovers(tmp_path) == []


def test_too_large_for_memory_goes_out_of_core(tmp_path, line, capsys, monkeypatch):
    pytest.importorskip("dask")
    import fastrpca.app.reading as fio

    np.save(tmp_path / "f.npy", line.frames)
    code, _, err = run(["decompose", tmp_path / "f.npy", "--out", tmp_path / "m", "-q"], capsys)
    assert code == 0, err
    # memory for about 3 frames: the fourth frame read switches to the out-of-core path
    monkeypatch.setattr(fio, "physical_memory", lambda: int(3 * line.frames[0].size * 4 * 10))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    argv = ["decompose", tmp_path / "f.npy", "--out", tmp_path / "o", "--scratch", scratch]
    code, out, err = run([*argv, "--color", "grey"], capsys)
    assert code == 0, err
    assert "out of core" in out and "streaming" in out
    a, b = _same_decomposition(tmp_path / "m", tmp_path / "o")
    assert "out_of_core" in b and "out_of_core" not in a
    assert list(scratch.iterdir()) == []  # the work folder was deleted
    code, _, err = run(
        ["decompose", tmp_path / "f.npy", "--out", tmp_path / "p", "--svd", "partial"], capsys
    )
    assert code != 0 and "--svd partial" in err and "out of core" in err


def test_out_of_core_refuses_what_it_cannot_do(tmp_path, png_folder, capsys):
    pytest.importorskip("dask")
    argv = ["decompose", png_folder, "--out", tmp_path / "r", "--out-of-core"]
    code, _, err = run([*argv, "--truth", png_folder], capsys)
    assert code != 0 and "--truth" in err
    code, _, err = run([*argv, "--svd", "partial"], capsys)
    assert code != 0 and "--svd partial" in err
    assert not (tmp_path / "r").exists()


def test_interrupt_leaves_nothing(tmp_path, png_folder, capsys, monkeypatch):
    def interrupt(self, *args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.Progress, "__call__", interrupt)
    code, _, err = run(["decompose", png_folder, "--out", tmp_path / "r"], capsys)
    assert code == 130 and "interrupted" in err
    assert not (tmp_path / "r").exists() and leftovers(tmp_path) == []


def test_missing_io_extra_names_the_install_command(tmp_path, png_folder, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio", None)
    monkeypatch.setitem(sys.modules, "imageio.v3", None)
    code, _, err = run(["decompose", png_folder, "--out", tmp_path / "r"], capsys)
    assert code == 1 and 'pip install "fastrpca[io]"' in err and "imageio" in err
    code, _, err = run(["demo", "--out", tmp_path / "d"], capsys)
    assert code == 1 and 'pip install "fastrpca[io]"' in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "d").exists()


def test_missing_video_backend_names_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00" * 64)
    code, _, err = run(["decompose", video, "--out", tmp_path / "r"], capsys)
    assert code == 1 and "PyAV" in err and 'pip install "fastrpca[io]"' in err


def test_core_imports_without_io_extra():
    code = (
        "import sys; sys.modules['imageio'] = None; sys.modules['matplotlib'] = None\n"
        "import fastrpca, fastrpca.app.cli, fastrpca.app.reading, fastrpca.app.demo\n"
        "import numpy as np\n"
        "d = fastrpca.decompose_frames(np.random.default_rng(0).random((4, 8, 8)))\n"
        "print(d.background.shape)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "(4, 8, 8)"


def test_python_dash_m(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "fastrpca", "demo", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0 and "factory" in res.stdout and "regularization" in res.stdout
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastrpca",
            "decompose",
            str(tmp_path / "x"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2 and "does not exist" in res.stderr
    assert "Traceback" not in res.stderr


# --------------------------------------------------------------------------- demo


def test_demo_default_finds_the_defects(tmp_path, capsys, monkeypatch):
    import tempfile

    cwd = tmp_path / "checkout"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    code, stdout, err = run(["demo"], capsys)
    assert code == 0, err
    out = cli.default_output("fastrpca-demo")
    assert out.parent == tmp_path / "tmp" and out.name.startswith("fastrpca-demo-")
    assert list(cwd.iterdir()) == []  # nothing in the current folder (a source checkout?)
    assert "precision" in stdout and "ROC AUC" in stdout and str(out) in stdout
    s = json.loads((out / "summary.json").read_text())
    d = s["detection"]
    assert d["roc_auc"] > 0.95 and d["precision"] > 0.8 and d["recall"] > 0.8
    assert s["data"]["frames"] == 80 and s["data"]["frame_shape"] == [64, 96]
    assert len(s["data"]["defective_frames"]) == 24
    assert iio.imread(out / "background" / "frame_00079.png").shape == (64, 96)
    assert iio.imread(out / "contact_sheet.png").shape[:2] == sheet_size(8, 64, 96)
    truth = np.load(out / "ground_truth.npz")["truth"]
    assert truth.shape == (80, 64, 96)
    # a second run replaces the demo's own folder (README's command, run twice)
    (out / "stale.txt").write_text("from the first run")
    code, _, err = run(["demo", "-q"], capsys)
    assert code == 0, err
    assert not (out / "stale.txt").exists() and (out / "summary.json").exists()
    # a folder of that name that the demo did not write is never replaced
    (out / "summary.json").write_text('{"command": "decompose"}')
    code, _, err = run(["demo", "-q"], capsys)
    assert code == 2 and "--out" in err and (out / "stale.txt").exists() is False
    assert json.loads((out / "summary.json").read_text()) == {"command": "decompose"}
    # an --out the user names keeps the rule of --force
    named = tmp_path / "named"
    assert run(["demo", "-q", "--out", named, "--frames", "20"], capsys)[0] == 0
    code, _, err = run(["demo", "-q", "--out", named, "--frames", "20"], capsys)
    assert code == 2 and "--force" in err
    assert run(["demo", "-q", "--out", named, "--frames", "20", "--force"], capsys)[0] == 0
    assert list(cwd.iterdir()) == []


def test_demo_colour_json_and_threshold_sensitivity(tmp_path, capsys):
    code, stdout, err = run(
        [
            "demo",
            "--out",
            tmp_path / "c",
            "--color",
            "--frames",
            "30",
            "--size",
            "32x48",
            "--json",
            "-q",
            "--no-arrays",
        ],
        capsys,
    )
    assert code == 0, err
    s = json.loads(stdout)
    assert s["detection"]["roc_auc"] > 0.95
    assert s["matrix_shape"] == [32 * 48 * 3, 30]
    assert iio.imread(tmp_path / "c" / "background" / "frame_00000.png").shape == (32, 48, 3)
    # a threshold far above every defect finds nothing; the AUC does not depend on it
    code, stdout, err = run(
        [
            "demo",
            "--out",
            tmp_path / "t",
            "--frames",
            "30",
            "--size",
            "32x48",
            "--json",
            "-q",
            "--threshold",
            "5",
        ],
        capsys,
    )
    s2 = json.loads(stdout)
    assert s2["detection"]["recall"] == 0.0 and s2["detection"]["precision"] is None
    assert s2["detection"]["roc_auc"] > 0.95


def test_demo_regularization(tmp_path, capsys):
    png = tmp_path / "reg.png"
    code, stdout, err = run(["demo", "regularization", "--out", png], capsys)
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "reaches exactly 0" in stdout
    code, _, err = run(["demo", "regularization", "--out", png], capsys)
    assert code == 2 and "--force" in err
    code, stdout, _ = run(["demo", "regularization", "--out", png, "--force", "--json"], capsys)
    s = json.loads(stdout)
    assert code == 0 and s["l1_final"] == 0.0 and s["l2_final"] > 0
    code, _, err = run(["demo", "regularization", "--out", tmp_path / "reg.txt"], capsys)
    assert code == 2 and ".png" in err
    assert [p.name for p in tmp_path.iterdir()] == ["reg.png"]


def test_demo_regularization_default_is_replaced(tmp_path, capsys, monkeypatch):
    import tempfile

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for _ in range(2):  # run twice: the default picture is the demo's own, replaced
        code, stdout, err = run(["demo", "regularization", "-q", "--json"], capsys)
        assert code == 0, err
    png = cli.default_output("fastrpca-regularization", ".png")
    assert json.loads(stdout)["plot"] == str(png) and png.parent == tmp_path
    assert [p.name for p in tmp_path.iterdir()] == [png.name]


# --------------------------------------------------------------------------- new-user errors


@pytest.mark.parametrize(
    "content, name",
    [
        (b"garbage", "x.png"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "x.png"),
        (b"\xff\xd8\xff\xe0 not really a jpeg", "x.jpg"),
        (b"\x00" * 300, "x.tif"),
    ],
)
def test_a_corrupt_image_is_explained_without_internals(
    tmp_path, png_folder, content, name, capsys
):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes((png_folder / "img1.png").read_bytes())
    (src / name).write_bytes(content)
    code, _, err = run(["decompose", src / "a.png", src / name, "--out", tmp_path / "o"], capsys)
    assert code == 1
    assert err == (
        f"fastrpca: error: cannot read {src / name} as an image: it is truncated, corrupt or "
        "not an image (.png, .jpg, .jpeg, .tif, .tiff, .bmp, .webp); replace or remove it\n"
    )


def test_a_corrupt_video_or_array_is_explained_without_internals(tmp_path, capsys):
    pytest.importorskip("av")
    (tmp_path / "v.mp4").write_bytes(np.random.default_rng(0).bytes(400))
    (tmp_path / "a.npy").write_bytes(b"\x93NUMPY" + np.random.default_rng(1).bytes(60))
    code, _, err = run(["decompose", tmp_path / "v.mp4", "--out", tmp_path / "o"], capsys)
    assert code == 1 and err.startswith("fastrpca: error: cannot read")
    assert "FFmpeg does not know" in err and "pyav" not in err and "uri" not in err
    code, _, err = run(["decompose", tmp_path / "a.npy", "--out", tmp_path / "o"], capsys)
    assert code == 1 and "numpy.save" in err and "pickle" not in err.lower().replace("python", "")


def test_an_unwritable_out_names_the_users_folder_and_exits_1(tmp_path, capsys, monkeypatch):
    np.save(tmp_path / "f.npy", np.random.default_rng(0).random((6, 16, 16)))
    (tmp_path / "afile").write_text("in the way")
    cases = [tmp_path / "afile" / "res"]  # a file where a folder should be
    import tempfile

    def refuse(*args, **kwargs):  # as a read-only folder does for a non-root user
        raise PermissionError(13, "Permission denied", str(tmp_path / ".res.partial-x"))

    for out, patch in ((cases[0], False), (tmp_path / "ro" / "res", True)):
        if patch:
            monkeypatch.setattr(tempfile, "mkdtemp", refuse)
        code, _, err = run(["decompose", tmp_path / "f.npy", "--out", out, "-q"], capsys)
        assert code == 1, err
        assert f"cannot write the output folder {out}" in err
        assert ".partial" not in err and "Traceback" not in err
    assert (
        "afile is a file, not a folder"
        in run(["decompose", tmp_path / "f.npy", "--out", cases[0], "-q"], capsys)[2]
    )


def test_a_cold_first_solve_says_it_is_compiling(monkeypatch):
    import time

    stream = _io.StringIO()
    bar = cli.Progress("bar", tol=1e-6, stream=stream, interval=0.0)
    bar.waiting(after=0.05)
    time.sleep(0.3)  # as numba compiling before the first iteration
    bar(Result(n_iter=1, residual=1e-1, rank=1, mu=1.0))
    text = stream.getvalue()
    assert text.startswith("fastrpca: compiling the kernels") and " s\nRPCA [" in text
    quiet = _io.StringIO()
    warm = cli.Progress("bar", tol=1e-6, stream=quiet, interval=0.0)
    warm.waiting(after=5.0)
    warm(Result(n_iter=1, residual=1e-1, rank=1, mu=1.0))  # a warm cache: no notice
    assert "compiling" not in quiet.getvalue()
    off = cli.Progress("off", tol=1e-6, stream=quiet)
    off.waiting(after=0.0)
    assert off._waiting is None


# --------------------------------------------------------------------------- progress


def test_progress_bar_and_json_lines():
    class FakeResult:
        n_iter, residual, rank = 3, 1e-7, 2
        history = {"mu": [1.0, 1.5, 2.25]}

    stream = _io.StringIO()
    bar = cli.Progress("bar", tol=1e-6, stream=stream, interval=0.0)
    bar(Result(n_iter=1, residual=1e-1, rank=1, mu=1.0))
    bar(Result(n_iter=2, residual=1e-4, rank=2, mu=1.5))
    assert bar.fraction(1e-1) == 0.0 and bar.fraction(1e-6) == 1.0
    assert 0.55 < bar.fraction(1e-4) < 0.65  # 3 of 5 decades
    bar.close(FakeResult())
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and "residual 1.00e-04" in lines[1] and "iteration    3" in lines[2]
    assert lines[2].count("#") == 24

    stream = _io.StringIO()
    js = cli.Progress("json", tol=1e-6, stream=stream, interval=0.0)
    js(Result(n_iter=1, residual=0.5, rank=1, mu=1.0))
    js.close(FakeResult())
    events = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert events == [
        {"event": "iteration", "n_iter": 1, "residual": 0.5, "rank": 1, "mu": 1.0},
        {"event": "done", "n_iter": 3, "residual": 1e-7, "rank": 2, "mu": 2.25},
    ]

    stream = _io.StringIO()
    off = cli.Progress("off", tol=1e-6, stream=stream)
    off(Result(n_iter=1, residual=0.5, rank=1, mu=1.0))
    off.close(FakeResult())
    assert stream.getvalue() == ""


# --------------------------------------------------------------------------- reading


def test_read_frames_formats(tmp_path):
    from fastrpca.app.reading import InputError, read_frames

    clip = make_factory_line(6, 20, 24, random_state=8)
    u8 = np.rint(clip.frames * 255).astype(np.uint8)
    for name in ("u16", "rgba", "mixed"):
        (tmp_path / name).mkdir()
    for i, f in enumerate(clip.frames):
        iio.imwrite(tmp_path / "u16" / f"f{i}.png", np.rint(f * 65535).astype(np.uint16))
        iio.imwrite(
            tmp_path / "rgba" / f"f{i}.png",
            np.dstack([u8[i], u8[i], u8[i], np.full_like(u8[i], 9)]),
        )
        iio.imwrite(tmp_path / "mixed" / f"f{i}.png", u8[i] if i % 2 else np.dstack([u8[i]] * 3))
    iio.imwrite(tmp_path / "stack.tif", u8)

    src = read_frames(tmp_path / "u16")
    assert src.frames.shape == (6, 20, 24) and src.frames.dtype == np.float32
    np.testing.assert_allclose(src.frames, clip.frames, atol=1e-4)  # 16 bit scaled to 0..1
    rgba = read_frames(tmp_path / "rgba").frames
    assert rgba.shape == (6, 20, 24, 3)  # alpha dropped
    np.testing.assert_allclose(rgba[..., 1], u8 / 255.0, atol=1e-6)
    mixed = read_frames(tmp_path / "mixed").frames
    assert mixed.shape == (6, 20, 24, 3)  # grey frames promoted to colour
    np.testing.assert_allclose(mixed[1, ..., 2], u8[1] / 255.0, atol=1e-6)
    tif = read_frames(tmp_path / "stack.tif", step=2)  # a multi-page TIFF is a sequence
    assert tif.frames.shape == (3, 20, 24) and tif.sources[1] == "stack.tif#2"
    np.testing.assert_allclose(tif.frames, u8[::2] / 255.0, atol=1e-6)
    small = read_frames(tmp_path / "u16", downsample=4, max_frames=3).frames
    assert small.shape == (3, 5, 6)
    np.testing.assert_allclose(small[0, 0, 0], src.frames[0, :4, :4].mean(), atol=1e-6)
    # start= skips frames in every kind of input, before step and max_frames
    late = read_frames(tmp_path / "stack.tif", start=1, step=2)
    assert late.sources == ["stack.tif#1", "stack.tif#3", "stack.tif#5"]
    np.testing.assert_allclose(late.frames, u8[1::2] / 255.0, atol=1e-6)
    np.testing.assert_allclose(read_frames(tmp_path / "u16", start=4).frames, src.frames[4:])
    np.save(tmp_path / "a.npy", u8)
    assert read_frames(tmp_path / "a.npy", start=2, max_frames=2).sources == [
        "a.npy[2]",
        "a.npy[3]",
    ]
    for inp in ("stack.tif", "u16", "a.npy"):
        with pytest.raises(InputError, match="has 6 frames, so starting at frame 6"):
            read_frames(tmp_path / inp, start=6)
    with pytest.raises(InputError, match="start must be >= 0"):
        read_frames(tmp_path / "u16", start=-1)


def test_progress_bar_redraws_in_place_on_a_terminal():
    class Terminal(_io.StringIO):
        def isatty(self):
            return True

    class FakeResult:
        n_iter, residual, rank = 12, 1e-7, 3
        history = {"mu": [2.0]}

    stream = Terminal()
    bar = cli.Progress("bar", tol=1e-6, stream=stream, interval=60.0)
    bar(Result(n_iter=1, residual=1e-1, rank=1, mu=1.0))
    bar(Result(n_iter=2, residual=1e-2, rank=100, mu=1.0))  # within the redraw interval: skipped
    bar.close(FakeResult())
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and "\n" not in text[:-1]
    assert "iteration   12" in text and "rank 100" not in text


def test_closed_stdout_stops_quietly(tmp_path, png_folder, capsys, monkeypatch):
    def closed(*args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "_emit_json", closed)  # as when piped into `head`
    code, stdout, err = run(["decompose", png_folder, "--out", tmp_path / "r", "--json"], capsys)
    assert code == 1 and stdout == ""
    assert "error" not in err and "nothing was written" not in err
    assert (tmp_path / "r" / "summary.json").exists()


def test_integer_count_arrays_keep_their_values(tmp_path, line, capsys):
    # int32 counts are data, not pixels of some bit depth: not divided by 2**31 - 1.
    counts = np.round(line.frames[:8] * 1000).astype(np.int32)
    np.save(tmp_path / "counts.npy", counts)
    code, _, err = run(
        ["decompose", tmp_path / "counts.npy", "--out", tmp_path / "o", "-q"], capsys
    )
    assert code == 0, err
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["input"]["display_range"] == [pytest.approx(counts.min()), pytest.approx(counts.max())]


# --------------------------------------------------------------------------- inspect


def test_inspect_maps_the_defects_of_a_folder(tmp_path, capsys):
    line = make_factory_line(12, 48, 64, defect_rate=0.5, random_state=3)
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, frame in enumerate(line.frames):
        iio.imwrite(folder / f"img{i + 1}.png", np.rint(frame * 255).astype(np.uint8))
    out = tmp_path / "inspected"
    argv = ["inspect", folder, "--out", out, "--atoms", "64", "--train-patches", "4000"]
    code, stdout, err = run(argv, capsys)
    assert code == 0, err
    assert "dictionary converged" in stdout and "anomalies: threshold" in stdout
    for name in ("contact_sheet.png", "atoms.png", "summary.json", "inspection.npz"):
        assert (out / name).is_file()
    assert len(list((out / "score").iterdir())) == len(list((out / "mask").iterdir())) == 12
    arrays = np.load(out / "inspection.npz")
    assert arrays["score"].shape == arrays["mask"].shape == line.truth.shape
    assert fastrpca_roc_auc(line.truth, arrays["score"]) > 0.85
    precision, recall = precision_recall(line.truth, arrays["mask"])
    assert precision > 0.5 and recall > 0.1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["command"] == "inspect" and summary["reference"] is None
    assert summary["dictionary"]["atoms"] == 64 and summary["dictionary"]["converged"]
    assert summary["threshold"]["automatic"]
    assert len(summary["frames"]) == 12 and not leftovers(tmp_path)


def test_inspect_one_image_against_a_reference_and_json(tmp_path, capsys):
    line = make_factory_line(4, 40, 40, defect_rate=1.0, random_state=5)
    good = make_factory_line(3, 40, 40, defect_rate=0.0, random_state=5)
    iio.imwrite(tmp_path / "part.png", np.rint(line.frames[0] * 255).astype(np.uint8))
    ref = tmp_path / "good"
    ref.mkdir()
    for i, frame in enumerate(good.frames):
        iio.imwrite(ref / f"good{i}.png", np.rint(frame * 255).astype(np.uint8))
    out = tmp_path / "o"
    argv = ["inspect", tmp_path / "part.png", "--reference", ref, "--out", out, "--json"]
    code, stdout, err = run(argv + ["--atoms", "32", "--threshold", "0.05"], capsys)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["reference"]["frames"] == 3 and summary["input"]["frames"] == 1
    assert summary["threshold"] == {**summary["threshold"], "value": 0.05, "automatic": False}


def test_inspect_errors(tmp_path, png_folder, capsys):
    code, _, err = run(["inspect", png_folder, "--out", tmp_path / "a", "--patch", "40"], capsys)
    assert code == 1 and "smaller --patch" in err
    missing = tmp_path / "nowhere"
    code, _, err = run(
        ["inspect", png_folder, "--reference", missing, "--out", tmp_path / "b"], capsys
    )
    assert code == 2 and "does not exist" in err
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes((png_folder / "img1.png").read_bytes())
    code, _, err = run(["inspect", src / "a.png", "--out", src, "-q", "--force"], capsys)
    assert code == 2 and "holds the input" in err
    assert [p.name for p in src.iterdir()] == ["a.png"]


# --------------------------------------------------------------------------- model and truth


def test_decompose_with_ground_truth_reports_cdnet_measures(tmp_path, png_folder, line, capsys):
    np.save(tmp_path / "truth.npy", line.truth)
    out = tmp_path / "t"
    code, stdout, err = run(
        ["decompose", png_folder, "--out", out, "--no-arrays", "--truth", tmp_path / "truth.npy"],
        capsys,
    )
    assert code == 0, err
    assert "F-measure" in stdout and "PWC" in stdout and "specificity" in stdout
    d = json.loads((out / "summary.json").read_text())["detection"]
    for key in ("recall", "specificity", "fpr", "fnr", "pwc", "precision", "f_measure"):
        assert 0 <= d[key] <= 100
    assert d["f_measure"] > 0.8 and d["tp"] + d["fn"] == int(line.truth.sum())
    # the same numbers from the library
    arrays_out = tmp_path / "t2"
    run(["decompose", png_folder, "--out", arrays_out, "-q"], capsys)
    mask = np.load(arrays_out / "decomposition.npz")["mask"]
    assert d["f_measure"] == pytest.approx(fastrpca.cdnet_metrics(line.truth, mask)["f_measure"])
    # masks of another size are refused
    np.save(tmp_path / "small.npy", line.truth[:, :10])
    code, _, err = run(
        ["decompose", png_folder, "--out", tmp_path / "u", "--truth", tmp_path / "small.npy"],
        capsys,
    )
    assert code == 1 and "--truth" in err


def test_decompose_exact_pcp_and_rank_cap_options(tmp_path, png_folder, capsys):
    code, stdout, err = run(
        ["decompose", png_folder, "--out", tmp_path / "e", "--json", "--no-arrays", "--delta", "0"],
        capsys,
    )
    assert code == 0, err
    r = json.loads(stdout)["rpca"]
    assert r["delta"] == 0 and r["sigma"] is None and r["tol"] == 1e-6
    code, stdout, err = run(
        ["decompose", png_folder, "--out", tmp_path / "r", "--json", "--no-arrays", "--rank", "2"],
        capsys,
    )
    assert code == 0, err
    r = json.loads(stdout)["rpca"]
    assert r["rank"] <= 2 and r["max_rank"] == 2 and r["delta"] > 0 and r["tol"] == 1e-3
    code, _, err = run(["decompose", png_folder, "--out", tmp_path / "x", "--delta", "-1"], capsys)
    assert code == 2 and "delta" in err


def test_demo_reports_the_scenes_background_rank(tmp_path, capsys):
    code, stdout, err = run(
        ["demo", "--out", tmp_path / "demo", "--frames", "40", "--no-arrays"], capsys
    )
    assert code == 0, err
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["data"]["background_rank"] == 3
    assert summary["rpca"]["rank"] == 3  # stable PCP finds it; exact PCP said 44
    assert "rank of L 3 (the scene's background: 3)" in stdout
    assert summary["detection"]["f_measure"] > 0.95


@pytest.mark.parametrize("kind", ["npy", "png"])
def test_stream_frames_equal_read_frames(tmp_path, line, png_folder, kind):
    from fastrpca.app import reading

    if kind == "npy":
        np.save(tmp_path / "f.npy", line.frames.astype(np.float64))
        src = tmp_path / "f.npy"
    else:
        src = png_folder
    opts = dict(max_frames=4, start=2, step=2, downsample=2)
    ref = reading.read_frames(src, **opts)
    stream = reading.stream_frames(src, **opts)
    got = list(stream.frames)
    assert [s for s, _ in got] == ref.sources
    np.testing.assert_array_equal(np.stack([f for _, f in got]), ref.frames)
    assert stream.display_range == ref.display_range and stream.kind == ref.kind
    with pytest.raises(reading.InputError, match="starting at frame"):
        list(reading.stream_frames(src, start=10_000).frames)
