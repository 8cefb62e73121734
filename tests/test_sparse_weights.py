"""Penalty weights, sample weights and complex data in the lasso solvers: naive
references, KKT conditions and equivalent problems."""

from __future__ import annotations

import numpy as np
import pytest
from naive import sparse as naive

import fastrpca.sparse as sp

METHODS = ["cd", "fista", "ista", "admm"]


def problem(m=30, n=50, seed=0, nnz=5, complex_=False):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    x0 = np.zeros(n)
    x0[rng.choice(n, nnz, replace=False)] = 3 * rng.standard_normal(nnz)
    if complex_:
        A = A + 1j * rng.standard_normal((m, n))
        x0 = x0 * np.exp(2j * np.pi * rng.random(n))
        noise = rng.standard_normal(m) + 1j * rng.standard_normal(m)
    else:
        noise = rng.standard_normal(m)
    return A, A @ x0 + 0.1 * noise


def assert_kkt(A, y, x, lam, weights=None, sample_weight=None, l2=0.0, rtol=1e-6):
    """c = A^H S (y - A x) - l2 x: |c_j| <= lam w_j, c_j = lam w_j x_j / |x_j| on the support
    (real or complex)."""
    w = np.ones(A.shape[1]) if weights is None else weights
    s = np.ones(A.shape[0]) if sample_weight is None else sample_weight
    c = A.conj().T @ (s * (y - A @ x)) - l2 * x
    tol = rtol * lam * w.max()
    assert np.all(np.abs(c) <= lam * w + tol)
    on = x != 0
    assert on.any()
    np.testing.assert_allclose(c[on], lam * w[on] * x[on] / np.abs(x[on]), atol=tol)


# ---------------------------------------------------------------- penalty weights
@pytest.mark.parametrize("method", METHODS)
def test_penalty_weights_equal_a_rescaled_column_problem(method):
    # w_j |x_j| = |x'_j| with x' = w x and A' = A / w: the same problem in other units
    A, y = problem(seed=1)
    w = np.random.default_rng(2).uniform(0.3, 3.0, A.shape[1])
    lam = 0.1 * sp.lam_max(A, y)
    res = sp.lasso(A, y, lam, method=method, penalty_weights=w, tol=1e-12)
    plain = sp.lasso(A / w, y, lam, method=method, tol=1e-12)
    assert res.converged and plain.converged
    np.testing.assert_allclose(res.x, plain.x / w, atol=1e-7)
    assert res.objective == pytest.approx(plain.objective, rel=1e-10)
    assert_kkt(A, y, res.x, lam, weights=w)


@pytest.mark.parametrize("method", METHODS)
def test_penalty_weights_against_naive_and_elastic_net_kkt(method):
    A, y = problem(seed=3)
    w = np.random.default_rng(4).uniform(0.5, 2.0, A.shape[1])
    lam = 0.05 * sp.lam_max(A, y)
    x_ref = naive.weighted_cd(A, y, lam, weights=w, n_sweeps=3000)
    res = sp.lasso(A, y, lam, method=method, penalty_weights=w, tol=1e-12)
    np.testing.assert_allclose(res.x, x_ref, atol=1e-6)
    assert res.objective == pytest.approx(
        naive.weighted_objective(A, y, res.x, lam, weights=w), rel=1e-12
    )
    res = sp.elastic_net(A, y, lam, 1.5, method=method, penalty_weights=w, tol=1e-12)
    assert_kkt(A, y, res.x, lam, weights=w, l2=1.5)
    # l2-strong convexity: ||x - x*||^2 <= 2 gap / l2
    x_ref = naive.weighted_cd(A, y, lam, 1.5, weights=w, n_sweeps=3000)
    gap = max(res.dual_gap, 0.0) + 1e-13 * res.objective
    assert np.linalg.norm(res.x - x_ref) <= np.sqrt(2 * gap / 1.5) + 1e-9


