"""Lasso / elastic net / ridge: KKT, duality gap, naive references, scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from naive import sparse as naive

import fastrpca.sparse as sp
from fastrpca._core.result import ConvergenceWarning
from fastrpca.sparse import l1

METHODS = ["cd", "fista", "ista", "admm"]


def problem(m=30, n=50, k=None, seed=0, nnz=5, dtype=np.float64, zero_col=None):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    if zero_col is not None:
        A[:, zero_col] = 0.0
    X0 = np.zeros((n, k or 1))
    for c in range(X0.shape[1]):
        X0[rng.choice(n, nnz, replace=False), c] = rng.standard_normal(nnz) * 3
    Y = A @ X0 + 0.1 * rng.standard_normal((m, X0.shape[1]))
    y = Y[:, 0] if k is None else Y
    return A.astype(dtype), y.astype(dtype)


def assert_kkt(A, y, x, lam, l2=0.0, positive=False, rtol=1e-4):
    """|A^T r - l2 x| <= lam, with equality and matching sign on the support."""
    A64, y64, x64 = (np.asarray(v, np.float64) for v in (A, y, x))
    c = A64.T @ (y64 - A64 @ x64) - l2 * x64
    tol = rtol * max(lam, 1e-12) + 1e-12
    on = x64 != 0
    if positive:
        assert np.all(x64 >= 0)
        assert np.all(c <= lam + tol)
        np.testing.assert_allclose(c[on], lam, atol=tol)
    else:
        assert np.all(np.abs(c) <= lam + tol)
        np.testing.assert_allclose(c[on], lam * np.sign(x64[on]), atol=tol)


@pytest.fixture(scope="module")
def ref():
    A, y = problem()
    lam = 0.1 * sp.lam_max(A, y)
    return A, y, lam, naive.cd(A, y, lam, n_sweeps=3000)


# ---------------------------------------------------------------- correctness
@pytest.mark.parametrize("method", METHODS)
def test_methods_reach_kkt_and_the_naive_solution(ref, method):
    A, y, lam, x_ref = ref
    res = sp.lasso(A, y, lam, method=method, tol=1e-12)
    assert res.converged and res.dual_gap <= 1e-12 * res.objective
    assert_kkt(A, y, res.x, lam)
    np.testing.assert_allclose(res.x, x_ref, atol=1e-6)
    assert res.objective == pytest.approx(naive.objective(A, y, res.x, lam), rel=1e-12)


def test_naive_references_agree(ref):
    A, y, lam, x_ref = ref
    for x in (naive.fista(A, y, lam), naive.admm(A, y, lam, rho=lam)):
        np.testing.assert_allclose(x, x_ref, atol=1e-5)
    assert naive.dual_gap(A, y, x_ref, lam) < 1e-9


def test_reported_gap_matches_naive_and_bounds_suboptimality(ref):
    A, y, lam, x_ref = ref
    with pytest.warns(ConvergenceWarning, match="max_iter=30"):
        res = sp.lasso(A, y, lam, method="fista", max_iter=30, tol=1e-14)
    assert not res.converged
    assert res.dual_gap >= naive.dual_gap(A, y, res.x, lam) * (1 - 1e-9)
    p_star = naive.objective(A, y, x_ref, lam)
    assert 0 < res.objective - p_star <= res.dual_gap


@pytest.mark.parametrize("method", METHODS)
def test_positive_and_elastic_net(method):
    A, y = problem(seed=1)
    lam = 0.05 * sp.lam_max(A, y)
    res = sp.lasso(A, y, lam, method=method, positive=True, tol=1e-12)
    assert_kkt(A, y, res.x, lam, positive=True)
    np.testing.assert_allclose(res.x, naive.cd(A, y, lam, positive=True), atol=1e-6)
    res = sp.elastic_net(A, y, lam, 2.0, method=method, tol=1e-12)
    assert_kkt(A, y, res.x, lam, l2=2.0)
    x_ref = naive.cd(A, y, lam, 2.0)
    gap = max(res.dual_gap, 0.0) + 1e-13 * res.objective  # rounding of the gap itself
    assert naive.objective(A, y, x_ref, lam, 2.0) >= res.objective - gap
    # l2-strong convexity: ||x - x*||^2 <= 2 gap / l2
    assert np.linalg.norm(res.x - x_ref) <= np.sqrt(2 * gap / 2.0) + 1e-9


def test_gram_and_residual_forms_agree():
    A, y = problem(m=60, n=20, seed=2)
    lam = 0.02 * sp.lam_max(A, y)
    a = sp.LassoSolver(A, gram=True, tol=1e-12).solve(y, lam)
    b = sp.LassoSolver(A, gram=False, tol=1e-12).solve(y, lam)
    assert a.method == "cd (gram)" and b.method == "cd"
    np.testing.assert_allclose(a.x, b.x, atol=1e-9)
    assert_kkt(A, y, a.x, lam)


def test_lam_max_and_trivial_penalties():
    A, y = problem(seed=3)
    lmax = sp.lam_max(A, y)
    assert lmax == pytest.approx(np.abs(A.T @ y).max())
    res = sp.lasso(A, y, lmax)
    assert np.all(res.x == 0) and res.converged and res.n_iter == 0
    assert np.any(sp.lasso(A, y, 0.99 * lmax).x != 0)
    # lam = 0: minimum-norm least squares (n > m, so an exact fit)
    res = sp.lasso(A, y, 0.0)
    np.testing.assert_allclose(res.x, np.linalg.pinv(A) @ y, atol=1e-12)
    assert res.converged and res.dual_gap < 1e-8


# ---------------------------------------------------------------- scikit-learn
def test_sklearn_lasso_enet_ridge_on_diabetes():
    datasets = pytest.importorskip("sklearn.datasets")
    lm = pytest.importorskip("sklearn.linear_model")
    X, y = datasets.load_diabetes(return_X_y=True)
    m = X.shape[0]
    alpha = 0.01 * sp.lam_max(X, y) / m
    sk = lm.Lasso(alpha=alpha, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(X, y)
    ours = sp.lasso(X, y, sp.lam_from_sklearn(alpha, m), tol=1e-12)
    np.testing.assert_allclose(ours.x, sk.coef_, rtol=1e-6, atol=1e-6 * np.abs(sk.coef_).max())
    assert sp.sklearn_alpha(sp.lam_from_sklearn(alpha, m), m) == pytest.approx(alpha)
    sk = lm.ElasticNet(
        alpha=alpha, l1_ratio=0.7, fit_intercept=False, tol=1e-12, max_iter=100_000
    ).fit(X, y)
    l1, l2 = sp.enet_from_sklearn(alpha, 0.7, m)
    ours = sp.elastic_net(X, y, l1, l2, tol=1e-12)
    np.testing.assert_allclose(ours.x, sk.coef_, rtol=1e-6, atol=1e-6 * np.abs(sk.coef_).max())
    for a in (0.0, 0.1, 10.0):
        sk = lm.Ridge(alpha=a, fit_intercept=False, solver="svd").fit(X, y)
        np.testing.assert_allclose(
            sp.ridge(X, y, a).x, sk.coef_, rtol=1e-7, atol=1e-8 * np.abs(sk.coef_).max()
        )


@pytest.mark.parametrize("shape", [(40, 100), (100, 40)])
def test_sklearn_random_problems(shape):
    lm = pytest.importorskip("sklearn.linear_model")
    A, y = problem(*shape, seed=4)
    m = shape[0]
    lam = 0.05 * sp.lam_max(A, y)
    sk = lm.Lasso(
        alpha=sp.sklearn_alpha(lam, m), fit_intercept=False, tol=1e-14, max_iter=200_000
    ).fit(A, y)
    np.testing.assert_allclose(sp.lasso(A, y, lam, tol=1e-12).x, sk.coef_, atol=1e-6)
    sk = lm.Lasso(
        alpha=sp.sklearn_alpha(lam, m),
        fit_intercept=False,
        tol=1e-14,
        max_iter=200_000,
        positive=True,
    ).fit(A, y)
    np.testing.assert_allclose(sp.lasso(A, y, lam, tol=1e-12, positive=True).x, sk.coef_, atol=1e-6)
    for alpha in (0.5, 5.0):
        sk = lm.Ridge(alpha=alpha, fit_intercept=False).fit(A, y)
        for method in ("cholesky", "svd"):
            res = sp.ridge(A, y, alpha, method=method)
            r = A @ res.x - y
            half = 0.5 * (np.sum(r * r, axis=0) + alpha * np.sum(res.x * res.x, axis=0))
            np.testing.assert_allclose(res.objective, half, rtol=1e-12)
            assert res.method == method
            np.testing.assert_allclose(res.x, sk.coef_, atol=1e-9)
            np.testing.assert_allclose(res.x, naive.ridge(A, y, alpha), atol=1e-9)


# ---------------------------------------------------------------- proximal operators
def test_moreau_identity_ridge_shrink_and_elastic_net_prox():
    from scipy.optimize import minimize_scalar

    rng = np.random.default_rng(5)
    v = rng.standard_normal(40) * 3
    tau = 0.7
    # f = tau/2 ||.||^2, f* = 1/(2 tau) ||.||^2: prox_f(v) + prox_f*(v) = v
    np.testing.assert_allclose(sp.ridge_shrink(v, tau) + v / (1 + 1 / tau), v, atol=1e-14)
    l1, l2 = 0.8, 1.5

    def conj(u):  # f*(u) for f = l1 |.| + l2/2 (.)^2
        return max(abs(u) - l1, 0.0) ** 2 / (2 * l2)

    p = sp.elastic_net_prox(v, l1, l2)
    for vi, pi in zip(v, p):
        star = minimize_scalar(
            lambda u: conj(u) + 0.5 * (u - vi) ** 2, bracket=(vi - 5, vi + 5), tol=1e-12
        ).x
        assert pi + star == pytest.approx(vi, abs=1e-6)
    # complex input keeps the phase; out= writes in place
    z = v[:20] + 1j * v[20:]
    out = np.empty_like(z)
    assert sp.elastic_net_prox(z, l1, l2, out=out) is out
    np.testing.assert_allclose(out, z / np.abs(z) * np.maximum(np.abs(z) - l1, 0) / (1 + l2))
    np.testing.assert_allclose(sp.ridge_shrink(z, tau), z / (1 + tau))


# ---------------------------------------------------------------- batches, dtypes
@pytest.mark.parametrize("method", ["cd", "fista", "admm"])
def test_batch_equals_loop(method):
    A, Y = problem(k=12, seed=6)
    lam = 0.1 * np.median(sp.lam_max(A, Y))
    solver = sp.LassoSolver(A, method=method, tol=1e-9, n_jobs=2)
    batch = solver.solve(Y, lam)
    assert batch.x.shape == (50, 12) and batch.converged.all()
    for c in range(12):
        one = solver.solve(Y[:, c], lam)
        np.testing.assert_array_equal(batch.x[:, c], one.x)
        assert batch.n_iter[c] == one.n_iter
    serial = sp.LassoSolver(A, method=method, tol=1e-9, n_jobs=1).solve(Y, lam)
    np.testing.assert_array_equal(serial.x, batch.x)


@pytest.mark.parametrize("method", METHODS)
def test_float32(method):
    A, y = problem(seed=7)
    lam = 0.1 * sp.lam_max(A, y)
    r64 = sp.lasso(A, y, lam, method=method)
    r32 = sp.lasso(A.astype(np.float32), y.astype(np.float32), lam, method=method)
    assert r32.x.dtype == np.float32 and r32.converged
    assert r32.dual_gap <= 1e-4 * r32.objective
    np.testing.assert_allclose(r32.x, r64.x, atol=2e-3 * np.abs(r64.x).max())
    assert_kkt(A, y, r32.x, lam, rtol=1e-2)


# ---------------------------------------------------------------- workspace, warm start
def test_workspace_reuses_buffers_and_out():
    A, Y = problem(k=3, seed=8)
    lam = 0.1 * np.median(sp.lam_max(A, Y))
    solver = sp.LassoSolver(A)
    out = np.empty(50)
    res = solver.solve(Y[:, 0], lam, out=out)
    assert res.x is out
    ids = [id(b) for s in solver._scratch for b in vars(s).values()]
    stats, G = solver._stats, solver.G
    for c in range(3):
        res = solver.solve(Y[:, c], lam, out=out, x0=out, check_finite=False)
        assert res.x is out and res.converged
        np.testing.assert_allclose(out, sp.lasso(A, Y[:, c], lam).x, atol=1e-6)
    assert [id(b) for s in solver._scratch for b in vars(s).values()] == ids
    assert solver._stats is stats and solver.G is G
    out2 = np.empty((50, 3), order="F")
    assert solver.solve(Y, lam, out=out2).x is out2
    with pytest.raises(ValueError, match="Fortran"):
        solver.solve(Y, lam, out=np.empty((50, 3)))


def test_warm_start_and_determinism(ref):
    A, y, lam, _ = ref
    for method in METHODS:
        cold = sp.lasso(A, y, lam, method=method)
        again = sp.lasso(A, y, lam, method=method)
        np.testing.assert_array_equal(cold.x, again.x)
        warm = sp.lasso(A, y, lam, method=method, x0=cold.x)
        assert warm.n_iter == 0 and warm.converged
        near = sp.lasso(A, y, 1.05 * lam, method=method, x0=cold.x)
        far = sp.lasso(A, y, 1.05 * lam, method=method)
        assert near.n_iter <= far.n_iter


def test_admm_factorisation_is_cached():
    A, y = problem(seed=9)
    sp.clear_cache()
    sp.lasso(A, y, 1.0, method="admm")
    solver = l1._cache()[-1][2]
    factors = dict(solver._factors)
    sp.lasso(A.copy(), 2 * y, 1.0, method="admm")
    assert l1._cache()[-1][2] is solver and solver._factors.keys() == factors.keys()
    A2 = A.copy()
    A2[0, 0] += 1
    sp.lasso(A2, y, 1.0, method="admm")
    assert l1._cache()[-1][2] is not solver


@pytest.mark.parametrize("order", ["C", "F"])
def test_cache_sees_in_place_edits_and_keeps_inputs(order):
    A, Y = problem(k=3, seed=12)
    A = np.array(A, order=order)
    lam = 0.1 * np.median(sp.lam_max(A, Y))
    sp.clear_cache()
    first = sp.lasso(A, Y[:, 0], lam)
    solver = l1._cache()[-1][2]
    assert sp.lasso(A, Y[:, 1], lam).converged and l1._cache()[-1][2] is solver
    j = int(np.argmax(np.abs(first.x)))
    A[3, j] += 0.5  # the caller edits A in place: the cached solver must not be used
    edited = sp.lasso(A, Y[:, 0], lam)
    assert l1._cache()[-1][2] is not solver
    np.testing.assert_allclose(edited.x, naive.cd(A, Y[:, 0], lam), atol=1e-6)
    assert not np.allclose(edited.x, first.x)
    A[3, j] = np.nan  # and an edit to NaN is caught although A was seen before
    with pytest.raises(ValueError, match="A contains 1 NaN"):
        sp.lasso(A, Y[:, 0], lam)
    # the other memory order and a strided view with the original values reuse it
    A0 = problem(k=3, seed=12)[0]
    B = np.asfortranarray(A0) if order == "C" else np.ascontiguousarray(A0)
    big = np.zeros((A0.shape[0], 2 * A0.shape[1]))
    big[:, ::2] = A0
    for same in (B, big[:, ::2]):
        np.testing.assert_array_equal(sp.lasso(same, Y[:, 0], lam).x, first.x)
        assert l1._cache()[-1][2] is solver
    # residual form (no row-major copy): the compare reads At tile by tile
    R, yr = problem(20, 700, seed=13)
    R = np.array(R, order=order)
    lam = 0.1 * sp.lam_max(R, yr)
    assert sp.lasso(R, yr, lam).method == "cd"
    solver = l1._cache()[-1][2]
    sp.lasso(R.copy(order="K"), yr, lam)
    assert l1._cache()[-1][2] is solver
    R[19, 699] += 1.0
    sp.lasso(R, yr, lam)
    assert l1._cache()[-1][2] is not solver


def test_history_callback_and_non_convergence(ref):
    A, y, lam, _ = ref
    res = sp.lasso(A, y, lam, method="fista", history=True)
    h = res.history
    assert h["n_iter"][0] == 0 and h["n_iter"][-1] == res.n_iter
    assert h["dual_gap"][-1] == res.dual_gap and h["dual_gap"][0] > h["dual_gap"][-1]
    seen = []
    res = sp.lasso(
        A,
        y,
        lam,
        method="ista",
        callback=lambda info: seen.append(info.dual_gap) or len(seen) == 3,
        history=True,
    )
    assert len(seen) == 3 and not res.converged and res.n_iter == 30
    np.testing.assert_array_equal(res.history["dual_gap"], seen)
    with pytest.warns(ConvergenceWarning, match="max_iter=5"):
        res = sp.lasso(A, y, lam, method="ista", max_iter=5)
    assert not res.converged and res.n_iter == 5 and "max_iter" in res.message


# ---------------------------------------------------------------- bad input
def test_bad_input_messages():
    A, y = problem()
    with pytest.raises(ValueError, match="y has 29 rows but A has 30"):
        sp.lasso(A, y[:-1], 1.0)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        sp.lasso(A, y, -1.0)
    with pytest.raises(ValueError, match="at least one row"):
        sp.lasso(np.zeros((0, 5)), np.zeros(0), 1.0)
    bad = A.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="A contains 1 NaN"):
        sp.lasso(bad, y, 1.0)
    yb = y.copy()
    yb[0] = np.inf
    with pytest.raises(ValueError, match="y contains 1 infinite"):
        sp.lasso(A, yb, 1.0)
    with pytest.raises(ValueError, match="method must be one of"):
        sp.lasso(A, y, 1.0, method="lars")
    with pytest.raises(ValueError, match="x0 has shape"):
        sp.lasso(A, y, 1.0, x0=np.zeros(3))
    with pytest.raises(ValueError, match="1-D or 2-D"):
        sp.lasso(A, y[:, None, None], 1.0)
    with pytest.raises(ValueError, match="admm' takes real data"):
        sp.lasso(A + 0j, y, 1.0, method="admm")
    with pytest.raises(ValueError, match="positive=True needs real data"):
        sp.lasso(A + 0j, y, 1.0, positive=True)
    with pytest.raises(TypeError, match="y is complex but A is real"):
        sp.LassoSolver(A).solve(y + 0j, 1.0)
    with pytest.raises(ValueError, match="penalty_weights has shape"):
        sp.lasso(A, y, 1.0, penalty_weights=np.ones(3))
    with pytest.raises(ValueError, match="penalty_weights must be > 0"):
        sp.lasso(A, y, 1.0, penalty_weights=np.r_[0.0, np.ones(49)])
    with pytest.raises(ValueError, match="sample_weight must be >= 0"):
        sp.lasso(A, y, 1.0, sample_weight=-np.ones(30))
    with pytest.raises(ValueError, match="sample_weight has shape"):
        sp.lasso(A, y, 1.0, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        sp.ridge(A, y, -1.0)


@pytest.mark.parametrize("method", METHODS)
def test_zero_column_gets_zero_coefficient_and_inputs_untouched(method):
    A, y = problem(zero_col=[3, 7])
    A0, y0 = A.copy(), y.copy()
    x0 = np.ones(50)
    res = sp.lasso(A, y, 0.1 * sp.lam_max(A, y), method=method, x0=x0, tol=1e-9)
    assert res.converged and np.all(np.isfinite(res.x))
    assert res.x[3] == 0 and res.x[7] == 0
    np.testing.assert_array_equal(A, A0)
    np.testing.assert_array_equal(y, y0)
    assert np.all(x0 == 1)
    rid = sp.ridge(A, y, 0.0).x
    assert np.all(np.isfinite(rid)) and abs(rid[3]) < 1e-12


# ---------------------------------------------------------------- LISTA
def _lista_data(k, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((12, 24))
    A /= np.linalg.norm(A, axis=0)
    X = np.zeros((24, k))
    for c in range(k):
        X[rng.choice(24, 3, replace=False), c] = rng.standard_normal(3)
    return A, A @ X + 0.01 * rng.standard_normal((12, k))


def test_lista_starts_as_ista_and_gradients_match_finite_differences():
    A, Y = _lista_data(40, 10)
    lam = 0.1 * np.median(sp.lam_max(A, Y))
    net = sp.LISTA(A, lam, n_layers=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ista5 = sp.lasso(A, Y, lam, method="ista", max_iter=5, tol=1e-15).x
    np.testing.assert_allclose(net.predict(Y), ista5, atol=1e-10)
    rng = np.random.default_rng(0)
    net.S += 0.01 * rng.standard_normal(net.S.shape)  # leave the ISTA point
    Xs = rng.standard_normal((24, 40)) * 0.1
    _, gW, gS, gth = net.loss_and_grads(Y, Xs)
    eps = 1e-6
    for p, g in ((net.We, gW), (net.S, gS), (net.theta, gth)):
        for idx in [tuple(rng.integers(0, s) for s in p.shape) for _ in range(5)]:
            old = p[idx]
            p[idx] = old + eps
            lp = net.loss_and_grads(Y, Xs)[0]
            p[idx] = old - eps
            lm_ = net.loss_and_grads(Y, Xs)[0]
            p[idx] = old
            assert g[idx] == pytest.approx((lp - lm_) / (2 * eps), rel=1e-4, abs=1e-9)


def test_lista_beats_fista_at_equal_layer_count():
    A, Y = _lista_data(800, 11)
    Ytr, Yte = Y[:, :600], Y[:, 600:]
    lam = 0.05 * np.median(sp.lam_max(A, Ytr))
    net = sp.LISTA(A, lam, n_layers=6).fit(Ytr, max_iter=30, random_state=0)
    assert net.loss_history[-1] < net.loss_history[0]
    X_ref = sp.lasso(A, Yte, lam, tol=1e-10).x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fista6 = sp.lasso(A, Yte, lam, method="fista", max_iter=6, tol=1e-15).x
    err = lambda X: np.sum((X - X_ref) ** 2)  # noqa: E731
    assert err(net.predict(Yte)) < 0.5 * err(fista6)


def test_lista_rejects_signals_and_settings_that_do_not_fit():
    # Before: predict reshaped a wrong-sized signal silently, (24,) -> (12, 2), and
    # batch_size=0 failed inside range().
    A, Y = _lista_data(10, 12)
    net = sp.LISTA(A, 0.1, n_layers=2)
    for bad in (np.ones(24), np.ones((6, 4))):
        with pytest.raises(ValueError, match="y has .* rows but A has 12"):
            net.predict(bad)
    with pytest.raises(ValueError, match="batch_size must be > 0"):
        net.fit(Y, batch_size=0)
    with pytest.raises(ValueError, match="X has shape"):
        net.fit(Y, np.zeros((24, 3)))
    assert net.predict(Y[:, 0]).shape == (24,)


def test_lam_max_checks_the_rows():
    with pytest.raises(ValueError, match="y has 4 rows but A has 5"):
        sp.lam_max(np.ones((5, 3)), np.ones(4))


def test_ridge_of_a_zero_matrix_is_zero_without_warnings():
    # Before: alpha = 0 divided 0 / 0 for the discarded singular values (RuntimeWarning).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = sp.ridge(np.zeros((5, 3)), np.ones(5), 0.0)
    np.testing.assert_array_equal(res.x, 0.0)


def _lista_safeguard_problem():
    rng = np.random.default_rng(10)
    A = rng.standard_normal((12, 24))
    A /= np.linalg.norm(A, axis=0)
    X = np.zeros((24, 160))
    for c in range(160):
        X[rng.choice(24, 3, replace=False), c] = rng.standard_normal(3)
    Y = A @ X + 0.01 * rng.standard_normal((12, 160))
    return A, Y, 0.05 * np.median(sp.lam_max(A, Y))


def test_lista_safeguard_reaches_the_duality_gap_from_the_layers():
    A, Y, lam = _lista_safeguard_problem()
    net = sp.LISTA(A, lam, n_layers=4).fit(Y[:, :120], max_iter=10, random_state=0)
    res = net.solve(Y[:, 120:])
    ref = sp.lasso(A, Y[:, 120:], lam, tol=1e-12)
    assert np.all(res.converged) and np.all(res.dual_gap <= 1e-6 * res.objective)
    np.testing.assert_allclose(res.x, ref.x, atol=1e-4)
    assert np.all(res.n_iter == 4 + res.safeguard_iter) and res.n_layers == 4
    with pytest.warns(ConvergenceWarning, match="safeguard off"):
        raw = net.solve(Y[:, 120:], safeguard=False)
    np.testing.assert_array_equal(raw.x, net.predict(Y[:, 120:]))
    assert not np.all(raw.converged)
    # where the layers' codes are already within tol, the check costs no iteration
    exact = sp.LISTA(A, lam, n_layers=4)
    exact.predict = lambda Y: sp.lasso(A, Y, lam, tol=1e-12).x  # a perfect network
    one = exact.solve(Y[:, 0])
    assert one.safeguard_iter == 0 and one.converged and "no safeguard iteration" in one.message
