"""Stable PCP (``rpca(M, delta=...)``) and the rank cap: the NumPy reference loop, the
optimality conditions, planted answers, the noise estimate, bad input."""

import numpy as np
import pytest
from naive.rpca import ialm, planted, stable_pcp

import fastrpca
from fastrpca import rpca
from fastrpca.robust_pca.frames import noise_sigma
from fastrpca.robust_pca.svd import RandomizedSVD


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def noisy(m, n, rank, fraction, sigma, dtype=np.float64, seed=0, magnitude=5.0):
    """A planted problem plus i.i.d. Gaussian noise; delta for it (mean + 2 sd)."""
    M, L0, S0 = planted(m, n, rank, fraction, magnitude=magnitude, dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed + 100)
    N = sigma * rng.standard_normal(M.shape)
    if np.dtype(dtype).kind == "c":
        N = (N + 1j * sigma * rng.standard_normal(M.shape)) / np.sqrt(2)
    delta = np.sqrt(M.size + np.sqrt(8 * M.size)) * sigma
    return (M + N).astype(dtype), L0, S0, N, delta


def objective(L, S, lam):
    return np.linalg.norm(L, "nuc") + lam * np.abs(S).sum()


# ---------------------------------------------------------------- the reference loop


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("shape", [(64, 64), (90, 40), (30, 70)])
def test_stable_follows_reference_iteration_for_iteration(shape, dtype):
    M, _, _, _, delta = noisy(*shape, rank=3, fraction=0.05, sigma=0.05, dtype=dtype, seed=1)
    L_ref, S_ref, E_ref, Y_ref, it_ref, hist = stable_pcp(M, delta)
    res = rpca(M, delta=delta, svd="full")
    assert res.n_iter == it_ref
    np.testing.assert_allclose(res.history["residual"], [h[0] for h in hist], rtol=1e-5)
    np.testing.assert_array_equal(res.history["rank"], [h[1] for h in hist])
    np.testing.assert_allclose(res.history["mu"], [h[2] for h in hist], rtol=1e-12)
    np.testing.assert_allclose(res.history["e_norm"], [h[3] for h in hist], rtol=1e-8)
    for ours, ref in ((res.L, L_ref), (res.S, S_ref), (res.E, E_ref), (res.Y, Y_ref)):
        assert rel(ours, ref) < 1e-8


def test_stable_follows_reference_with_mask_and_rank_cap():
    M, _, _, _, delta = noisy(60, 50, rank=4, fraction=0.05, sigma=0.05, seed=2)
    mask = np.random.default_rng(3).random(M.shape) > 0.15
    for cap in (None, 2):
        L_ref, S_ref, E_ref, _, it_ref, hist = stable_pcp(M, delta, mask=mask, rank=cap)
        res = rpca(M, delta=delta, svd="full", mask=mask, rank=cap)
        assert res.n_iter == it_ref
        np.testing.assert_array_equal(res.history["rank"], [h[1] for h in hist])
        assert rel(res.L, L_ref) < 1e-8 and rel(res.S, S_ref) < 1e-8 and rel(res.E, E_ref) < 1e-8
        assert not res.S[~mask].any() and not res.E[~mask].any()


def test_capped_exact_follows_the_capped_reference():
    M, _, _ = planted(70, 50, rank=5, fraction=0.05, seed=4)
    # The exact reference with a cap is stable_pcp at delta = 0 (E stays 0).
    L_ref, S_ref, E_ref, _, it_ref, hist = stable_pcp(M, 0.0, rank=3)
    assert not E_ref.any()
    res = rpca(M, svd="full", rank=3, max_iter=it_ref)
    np.testing.assert_array_equal(res.history["rank"], [h[1] for h in hist])
    assert rel(res.L, L_ref) < 1e-8 and rel(res.S, S_ref) < 1e-8


def test_delta_zero_is_exact_pcp_unchanged():
    M, _, _ = planted(64, 48, rank=3, fraction=0.05, seed=5)
    base = rpca(M, svd="full")
    again = rpca(M, delta=0.0, svd="full")
    np.testing.assert_array_equal(base.L, again.L)
    np.testing.assert_array_equal(base.S, again.S)
    assert base.E is None and base.delta == 0.0 and base.e_norm == 0.0 and base.sigma is None
    L_ref, S_ref, it_ref, _ = ialm(M)
    assert base.n_iter == it_ref and rel(base.L, L_ref) < 1e-10


