"""Edge inputs that once gave silent wrong answers or crashes (issue 11), one section per
class: byte order, aliased ``out=``, extreme scales, poisoned streams, shared workspaces,
iteration caps, seeds and small helpers. Each test states the reproducer it guards."""

import warnings

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


# --------------------------------------------------------------------------- scale
# Solvers whose answer scales with the input work in a copy scaled by a power of two and
# scale back. Before: phasecut(H * 1e-200) and (H * 1e200) claimed convergence after one
# sweep at 2.5x the optimum while their own gap bound said 1.08; ridge(A * 1e200) failed
# inside NumPy and ridge(A * 1e-200) returned NaN; lasso(A, y * 1e-200, lam * 1e-200)
# said converged after 0 iterations with x = 0; sdp(G * 1e200) said "not positive
# definite"; a stream fitted on 1e200 frames could not start. (rpca: tests/test_rpca.py.)

SCALES = [1e-200, 1e-160, 1e160, 1e200, 2.0**-700, 2.0**700]


def hermitian(n, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    return A + A.conj().T


@pytest.mark.parametrize("method", ["lowrank", "bcd"])
@pytest.mark.parametrize("scale", SCALES)
def test_phasecut_any_scale(method, scale):
    M = hermitian(8, 3)
    ref = fastrpca.phasecut(M, method=method, random_state=0)
    got = fastrpca.phasecut(M * scale, method=method, random_state=0)
    assert ref.converged and got.converged
    assert got.n_iter == ref.n_iter
    np.testing.assert_allclose(got.X, ref.X, atol=1e-9)
    assert got.objective / scale == pytest.approx(ref.objective, rel=1e-9)
    assert got.lower_bound / scale == pytest.approx(ref.lower_bound, rel=1e-9)
    assert got.gap_bound == pytest.approx(ref.gap_bound, rel=1e-6, abs=1e-12)
    np.testing.assert_allclose(
        got.history["objective"] / scale, ref.history["objective"], rtol=1e-9
    )


def test_phasecut_never_says_converged_against_its_certificate():
    # one sweep with a loose tol: the sweep rule is met, the dual bound is not
    M = hermitian(12, 5)
    with pytest.warns(fastrpca.ConvergenceWarning, match="gap"):
        r = fastrpca.phasecut(M, tol=0.5, random_state=0, method="bcd")
    assert r.rel_change <= 0.5 and r.gap_bound > 1e-2 and not r.converged
    # the same run with the bound waived, or with a gap_tol it meets, converges
    assert fastrpca.phasecut(M, tol=0.5, random_state=0, method="bcd", certificate=False).converged
    loose = fastrpca.phasecut(M, tol=0.5, random_state=0, method="bcd", gap_tol=10.0)
    assert loose.converged and "gap bound" in loose.message
    for seed in range(5):  # and whenever it says converged, the bound agrees
        r = fastrpca.phasecut(hermitian(10, seed), random_state=seed)
        assert r.converged == (r.rel_change <= 1e-6 and r.gap_bound <= 1e-2)


@pytest.mark.parametrize(
    "a, b",
    [
        (1e200, 1.0),
        (1e-200, 1.0),
        (1.0, 1e200),
        (1.0, 1e-200),
        (1e150, 1e-150),
        (2.0**-800, 2.0**-700),
    ],
)
def test_ridge_any_scale(a, b):
    rng = np.random.default_rng(0)
    A, y = rng.standard_normal((15, 8)), rng.standard_normal(15)
    for alpha in (0.5, 0.0):
        ref = fastrpca.ridge(A, y, alpha)
        alpha_s = alpha * a * a  # alpha scales as A^2
        if alpha and not 1e-300 < alpha_s < 1e300:
            continue
        got = fastrpca.ridge(A * a, y * b, alpha_s)
        np.testing.assert_allclose(got.x * a / b, ref.x, rtol=1e-10)
        if 1e-150 < b < 1e150:
            assert got.objective / b**2 == pytest.approx(ref.objective, rel=1e-10)
    wide = fastrpca.ridge((A * a).T, y[:8] * b, 0.5 * a * a if 1e-300 < a * a < 1e300 else 0.0)
    assert np.isfinite(wide.x).all()


@pytest.mark.parametrize("method", ["cd", "fista", "ista", "admm"])
@pytest.mark.parametrize(
    "a, b",
    [
        (1e200, 1.0),
        (1e-200, 1.0),
        (1.0, 1e200),
        (1.0, 1e-200),
        (1e100, 1e100),
        (2.0**-500, 2.0**-400),
    ],
)
def test_lasso_any_scale(method, a, b):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 50))
    x0 = np.zeros(50)
    x0[:4] = [1, -2, 3, 1]
    y = A @ x0 + 0.01 * rng.standard_normal(30)
    lam = 0.1 * fastrpca.lam_max(A, y)
    ref = fastrpca.lasso(A, y, lam, method=method, tol=1e-10, max_iter=10**6)
    # x scales as y / A, lam as A y, the objective as y^2
    got = fastrpca.lasso(A * a, y * b, lam * a * b, method=method, tol=1e-10, max_iter=10**6)
    assert got.converged and got.n_iter > 0
    np.testing.assert_allclose(got.x * a / b, ref.x, rtol=1e-6, atol=1e-8)
    if 1e-150 < b < 1e150:
        assert got.objective / b**2 == pytest.approx(ref.objective, rel=1e-8)
        assert got.dual_gap <= 1e-10 * got.objective


