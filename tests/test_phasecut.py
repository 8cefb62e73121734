"""PhaseCut: against an interior-point SDP solution, the slow NumPy BCD, and math facts."""

import numpy as np
import pytest
from naive import holography as nv

from fastrpca._core.result import ConvergenceWarning
from fastrpca.holography.maxcut import phasecut

pytestmark = pytest.mark.filterwarnings("ignore::fastrpca._core.result.ConvergenceWarning")


def holo_matrix(m, seed=0):
    """The SDP matrix of m foci at 150 mm over one AUTD3 device (the use case)."""
    rng = np.random.default_rng(seed)
    pos = nv.autd3_local_positions()
    dirs = np.tile([0.0, 0.0, 1.0], (len(pos), 1))
    foci = np.c_[rng.uniform(20, 170, m), rng.uniform(15, 120, m), np.full(m, 150.0)]
    G = nv.transfer_matrix_loops(pos, dirs, foci)
    return nv.sdp_matrix_exact(G, rng.uniform(3e3, 6e3, m), 1e-3)


def random_hermitian(n, seed, psd=False):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    return A @ A.conj().T if psd else A + A.conj().T


def cvx_optimum(M):
    """Clarabel on the scaled problem (absolute tolerances otherwise dominate)."""
    s = np.abs(M).max()
    return nv.sdp_cvxpy(M / s)[0] * s


@pytest.mark.parametrize("m", [4, 8, 16])
@pytest.mark.parametrize("method", ["lowrank", "bcd"])
def test_matches_interior_point(m, method):
    pytest.importorskip("cvxpy")
    M = holo_matrix(m, seed=m)
    opt = cvx_optimum(M)
    r = phasecut(M, method=method, tol=1e-10, max_iter=5000, random_state=1)
    assert r.converged
    assert abs(r.objective - opt) <= 1e-5 * abs(opt)
    # the dual certificate is a valid lower bound and the relaxation is a feasible point
    assert r.lower_bound <= opt * (1 + 1e-7)
    assert r.objective >= opt * (1 - 1e-7)
    assert r.gap_bound <= 1e-3
    assert np.allclose(np.diag(r.X).real, 1) and np.abs(np.diag(r.X).imag).max() < 1e-12
    assert np.linalg.eigvalsh(r.X)[0] > -1e-9


def test_general_hermitian_matches_interior_point():
    pytest.importorskip("cvxpy")
    M = random_hermitian(7, seed=3)  # indefinite, complex
    opt = cvx_optimum(M)
    r = phasecut(M, tol=1e-12, max_iter=5000, random_state=0)
    assert abs(r.objective - opt) <= 1e-6 * abs(opt)


def test_zeroing_equals_slicing_naive():
    M = holo_matrix(8)
    Xs = nv.phasecut_bcd(M, sweeps=5, nu=1e-3, seed=7, update=nv.bcd_update_slicing)
    Xz = nv.phasecut_bcd(M, sweeps=5, nu=1e-3, seed=7, update=nv.bcd_update_zeroing)
    np.testing.assert_allclose(Xz, Xs, rtol=0, atol=1e-13)


@pytest.mark.parametrize("nu", [0.0, 1e-3, 0.1])
def test_bcd_kernel_matches_slicing_reference(nu):
    M = holo_matrix(8, seed=2)
    seed = int(np.random.default_rng(11).integers(0, 2**63 - 1))
    X_ref = nv.phasecut_bcd(M, sweeps=6, nu=nu, seed=seed)
    r = phasecut(M, method="bcd", nu=nu, max_iter=6, tol=0.0, random_state=11, certificate=False)
    np.testing.assert_allclose(r.X, X_ref, rtol=0, atol=1e-11)
    assert r.n_iter == 6 and not r.converged


def test_lowrank_kernel_matches_reference():
    M = random_hermitian(9, seed=4, psd=True)
    rng = np.random.default_rng(0)
    k = 4
    V0 = rng.standard_normal((9, k)) + 1j * rng.standard_normal((9, k))
    V0 /= np.linalg.norm(V0, axis=1, keepdims=True)
    V = nv.phasecut_lowrank(M, V0, sweeps=5, omega=0.6)
    r = phasecut(
        M,
        method="lowrank",
        rank=k,
        omega=0.6,
        X0=V0 @ V0.conj().T,
        max_iter=5,
        tol=0.0,
        certificate=False,
    )
    # the start is refactored from X0 (V0 up to a unitary), the iterates of X are the same
    np.testing.assert_allclose(r.X, V @ V.conj().T, atol=1e-10)
    np.testing.assert_allclose(r.V @ r.V.conj().T, r.X, atol=1e-12)


