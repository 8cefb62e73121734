"""Frame stacks <-> matrices, anomaly scores, the automatic threshold, detection metrics,
and the synthetic factory line."""

import itertools

import numpy as np
import pytest

from fastrpca import robust_pca as fr
from fastrpca.app.demo import make_factory_line

# --------------------------------------------------------------------------- reshaping


@pytest.mark.parametrize("shape", [(5, 4, 6), (5, 4, 6, 3)])
def test_frames_to_matrix_columns_are_frames_and_round_trip(shape):
    rng = np.random.default_rng(0)
    frames = rng.random(shape)
    before = frames.copy()
    M = fr.frames_to_matrix(frames)
    assert M.shape == (int(np.prod(shape[1:])), shape[0])
    for k in range(shape[0]):
        np.testing.assert_array_equal(M[:, k], frames[k].ravel())
    back = fr.matrix_to_frames(M, shape[1:])
    np.testing.assert_array_equal(back, frames)
    np.testing.assert_array_equal(frames, before)


def test_colour_channels_are_adjacent_rows_of_one_column():
    frames = np.arange(2 * 2 * 3 * 3, dtype=float).reshape(2, 2, 3, 3)
    M = fr.frames_to_matrix(frames)
    # pixel (0, 1) of frame 1: rows 3, 4, 5 (R, G, B)
    np.testing.assert_array_equal(M[3:6, 1], frames[1, 0, 1, :])


def test_frames_to_matrix_dtype_and_integers():
    frames = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert fr.frames_to_matrix(frames).dtype == np.float64
    M32 = fr.frames_to_matrix(frames, dtype=np.float32)
    assert M32.dtype == np.float32
    assert M32[5, 1] == frames[1].ravel()[5]
    with pytest.raises(TypeError, match="floating"):
        fr.frames_to_matrix(frames, dtype=np.int32)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((1, 4, 4)), "at least 2 frames"),
        (np.zeros((4, 4)), "3-D or 4-D"),
        (np.zeros((3, 0, 4)), "entries"),
    ],
)
def test_frames_to_matrix_rejects(bad, match):
    with pytest.raises(ValueError, match=match):
        fr.frames_to_matrix(bad)


def test_matrix_to_frames_rejects_wrong_shapes():
    M = np.zeros((12, 3))
    with pytest.raises(ValueError, match="12 rows"):
        fr.matrix_to_frames(M, (5, 2))
    with pytest.raises(ValueError, match="frame_shape"):
        fr.matrix_to_frames(M, (12,))
    with pytest.raises(ValueError, match="2-D"):
        fr.matrix_to_frames(np.zeros(12), (3, 4))


def test_to_grey_uses_luma_weights_and_ignores_alpha():
    rgb = np.zeros((2, 1, 3, 3))
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 1.0, 0.5, 0.25
    expected = 0.299 + 0.587 * 0.5 + 0.114 * 0.25
    np.testing.assert_allclose(fr.to_grey(rgb), expected)
    rgba = np.concatenate([rgb, np.full((2, 1, 3, 1), 7.0)], axis=3)
    np.testing.assert_allclose(fr.to_grey(rgba), expected)
    grey = np.random.default_rng(1).random((2, 3, 4))
    np.testing.assert_array_equal(fr.to_grey(grey), grey)
    with pytest.raises(ValueError, match="5 channels"):
        fr.to_grey(np.zeros((2, 3, 3, 5)))


# --------------------------------------------------------------------------- scores


def test_anomaly_score_grey_and_colour():
    S = np.array([[[-2.0, 0.0], [1.0, -0.5]]] * 2)
    np.testing.assert_array_equal(fr.anomaly_score(S), np.abs(S))
    Sc = np.zeros((2, 1, 2, 3))
    Sc[0, 0, 0] = (3.0, 0.0, -3.0)
    score = fr.anomaly_score(Sc)
    assert score.shape == (2, 1, 2)
    assert score[0, 0, 0] == pytest.approx(np.sqrt(6.0))
    assert score[1].max() == 0