def test_lasso_rescaled_options_are_in_the_callers_units():
    rng = np.random.default_rng(1)
    A, y = rng.standard_normal((20, 30)), rng.standard_normal(20)
    lam = 0.2 * fastrpca.lam_max(A, y)
    a, b = 2.0**-700, 2.0**-300
    seen_ref, seen = [], []

    def keep(where):  # info.x may be the live iterate: copy it
        def callback(info):
            where.append((info.x.copy(), info.objective, info.dual_gap))

        return callback

    ref = fastrpca.lasso(A, y, lam, method="fista", history=True, callback=keep(seen_ref))
    got = fastrpca.lasso(
        A * a, y * b, lam * a * b, method="fista", history=True, callback=keep(seen)
    )
    np.testing.assert_allclose(got.x * a / b, ref.x, rtol=1e-12)
    assert len(seen) == len(seen_ref) > 1
    for (x, obj, gap), (x_ref, obj_ref, gap_ref) in zip(seen, seen_ref):  # caller's units
        np.testing.assert_allclose(x * a / b, x_ref, rtol=1e-12)
        assert obj == pytest.approx(obj_ref * b * b, rel=1e-12)
        assert gap == pytest.approx(gap_ref * b * b, rel=1e-9)
    np.testing.assert_allclose(got.history["dual_gap"], ref.history["dual_gap"] * b * b, rtol=1e-9)
    # x0 and out in the caller's units
    solver = fastrpca.LassoSolver(A * a)
    out = np.zeros(30)
    r = solver.solve(y * b, lam * a * b, x0=ref.x * b / a, out=out)
    assert r.x is out
    np.testing.assert_allclose(out * a / b, ref.x, rtol=1e-6, atol=1e-12)
    r2 = solver.solve(y * b, lam * a * b, x0=out, out=out)  # x0 is out: a warm start
    np.testing.assert_allclose(r2.x * a / b, ref.x, rtol=1e-6, atol=1e-12)
    assert r2.n_iter <= r.n_iter
    # the per-thread cache recognises a scaled dictionary it keeps scaled
    fastrpca.lasso(A * a, y * b, lam * a * b)
    from fastrpca.sparse.l1 import _cache

    n = len(_cache())
    fastrpca.lasso(A * a, y * b, lam * a * b)
    assert len(_cache()) == n


ARRAY = H.autd3()
FOCI = np.array([[80.0, 60.0, 150.0], [110.0, 60.0, 150.0], [95.0, 80.0, 150.0]])
AMPS = np.array([5e3, 4e3, 6e3])


@pytest.mark.parametrize("method", ["sdp", "naive", "gs", "gspat", "lm", "greedy"])
@pytest.mark.parametrize("scale", SCALES)
def test_holography_any_scale(method, scale):
    G = H.transfer_matrix(ARRAY, FOCI)
    solve = getattr(H, method)
    ref = solve(G, AMPS)
    alpha = {"alpha": 1e-3 * scale} if method == "sdp" else {}  # the same problem, scaled
    # (G, amplitudes, options, scale of |G q|, scale of the objective); the SDP objective
    # u^H M u scales as the amplitudes squared (G with alpha leaves M as it is)
    cases = [(G * scale, AMPS * scale, alpha, scale, scale)]  # both: the same problem
    if method not in ("lm", "greedy"):  # LM / Greedy drive at unit amplitude: G and the
        cases += [  # amplitudes scaled apart are another problem for them
            (G * scale, AMPS, alpha, scale, 1.0 if method == "sdp" else scale),
            (G, AMPS * scale, {}, 1.0, scale),
        ]
    for Gs, As, kw, fp, fo in cases:
        got = solve(Gs, As, **kw)
        np.testing.assert_allclose(got.amplitude, ref.amplitude, atol=1e-9)
        np.testing.assert_allclose(got.drive, ref.drive, atol=1e-9)
        np.testing.assert_allclose(got.focal_pressure / fp, ref.focal_pressure, rtol=1e-9)
        assert got.converged == ref.converged and got.n_iter == ref.n_iter
        if 1e-150 < fo < 1e150:
            assert got.objective / fo**2 == pytest.approx(ref.objective, rel=1e-9, nan_ok=True)
            np.testing.assert_allclose(
                got.history.get("objective", np.zeros(0)) / fo**2,
                ref.history.get("objective", np.zeros(0)),
                rtol=1e-9,
            )
    if method in ("lm", "greedy"):
        return
    # clamp reads |q| itself, which scales as amplitudes / G: scaling both changes nothing
    ref = solve(G, AMPS, constraint=("clamp", 0.2, 0.6))
    got = solve(G * scale, AMPS * scale, constraint=("clamp", 0.2, 0.6), **alpha)
    np.testing.assert_allclose(got.amplitude, ref.amplitude, atol=1e-9)


