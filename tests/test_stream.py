"""Streaming Robust PCA: the NumPy reference, planted truth, batch IALM, drift, anomalies,
buffers and bad input."""

import tracemalloc

import numba
import numpy as np
import pytest
from naive.stream import NaiveStream, drifting
from numba.core.runtime import _nrt_python as nrt
from numba.core.runtime import rtsys

from fastrpca import rpca
from fastrpca.robust_pca.stream import StreamingRPCA, _warmup

N0 = 30  # frames given to fit

# The planted scenes here are noise-free and drift fast: the exact PCP fit (delta=0) and a
# short memory (forget=0.8) are their model; the defaults (stable PCP, forget 0.95) are
# tested on real camera sequences at the end of this file.
PLANTED = {"delta": 0, "forget": 0.8}


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def run(stream, frames, **kwargs):
    """Process frames one by one; return copies of (B, S) stacked."""
    B, S = np.empty_like(frames), np.empty_like(frames)
    for t, frame in enumerate(frames):
        b, s = stream.process(frame, **kwargs)
        B[t], S[t] = b, s
    return B, S


@pytest.fixture(scope="module")
def drifting_scene():
    return drifting((32, 32), 150, 3, drift=0.3, seed=1)


# ---------------------------------------------------------------- the reference


@pytest.mark.parametrize(
    "shape, forget, reject", [((16, 24), 0.8, 4.0), ((300,), 0.95, 1.0), ((8, 6, 5), 1.0, 2.0)]
)
def test_follows_the_numpy_reference_frame_by_frame(shape, forget, reject):
    M, _, _ = drifting(shape, 70, 3, drift=0.5, seed=2)
    stream = StreamingRPCA(rank=3, forget=forget, reject=reject, delta=0).fit(
        M[:20], random_state=0
    )
    ref = NaiveStream(stream.init_result.L, 3, stream.threshold_, forget, reject)
    for frame in M[20:]:
        B, S = stream.process(frame)
        B_ref, S_ref, n_inner, n_sparse = ref.step(frame.ravel())
        assert stream.n_inner[0] == n_inner and stream.n_sparse[0] == n_sparse
        np.testing.assert_allclose(B.ravel(), B_ref, atol=1e-10 * np.abs(B_ref).max())
        np.testing.assert_allclose(S.ravel(), S_ref, atol=1e-10 * np.abs(B_ref).max())
    np.testing.assert_allclose(stream.singular_values, ref.sv, rtol=1e-10)
    U = stream.components.reshape(3, -1).T
    np.testing.assert_allclose(U @ U.T, ref.U @ ref.U.T, atol=1e-12)
    np.testing.assert_allclose(U.T @ U, np.eye(3), atol=1e-12)  # stays orthonormal


def test_float32_stream_computes_in_float32_and_agrees_with_float64():
    M, _, _ = drifting((24, 24), 80, 3, drift=0.3, seed=3)
    s64 = StreamingRPCA(rank=3, **PLANTED).fit(M[:N0], random_state=0)
    s32 = StreamingRPCA(rank=3, threshold=s64.threshold_, **PLANTED).fit(
        M[:N0].astype(np.float32), random_state=0
    )
    assert s32.dtype == np.float32
    B64, S64 = run(s64, M[N0:])
    B32, S32 = run(s32, M[N0:].astype(np.float32))
    assert B32.dtype == np.float32
    b32, _ = s32.process(M[-1])
    assert b32.dtype == np.float32
    assert rel(B32, B64) < 2e-4
    # entries within rounding of the threshold may flip between the parts
    assert np.mean((S32 != 0) == (S64 != 0)) > 0.999 and rel(S32, S64) < 5e-3


# ---------------------------------------------------------------- planted truth and batch


def test_static_scene_is_recovered_exactly():
    # Anomalies of modulus >= 2, beyond reject * threshold (about 0.7): the refit removes
    # the shrinkage bias and the basis never sees them, so the split is exact.
    M, B0, S0 = drifting((32, 32), 120, 3, drift=0.0, low=2.0, seed=4)
    stream = StreamingRPCA(rank=3, **PLANTED).fit(M[:60], random_state=0)
    assert 4 * stream.threshold_ < 2.0
    B, S = run(stream, M[60:])
    assert rel(B, B0[60:]) < 1e-7 and rel(S, S0[60:]) < 1e-7