def test_noise_scale_estimates_sigma_despite_sparse_outliers():
    rng = np.random.default_rng(2)
    S = 0.03 * rng.standard_normal(200_000)
    S[rng.random(S.size) < 0.01] = 5.0  # 1 % large anomalies
    assert fr.noise_scale(S) == pytest.approx(0.03, rel=0.03)
    assert fr.noise_scale(S, max_samples=50_000) == pytest.approx(0.03, rel=0.05)


def test_noise_scale_is_zero_for_exactly_sparse_S():
    S = np.zeros(1000)
    S[:10] = 1.0
    assert fr.noise_scale(S) == 0.0


def test_quantum_finds_the_grid_of_quantised_data():
    rng = np.random.default_rng(5)
    u8 = rng.integers(0, 256, (20, 30, 40))
    assert fr.quantum(u8 / 255.0) == pytest.approx(1 / 255)
    assert fr.quantum((u8 / 255.0).astype(np.float32)) == pytest.approx(1 / 255, rel=1e-4)
    assert fr.quantum(u8) == 1.0
    assert fr.quantum(rng.random((20, 30, 40))) == 0.0  # continuous data: no grid
    assert fr.quantum(np.ones(10)) == 0.0


def binned_scene(n=40, h=60, w=80, seed=3, quantise=False):
    """A background with a dark and a bright half, noise growing with brightness (shot
    noise: 0.005 dark, 0.02 bright), and 2 % of pixels flagged with +0.5."""
    rng = np.random.default_rng(seed)
    background = np.where(np.arange(w) < w // 2, 0.2, 0.8) * np.ones((n, h, w))
    sigma = np.where(background < 0.5, 0.005, 0.02)
    frames = background + sigma * rng.standard_normal(background.shape)
    truth = rng.random(frames.shape) < 0.02
    frames[truth] += 0.5
    if quantise:
        frames = np.round(frames * 255) / 255
    return frames, background, truth


def test_auto_threshold_rule_per_brightness_bin():
    frames, background, _ = binned_scene()
    th = fr.auto_threshold(frames, background, quantum_step=0.0)
    assert th.values.shape == (16,) and th.edges[0] == 0.2 and th.edges[-1] == 0.8
    # the global sigma mixes the two noise levels; each half gets its own, never below it
    assert 0.005 < th.sigma < 0.02
    assert th.sigma_bins[0] == pytest.approx(th.sigma)  # dark: the global level wins
    assert th.sigma_bins[-1] == pytest.approx(0.02, rel=0.05)
    assert th.values[0] == pytest.approx(5 * th.sigma) and th.values[-1] == pytest.approx(
        5 * th.sigma_bins[-1]
    )
    # empty middle bins fall back to the global level
    np.testing.assert_allclose(th.sigma_bins[1:-1], th.sigma)
    assert fr.auto_threshold(frames, background, k=3, quantum_step=0.0).values[-1] == (
        pytest.approx(3 * th.sigma_bins[-1])
    )
    tau = th.map(background)
    np.testing.assert_array_equal(tau[..., : 80 // 2], th.values[0])
    np.testing.assert_array_equal(tau[..., 80 // 2 :], th.values[-1])
    # the contrast floor wins when the noise is tiny, and on noise-free data
    flat = fr.auto_threshold(background, background, min_contrast=0.1, quantum_step=0.0)
    assert flat.sigma == 0 and flat.values == pytest.approx(0.1 * 0.6)
    with pytest.raises(ValueError, match="k"):
        fr.auto_threshold(frames, background, k=0)
    with pytest.raises(ValueError, match="shape"):
        fr.auto_threshold(frames, background[:2])


def test_auto_threshold_quantisation_floor_keeps_compressed_video_from_zero():
    # 8-bit frames of a static scene whose noise is under a grey level: the residual is
    # exactly 0 on most pixels, its MAD is 0, and only the floor keeps the threshold up.
    rng = np.random.default_rng(0)
    clean = np.linspace(0.1, 0.9, 200) * np.ones((20, 50, 200))
    background = np.round(clean * 255) / 255
    frames = np.round((clean + 0.3 / 255 * rng.standard_normal(clean.shape)) * 255) / 255
    frames[rng.random(frames.shape) < 0.01] += 77 / 255
    th = fr.auto_threshold(frames, background, min_contrast=0.0)
    assert th.quantum == pytest.approx(1 / 255)
    assert fr.noise_scale(frames - background) == 0.0
    assert th.values.min() == pytest.approx(5 * 2 / 255 / np.sqrt(12))  # about 3 grey levels
    assert fr.auto_threshold(frames, background, quantum_step=0.0, min_contrast=0.0).sigma == 0


def test_auto_threshold_false_alarm_rate_on_pure_noise():
    rng = np.random.default_rng(4)
    background = np.full((10, 100, 1000), 0.5)
    frames = background + 0.05 * rng.standard_normal(background.shape)
    th = fr.auto_threshold(frames, background, quantum_step=0.0)
    # P(|z| > 5) = 5.7e-7: expect under one false pixel per million, allow a few
    score, mask = fr.score_and_mask(frames, background, th)
    assert np.count_nonzero(mask) <= 5


@pytest.mark.parametrize("shape", [(6, 7, 9), (6, 7, 9, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_score_and_mask_match_numpy(shape, dtype):
    rng = np.random.default_rng(6)
    frames = rng.random(shape).astype(dtype)
    background = rng.random(shape).astype(dtype)
    th = fr.auto_threshold(frames, background, n_bins=4)
    score, mask = fr.score_and_mask(frames, background, th)
    expected = fr.anomaly_score(frames.astype(np.float64) - background)
    np.testing.assert_allclose(score, expected, rtol=1e-6 if dtype == np.float32 else 1e-12)
    assert score.dtype == dtype
    tau = th.map(background)
    decided = np.abs(expected - tau) > 1e-5  # away from rounding ties
    np.testing.assert_array_equal(mask[decided], (expected > tau)[decided])
    _, fixed = fr.score_and_mask(frames, background, 0.3)
    np.testing.assert_array_equal(
        fixed[np.abs(expected - 0.3) > 1e-5], (expected > 0.3)[np.abs(expected - 0.3) > 1e-5]
    )


# --------------------------------------------------------------------------- metrics


def test_cdnet_metrics_by_hand():
    truth = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0], bool)
    pred = np.array([1, 1, 0, 1, 1, 0, 0, 0, 0, 0], bool)
    m = fr.cdnet_metrics(truth, pred)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 2, 1, 5)
    assert m["recall"] == pytest.approx(2 / 3) and m["fnr"] == pytest.approx(1 / 3)
    assert m["specificity"] == pytest.approx(5 / 7) and m["fpr"] == pytest.approx(2 / 7)
    assert m["precision"] == pytest.approx(0.5)
    assert m["pwc"] == pytest.approx(30.0)
    f = 2 * 0.5 * (2 / 3) / (0.5 + 2 / 3)  # harmonic mean of precision and recall
    assert m["f_measure"] == pytest.approx(f)
    empty = fr.cdnet_metrics(np.zeros(4, bool), np.zeros(4, bool))
    assert np.isnan(empty["recall"]) and np.isnan(empty["precision"]) and empty["pwc"] == 0
    with pytest.raises(TypeError, match="boolean"):
        fr.cdnet_metrics(truth, pred.astype(int))


def test_best_f_measure_is_the_best_threshold():
    rng = np.random.default_rng(7)
    truth = rng.random(2000) < 0.1
    score = rng.random(2000) + 0.7 * truth
    score[:50] = np.round(score[:50], 1)  # ties
    best, t = fr.best_f_measure(truth, score)
    assert fr.cdnet_metrics(truth, score > t)["f_measure"] == pytest.approx(best)
    brute = max(fr.cdnet_metrics(truth, score > c)["f_measure"] for c in np.unique(score))
    assert best == pytest.approx(
        max(brute, fr.cdnet_metrics(truth, score >= score.min())["f_measure"])
    )
    with pytest.raises(ValueError, match="foreground"):
        fr.best_f_measure(np.zeros(5, bool), np.ones(5))


def test_precision_recall_by_hand():
    truth = np.array([1, 1, 1, 0, 0, 0, 0, 0], bool)
    pred = np.array([1, 1, 0, 1, 0, 0, 0, 0], bool)
    p, r = fr.precision_recall(truth, pred)
    assert p == pytest.approx(2 / 3) and r == pytest.approx(2 / 3)
    p, r = fr.precision_recall(truth, np.zeros(8, bool))
    assert np.isnan(p) and r == 0.0
    p, r = fr.precision_recall(np.zeros(8, bool), pred)
    assert p == 0.0 and np.isnan(r)
    with pytest.raises(TypeError, match="boolean"):
        fr.precision_recall(truth.astype(int), pred)
    with pytest.raises(ValueError, match="shape"):
        fr.precision_recall(truth, pred[:4])


def _auc_pairs(truth, score):
    pos, neg = score[truth], score[~truth]
    total = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    return total / (pos.size * neg.size)


@pytest.mark.parametrize("seed", range(5))
def test_roc_auc_matches_pairwise_count_with_ties(seed):
    rng = np.random.default_rng(seed)
    truth = rng.random(60) < 0.3
    truth[:2] = (True, False)
    score = rng.integers(0, 5, 60).astype(float) + truth  # many ties
    assert fr.roc_auc(truth, score) == pytest.approx(_auc_pairs(truth, score), abs=1e-12)


def test_roc_auc_extremes_and_sklearn():
    truth = np.array([0, 0, 1, 1, 0, 1], bool)
    score = np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.7])
    assert fr.roc_auc(truth, score) == 1.0
    assert fr.roc_auc(truth, -score) == 0.0
    assert fr.roc_auc(truth, np.ones(6)) == 0.5
    with pytest.raises(ValueError, match="both"):
        fr.roc_auc(np.ones(6, bool), score)
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(9)
    t = rng.random((20, 30)) < 0.1
    s = rng.random((20, 30)) + t * 0.3
    assert fr.roc_auc(t, s) == pytest.approx(sklearn_metrics.roc_auc_score(t.ravel(), s.ravel()))


# --------------------------------------------------------------------------- factory line


def test_factory_line_ground_truth_and_low_rank_background():
    line = make_factory_line(30, 32, 48, random_state=5)
    assert line.frames.shape == (30, 32, 48) and line.truth.shape == (30, 32, 48)
    assert 0.0 <= line.frames.min() and line.frames.max() <= 1.0
    defective = {d["frame"] for d in line.defects}
    assert len(defective) == 9  # 30 % of 30 frames
    np.testing.assert_array_equal(np.flatnonzero(line.truth.any(axis=(1, 2))), sorted(defective))
    # the clean frames span a rank-3 space (surface x smooth light)
    s = np.linalg.svd(fr.frames_to_matrix(line.clean), compute_uv=False)
    assert s[3] < 1e-10 * s[0] and s[2] > 1e-3 * s[0]
    # the noise is what was asked for, away from defects
    resid = (line.frames - line.clean)[~line.truth]
    assert resid.std() == pytest.approx(0.01, rel=0.05)


def test_factory_line_is_reproducible_and_colour():
    a = make_factory_line(10, 24, 24, random_state=1)
    b = make_factory_line(10, 24, 24, random_state=1)
    np.testing.assert_array_equal(a.frames, b.frames)
    c = make_factory_line(10, 24, 24, random_state=2)
    assert not np.array_equal(a.frames, c.frames)
    col = make_factory_line(10, 24, 24, color=True, random_state=1)
    assert col.frames.shape == (10, 24, 24, 3) and col.truth.shape == (10, 24, 24)
    with pytest.raises(ValueError, match="16 x 16"):
        make_factory_line(10, 8, 24)


# --------------------------------------------------------------------------- decompose


@pytest.fixture(scope="module")
def small_line():
    return make_factory_line(30, 32, 48, random_state=7)


def test_decompose_frames_finds_the_defects(small_line):
    frames = small_line.frames.copy()
    dec = fr.decompose_frames(frames, dtype=np.float32, random_state=0)
    np.testing.assert_array_equal(frames, small_line.frames)  # input untouched
    assert dec.background.shape == dec.foreground.shape == dec.noise.shape == frames.shape
    assert dec.mask.shape == dec.score.shape == frames.shape
    # stable PCP by default: frames = L + S + E to its tolerance (1e-3)
    parts = dec.background + dec.foreground + dec.noise
    assert np.linalg.norm(parts - frames) < 1.1e-3 * np.linalg.norm(frames)
    assert dec.result.delta > 0 and dec.result.tol == 1e-3
    np.testing.assert_allclose(dec.score, np.abs(frames - dec.background), atol=1e-6)
    np.testing.assert_array_equal(dec.mask, dec.score > dec.threshold_map())
    assert dec.threshold_auto and dec.threshold > 0 and dec.bins is not None
    assert dec.threshold == dec.bins.values.min()
    assert dec.noise_scale == pytest.approx(0.01, rel=0.3)
    assert dec.result.rank <= 4  # the factory line's background is rank 3
    assert fr.roc_auc(small_line.truth, dec.score) > 0.97
    precision, recall = fr.precision_recall(small_line.truth, dec.mask)
    assert precision > 0.8 and recall > 0.8
    np.testing.assert_allclose(dec.anomaly_fraction, dec.mask.mean(axis=(1, 2)))
    clean = ~small_line.truth.any(axis=(1, 2))
    assert dec.anomaly_fraction[clean].mean() < 0.2 * dec.anomaly_fraction[~clean].mean()


def test_decompose_frames_exact_pcp_on_request(small_line):
    dec = fr.decompose_frames(small_line.frames, delta=0, dtype=np.float32, random_state=0)
    assert dec.result.delta == 0 and dec.result.E is None and dec.noise is None
    assert dec.result.tol == 1e-6  # rpca's own default for float32
    np.testing.assert_allclose(dec.background + dec.foreground, small_line.frames, atol=1e-4)
    capped = fr.decompose_frames(small_line.frames, rank=2, dtype=np.float32, random_state=0)
    assert capped.result.rank <= 2


def test_decompose_frames_fixed_threshold_and_colour_modes():
    line = make_factory_line(20, 24, 32, color=True, random_state=3)
    stack = fr.decompose_frames(line.frames, threshold=0.5, dtype=np.float32)
    assert stack.background.shape == (20, 24, 32, 3) and stack.color == "stack"
    assert stack.threshold == 0.5 and not stack.threshold_auto and stack.k is None
    assert stack.bins is None
    np.testing.assert_array_equal(stack.mask, stack.score > 0.5)
    np.testing.assert_array_equal(stack.threshold_map(), 0.5)
    grey = fr.decompose_frames(line.frames, color="grey", dtype=np.float32)
    assert grey.background.shape == (20, 24, 32) and grey.color == "grey"
    assert grey.result.L.shape == (24 * 32, 20)
    with pytest.raises(ValueError, match="color"):
        fr.decompose_frames(line.frames, color="rgb")


# --------------------------------------------------------------------------- dask / zarr frames


@pytest.fixture(scope="module")
def scene_and_reference():
    from fastrpca.app import scenes

    scene = scenes.photo_scene(24, (48, 64), seed=3)
    return scene, fr.decompose_frames(scene.frames, dtype=np.float64)


def _same_decomposition(dec, ref):
    assert dec.result.n_iter == ref.result.n_iter and dec.result.rank == ref.result.rank
    np.testing.assert_array_equal(dec.result.history["rank"], ref.result.history["rank"])
    assert dec.threshold == pytest.approx(ref.threshold, rel=1e-12)
    assert dec.noise_scale == pytest.approx(ref.noise_scale, rel=1e-12)
    for name in ("background", "foreground", "score", "mask"):
        lazy = getattr(dec, name)
        assert type(lazy).__module__.startswith("dask"), name  # computed batch by batch
        assert lazy.shape == getattr(ref, name).shape and lazy.dtype == getattr(ref, name).dtype
    np.testing.assert_array_equal(dec.mask.compute(), ref.mask)  # same masks, pixel for pixel
    scale = np.abs(ref.background).max()
    for name in ("background", "foreground", "score"):
        got = getattr(dec, name).compute()
        np.testing.assert_allclose(got, getattr(ref, name), rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(dec.anomaly_fraction, ref.anomaly_fraction, rtol=1e-12)


@pytest.mark.parametrize("out_of_core", [False, True])
def test_decompose_frames_of_a_dask_array_equals_the_in_memory_call(
    scene_and_reference, tmp_path, out_of_core
):
    dask = pytest.importorskip(
        "dask", reason="dask is not installed (pip install 'fastrpca[dask]')"
    )
    import dask.array as da

    scene, ref = scene_and_reference
    X = da.from_array(scene.frames, chunks=(5, 48, 64))
    where = {"state_dir": tmp_path} if out_of_core else {}
    with dask.config.set({"array.chunk-size": "64KiB"}):  # several row blocks
        dec = fr.decompose_frames(X, dtype=np.float64, client=False, **where)
    assert len(dec.result.U.chunks[0]) > 3
    _same_decomposition(dec, ref)
    if out_of_core:  # everything the result reads is in one new folder under state_dir
        (folder,) = tmp_path.iterdir()
        assert dec.result.state_dir == str(folder)
        assert {"M.zarr", "S.zarr"} <= {p.name for p in folder.iterdir()}
    else:
        assert dec.result.state_dir is None


def test_decompose_frames_of_a_zarr_array_out_of_core(scene_and_reference, tmp_path):
    pytest.importorskip("dask", reason="dask is not installed (pip install 'fastrpca[dask]')")
    zarr = pytest.importorskip("zarr")
    scene, ref = scene_and_reference
    z = zarr.open_array(
        str(tmp_path / "frames.zarr"), mode="w", shape=scene.frames.shape, chunks=(4, 48, 64),
        dtype=scene.frames.dtype,
    )  # fmt: skip
    z[...] = scene.frames
    dec = fr.decompose_frames(z, dtype=np.float64, client=False, state_dir=tmp_path / "s")
    _same_decomposition(dec, ref)
    np.testing.assert_array_equal(z[...], scene.frames)  # the input is untouched


@pytest.mark.parametrize("color", ["stack", "grey"])
def test_decompose_frames_of_dask_colour_frames(color):
    pytest.importorskip("dask", reason="dask is not installed (pip install 'fastrpca[dask]')")
    import dask.array as da

    from fastrpca.app import scenes

    frames = scenes.photo_scene(12, (24, 32), seed=4, color=True).frames
    ref = fr.decompose_frames(frames, dtype=np.float64, color=color, threshold=0.05)
    dec = fr.decompose_frames(
        da.from_array(frames, chunks=(3, 24, 32, 3)), dtype=np.float64, color=color,
        threshold=0.05, client=False,
    )  # fmt: skip
    _same_decomposition(dec, ref)
    assert dec.bins is None and dec.threshold == 0.05


def _lazy_line(reads=None, nan_frame=None):
    """A small factory line as a dask array of 2-frame chunks; ``reads`` collects the
    frames each computed chunk held."""
    import dask.array as da

    frames = make_factory_line(8, 16, 16, random_state=5).frames.copy()
    if nan_frame is not None:
        frames[nan_frame, 3, 4] = np.nan
    X = da.from_array(frames, chunks=(2, 16, 16))
    if reads is None:
        return X

    def spy(block):
        reads.append(block.shape[0])
        return block

    return X.map_blocks(spy, meta=np.empty((0, 0, 0), X.dtype))


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"lam": -1.0}, ValueError, "lam must be > 0"),
        ({"max_iter": 0}, ValueError, "max_iter must be > 0"),
        ({"svd": "partial"}, ValueError, "'partial' needs the whole matrix"),
        ({"tol": 2.0}, ValueError, "tol must be <= 1"),
        ({"rho": 0.5}, ValueError, "rho must be >= 1"),
        ({"delta": "noise"}, ValueError, "delta must be a number"),
        ({"rank": 0}, ValueError, "rank must be > 0"),
        ({"checkpoint_every": 0}, ValueError, "checkpoint_every must be > 0"),
        ({"random_state": "seed"}, TypeError, "random_state"),
        ({"max_iters": 5}, TypeError, "max_iters"),
        ({"threshold": -1.0}, ValueError, "threshold must be >= 0"),
        ({"k": 0.0}, ValueError, "k must be > 0"),
        ({"min_contrast": -0.1}, ValueError, "min_contrast must be >= 0"),
        ({"dtype": np.int32}, TypeError, "floating dtype"),
        ({"color": "rgb"}, ValueError, "color must be"),
    ],
)
def test_lazy_frames_bad_arguments_fail_before_any_frame_is_read(kwargs, err, match, tmp_path):
    pytest.importorskip("dask", reason="dask is not installed (pip install 'fastrpca[dask]')")
    reads: list[int] = []
    with pytest.raises(err, match=match):
        fr.decompose_frames(_lazy_line(reads), client=False, state_dir=tmp_path, **kwargs)
    assert reads == []  # nothing streamed, nothing solved
    assert list(tmp_path.iterdir()) == []  # and no folder left behind