PHASE_ONLY_SCALES = [2.0**-1000, 1e-300, 2.0**-400, 2.0**400, 1e300, 2.0**1000]


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("method", ["lm", "greedy"])
@pytest.mark.parametrize("scale", PHASE_ONLY_SCALES)
def test_lm_greedy_any_scale_in_the_callers_units(method, scale):
    # LM / Greedy on G and amplitudes near 1e+-300 solve the same problem as unscaled
    # (unit-modulus drives): the same drive, focal pressures, objectives and history in
    # the caller's units (Greedy's objective once came back scaled by the square of the
    # rescaling, 1e300 inputs gave inf), and certificates that agree with certify (one
    # came back NaN when G was far below alpha, 0 when far above it)
    G = H.transfer_matrix(ARRAY, FOCI)
    solve = getattr(H, method)
    power = 2 if method == "lm" else 1  # 1/2 ||G q - P u||^2, sum_j |a_j - |p_j||
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastrpca.ConvergenceWarning)  # LM's 5 iterations
        ref = solve(G, AMPS, max_iter=4)
        got = solve(G * scale, AMPS * scale, max_iter=4)
    np.testing.assert_allclose(got.drive, ref.drive, atol=1e-9)
    np.testing.assert_allclose(got.focal_pressure, ref.focal_pressure * scale, rtol=1e-9)
    assert (got.n_iter, got.converged) == (ref.n_iter, ref.converged)
    assert got.message == ref.message  # LM's gradient test is reported scale-free
    with np.errstate(over="ignore", under="ignore"):
        fo = np.float64(scale) ** power
        want = ref.objective * fo
        hist = ref.history["objective"] * fo
    if 0 < want < np.inf:
        assert got.objective == pytest.approx(want, rel=1e-9)
        np.testing.assert_allclose(got.history["objective"], hist, rtol=1e-9)
    else:  # beyond float64's range: inf / 0, never NaN
        assert got.objective == want
    # the certificate: M is alpha^2 P (G G^H + alpha^2 I)^-1 P with alpha = 1e-3 in the
    # caller's units, far from G here; bound <= objective, a finite gap, both as certify
    assert 0 <= got.lower_bound <= got.rounded_objective <= np.inf
    assert 0 <= got.gap < np.inf
    c = H.certify(G * scale, AMPS * scale, got.drive)
    assert got.rounded_objective == pytest.approx(c.rounded_objective, rel=1e-9)
    # with alpha scaled along it is the unscaled problem's certificate, M scaled by s^2
    c = H.certify(G * scale, AMPS * scale, got.drive, alpha=1e-3 * scale)
    cref = H.certify(G, AMPS, ref.drive)
    assert c.gap == pytest.approx(cref.gap, rel=1e-6)
    if 1e-150 < scale < 1e150:
        assert c.lower_bound == pytest.approx(cref.lower_bound * scale**2, rel=1e-6)


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("method", ["sdp", "naive", "gs", "gspat"])
@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_certificates_with_alpha_far_from_g(method, scale):
    # alpha = 1e-3 against G near 1e-300 once overflowed alpha'^2 once G was scaled (NaN
    # objective and bound, "gap 0"); against G near 1e300 alpha'^2 underflowed (bound 0)
    G, amps = H.transfer_matrix(ARRAY, FOCI) * scale, AMPS * scale
    r = getattr(H, method)(G, amps)
    c = H.certify(G, amps, r.drive)
    for v in (r.lower_bound, r.rounded_objective, r.gap, c.lower_bound, c.rounded_objective):
        assert not np.isnan(v)
    assert 0 <= r.lower_bound <= r.rounded_objective and r.gap < np.inf
    assert r.rounded_objective == pytest.approx(c.rounded_objective, rel=1e-6)
    if scale > 1:  # alpha negligible: M -> alpha^2 P (G G^H)^-1 P, as unscaled (5e-4)
        assert 1e-4 < r.rounded_objective < 1e-3
    else:  # G negligible: M -> P^2 (about 1e-593: 0), every focal phase is optimal
        assert r.gap < 1e-9


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("method", ["lm", "greedy"])
@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_lm_greedy_sequences_at_extreme_amplitudes(method, scale):
    # a sequence's LM / Greedy frames go through the same kernels as a Workspace: cold
    # frames at amplitudes near 1e+-300 equal Workspace solves, with focal pressures
    # |G q| (LM's and Greedy's squared their field, so 1e-300 fields read 0 Pa)
    foci = np.stack([FOCI + [4.0 * t, 0.0, 0.0] for t in range(3)])
    seq = H.HologramSequence(ARRAY, 3, method=method, warm_start=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastrpca.ConvergenceWarning)
        res = seq.solve(foci, AMPS * scale)
        ws = H.Workspace(ARRAY, 3, method=method)
        # the frame loop compiles the same kernels into another function: the last bits
        # may round differently, and LM at ~0 Pa targets (minimising the field) is
        # ill-conditioned, hence 1e-6
        for f in range(3):
            ws.solve(foci[f], AMPS * scale)
            G = H.transfer_matrix(ARRAY, foci[f])
            atol = 1e-13 * np.abs(G).sum(axis=1).max()  # LM at ~0 Pa cancels its field
            np.testing.assert_allclose(res.phase[f], ws.phase, atol=1e-6)
            np.testing.assert_allclose(
                res.focal_pressure[f], ws.focal_pressure, rtol=1e-6, atol=1e3 * atol
            )
            np.testing.assert_allclose(
                ws.focal_pressure, np.abs(G @ ws.drive), rtol=1e-12, atol=atol
            )
    assert (res.focal_pressure > 0).all()
    # warm frames too: the last one's certificate is finite
    warm = H.HologramSequence(ARRAY, 3, method=method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastrpca.ConvergenceWarning)
        warm.solve(foci, AMPS * scale)
    last = warm.last(certificate=True)
    assert np.isfinite(last.gap) and last.lower_bound <= last.rounded_objective