# ---------------------------------------------------------------- optimality


def test_noise_bound_holds_and_is_active():
    M, _, _, N, delta = noisy(80, 60, rank=3, fraction=0.05, sigma=0.05, seed=6)
    res = rpca(M, delta=delta)
    assert res.converged
    assert np.linalg.norm(res.E) <= delta * (1 + 1e-12)
    # noise of the size delta allows: the constraint is active at the optimum
    assert res.e_norm == pytest.approx(delta, rel=1e-9)
    assert res.e_norm == pytest.approx(np.linalg.norm(res.E), rel=1e-9)
    assert rel(res.L + res.S + res.E, M) < 1e-6


def test_optimality_conditions_of_stable_pcp():
    # KKT of min ||L||_* + lam ||S||_1 s.t. ||M - L - S||_F <= delta, for the dual Y:
    # Y in the subdifferential of ||.||_* at L, Y in lam * sign(S) (|Y| <= lam off the
    # support), Y in the normal cone of the ball at E (a non-negative multiple of E).
    M, _, _, _, delta = noisy(50, 40, rank=2, fraction=0.05, sigma=0.05, seed=7)
    lam = 1 / np.sqrt(50)
    res = rpca(M, delta=delta, svd="full", tol=1e-9)
    Y, L, S, E = res.Y, res.L, res.S, res.E
    # L is the last primal block, so Y_k is exactly a subgradient of ||L||_*:
    assert np.linalg.norm(Y, 2) <= 1 + 1e-6
    assert np.sum(Y * L) == pytest.approx(np.linalg.norm(L, "nuc"), rel=1e-6)
    # S and E were updated before L: their conditions hold up to the dual residual.
    on = S != 0
    assert on.any() and np.abs(Y).max() <= 1.15 * lam
    assert np.all(Y[on] * np.sign(S[on]) >= 0.85 * lam)
    cos = np.sum(Y * E) / (np.linalg.norm(Y) * np.linalg.norm(E))
    assert cos > 0.999


def test_objective_matches_a_conic_solver_and_beats_the_planted_answer():
    cp = pytest.importorskip("cvxpy")
    M, L0, S0, N, delta = noisy(40, 30, rank=2, fraction=0.05, sigma=0.05, seed=3)
    lam = 1 / np.sqrt(40)
    res = rpca(M, delta=delta, svd="full", tol=1e-9)
    Lc, Sc = cp.Variable(M.shape), cp.Variable(M.shape)
    prob = cp.Problem(
        cp.Minimize(cp.normNuc(Lc) + lam * cp.sum(cp.abs(Sc))),
        [cp.norm(M - Lc - Sc, "fro") <= delta],
    )
    prob.solve(solver="CLARABEL")
    ours = objective(res.L, res.S, lam)
    assert ours == pytest.approx(prob.value, rel=1e-4)
    assert rel(res.L, Lc.value) < 1e-2
    # (L0, S0) is feasible (||N|| <= delta), so the optimum is no worse than it.
    assert np.linalg.norm(N) <= delta
    assert ours <= objective(L0, S0, lam)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128, np.complex64])
def test_planted_answer_within_the_noise(dtype):
    sigma = 0.02
    M, L0, S0, N, delta = noisy(200, 120, rank=4, fraction=0.05, sigma=sigma, dtype=dtype, seed=8)
    res = rpca(M, delta=delta, random_state=0)
    exact = rpca(M, random_state=0)
    assert res.converged and res.L.dtype == dtype and res.E.dtype == dtype
    # The noise stays out of L (complex data leave a few components of 1e-4 of L's
    # scale), where exact PCP puts it:
    sv = np.linalg.svd(res.L, compute_uv=False)
    assert np.count_nonzero(sv > 1e-3 * sv[0]) == 4 and res.rank <= 12
    assert exact.rank > 20
    # Stable PCP's error bound is O(delta); here it recovers L0 within the noise's size.
    err = np.linalg.norm(res.L - L0)
    assert err < 0.5 * np.linalg.norm(N)
    assert np.linalg.norm(res.E) <= delta * (1 + 1e-6)