def _interrupt(info):
    raise RuntimeError("interrupted by the callback")


@pytest.mark.filterwarnings("ignore::fastrpca.ConvergenceWarning")
@pytest.mark.parametrize("failure", ["nan frame", "solver", "threshold"])
def test_lazy_frames_out_of_core_failure_leaves_no_folder(failure, tmp_path, monkeypatch):
    pytest.importorskip("dask", reason="dask is not installed (pip install 'fastrpca[dask]')")
    from fastrpca.robust_pca import dask_frames

    kwargs: dict = {"client": False, "state_dir": tmp_path, "max_iter": 3}
    X = _lazy_line(nan_frame=5 if failure == "nan frame" else None)
    if failure == "solver":
        kwargs["callback"] = _interrupt
    if failure == "threshold":  # after the solve: the automatic threshold fails

        def broken(*args, **kw):
            raise RuntimeError("threshold failed")

        monkeypatch.setattr(dask_frames, "auto_threshold", broken)
    err, match = {
        "nan frame": (ValueError, r"frames\[4:6\] contains 1 NaN"),
        "solver": (RuntimeError, "interrupted by the callback"),
        "threshold": (RuntimeError, "threshold failed"),
    }[failure]
    with pytest.raises(err, match=match):
        fr.decompose_frames(X, **kwargs)
    assert tmp_path.is_dir() and list(tmp_path.iterdir()) == []  # state_dir itself stays