def test_sdp_objective_in_the_callers_units():
    G = H.transfer_matrix(ARRAY, FOCI)
    ref = H.sdp(G, AMPS)
    got = H.sdp(G * 2.0**600, AMPS * 2.0**-300, alpha=1e-3 * 2.0**600)
    assert got.objective == pytest.approx(ref.objective * 2.0**-600, rel=1e-9)
    assert got.rounded_objective == pytest.approx(ref.rounded_objective * 2.0**-600, rel=1e-9)
    np.testing.assert_allclose(
        got.history["objective"], ref.history["objective"] * 2.0**-600, rtol=1e-9
    )
    # a tiny alpha: alpha^2 underflows, the SDP matrix no longer does
    tiny = H.sdp(G, AMPS, alpha=1e-200)
    small = H.sdp(G, AMPS, alpha=1e-9)
    np.testing.assert_allclose(tiny.amplitude, small.amplitude, atol=1e-6)
    # Workspace: G is solved scaled and restored
    ws = H.Workspace(ARRAY, 3, alpha=1e-3)
    ws.solve(FOCI, AMPS * 1e-250)
    np.testing.assert_array_equal(ws.G, G)
    np.testing.assert_allclose(ws.amplitude, ref.amplitude, atol=1e-9)


@pytest.mark.parametrize(
    "scale, dtype",
    [
        (1e-200, np.float64),
        (1e200, np.float64),
        (1e-160, np.float64),
        (1e-25, np.float32),
        (1e20, np.float32),
    ],
)
def test_streams_and_frames_any_scale(scale, dtype):
    rng = np.random.default_rng(0)
    basis = rng.standard_normal((2, 24, 32))
    frames = np.einsum("tk,khw->thw", 3 + rng.standard_normal((50, 2)), basis)
    frames[35:, 5:8, 5:8] += 20.0
    ref = fastrpca.StreamingRPCA(rank=2).fit(frames[:30].astype(dtype), random_state=0)
    got = fastrpca.StreamingRPCA(rank=2).fit((frames[:30] * scale).astype(dtype), random_state=0)
    tol = 1e-10 if dtype == np.float64 else 1e-2
    assert got.threshold_ / scale == pytest.approx(ref.threshold_, rel=tol)
    np.testing.assert_allclose(got.singular_values / scale, ref.singular_values, rtol=tol)
    np.testing.assert_allclose(got.init_result.L / scale, ref.init_result.L, rtol=0, atol=tol * 10)
    for f in frames[30:]:
        b_ref, s_ref = ref.process(f.astype(dtype))
        b_got, s_got = got.process((f * scale).astype(dtype))
        np.testing.assert_allclose(b_got / scale, b_ref, rtol=0, atol=tol * 10)
        np.testing.assert_allclose(s_got / scale, s_ref, rtol=0, atol=tol * 10)
        assert got.n_sparse[0] == ref.n_sparse[0]
    dec = fastrpca.decompose_frames((frames * scale).astype(dtype), random_state=0)
    dec_ref = fastrpca.decompose_frames(frames.astype(dtype), random_state=0)
    np.testing.assert_allclose(dec.background / scale, dec_ref.background, rtol=0, atol=tol * 10)
    np.testing.assert_array_equal(dec.mask, dec_ref.mask)


