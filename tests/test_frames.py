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


def test_noise_scale_is_zero_for_exactly_sparse_S():
    S = np.zeros(1000)
    S[:10] = 1.0
    assert fr.noise_scale(S) == 0.0


def test_auto_threshold_rule():
    rng = np.random.default_rng(3)
    S = 0.02 * rng.standard_normal(100_000)
    sigma = fr.noise_scale(S)
    assert fr.auto_threshold(S, 1.0) == pytest.approx(5 * sigma)
    assert fr.auto_threshold(S, 1.0, k=3) == pytest.approx(3 * sigma)
    # the floor wins when the noise is tiny, and on exactly sparse S
    assert fr.auto_threshold(S * 1e-3, 1.0) == pytest.approx(0.01)
    assert fr.auto_threshold(np.zeros(10), 255.0, min_contrast=0.02) == pytest.approx(5.1)
    with pytest.raises(ValueError, match="k"):
        fr.auto_threshold(S, 1.0, k=0)


def test_auto_threshold_false_alarm_rate_on_pure_noise():
    rng = np.random.default_rng(4)
    S = 0.05 * rng.standard_normal(1_000_000)
    tau = fr.auto_threshold(S, 1.0)
    # P(|z| > 5) = 5.7e-7: expect under one false pixel per million, allow a few
    assert np.count_nonzero(np.abs(S) > tau) <= 5


# --------------------------------------------------------------------------- metrics


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
    assert dec.background.shape == dec.foreground.shape == frames.shape
    assert dec.mask.shape == dec.score.shape == frames.shape
    np.testing.assert_allclose(dec.background + dec.foreground, frames, atol=1e-4)
    np.testing.assert_array_equal(dec.mask, dec.score > dec.threshold)
    assert dec.threshold_auto and dec.threshold > 0
    assert dec.noise_scale == pytest.approx(0.01, rel=0.3)
    assert fr.roc_auc(small_line.truth, dec.score) > 0.97
    precision, recall = fr.precision_recall(small_line.truth, dec.mask)
    assert precision > 0.8 and recall > 0.8
    np.testing.assert_allclose(dec.anomaly_fraction, dec.mask.mean(axis=(1, 2)))
    clean = ~small_line.truth.any(axis=(1, 2))
    assert dec.anomaly_fraction[clean].mean() < 0.2 * dec.anomaly_fraction[~clean].mean()


def test_decompose_frames_fixed_threshold_and_colour_modes():
    line = make_factory_line(20, 24, 32, color=True, random_state=3)
    stack = fr.decompose_frames(line.frames, threshold=0.5, dtype=np.float32)
    assert stack.background.shape == (20, 24, 32, 3) and stack.color == "stack"
    assert stack.threshold == 0.5 and not stack.threshold_auto and stack.k is None
    np.testing.assert_array_equal(stack.mask, stack.score > 0.5)
    grey = fr.decompose_frames(line.frames, color="grey", dtype=np.float32)
    assert grey.background.shape == (20, 24, 32) and grey.color == "grey"
    assert grey.result.L.shape == (24 * 32, 20)
    with pytest.raises(ValueError, match="color"):
        fr.decompose_frames(line.frames, color="rgb")