@pytest.mark.parametrize("out_of_core", [False, True])
def test_nan_in_lazy_frames_is_named_in_frames_words(out_of_core, tmp_path):
    dask = pytest.importorskip(
        "dask", reason="dask is not installed (pip install 'fastrpca[dask]')"
    )
    import dask.array as da

    where = {"state_dir": tmp_path} if out_of_core else {}
    X = _lazy_line(nan_frame=5)
    with pytest.raises(ValueError) as info:
        fr.decompose_frames(X, client=False, **where)
    message = str(info.value)
    assert message.startswith("frames[4:6] contains 1 NaN entries (frame(s) 5); replace them")
    assert "da.isfinite(M)" not in message and "nan_to_num(frames)" in message
    # the fix the message gives works
    with dask.config.set(scheduler="threads", num_workers=1):
        dec = fr.decompose_frames(da.nan_to_num(X), client=False, threshold=0.1, **where)
    assert dec.background.shape == X.shape


@pytest.mark.parametrize("lazy", [False, True])
def test_bad_threshold_fails_before_the_solve(lazy):
    if lazy:
        pytest.importorskip("dask", reason="dask is not installed (pip install 'fastrpca[dask]')")
    frames = _lazy_line() if lazy else make_factory_line(8, 16, 16, random_state=5).frames
    calls: list[int] = []
    options = {"client": False} if lazy else {}
    with pytest.raises(ValueError, match="threshold must be >= 0"):
        fr.decompose_frames(frames, threshold=-0.5, callback=calls.append, **options)
    assert calls == []  # not one iteration ran


def test_repr_uses_the_anomaly_fraction_not_a_pass_over_the_mask():
    pytest.importorskip("dask", reason="dask is not installed (pip install 'fastrpca[dask]')")
    frames = make_factory_line(8, 16, 16, random_state=5).frames
    ref = fr.decompose_frames(frames)
    assert f"anomalous pixels={ref.mask.mean():.2%})" in repr(ref)
    dec = fr.decompose_frames(_lazy_line(), client=False)

    def unread(block):
        raise AssertionError("repr computed the lazy mask")

    dec.mask = dec.mask.map_blocks(unread, meta=np.empty((0, 0, 0), bool))
    assert f"anomalous pixels={np.mean(dec.anomaly_fraction):.2%})" in repr(dec)
    assert f"anomalous pixels={ref.mask.mean():.2%})" in repr(dec)  # the same figure