# --------------------------------------------------------------------------- streams
# One finite frame of 1e300 made StreamingRPCA's singular values inf and every later
# background NaN, forever, without a word; the same after a NaN frame passed with
# check_finite=False.


def stream_and_frames(seed=0):
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((2, 16, 20))
    frames = np.einsum("tk,khw->thw", 3 + rng.standard_normal((70, 2)), basis)
    frames[45:, 4:7, 4:7] += 20.0
    return frames


def glitches():
    f = stream_and_frames()[40]
    nan = f.copy()
    nan[3, 3] = np.nan
    inf = f.copy()
    inf[0, :] = -np.inf
    spike = f.copy()
    spike[5, 5] = 1e300
    return {
        "1e300 frame": np.full_like(f, 1e300),
        "1e30 frame": f * 1e30,
        "NaN pixel": nan,
        "-Inf row": inf,
        "1e300 pixel": spike,
    }


@pytest.mark.parametrize("name", list(glitches()))
def test_a_corrupt_frame_does_not_poison_the_stream(name):
    frames = stream_and_frames()
    bad = glitches()[name]
    clean = fastrpca.StreamingRPCA(rank=2, check_finite=False).fit(frames[:30], random_state=0)
    hit = fastrpca.StreamingRPCA(rank=2, check_finite=False).fit(frames[:30], random_state=0)
    for f in frames[30:40]:
        clean.process(f)
        hit.process(f)
    last_background = hit.process(frames[39], update=False)[0].copy()
    with pytest.warns(RuntimeWarning, match="refused"):
        B, S = hit.process(bad)
    assert hit.refused.tolist() == [True] and hit.n_refused == 1
    np.testing.assert_allclose(B, last_background, rtol=1e-12, atol=1e-12)  # last good one
    assert np.isfinite(B).all()
    np.testing.assert_array_equal(np.isfinite(S), np.isfinite(bad))  # all of it is sparse
    np.testing.assert_array_equal(hit.singular_values, clean.singular_values)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for f in frames[40:]:  # the next good frames: the answers of a stream never hit
            b_hit, s_hit = hit.process(f)
            b_ok, s_ok = clean.process(f)
            np.testing.assert_allclose(b_hit, b_ok, rtol=0, atol=1e-9)
            np.testing.assert_allclose(s_hit, s_ok, rtol=0, atol=1e-9)
            assert not hit.refused.any()
    assert np.isfinite(hit.singular_values).all()


def test_a_corrupt_frame_in_a_batch_and_the_default_check():
    frames = stream_and_frames()
    batch = frames[40:46].copy()
    batch[2] = 1e300
    stream = fastrpca.StreamingRPCA(rank=2).fit(frames[:30], random_state=0)
    with pytest.warns(RuntimeWarning, match=r"frame\(s\) \[2\] of the batch"):
        B, S = stream.process(batch)
    assert stream.refused.tolist() == [False, False, True, False, False, False]
    # the last accepted frame's coefficients, in the basis its update left
    assert np.linalg.norm(B[2] - B[1]) < 0.1 * np.linalg.norm(B[1])
    assert np.isfinite(B).all() and (S[2] == batch[2] - B[2]).all()
    # check_finite (the default) still refuses NaN loudly
    nan = frames[46].copy()
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        stream.process(nan)
    # a genuine change of scene within max_jump is followed, not refused
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stream.process(frames[47] * 50)
    assert not stream.refused.any()
    with pytest.raises(ValueError, match="max_jump"):
        fastrpca.StreamingRPCA(max_jump=0)


# --------------------------------------------------------------------------- threads
# One RPCAWorkspace shared by four threads gave L off by up to 300 %, silently.


