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