def test_unit_penalty_weights_change_nothing_and_large_weights_zero_a_feature():
    A, y = problem(seed=5)
    lam = 0.1 * sp.lam_max(A, y)
    plain = sp.lasso(A, y, lam)
    ones = sp.lasso(A, y, lam, penalty_weights=np.ones(A.shape[1]))
    np.testing.assert_array_equal(plain.x, ones.x)
    j = int(np.argmax(np.abs(plain.x)))
    w = np.ones(A.shape[1])
    w[j] = 1e3  # lam w_j > |a_j^T r| for any residual here: x_j = 0
    res = sp.lasso(A, y, lam, penalty_weights=w, tol=1e-10)
    assert res.x[j] == 0 and res.converged
    assert_kkt(A, y, res.x, lam, weights=w)


def test_penalty_weights_in_a_batch_and_positive():
    A, _ = problem(seed=6)
    rng = np.random.default_rng(7)
    X = rng.standard_normal((50, 4)) * (rng.random((50, 4)) < 0.1)
    Y = A @ X + 0.1 * rng.standard_normal((30, 4))
    w = rng.uniform(0.5, 2.0, 50)
    lam = 0.1 * float(np.median(sp.lam_max(A, Y)))
    solver = sp.LassoSolver(A, tol=1e-11, positive=True)
    batch = solver.solve(Y, lam, penalty_weights=w)
    for c in range(4):
        one = solver.solve(Y[:, c], lam, penalty_weights=w)
        np.testing.assert_array_equal(batch.x[:, c], one.x)
        plain = sp.lasso(A / w, Y[:, c], lam, positive=True, tol=1e-11)
        np.testing.assert_allclose(one.x, plain.x / w, atol=1e-7)
        assert np.all(one.x >= 0)


# ---------------------------------------------------------------- sample weights
@pytest.mark.parametrize("method", METHODS)
def test_sample_weights_against_naive_weighted_cd(method):
    A, y = problem(seed=8)
    s = np.random.default_rng(9).uniform(0.0, 3.0, A.shape[0])
    s[3] = 0.0
    lam = 0.1 * np.abs(A.T @ (s * y)).max()
    res = sp.lasso(A, y, lam, method=method, sample_weight=s, tol=1e-12)
    x_ref = naive.weighted_cd(A, y, lam, sample_weight=s, n_sweeps=3000)
    np.testing.assert_allclose(res.x, x_ref, atol=1e-6)
    assert res.objective == pytest.approx(
        naive.weighted_objective(A, y, res.x, lam, sample_weight=s), rel=1e-12
    )
    assert_kkt(A, y, res.x, lam, sample_weight=s)


def test_integer_sample_weights_equal_repeated_rows():
    A, y = problem(seed=10)
    counts = np.random.default_rng(11).integers(0, 4, A.shape[0])
    lam = 0.1 * np.abs(A.T @ (counts * y)).max()
    rep = np.repeat(np.arange(A.shape[0]), counts)
    solver = sp.LassoSolver(A, sample_weight=counts, tol=1e-12)
    res = solver.solve(y, lam)
    ref = sp.lasso(A[rep], y[rep], lam, tol=1e-12)
    np.testing.assert_allclose(res.x, ref.x, atol=1e-8)
    assert res.objective == pytest.approx(ref.objective, rel=1e-10)
    # the weights live in the solver: later solves and batches use them too
    Y = np.column_stack([y, 2 * y])
    batch = solver.solve(Y, lam)
    np.testing.assert_array_equal(batch.x[:, 0], res.x)
    twice = sp.lasso(A[rep], 2 * y[rep], lam, tol=1e-12).x
    np.testing.assert_allclose(batch.x[:, 1], twice, atol=1e-8)
    # lam = 0 goes to least squares, weighted too
    ls = sp.LassoSolver(A[:, :10], sample_weight=counts).solve(y, 0.0)
    expect = np.linalg.lstsq(A[rep, :10], y[rep], rcond=None)[0]
    np.testing.assert_allclose(ls.x, expect, atol=1e-10)


def test_sample_weights_are_not_written_into_the_callers_arrays():
    A, y = problem(seed=12)
    s = np.full(30, 2.0)
    A0, y0, s0 = A.copy(), y.copy(), s.copy()
    sp.lasso(A, y, 1.0, sample_weight=s)
    sp.LassoSolver(A, sample_weight=s).solve(y, 1.0)
    for a, b in ((A, A0), (y, y0), (s, s0)):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- complex data