def test_a_shared_rpca_workspace_is_refused_while_in_use():
    import threading

    ws = fastrpca.RPCAWorkspace()
    Ms = [planted(60, 50, 3, 0.05, magnitude=10.0, seed=s)[0] for s in range(4)]
    inside, release = threading.Event(), threading.Event()
    results, errors = {}, {}

    def hold(info):  # the first solve waits, inside the workspace, for the others
        inside.set()
        release.wait(30)

    def run(i):
        try:
            r = fastrpca.rpca(Ms[i], workspace=ws, callback=hold if i == 0 else None)
            results[i] = r.L.copy()
        except RuntimeError as exc:
            errors[i] = exc

    first = threading.Thread(target=run, args=(0,))
    first.start()
    assert inside.wait(30)
    others = [threading.Thread(target=run, args=(i,)) for i in (1, 2, 3)]
    for t in others:
        t.start()
    for t in others:
        t.join()
    release.set()
    first.join()
    assert sorted(errors) == [1, 2, 3] and list(results) == [0]
    assert all("RPCAWorkspace is already in use" in str(e) for e in errors.values())
    np.testing.assert_array_equal(results[0], fastrpca.rpca(Ms[0]).L)
    # free again afterwards, and each thread with its own workspace is fine
    np.testing.assert_array_equal(fastrpca.rpca(Ms[1], workspace=ws).L, fastrpca.rpca(Ms[1]).L)
    # a callback that reuses its own solve's workspace is refused too
    with pytest.raises(RuntimeError, match="in use"):
        fastrpca.rpca(Ms[2], workspace=ws, callback=lambda info: fastrpca.rpca(Ms[3], workspace=ws))


def test_a_shared_lasso_solver_gives_each_thread_its_answer():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(0)
    A = rng.standard_normal((64, 256))
    Y = rng.standard_normal((64, 40))
    solver = fastrpca.LassoSolver(A)
    want = [fastrpca.LassoSolver(A).solve(Y[:, j], 4.0).x for j in range(40)]

    def work(j):
        out = np.empty(256)
        r = solver.solve(Y[:, j], 4.0, out=out)
        return j, out.copy(), r.x.copy()

    with ThreadPoolExecutor(4) as pool:
        for _ in range(5):
            for j, out, x in pool.map(work, list(range(40)) * 2):
                np.testing.assert_array_equal(out, want[j])
                np.testing.assert_array_equal(x, want[j])
    with pytest.raises(RuntimeError, match="its own running solve"):
        solver.solve(Y[:, 0], 4.0, callback=lambda info: solver.solve(Y[:, 1], 4.0))
    import copy
    import pickle

    clone = pickle.loads(pickle.dumps(solver))
    np.testing.assert_array_equal(clone.solve(Y[:, 3], 4.0).x, want[3])
    np.testing.assert_array_equal(copy.deepcopy(solver).solve(Y[:, 4], 4.0).x, want[4])


def test_a_shared_holography_workspace_and_stream_are_refused_while_in_use():
    import threading

    ws = H.Workspace(ARRAY, 3, random_state=0)
    ref = ws.solve(FOCI, AMPS)[0].copy()
    with ws._in_use:  # as if another thread were inside solve()
        errors = []
        t = threading.Thread(target=lambda: errors.append(_raises(ws.solve, FOCI, AMPS)))
        t.start()
        t.join()
        assert "holography.Workspace is already in use" in errors[0]
    np.testing.assert_array_equal(ws.solve(FOCI, AMPS)[0], ref)
    frames = stream_and_frames()
    stream = fastrpca.StreamingRPCA(rank=2).fit(frames[:30])
    with stream._in_use:
        errors = []
        t = threading.Thread(target=lambda: errors.append(_raises(stream.process, frames[30])))
        t.start()
        t.join()
        assert "StreamingRPCA is already in use" in errors[0]
    assert stream.n_frames == 0
    import copy

    copy.deepcopy(ws).solve(FOCI, AMPS)
    copy.deepcopy(fastrpca.RPCAWorkspace())


def _raises(f, *args):
    try:
        f(*args)
    except RuntimeError as exc:
        return str(exc)
    return "no error"


# --------------------------------------------------------------------------- iteration caps
# phasecut(max_iter=10**12), holography.sdp / Workspace and lasso(history=True) reserved
# their history for max_iter iterations (a 7 TiB MemoryError; 10**9 silently took 8 GB);
# holography.gs(max_iter=10**12) ran for ever (a fixed count, no tolerance).

HUGE = 10**12


