"""Edge inputs that once gave silent wrong answers or crashes (issue 11), one section per
class: byte order, aliased ``out=``, extreme scales, poisoned streams, shared workspaces,
iteration caps, seeds and small helpers. Each test states the reproducer it guards."""

import numpy as np
import pytest
from naive.rpca import planted

import fastrpca
from fastrpca import holography as H

# --------------------------------------------------------------------------- byte order
# Big-endian arrays ('>f8' from FITS or some TIFF readers) once crashed inside numba's
# typing ("non-precise type pyobject") or raised KeyError: dtype('>f8').

SWAPPED = {np.float64: ">f8", np.float32: ">f4", np.complex128: ">c16", np.complex64: ">c8"}
if np.little_endian is False:  # pragma: no cover - big-endian machines: test little-endian
    SWAPPED = {k: "<" + v[1:] for k, v in SWAPPED.items()}


def swapped(a):
    """``a`` with the same values in the non-native byte order."""
    a = np.asarray(a)
    out = a.astype(SWAPPED[a.dtype.type])
    assert not out.dtype.isnative and np.array_equal(out, a)
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_rpca_takes_swapped_byte_order(dtype):
    M = planted(30, 24, 2, 0.05, magnitude=10.0, seed=1)[0].astype(dtype)
    if np.dtype(dtype).kind == "c":
        M = M + 0.5j * M[::-1]
    ref = fastrpca.rpca(M)
    got = fastrpca.rpca(swapped(M))
    assert got.L.dtype == M.dtype and got.L.dtype.isnative
    np.testing.assert_array_equal(got.L, ref.L)
    mask = np.ones(M.shape, bool)
    mask[0, 0] = False
    np.testing.assert_array_equal(
        fastrpca.rpca(swapped(M), mask=mask).L, fastrpca.rpca(M, mask=mask).L
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_prox_take_swapped_byte_order(dtype):
    x = np.random.default_rng(0).standard_normal(20).astype(dtype)
    xs = swapped(x)
    np.testing.assert_array_equal(fastrpca.soft_threshold(xs, 0.3), fastrpca.soft_threshold(x, 0.3))
    np.testing.assert_array_equal(
        fastrpca.elastic_net_prox(xs, 0.3, 0.5), fastrpca.elastic_net_prox(x, 0.3, 0.5)
    )
    np.testing.assert_array_equal(fastrpca.ridge_shrink(xs, 0.3), fastrpca.ridge_shrink(x, 0.3))
    X = x.reshape(4, 5)
    np.testing.assert_allclose(fastrpca.svt(swapped(X), 0.1), fastrpca.svt(X, 0.1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_solvers_take_swapped_byte_order(dtype):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((12, 20)).astype(dtype)
    y = rng.standard_normal(12).astype(dtype)
    lam = 0.2 * fastrpca.lam_max(A, y)
    ref = fastrpca.lasso(A, y, lam).x
    for AA, yy in ((swapped(A), y), (A, swapped(y)), (swapped(A), swapped(y))):
        np.testing.assert_array_equal(fastrpca.lasso(AA, yy, lam).x, ref)
        np.testing.assert_array_equal(fastrpca.LassoSolver(AA).solve(yy, lam).x, ref)
        np.testing.assert_array_equal(
            fastrpca.elastic_net(AA, yy, lam, 0.1).x, fastrpca.elastic_net(A, y, lam, 0.1).x
        )
        np.testing.assert_allclose(fastrpca.ridge(AA, yy, 0.5).x, fastrpca.ridge(A, y, 0.5).x)
        assert fastrpca.lam_max(AA, yy) == fastrpca.lam_max(A, y)
    x0 = swapped(np.ones(20, dtype))
    np.testing.assert_allclose(fastrpca.lasso(A, y, lam, x0=x0).x, ref, atol=1e-5)
    Y = np.stack([y, -y], axis=1)
    np.testing.assert_array_equal(
        fastrpca.lasso(swapped(A), swapped(Y), lam).x, fastrpca.lasso(A, Y, lam).x
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_frames_and_streams_take_swapped_byte_order(dtype):
    rng = np.random.default_rng(0)
    frames = (3 + rng.standard_normal((30, 2)) @ rng.standard_normal((2, 64))).astype(dtype)
    frames = frames.reshape(30, 8, 8)
    ref = fastrpca.decompose_frames(frames, random_state=0)
    got = fastrpca.decompose_frames(swapped(frames), random_state=0)
    np.testing.assert_array_equal(got.background, ref.background)
    s_ref = fastrpca.StreamingRPCA(rank=2).fit(frames[:20])
    s_got = fastrpca.StreamingRPCA(rank=2).fit(swapped(frames[:20]))
    assert s_got.dtype == np.dtype(dtype)
    for f in frames[20:]:
        b_ref, _ = s_ref.process(f)
        b_got, _ = s_got.process(swapped(f))
        np.testing.assert_array_equal(b_got, b_ref)


def test_holography_takes_swapped_byte_order():
    rng = np.random.default_rng(0)
    Mh = rng.standard_normal((6, 6)) + 1j * rng.standard_normal((6, 6))
    Mh = Mh + Mh.conj().T
    ref = fastrpca.phasecut(Mh, random_state=0)
    np.testing.assert_array_equal(fastrpca.phasecut(swapped(Mh), random_state=0).X, ref.X)
    arr = H.autd3()
    foci = np.array([[80.0, 60.0, 150.0], [110.0, 60.0, 150.0]])
    amps = np.array([5e3, 4e3])
    G = H.transfer_matrix(arr, foci)
    np.testing.assert_array_equal(H.transfer_matrix(arr, swapped(foci)), G)
    for method in ("sdp", "naive", "gs", "gspat"):
        want = getattr(H, method)(G, amps)
        got = getattr(H, method)(swapped(G), swapped(amps))
        np.testing.assert_array_equal(got.drive, want.drive)
    ws = H.Workspace(arr, 2, random_state=0)
    a_ref = ws.solve(foci, amps)[0].copy()
    np.testing.assert_array_equal(ws.solve(swapped(foci), swapped(amps))[0], a_ref)
    np.testing.assert_array_equal(
        H.compute(arr, swapped(foci), swapped(amps)).drive, H.compute(arr, foci, amps).drive
    )


# --------------------------------------------------------------------------- out= buffers
# soft_threshold(b[:-1], t, out=b[1:]) gave all zeros (the kernel read entries it had
# already written); StreamingRPCA.process(frame, out=(o, o)) accepted one buffer for both.

PROX = {
    "soft_threshold": lambda x, out=None: fastrpca.soft_threshold(x, 0.3, out=out),
    "elastic_net_prox": lambda x, out=None: fastrpca.elastic_net_prox(x, 0.3, 0.5, out=out),
    "ridge_shrink": lambda x, out=None: fastrpca.ridge_shrink(x, 0.3, out=out),
}


@pytest.mark.parametrize("name", PROX)
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_overlapping_out_gives_the_unaliased_answer(name, dtype):
    f = PROX[name]
    b = np.random.default_rng(0).standard_normal(50).astype(dtype)
    for src, dst in ((slice(None, -1), slice(1, None)), (slice(1, None), slice(None, -1))):
        want = f(b[src].copy())
        c = b.copy()
        got = f(c[src], out=c[dst])
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(c[dst], want)
    # a 2-D view over the same memory, shifted by one row
    B = b[:48].reshape(8, 6).copy()
    want = f(B[:-1].copy())
    f(B[:-1], out=B[1:])
    np.testing.assert_array_equal(B[1:], want)
    # out is x itself: in place, and the very array is returned
    c = b.copy()
    assert f(c, out=c) is c
    np.testing.assert_array_equal(c, f(b))


@pytest.mark.parametrize("name", PROX)
def test_swapped_byte_order_out_is_written(name):
    f = PROX[name]
    x = np.random.default_rng(1).standard_normal((4, 5))
    out = swapped(np.zeros((4, 5)))
    assert f(x, out=out) is out
    np.testing.assert_array_equal(out, f(x))


@pytest.mark.parametrize("name", PROX)
def test_bad_out_is_refused_by_name(name):
    f = PROX[name]
    x = np.zeros((4, 5))
    for bad in (
        np.zeros(20),
        np.zeros((5, 4)),
        np.zeros((4, 5), np.float32),
        np.zeros((4, 10))[:, ::2],
        [0.0] * 20,
    ):
        with pytest.raises(
            ValueError, match=r"out must be a writeable C-contiguous array of shape \(4, 5\)"
        ):
            f(x, out=bad)
    ro = np.zeros((4, 5))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        f(x, out=ro)


def test_stream_refuses_one_buffer_for_both_parts():
    rng = np.random.default_rng(0)
    frames = 3 + rng.standard_normal((20, 2)) @ rng.standard_normal((2, 64))
    frames = frames.reshape(20, 8, 8)
    stream = fastrpca.StreamingRPCA(rank=2).fit(frames[:15])
    o = np.empty((8, 8))
    with pytest.raises(ValueError, match="share memory"):
        stream.process(frames[15], out=(o, o))
    big = np.empty((2, 8, 8))
    with pytest.raises(ValueError, match="share memory"):
        stream.process(
            frames[15],
            out=(big.reshape(-1)[:64].reshape(8, 8), big.reshape(-1)[32:96].reshape(8, 8)),
        )
    with pytest.raises(ValueError, match="pair"):
        stream.process(frames[15], out=o)
    assert stream.n_frames == 0  # nothing was folded in by the refused calls
    # swapped byte order outputs are written (through a native temporary)
    ref = fastrpca.StreamingRPCA(rank=2).fit(frames[:15])
    B, S = swapped(np.zeros((8, 8))), swapped(np.zeros((8, 8)))
    got = stream.process(frames[15], out=(B, S))
    want = ref.process(frames[15])
    assert got[0] is B and got[1] is S
    np.testing.assert_array_equal(B, want[0])
    np.testing.assert_array_equal(S, want[1])


def test_lasso_solver_out_overlapping_y_or_swapped():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((10, 20))
    y = rng.standard_normal(10)
    solver = fastrpca.LassoSolver(A)
    want = solver.solve(y, 0.3).x
    buf = np.zeros(30)
    buf[:10] = y
    got = solver.solve(buf[:10], 0.3, out=buf[5:25])
    assert got.x is not None
    np.testing.assert_allclose(buf[5:25], want, rtol=1e-12, atol=1e-14)
    out = swapped(np.zeros(20))
    assert solver.solve(y, 0.3, out=out).x is out
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-14)
    Y = np.stack([y, 2 * y], axis=1)
    outF = np.zeros((20, 2), order="F")
    solver.solve(Y, 0.3, out=outF)
    np.testing.assert_allclose(outF[:, 0], want, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="Fortran-ordered"):
        solver.solve(Y, 0.3, out=np.zeros((20, 2)))