# ---------------------------------------------------------------- the rank cap


@pytest.mark.parametrize("svd", ["full", "partial", "randomized", "auto"])
@pytest.mark.parametrize("delta", [0.0, "noise"])
def test_rank_cap_holds_on_every_engine(svd, delta):
    M, _, _, _, d = noisy(150, 120, rank=8, fraction=0.05, sigma=0.05, seed=9)
    res = rpca(M, delta=d if delta == "noise" else 0.0, rank=3, svd=svd, max_iter=60)
    assert res.rank <= 3 and max(res.history["rank"]) <= 3
    assert np.linalg.matrix_rank(res.L, tol=1e-8 * np.abs(res.L).max()) <= 3
    assert res.max_rank == 3


@pytest.mark.parametrize("svd", ["full", "partial", "randomized"])
def test_cap_at_or_above_the_true_rank_gives_the_same_answer(svd):
    M, L0, S0 = planted(300, 200, rank=6, fraction=0.05, seed=10)
    free = rpca(M, svd=svd, random_state=0)
    assert free.rank == 6
    for cap in (6, 10):
        capped = rpca(M, svd=svd, rank=cap, random_state=0)
        assert capped.rank == 6 and rel(capped.L, free.L) < 1e-6 and rel(capped.L, L0) < 1e-6
    Mn, L0, _, _, delta = noisy(300, 200, rank=6, fraction=0.05, sigma=0.02, seed=11)
    free = rpca(Mn, delta=delta, svd=svd, random_state=0)
    capped = rpca(Mn, delta=delta, svd=svd, rank=free.rank, random_state=0)
    assert capped.rank == free.rank and rel(capped.L, free.L) < 1e-5


def test_randomized_engine_never_grows_past_the_cap_plus_oversampling():
    rng = np.random.default_rng(12)
    X = rng.standard_normal((400, 40)) @ rng.standard_normal((40, 300))  # rank 40
    engine = RandomizedSVD(X.shape, X.dtype, random_state=0, max_rank=5)
    blocks = []
    for _ in range(4):
        U, s, Vh = engine(X.copy(), 1e-3)
        blocks.append(engine.V.shape[1])
        assert s.size == 5
    assert max(blocks) <= 5 + engine.oversample and engine.full_calls == 0
    top = np.linalg.svd(X, compute_uv=False)[:5]
    np.testing.assert_allclose(s, top, rtol=1e-2)


# ---------------------------------------------------------------- delta = "auto"