@pytest.fixture(scope="module")
def complex_ref():
    A, y = problem(m=20, n=30, seed=13, nnz=4, complex_=True)
    lam = 0.15 * np.abs(A.conj().T @ y).max()
    return A, y, lam, naive.complex_lasso_embedded(A, y, lam)


def test_complex_naive_references_agree(complex_ref):
    A, y, lam, x_emb = complex_ref
    x_cd = naive.weighted_cd(A, y, lam, n_sweeps=3000)
    np.testing.assert_allclose(x_cd, x_emb, atol=1e-6)
    assert_kkt(A, y, x_cd, lam, rtol=1e-5)


@pytest.mark.parametrize(
    "method, gram", [("cd", True), ("cd", False), ("fista", False), ("ista", False)]
)
def test_complex_lasso_matches_the_real_embedding_and_kkt(complex_ref, method, gram):
    A, y, lam, x_emb = complex_ref
    res = sp.LassoSolver(A, method=method, gram=gram, tol=1e-12).solve(y, lam)
    assert res.converged and res.x.dtype == np.complex128
    assert res.dual_gap <= 1e-12 * res.objective
    np.testing.assert_allclose(res.x, x_emb, atol=1e-6)
    assert_kkt(A, y, res.x, lam)
    assert res.objective == pytest.approx(naive.weighted_objective(A, y, res.x, lam), rel=1e-12)
    # x is genuinely complex and sparse
    assert np.abs(res.x.imag).max() > 0.1 and 0 < np.count_nonzero(res.x) < A.shape[1]


def test_complex_with_weights_elastic_net_batch_and_float32():
    A, y = problem(m=25, n=40, seed=14, complex_=True)
    rng = np.random.default_rng(15)
    w = rng.uniform(0.5, 2.0, 40)
    s = rng.uniform(0.5, 2.0, 25)
    lam = 0.1 * np.abs(A.conj().T @ (s * y)).max()
    res = sp.elastic_net(A, y, lam, 0.5, penalty_weights=w, sample_weight=s, tol=1e-12)
    ref = naive.weighted_cd(A, y, lam, 0.5, weights=w, sample_weight=s, n_sweeps=3000)
    np.testing.assert_allclose(res.x, ref, atol=1e-7)
    assert_kkt(A, y, res.x, lam, weights=w, sample_weight=s, l2=0.5)
    # a batch of complex signals gives the single solves bit for bit
    Y = np.column_stack([y, 1j * y, y.conj()])
    solver = sp.LassoSolver(A, tol=1e-10)
    batch = solver.solve(Y, lam)
    for c in range(3):
        np.testing.assert_array_equal(batch.x[:, c], solver.solve(Y[:, c], lam).x)
    # multiplying y by a phase rotates x by it (the modulus penalty is phase-blind)
    np.testing.assert_allclose(batch.x[:, 1], 1j * batch.x[:, 0], atol=1e-7)
    # single precision
    r32 = sp.lasso(A.astype(np.complex64), y.astype(np.complex64), lam)
    assert r32.x.dtype == np.complex64 and r32.converged
    np.testing.assert_allclose(r32.x, sp.lasso(A, y, lam).x, atol=2e-3 * np.abs(ref).max())


def test_complex_promotion_and_real_data_as_complex():
    A, y = problem(seed=16)
    lam = 0.1 * sp.lam_max(A, y)
    real = sp.lasso(A, y, lam, tol=1e-12)
    as_complex = sp.lasso(A.astype(complex), y, lam, tol=1e-12)  # y promoted
    assert as_complex.x.dtype == np.complex128
    np.testing.assert_allclose(as_complex.x.real, real.x, atol=1e-9)
    assert np.abs(as_complex.x.imag).max() == 0
    mixed = sp.lasso(A, y + 0j, lam, tol=1e-12)  # A promoted
    np.testing.assert_allclose(mixed.x, as_complex.x, atol=1e-12)