@pytest.mark.parametrize("method", ["lowrank", "bcd"])
def test_objective_never_increases(method):
    M = random_hermitian(12, seed=5)
    r = phasecut(M, method=method, max_iter=60, tol=0.0, random_state=3, nu=0.0)
    h = r.history["objective"]
    assert len(h) == 60
    assert np.all(np.diff(h) <= 1e-12 * np.abs(h[1:]))
    assert np.isclose(h[-1], r.objective, rtol=1e-10)
    assert np.isclose(np.real(np.trace(M @ r.X)), r.objective, rtol=1e-10)


@pytest.mark.parametrize("method", ["lowrank", "bcd"])
def test_planted_rank_one(method):
    """M = n I - z z^H: the optimum is X = z z^H and the rounding returns z (up to phase)."""
    n = 10
    z = np.exp(1j * np.random.default_rng(1).uniform(0, 2 * np.pi, n))
    M = n * np.eye(n) - np.outer(z, z.conj())
    r = phasecut(M, method=method, tol=1e-12, max_iter=2000, random_state=0, nu=0.0)
    assert abs(r.objective) <= 1e-9 * n * n  # Tr(M zz^H) = n^2 - n^2
    ph = r.u * z.conj()
    np.testing.assert_allclose(ph, ph[0], atol=1e-6)
    np.testing.assert_allclose(np.abs(r.u), 1, atol=1e-14)
    assert np.isclose(r.rounded_objective, np.real(r.u.conj() @ M @ r.u), rtol=1e-12)


def test_rounding_is_projected_principal_eigenvector():
    M = holo_matrix(6, seed=9)
    r = phasecut(M, tol=1e-10, random_state=0)
    u_ref = nv.round_unit(r.X)
    ph = r.u * u_ref.conj()
    np.testing.assert_allclose(ph, ph[0], atol=1e-7)
    np.testing.assert_allclose(np.abs(r.u), 1, atol=1e-14)


def test_deterministic_for_a_seed():
    M = holo_matrix(10, seed=4)
    for method in ("lowrank", "bcd"):
        a = phasecut(M, method=method, random_state=5)
        b = phasecut(M, method=method, random_state=5)
        assert np.array_equal(a.X, b.X) and np.array_equal(a.u, b.u)


@pytest.mark.filterwarnings("default")
def test_not_converged_warns_and_says_so():
    M = holo_matrix(16, seed=1)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        r = phasecut(M, max_iter=2, tol=1e-12)
    assert not r.converged and r.n_iter == 2 and "not converged" in r.message


def test_real_symmetric_and_single_variable():
    M = np.array([[2.0, -1.0], [-1.0, 2.0]])
    r = phasecut(M, tol=1e-12)
    assert np.isclose(r.objective, 2.0, atol=1e-9)  # X = [[1, 1], [1, 1]]
    r1 = phasecut(np.array([[3.0]]))
    assert np.isclose(r1.objective, 3.0, rtol=1e-14) and r1.u.shape == (1,)


def test_input_not_modified():
    M = holo_matrix(5)
    X0 = np.eye(5, dtype=complex)
    Mc, X0c = M.copy(), X0.copy()
    M.flags.writeable = False
    phasecut(M, X0=X0, method="bcd")
    phasecut(M, X0=X0, method="lowrank")
    assert np.array_equal(M, Mc) and np.array_equal(X0, X0c)


@pytest.mark.parametrize(
    "M, match",
    [
        (np.array([[1.0, 2.0], [0.0, 1.0]]), "not Hermitian"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), "NaN"),
        (np.ones((2, 3)), "square"),
        (np.zeros((0, 0)), "empty"),
        (np.ones(3), "2-D"),
    ],
)
def test_bad_matrix(M, match):
    with pytest.raises(ValueError, match=match):
        phasecut(M)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(nu=1.0), "nu"),
        (dict(omega=1.0), "omega"),
        (dict(method="sdp"), "method"),
        (dict(max_iter=0), "max_iter"),
        (dict(tol=-1.0), "tol"),
        (dict(X0=2 * np.eye(3)), "unit diagonal"),
        (dict(X0=np.eye(2)), "shape"),
        (dict(X0=np.array([[1, 2, 0], [2, 1, 0], [0, 0, 1.0]])), "semidefinite"),
    ],
)
def test_bad_options(kw, match):
    with pytest.raises(ValueError, match=match):
        phasecut(np.eye(3), **kw)