def static_frames(n_pixels, n_frames, sigma, flicker=0.03, seed=0, quantum=None):
    """A static scene (one image) under per-frame gain, plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    image = rng.uniform(0.2, 0.8, n_pixels)
    gain = 1 + flicker * rng.standard_normal(n_frames)
    M = np.outer(image, gain) + sigma * rng.standard_normal((n_pixels, n_frames))
    if quantum:
        M = np.round(M / quantum) * quantum
    return M, image, gain


@pytest.mark.parametrize("sigma", [0.003, 0.01, 0.05])
def test_noise_sigma_recovers_the_noise_under_flicker(sigma):
    M, _, _ = static_frames(20000, 30, sigma, flicker=0.05)
    assert noise_sigma(M) == pytest.approx(sigma, rel=0.05)
    # the plain difference of frames, without the gain, would see the flicker
    plain = 1.4826 * np.median(np.abs(np.diff(M, axis=1))) / np.sqrt(2)
    assert plain > (2 if sigma <= 0.01 else 1.1) * sigma


def test_noise_sigma_nonzero_when_most_differences_are_exactly_zero():
    # 8-bit quantised, noise well under a grey level: most frame differences are 0
    M, _, _ = static_frames(20000, 30, 0.4 / 255, flicker=0.0, quantum=1 / 255)
    d = np.diff(M, axis=1)
    assert np.mean(d == 0) > 0.5
    assert 0 < noise_sigma(M) < 2 / 255
    assert noise_sigma(np.ones((50, 4))) == 0.0


def test_noise_sigma_with_a_mask_ignores_unobserved_entries():
    M, _, _ = static_frames(20000, 20, 0.01)
    mask = np.random.default_rng(1).random(M.shape) > 0.2
    M_holes = M.copy()
    M_holes[~mask] = 1e6
    assert noise_sigma(M_holes, mask=mask) == pytest.approx(0.01, rel=0.05)


def test_noise_sigma_samples_large_inputs_deterministically():
    M, _, _ = static_frames(100000, 30, 0.01)
    a = noise_sigma(M)
    assert a == noise_sigma(M) and a == pytest.approx(0.01, rel=0.05)
    assert noise_sigma(M, max_samples=M.size) == pytest.approx(a, rel=0.03)


def test_delta_auto_on_frames():
    M, image, gain = static_frames(4000, 40, 0.01)
    M[100:140, 10:20] += 0.5  # an object
    res = rpca(M, delta="auto", tol=1e-4)
    n = M.size
    assert res.sigma == pytest.approx(0.01, rel=0.1)
    assert res.delta == pytest.approx(np.sqrt(n + np.sqrt(8 * n)) * res.sigma)
    assert res.converged and res.rank <= 2
    assert rel(res.L, np.outer(image, gain)) < 0.01


def test_delta_auto_is_exact_pcp_on_noise_free_frames():
    M, _, _ = static_frames(500, 10, 0.0, flicker=0.0)
    res = rpca(M, delta="auto")
    assert res.sigma == 0.0 and res.delta == 0.0 and res.E is None


def test_delta_auto_uses_the_columns_of_a_fortran_ordered_input():
    M, _, _ = static_frames(3000, 20, 0.01)
    a = rpca(M, delta="auto", tol=1e-4)
    b = rpca(np.asfortranarray(M), delta="auto", tol=1e-4)
    assert a.sigma == pytest.approx(b.sigma, rel=1e-12) and rel(a.L, b.L) < 1e-8


# ---------------------------------------------------------------- plumbing and bad input


def test_workspace_holds_the_noise_buffer_and_is_reused():
    ws = fastrpca.RPCAWorkspace()
    ids = None
    for seed in (13, 14):
        M, _, _, _, delta = noisy(80, 60, rank=3, fraction=0.05, sigma=0.05, seed=seed)
        res = rpca(M, delta=delta, workspace=ws, random_state=0)
        expected = rpca(M, delta=delta, random_state=0)
        assert rel(res.L, expected.L) < 1e-12 and rel(res.E, expected.E) < 1e-12
        assert np.shares_memory(res.E, ws._buffers["E"])
        now = {k: id(v) for k, v in ws._buffers.items()}
        assert ids is None or now == ids
        ids = now


def test_callback_and_history_of_stable_pcp():
    M, _, _, _, delta = noisy(60, 40, rank=2, fraction=0.05, sigma=0.05, seed=15)
    seen = []
    res = rpca(M, delta=delta, callback=lambda info: seen.append(info.n_iter) and False)
    assert seen == list(range(1, res.n_iter))
    assert len(res.history["e_norm"]) == res.n_iter
    assert np.all(res.history["e_norm"] <= delta * (1 + 1e-12))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"delta": -1.0}, ValueError, "delta"),
        ({"delta": float("nan")}, ValueError, "delta"),
        ({"delta": "estimate"}, ValueError, "'auto'"),
        ({"delta": True}, TypeError, "delta"),
        ({"delta": [1.0]}, TypeError, "delta"),
        ({"rank": 0}, ValueError, "rank"),
        ({"rank": 2.5}, TypeError, "rank"),
    ],
)
def test_bad_delta_and_rank_are_explained(kwargs, error, match):
    with pytest.raises(error, match=match):
        rpca(np.ones((4, 3)), **kwargs)


def test_noise_sigma_bad_input():
    with pytest.raises(ValueError, match="at least 2 frames"):
        noise_sigma(np.ones((5, 1)))
    with pytest.raises(ValueError, match="shape"):
        noise_sigma(np.ones((5, 3)), mask=np.ones((5, 2), bool))
    with pytest.raises(ValueError, match="NaN"):
        noise_sigma(np.full((5, 3), np.nan))


@pytest.mark.parametrize("scale", [1e-160, 1e160, 2.0**-600])
def test_stable_pcp_is_scale_equivariant(scale):
    """delta, L, S and E scale with M, even where |M|^2 would over- or underflow."""
    rng = np.random.default_rng(0)
    M = rng.standard_normal((60, 2)) @ rng.standard_normal((2, 40))
    M += (rng.random((60, 40)) < 0.05) * 5.0 + 0.01 * rng.standard_normal((60, 40))
    ref = fastrpca.rpca(M, delta=0.5)
    res = fastrpca.rpca(M * scale, delta=0.5 * scale)
    assert res.converged and res.n_iter == ref.n_iter
    for part in ("L", "S", "E"):
        np.testing.assert_allclose(getattr(res, part) / scale, getattr(ref, part), atol=1e-12)
    assert res.delta / scale == pytest.approx(0.5) and res.e_norm / scale == pytest.approx(
        ref.e_norm
    )


# ---------------------------------------------------------------- the engine's Gram route


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
def test_gram_orthonormalizer_is_orthonormal_or_declines(dtype):
    from fastrpca._core.linalg import gram_orthonormalizer

    rng = np.random.default_rng(16)
    U = np.linalg.qr(rng.standard_normal((6000, 12)))[0]
    A = (U * np.logspace(0, -4, 12)).astype(dtype)  # orthogonal columns, wide scales
    C = gram_orthonormalizer(A)
    Q = (A @ C).astype(np.complex128)
    eps = np.finfo(dtype).eps
    assert np.abs(Q.conj().T @ Q - np.eye(12)).max() < 200 * eps
    skewed = A.copy()
    skewed[:, 1] = skewed[:, 0] + 1e-6 * skewed[:, 1]  # nearly dependent: cond >> 10
    assert gram_orthonormalizer(skewed) is None
    assert gram_orthonormalizer(np.zeros((6000, 3), dtype)) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_randomized_engine_on_tall_matrices_matches_the_full_svd(dtype, monkeypatch):
    # 6000 rows: warm steps take the Gram route; the rank creeps up 1, 2, ... 5 and the
    # margin is topped up with fresh orthogonal columns.
    from fastrpca.robust_pca import svd as svd_module

    used = []
    real = svd_module.DenseOperator.orthonormalizer

    def spy(A):
        C = real(A)
        used.append(C is not None)
        return C

    monkeypatch.setattr(svd_module.DenseOperator, "orthonormalizer", staticmethod(spy))
    rng = np.random.default_rng(17)
    U = np.linalg.qr(rng.standard_normal((6000, 5)))[0]
    V = np.linalg.qr(rng.standard_normal((40, 5)))[0]
    X0 = (U * [100, 30, 10, 3, 1]) @ V.T + 1e-3 * rng.standard_normal((6000, 40))
    engine = RandomizedSVD(X0.shape, dtype, random_state=0)
    for tau in (50, 20, 5, 2, 0.5, 0.5, 0.5):
        X = X0.astype(dtype)
        Ue, s, Vh = engine(X.copy(), tau)
        Uf, sf, Vhf = np.linalg.svd(X.astype(np.float64), full_matrices=False)
        keep = int(np.count_nonzero(sf > tau))
        assert s.size == keep
        rtol = 1e-4 if dtype == np.float32 else 1e-9
        np.testing.assert_allclose(s, sf[:keep], rtol=rtol)
        low = (Ue * s) @ Vh
        ref = (Uf[:, :keep] * sf[:keep]) @ Vhf[:keep]
        assert rel(low, ref) < 10 * rtol
    assert len(used) >= 6 and all(used)  # every warm step took the Gram route


def test_stable_pcp_of_complex_data_with_auto_delta():
    # noise_sigma scaled complex samples with np.ldexp, which takes real arrays only
    rng = np.random.default_rng(1)
    b = rng.standard_normal(3000) + 1j * rng.standard_normal(3000)
    L0 = np.outer(b, np.ones(30))  # a static complex scene, 30 frames
    N = 0.05 * (rng.standard_normal(L0.shape) + 1j * rng.standard_normal(L0.shape))
    # sigma is the deviation of an entry: sqrt(E |n|^2) = 0.05 sqrt(2)
    assert noise_sigma(L0 + N) == pytest.approx(0.05 * np.sqrt(2), rel=0.05)
    res = rpca(L0 + N, delta="auto")
    assert res.converged and res.rank == 1
    assert np.linalg.norm(res.L - L0) < 0.5 * np.linalg.norm(N)
