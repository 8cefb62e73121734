"""LassoSolver.path: every point of the path against independent solves, the naive
reference and the KKT conditions; the accelerated coordinate descent on hard problems."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from naive import sparse as naive

import fastrpca.sparse as sp
from fastrpca import ConvergenceWarning


def gaussian(m, n, seed=0, k=None, complex_=False):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    x0 = np.zeros(n)
    k = k or max(n // 20, 2)
    x0[rng.choice(n, k, replace=False)] = rng.standard_normal(k)
    noise = 0.3 * rng.standard_normal(m)
    if complex_:
        A = A + 1j * rng.standard_normal((m, n))
        noise = noise + 0.3j * rng.standard_normal(m)
    return A, A @ x0 + noise


def kkt_violation(A, y, x, lam, l2=0.0, weights=None):
    """max_j of the distance of A^H r - l2 x to lam w_j * subdifferential of |x_j|,
    relative to lam."""
    w = np.ones(A.shape[1]) if weights is None else weights
    c = A.conj().T @ (y - A @ x) - l2 * x
    on = x != 0
    viol = np.maximum(np.abs(c) - lam * w, 0.0)
    viol[on] = np.abs(c[on] - lam * w[on] * x[on] / np.abs(x[on]))
    return viol.max() / lam


@pytest.mark.parametrize("gram", [True, False])
def test_path_points_match_naive_solves_and_kkt(gram):
    A, y = gaussian(30, 40, seed=1)
    lams = sp.lam_max(A, y) * np.geomspace(1, 0.05, 12)
    solver = sp.LassoSolver(A, gram=gram, tol=1e-12)
    res = solver.path(y, lams)
    assert res.x.shape == (40, 12) and res.converged.all()
    assert res.method == ("cd (gram)" if gram else "cd")
    np.testing.assert_array_equal(res.lam, lams)
    assert np.all(res.x[:, 0] == 0)  # lam_max: x = 0
    for t in range(12):
        assert kkt_violation(A, y, res.x[:, t], lams[t]) < 1e-5
    for t in (4, 11):
        x_ref = naive.cd(A, y, lams[t], n_sweeps=1500)
        np.testing.assert_allclose(res.x[:, t], x_ref, atol=1e-6)
        assert res.objective[t] == pytest.approx(
            naive.objective(A, y, res.x[:, t], lams[t]), rel=1e-12
        )
    assert np.all(res.dual_gap <= 1e-12 * res.objective)


def test_path_equals_independent_solves_with_weights_and_elastic_net():
    A, y = gaussian(50, 80, seed=2)
    w = np.random.default_rng(3).uniform(0.5, 2.0, 80)
    lams = sp.lam_max(A, y) * np.geomspace(1, 0.02, 8)
    l2 = np.linspace(0.0, 2.0, 8)
    solver = sp.LassoSolver(A, tol=1e-12)
    res = solver.path(y, lams, l2=l2, penalty_weights=w)
    for t in range(8):
        one = solver.solve(y, lams[t], l2=l2[t], penalty_weights=w)
        assert res.objective[t] == pytest.approx(one.objective, rel=1e-10)
        assert kkt_violation(A, y, res.x[:, t], lams[t], l2=l2[t], weights=w) < 1e-5


def test_path_with_sample_weights_and_complex_data():
    A, y = gaussian(30, 45, seed=4, complex_=True)
    s = np.random.default_rng(5).uniform(0.5, 2.0, 30)
    lams = np.abs(A.conj().T @ (s * y)).max() * np.geomspace(0.9, 0.05, 6)
    res = sp.LassoSolver(A, tol=1e-12, sample_weight=s).path(y, lams)
    assert res.x.dtype == np.complex128 and res.converged.all()
    for t in (2, 5):
        ref = naive.weighted_cd(A, y, lams[t], sample_weight=s, n_sweeps=1500)
        np.testing.assert_allclose(res.x[:, t], ref, atol=1e-6)


def test_path_warm_start_and_bad_input():
    A, y = gaussian(30, 40, seed=6)
    lams = sp.lam_max(A, y) * np.array([0.5, 0.2])
    solver = sp.LassoSolver(A, tol=1e-10)
    first = solver.path(y, lams)
    again = solver.path(y, lams[1:], x0=first.x[:, 1])
    assert again.n_iter[0] == 0  # started at the solution
    with pytest.raises(ValueError, match="1-D"):
        solver.path(np.column_stack([y, y]), lams)
    with pytest.raises(ValueError, match="lam > 0 or l2 > 0"):
        solver.path(y, [0.0])
    with pytest.raises(ValueError, match=">= 0"):
        solver.path(y, [-1.0])
    with pytest.raises(ValueError, match="x0 has shape"):
        solver.path(y, lams, x0=np.zeros(3))


def test_path_not_converging_warns():
    A, y = gaussian(30, 40, seed=7)
    lams = sp.lam_max(A, y) * np.array([0.3, 0.01])
    solver = sp.LassoSolver(A, tol=1e-14, max_iter=2)
    with pytest.warns(ConvergenceWarning, match="lasso path"):
        res = solver.path(y, lams)
    assert not res.converged.all() and "max_iter=2" in res.message


# ---------------------------------------------------------------- hard problems
@pytest.mark.parametrize("gram", [True, False])
def test_ill_conditioned_small_penalty_reaches_kkt(gram):
    # n > m and lam far below lam_max: the support nearly fills the rows, A_S^T A_S is
    # badly conditioned (the regime where Anderson extrapolation and the Newton step on
    # stalled sweeps matter); the answer must still meet the KKT conditions
    A, y = gaussian(60, 150, seed=8)
    lam = 1e-3 * sp.lam_max(A, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = sp.LassoSolver(A, gram=gram, tol=1e-10, max_iter=20000).solve(y, lam)
    assert res.converged and np.count_nonzero(res.x) > 40
    assert kkt_violation(A, y, res.x, lam) < 1e-3
    x_ref = naive.fista(A, y, lam, n_iter=20000)
    assert res.objective <= naive.objective(A, y, x_ref, lam) + 1e-9 * res.objective


@pytest.mark.parametrize("sa, sy", [(2.0**-700, 1.0), (1.0, 2.0**400), (2.0**300, 2.0**-400)])
def test_path_of_extreme_scales_is_the_scaled_path(sa, sy):
    # A -> sa A, y -> sy y: x -> (sy / sa) x at lam (sa sy) lam; solved internally on
    # exactly rescaled data, so any finite scale works
    A, y = gaussian(30, 40, seed=9)
    lams = sp.lam_max(A, y) * np.geomspace(0.9, 0.05, 5)
    ref = sp.LassoSolver(A, tol=1e-12).path(y, lams)
    res = sp.LassoSolver(A * sa, tol=1e-12).path(y * sy, lams * sa * sy, x0=ref.x[:, 0] * sy / sa)
    assert res.converged.all()
    np.testing.assert_allclose(res.x, ref.x * (sy / sa), rtol=1e-9, atol=1e-12 * abs(sy / sa))
    np.testing.assert_allclose(res.objective, ref.objective * sy**2, rtol=1e-9)
    np.testing.assert_array_equal(res.lam, lams * sa * sy)