def test_huge_iteration_caps_allocate_what_they_use():
    import tracemalloc

    M = hermitian(10, 1)
    tracemalloc.start()
    try:
        for method in ("lowrank", "bcd"):
            r = fastrpca.phasecut(M, method=method, max_iter=HUGE, random_state=0)
            assert r.converged and r.history["objective"].shape == (r.n_iter,)
        G = H.transfer_matrix(ARRAY, FOCI)
        for method in ("sdp", "gs", "gspat", "lm", "greedy"):
            r = getattr(H, method)(G, AMPS, max_iter=HUGE)
            assert r.converged and r.n_iter < 10**5
        ws = H.Workspace(ARRAY, 3, max_iter=HUGE)
        ws.solve(FOCI, AMPS)
        assert ws.result().converged
        rng = np.random.default_rng(0)
        A, y = rng.standard_normal((30, 60)), rng.standard_normal(30)
        for method in ("cd", "fista", "ista", "admm"):
            r = fastrpca.lasso(A, y, 1.0, method=method, max_iter=HUGE, history=True)
            assert r.converged and r.history["dual_gap"][-1] == r.dual_gap
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20


@pytest.mark.parametrize("method", ["cd", "fista", "ista", "admm"])
def test_lasso_history_in_chunks_is_the_history_of_one_run(method, monkeypatch):
    from fastrpca.sparse import l1

    rng = np.random.default_rng(2)
    A, y = rng.standard_normal((40, 80)), rng.standard_normal(40)
    Y = np.stack([y, -2 * y, y[::-1]], axis=1)
    whole = fastrpca.LassoSolver(A, method=method, tol=1e-10).solve(Y, 0.5, history=True)
    monkeypatch.setattr(l1, "HISTORY_CHUNK", 2)  # many runs of two gap checks
    chunked = fastrpca.LassoSolver(A, method=method, tol=1e-10).solve(Y, 0.5, history=True)
    assert len(chunked.history["n_iter"]) > 3
    if method == "cd":  # its resumed runs restart the Newton / working-set heuristics
        assert chunked.converged.all() and whole.converged.all()
        np.testing.assert_allclose(chunked.x, whole.x, rtol=1e-4, atol=1e-6)
        assert np.all(np.diff(chunked.history["n_iter"]) > 0)
        return
    np.testing.assert_array_equal(chunked.history["n_iter"], whole.history["n_iter"])
    np.testing.assert_allclose(
        chunked.history["dual_gap"], whole.history["dual_gap"], rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(chunked.x, whole.x, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(chunked.n_iter, whole.n_iter)
    assert np.all(np.diff(chunked.history["n_iter"]) > 0)


def test_phasecut_in_chunks_is_one_run(monkeypatch):
    from fastrpca.holography import maxcut

    M = hermitian(9, 2)
    whole = fastrpca.phasecut(M, method="bcd", tol=1e-12, random_state=0)
    monkeypatch.setattr(maxcut, "_CHUNK", 3)
    chunked = fastrpca.phasecut(M, method="bcd", tol=1e-12, random_state=0)
    assert chunked.n_iter == whole.n_iter > 6
    np.testing.assert_array_equal(chunked.X, whole.X)  # bcd resumes exactly
    np.testing.assert_array_equal(chunked.history["objective"], whole.history["objective"])
    low = fastrpca.phasecut(M, tol=1e-12, random_state=0)
    assert low.converged and low.history["objective"].shape == (low.n_iter,)


@pytest.mark.parametrize("method", ["gs", "gspat"])
def test_gs_stops_on_a_tolerance(method):
    G = H.transfer_matrix(ARRAY, FOCI)
    solve = getattr(H, method)
    r = solve(G, AMPS, max_iter=HUGE, tol=1e-9)
    assert r.converged and 0 < r.n_iter < 10**5 and r.rel_change <= 1e-9
    # the stop is on the relative change of |G q| between round trips
    with pytest.warns(fastrpca.ConvergenceWarning):
        r2 = solve(G, AMPS, max_iter=r.n_iter + 1, tol=0.0)
    np.testing.assert_allclose(r2.focal_pressure, r.focal_pressure, rtol=1e-6)
    # a cap reached first says so
    with pytest.warns(fastrpca.ConvergenceWarning, match="round trips"):
        short = solve(G, AMPS, max_iter=2, tol=1e-12)
    assert not short.converged and short.n_iter == 2
    # tol=0: exactly max_iter round trips (AUTD3's fixed count)
    with pytest.warns(fastrpca.ConvergenceWarning):
        assert solve(G, AMPS, max_iter=37, tol=0.0).n_iter == 37
    ws = H.Workspace(ARRAY, 3, method=method, max_iter=HUGE)
    ws.solve(FOCI, AMPS)
    assert ws.result().converged and ws.n_iter < 10**5


# --------------------------------------------------------------------------- small helpers
# lam_from_sklearn(-1, 10) returned -10, enet_from_sklearn(0.1, 2.0, 10) a negative l2,
# sklearn_alpha(0.1, 0) divided by zero; rpca(workspace={}) and an init of the wrong dtype
# gave messages that did not name the argument; StreamingRPCA(random_state="abc") was
# accepted until fit.


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: fastrpca.lam_from_sklearn(-1, 10), "alpha must be >= 0"),
        (lambda: fastrpca.lam_from_sklearn(0.1, 0), "n_samples must be > 0"),
        (lambda: fastrpca.lam_from_sklearn(0.1, 2.5), "n_samples must be an integer"),
        (lambda: fastrpca.lam_from_sklearn(np.nan, 10), "alpha must be finite"),
        (lambda: fastrpca.sklearn_alpha(0.1, 0), "n_samples must be > 0"),
        (lambda: fastrpca.sklearn_alpha(-0.1, 5), "lam must be >= 0"),
        (lambda: fastrpca.enet_from_sklearn(0.1, 2.0, 10), r"l1_ratio must be in \[0, 1\]"),
        (lambda: fastrpca.enet_from_sklearn(0.1, -0.5, 10), "l1_ratio must be >= 0"),
        (lambda: fastrpca.enet_from_sklearn(-0.1, 0.5, 10), "alpha must be >= 0"),
        (lambda: fastrpca.enet_from_sklearn(0.1, 0.5, -3), "n_samples must be > 0"),
    ],
)
def test_sklearn_converters_refuse_bad_values_by_name(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_sklearn_converters_still_convert():
    assert fastrpca.lam_from_sklearn(0.1, 10) == pytest.approx(1.0)
    assert fastrpca.lam_from_sklearn(0.0, np.int64(7)) == 0.0
    assert fastrpca.sklearn_alpha(1.0, 10) == pytest.approx(0.1)
    l1, l2 = fastrpca.enet_from_sklearn(0.1, 0.25, 8)
    assert (l1, l2) == (pytest.approx(0.2), pytest.approx(0.6))
    assert fastrpca.enet_from_sklearn(0.1, 1.0, 8)[1] == 0.0


def test_rpca_names_a_bad_workspace_or_init():
    M = planted(20, 16, 2, 0.05, seed=3)[0]
    for bad in ({}, [], "ws", np.zeros((20, 16))):
        with pytest.raises(TypeError, match="workspace must be a fastrpca.RPCAWorkspace"):
            fastrpca.rpca(M, workspace=bad)
    with pytest.raises(TypeError, match="init's L has dtype complex128"):
        fastrpca.rpca(M, init=(M + 0j, M))
    with pytest.raises(TypeError, match="init's S has dtype <U1"):
        fastrpca.rpca(M, init=(M, np.full(M.shape, "a")))
    # a float32 init for float64 M, or a real one for complex M, is fine
    r = fastrpca.rpca(M)
    warm = fastrpca.rpca(M, init=(r.L.astype(np.float32), r.S.astype(np.float32)))
    assert warm.converged
    assert fastrpca.rpca(M + 0j, init=(r.L, r.S)).converged


@pytest.mark.parametrize("seed", ["abc", -1, 1.5, True, [1, 2]])
def test_every_solver_refuses_a_bad_seed_by_name(seed):
    M = planted(20, 16, 2, 0.05, seed=3)[0]
    frames = stream_and_frames()[:10]
    G = H.transfer_matrix(ARRAY, FOCI)
    calls = [
        lambda: fastrpca.rpca(M, random_state=seed),
        lambda: fastrpca.phasecut(hermitian(4, 0), random_state=seed),
        lambda: H.sdp(G, AMPS, random_state=seed),
        lambda: H.Workspace(ARRAY, 3, random_state=seed),
        lambda: H.compute(ARRAY, FOCI, AMPS, random_state=seed),
        lambda: fastrpca.StreamingRPCA(random_state=seed),
        lambda: fastrpca.StreamingRPCA(rank=2).fit(frames, random_state=seed),
        lambda: fastrpca.decompose_frames(frames, random_state=seed),
        lambda: fastrpca.LISTA(np.eye(4, 6), 0.1).fit(np.ones((4, 8)), random_state=seed),
    ]
    for call in calls:
        with pytest.raises((TypeError, ValueError), match="random_state"):
            call()


def test_transfer_matrix_out_goes_through_the_one_check():
    G = H.transfer_matrix(ARRAY, FOCI)
    out = swapped(np.zeros(G.shape, np.complex128))
    assert H.transfer_matrix(ARRAY, FOCI, out=out) is out
    np.testing.assert_array_equal(out, G)
    ro = np.zeros(G.shape, np.complex128)
    ro.flags.writeable = False  # numba failed typing a read-only out
    for bad in (ro, np.zeros((3, 10), np.complex128), np.zeros(G.shape)):
        with pytest.raises(ValueError, match="out must be a writeable C-contiguous array"):
            H.transfer_matrix(ARRAY, FOCI, out=bad)
