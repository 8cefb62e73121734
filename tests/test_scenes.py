"""Real data: sequences built from real photographs (scikit-image) and real video
(OpenCV's vtest.avi, Debian's opencv-doc) with known masks, decomposed with the defaults."""

import numpy as np
import pytest

import fastrpca
from fastrpca.robust_pca.metrics import best_f_measure, cdnet_metrics

pytest.importorskip("skimage", reason="the photo scenes need scikit-image (fastrpca[io])")
scenes = pytest.importorskip("fastrpca.app.scenes")


def _vtest_or_skip():
    pytest.importorskip("cv2", reason="reading vtest.avi needs opencv-python-headless")
    try:
        return scenes.vtest_path()
    except FileNotFoundError:
        pytest.skip(
            "vtest.avi not found: apt-get install opencv-doc (Debian/Ubuntu) or set "
            "FASTRPCA_VTEST=/path/to/vtest.avi"
        )


def median_background_score(frames):
    return np.abs(frames - np.median(frames, axis=0))


@pytest.fixture(scope="module")
def photo_flicker():
    return scenes.photo_scene(60, (96, 128), seed=0, noise=0.005, drift=0.04, flicker=0.03)


@pytest.fixture(scope="module")
def video_flicker():
    _vtest_or_skip()
    return scenes.video_scene(60, seed=2, step=4, downsample=2, drift=0.04, flicker=0.03)


@pytest.fixture(scope="module")
def video_static():
    _vtest_or_skip()
    return scenes.video_scene(60, seed=0, downsample=2)


# ---------------------------------------------------------------- the scenes themselves


def test_photo_scene_is_deterministic_and_consistent():
    a = scenes.photo_scene(12, (32, 48), seed=5)
    b = scenes.photo_scene(12, (32, 48), seed=5)
    np.testing.assert_array_equal(a.frames, b.frames)
    assert a.frames.shape == (12, 32, 48) and a.frames.dtype == np.float32
    assert a.masks.shape == a.visible.shape == (12, 32, 48)
    assert 0 < a.masks.mean() < 0.5 and not (a.visible & ~a.masks).any()
    assert 0 <= a.frames.min() and a.frames.max() <= 1
    # 8-bit camera: every value on the 1/255 grid
    np.testing.assert_allclose(a.frames * 255, np.rint(a.frames * 255), atol=1e-4)
    clean = scenes.photo_scene(12, (32, 48), seed=5, effects=False)
    # without objects the clean sequence is the background exactly (rank 1)
    np.testing.assert_allclose(
        clean.frames[~clean.masks], clean.background[~clean.masks], atol=1e-6
    )
    colour = scenes.photo_scene(4, (16, 24), seed=1, color=True)
    assert colour.frames.shape == (4, 16, 24, 3) and colour.masks.shape == (4, 16, 24)


def test_scene_arguments_are_checked():
    with pytest.raises(ValueError, match="n_frames"):
        scenes.photo_scene(1)
    with pytest.raises(ValueError, match="size"):
        scenes.photo_scene(4, (4, 40))
    with pytest.raises(ValueError, match="background"):
        scenes.photo_scene(4, (16, 16), background="moon")
    with pytest.raises(ValueError, match="object kind"):
        scenes.photo_scene(4, (16, 16), objects=("car",))


def test_vtest_path_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(scenes, "VTEST_PATHS", ())
    monkeypatch.delenv("FASTRPCA_VTEST", raising=False)
    with pytest.raises(FileNotFoundError, match="apt-get install opencv-doc"):
        scenes.vtest_path()
    video = tmp_path / "v.avi"
    video.write_bytes(b"")
    monkeypatch.setenv("FASTRPCA_VTEST", str(video))
    assert scenes.vtest_path() == video


# ---------------------------------------------------------------- decomposition defaults


def test_stable_pcp_background_is_low_rank_on_a_static_scene(video_static):
    dec = fastrpca.decompose_frames(video_static.frames)
    assert dec.result.delta > 0 and dec.result.converged
    assert dec.result.rank <= 10
    exact = fastrpca.rpca(fastrpca.frames_to_matrix(video_static.frames))
    assert exact.rank > 2 * dec.result.rank  # exact PCP puts the camera's noise into L


def test_photo_scene_background_is_low_rank():
    sc = scenes.photo_scene(40, (64, 96), seed=1)
    dec = fastrpca.decompose_frames(sc.frames)
    assert dec.result.rank <= 10


def test_noise_estimate_is_nonzero_on_compressed_video(video_static):
    M = fastrpca.frames_to_matrix(video_static.frames)
    d = np.diff(M, axis=1)
    assert np.mean(d == 0) > 0.5  # MPEG: most pixels repeat exactly
    plain_mad = 1.4826 * np.median(np.abs(d)) / np.sqrt(2)
    assert plain_mad == 0
    sigma = fastrpca.noise_sigma(M)
    assert 1 / 255 < sigma < 4 / 255  # about one grey level
    dec = fastrpca.decompose_frames(video_static.frames)
    assert dec.bins.quantum == pytest.approx(1 / 255) and dec.threshold > 0.01


@pytest.mark.parametrize("which", ["photo_flicker", "video_flicker"])
def test_auto_threshold_beats_the_median_background_under_flicker(which, request):
    sc = request.getfixturevalue(which)
    dec = fastrpca.decompose_frames(sc.frames)
    auto = cdnet_metrics(sc.masks, dec.mask)["f_measure"]
    median_best, _ = best_f_measure(sc.masks, median_background_score(sc.frames))
    oracle, _ = best_f_measure(sc.masks, np.abs(sc.frames - sc.background))
    assert auto > median_best + 0.02  # a per-pixel median cannot follow 3 % flicker
    assert auto > oracle - 0.01  # the automatic threshold, against the best with L0


def test_auto_threshold_close_to_the_best_on_a_static_video(video_static):
    sc = video_static
    dec = fastrpca.decompose_frames(sc.frames)
    auto = cdnet_metrics(sc.masks, dec.mask)["f_measure"]
    best, _ = best_f_measure(sc.masks, dec.score)
    oracle, _ = best_f_measure(sc.masks, np.abs(sc.frames - sc.background))
    assert auto > 0.95 and auto > best - 0.01 and auto > oracle - 0.01