def test_drifting_scene_close_to_batch_ialm_and_truth(drifting_scene):
    M, B0, S0 = drifting_scene
    batch = rpca(M.reshape(len(M), -1).T, random_state=0)
    S_batch = batch.S.T.reshape(M.shape)[N0:]
    assert rel(S_batch, S0[N0:]) < 1e-6  # batch IALM recovers the truth
    stream = StreamingRPCA(rank=3, **PLANTED).fit(M[:N0], random_state=0)
    B, S = run(stream, M[N0:])
    assert rel(S, S0[N0:]) < 0.03 and rel(S, S_batch) < 0.03
    assert rel(B, B0[N0:]) < 0.02


def test_drift_is_followed(drifting_scene):
    M, B0, _ = drifting_scene
    tracked = StreamingRPCA(rank=3, **PLANTED).fit(M[:N0], random_state=0)
    frozen = StreamingRPCA(rank=3, **PLANTED).fit(M[:N0], random_state=0)
    B_t, _ = run(tracked, M[N0:])
    B_f, _ = run(frozen, M[N0:], update=False)
    late = slice(-30, None)
    err_t, err_f = rel(B_t[late], B0[N0:][late]), rel(B_f[late], B0[N0:][late])
    assert err_t < 0.02 and err_f > 5 * err_t
    assert frozen.n_frames == 0 and tracked.n_frames == len(M) - N0
    # the frozen basis is the fitted one
    fresh = StreamingRPCA(rank=3, **PLANTED).fit(M[:N0], random_state=0)
    np.testing.assert_array_equal(frozen.components, fresh.components)


@pytest.mark.parametrize("reject, absorbed", [(4.0, False), (1e6, True)])
def test_persistent_anomaly_is_not_absorbed(reject, absorbed):
    # A bright 6 x 6 patch sits on the scene for 60 frames; with the default reject it
    # stays sparse. With reject huge the basis takes every residual and absorbs it.
    M, B0, S0 = drifting((32, 32), 130, 3, drift=0.0, fraction=0.02, low=2.0, seed=5)
    M, S0 = M.copy(), S0.copy()
    patch = (slice(70, 130), slice(10, 16), slice(10, 16))
    S0[patch] = 6.0
    M[patch] = B0[patch] + 6.0
    stream = StreamingRPCA(rank=3, reject=reject, **PLANTED).fit(M[:60], random_state=0)
    B, S = run(stream, M[60:])
    last = (slice(-1, None),) + patch[1:]
    err = np.abs(B[last] - B0[60:][last]).max()
    if absorbed:
        assert err > 1.0
    else:
        assert err < 1e-7 and np.allclose(S[last], 6.0, atol=1e-7)


def test_an_anomalous_frame_is_flagged():
    M, _, _ = drifting((32, 32), 60, 3, drift=0.0, fraction=0.01, seed=6)
    M = M.copy()
    M[50, 5:25, 5:25] += 9.0
    stream = StreamingRPCA(rank=3, **PLANTED).fit(M[:N0], random_state=0)
    counts = [int(stream.process(f) and stream.n_sparse[0]) for f in M[N0:]]
    assert np.argmax(counts) == 50 - N0
    assert counts[50 - N0] >= 400 and max(counts[: 50 - N0]) < 40


# ---------------------------------------------------------------- API behaviour


def test_a_batch_call_equals_single_calls(drifting_scene):
    M = drifting_scene[0][:60]
    a = StreamingRPCA(rank=3, **PLANTED).fit(M[:N0], random_state=0)
    b = StreamingRPCA(rank=3, **PLANTED).fit(M[:N0], random_state=0)
    B1, S1 = run(a, M[N0:])
    B2, S2 = b.process(M[N0 : N0 + 10])
    B2, S2 = B2.copy(), S2.copy()
    B3, S3 = b.process(M[N0 + 10 :])
    np.testing.assert_array_equal(np.concatenate([B2, B3]), B1)
    np.testing.assert_array_equal(np.concatenate([S2, S3]), S1)
    assert b.n_inner.shape == (20,) and b.n_frames == a.n_frames == 30


def test_deterministic_for_a_seed(drifting_scene):
    M = drifting_scene[0][:60]
    runs = [run(StreamingRPCA(**PLANTED).fit(M[:N0], random_state=7), M[N0:]) for _ in range(2)]
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_default_rank_is_the_batch_rank():
    M, _, _ = drifting((32, 32), 60, 3, drift=0.0, seed=4)
    stream = StreamingRPCA(**PLANTED).fit(M, random_state=0)
    assert stream.rank_ == stream.init_result.rank == 3
    assert stream.components.shape == (3, 32, 32)
    assert "rank=3" in repr(stream)


def test_inputs_are_not_modified_and_any_layout_or_integer_dtype_works(drifting_scene):
    M = drifting_scene[0][:40]
    M0 = M.copy()
    ref = StreamingRPCA(rank=3, **PLANTED).fit(M[:N0], random_state=0)
    other = StreamingRPCA(rank=3, **PLANTED).fit(M[:N0], random_state=0)
    np.testing.assert_array_equal(M, M0)
    frame = M[N0].copy()
    frame.flags.writeable = False
    B_ref, _ = ref.process(frame)
    B_ref = B_ref.copy()
    wide = np.zeros((32, 64))
    wide[:, ::2] = frame
    B, _ = other.process(wide[:, ::2])  # strided view
    np.testing.assert_array_equal(B, B_ref)
    np.testing.assert_array_equal(frame, M0[N0])
    counts = np.round(M[N0 + 1] * 10 + 100).astype(np.uint8)
    f64 = counts.astype(np.float64)
    a, _ = ref.process(counts)
    a = a.copy()
    b, _ = other.process(f64)
    np.testing.assert_array_equal(a, b)


@pytest.mark.requires_jit
def test_buffers_are_reused_and_steady_state_allocates_nothing():
    M, _, _ = drifting((64, 64), 60, 3, drift=0.3, seed=8)
    stream = StreamingRPCA(rank=3, **PLANTED).fit(M[:N0], random_state=0)
    B1, S1 = stream.process(M[N0])
    B2, S2 = stream.process(M[N0 + 1])
    assert np.shares_memory(B1, B2) and np.shares_memory(S1, S2)
    out = (np.empty((64, 64)), np.empty((64, 64)))
    got = stream.process(M[N0 + 2], out=out)
    assert got[0] is out[0] and got[1] is out[1]
    # numba's runtime counts one allocation per array argument (a MemInfo header around
    # the caller's data, no copy) and one per array a kernel creates. A process() call
    # passes 16 arrays to process_frames and 1 to count_nonfinite: 17, none created.
    was_on = nrt.memsys_stats_enabled()
    nrt.memsys_enable_stats()
    try:
        creates_one = numba.njit(lambda a: np.empty(a.size).size)
        creates_one(out[0])
        start = rtsys.get_allocation_stats().alloc
        creates_one(out[0])
        assert rtsys.get_allocation_stats().alloc - start == 2  # argument + created array
        before = rtsys.get_allocation_stats().alloc
        tracemalloc.start()
        for frame in M[N0 + 3 :]:
            stream.process(frame)
            stream.process(frame, out=out, update=False)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        calls = 2 * len(M[N0 + 3 :])
        assert rtsys.get_allocation_stats().alloc - before == 17 * calls
        before = rtsys.get_allocation_stats().alloc
        stream.process(frame, check_finite=False)
        assert rtsys.get_allocation_stats().alloc - before == 16
    finally:
        if not was_on:
            nrt.memsys_disable_stats()
    assert peak < 4096  # a frame is 32 KiB; only small Python objects are created


def test_warmup_compiles_the_stream_kernels_for_real_dtypes():
    _warmup()


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"rank": 0}, ValueError, "rank must be > 0"),
        ({"rank": 2.5}, TypeError, "rank must be an integer"),
        ({"forget": 0.0}, ValueError, "forget"),
        ({"forget": 1.5}, ValueError, "forget must be <= 1"),
        ({"reject": 0.5}, ValueError, "reject must be >= 1"),
        ({"threshold": -1.0}, ValueError, "threshold"),
        ({"max_inner": 0}, ValueError, "max_inner"),
    ],
)
def test_bad_parameters_are_explained(kwargs, error, match):
    with pytest.raises(error, match=match):
        StreamingRPCA(**kwargs)


@pytest.mark.parametrize(
    "frames, kwargs, error, match",
    [
        (np.ones((1, 8, 8)), {}, ValueError, "at least 2 frames"),
        (np.ones(8), {}, ValueError, "at least 2 frames"),
        (np.ones((5, 8), complex), {}, TypeError, "real data"),
        (np.ones((5, 8)), {"rank": 6}, ValueError, "rank=6 exceeds"),
        (np.zeros((5, 8)), {}, ValueError, "no low-rank background"),
    ],
)
def test_bad_fit_input_is_explained(frames, kwargs, error, match):
    with pytest.raises(error, match=match):
        StreamingRPCA(**kwargs).fit(frames)


def test_nan_frames_are_reported_and_the_stream_is_left_intact(drifting_scene):
    M = drifting_scene[0][:40]
    bad = M[:N0].copy()
    bad[3, 1, 1] = np.nan
    with pytest.raises(ValueError, match="frames contains 1 NaN"):
        StreamingRPCA(rank=3, **PLANTED).fit(bad)
    stream = StreamingRPCA(rank=3, **PLANTED).fit(M[:N0], random_state=0)
    before = stream.components
    frame = M[N0].copy()
    frame[0, :3] = [np.nan, np.inf, -np.inf]
    with pytest.raises(ValueError, match="3 NaN or infinite entries; replace them"):
        stream.process(frame)
    np.testing.assert_array_equal(stream.components, before)
    assert stream.n_frames == 0


def test_bad_frames_are_explained(drifting_scene):
    M = drifting_scene[0][:40]
    with pytest.raises(RuntimeError, match=r"call fit\(first_frames\)"):
        StreamingRPCA().process(M[0])
    stream = StreamingRPCA(rank=3, **PLANTED).fit(M[:N0], random_state=0)
    with pytest.raises(
        ValueError,
        match=r"shape \(32, 31\) but this stream was fitted "
        r"on frames of shape \(32, 32\)",
    ):
        stream.process(M[0, :, :31])
    with pytest.raises(ValueError, match="batch of shape"):
        stream.process(M[:0])
    with pytest.raises(TypeError, match="complex"):
        stream.process(M[0] + 0j)
    with pytest.raises(TypeError, match="non-numeric"):
        stream.process(np.full((32, 32), "a"))
    with pytest.raises(ValueError, match="out background must be a writeable C-contiguous"):
        stream.process(M[0], out=(np.empty((32, 32), np.float32), np.empty((32, 32))))
    with pytest.raises(ValueError, match="out sparse"):
        stream.process(M[0], out=(np.empty((32, 32)), np.empty((32, 64))[:, ::2]))


# ---------------------------------------------------------------- defaults on real footage


def test_defaults_fit_stable_pcp_and_remember_20_frames():
    stream = StreamingRPCA()
    assert stream.forget == 0.95 and stream.delta == "auto"
    M, _, _ = drifting((32, 32), 60, 3, drift=0.0, seed=4)
    noisy = M + 0.01 * np.random.default_rng(0).standard_normal(M.shape)
    fitted = StreamingRPCA().fit(noisy[:40], random_state=0)
    assert fitted.init_result.delta > 0 and fitted.init_result.tol == 1e-3
    assert fitted.rank_ == 3  # the noise stays out of the basis
    exact = StreamingRPCA(delta=0).fit(noisy[:40], random_state=0)
    assert exact.rank_ > 3
    capped = StreamingRPCA(rank=2).fit(noisy[:40], random_state=0)
    assert capped.rank_ == 2 and capped.init_result.max_rank == 2
    with pytest.raises(ValueError, match="delta"):
        StreamingRPCA(delta=-1.0)


@pytest.mark.parametrize("kind", ["photo", "video"])
def test_stream_agrees_with_the_batch_on_real_footage(kind):
    pytest.importorskip("skimage", reason="the photo scenes need scikit-image")
    import fastrpca
    from fastrpca.robust_pca.frames import auto_threshold, score_and_mask
    from fastrpca.robust_pca.metrics import cdnet_metrics

    scenes = pytest.importorskip("fastrpca.app.scenes")
    if kind == "video":
        pytest.importorskip("cv2", reason="reading vtest.avi needs opencv-python-headless")
        try:
            scenes.vtest_path()
        except FileNotFoundError:
            pytest.skip("vtest.avi not found: apt-get install opencv-doc or set FASTRPCA_VTEST")
        sc = scenes.video_scene(80, seed=1, step=3, downsample=2, drift=0.04, flicker=0.01)
    else:
        sc = scenes.photo_scene(80, (96, 128), seed=1, noise=0.005, drift=0.04, flicker=0.03)
    F, n0 = sc.frames, 20
    batch = fastrpca.decompose_frames(F).background
    stream = StreamingRPCA().fit(F[:n0])
    B = np.stack([stream.process(f)[0].copy() for f in F[n0:]])

    def f_measure(background):
        th = auto_threshold(F[n0:], background)
        return cdnet_metrics(sc.masks[n0:], score_and_mask(F[n0:], background, th)[1])["f_measure"]

    assert stream.rank_ <= 5
    assert f_measure(B) > f_measure(batch[n0:]) - 0.03
