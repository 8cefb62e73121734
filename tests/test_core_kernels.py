"""The dense kernels shared by the families (fastrpca._core._kernels) against LAPACK."""

import numpy as np
import pytest

from fastrpca._core._kernels.linalg import chol_solve, cholesky_lower


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_cholesky_lower_matches_lapack_in_place_or_not(dtype):
    rng = np.random.default_rng(0)
    B = rng.standard_normal((6, 6))
    if np.dtype(dtype).kind == "c":
        B = B + 1j * rng.standard_normal((6, 6))
    A = (B @ B.conj().T + 6 * np.eye(6)).astype(dtype)
    rtol = 1e-4 if dtype == np.float32 else 1e-12
    L = np.zeros_like(A)
    assert cholesky_lower(A, L, 0.0)
    np.testing.assert_allclose(np.tril(L), np.linalg.cholesky(A), rtol=rtol)
    inplace = A.copy()
    assert cholesky_lower(inplace, inplace, 0.0)
    np.testing.assert_allclose(np.tril(inplace), np.tril(L), rtol=rtol)
    assert not cholesky_lower(-A, L, 0.0)  # not positive definite
    assert not cholesky_lower(A, L, 1e6)  # pivots below the floor


def test_chol_solve_solves_the_normal_equations():
    rng = np.random.default_rng(1)
    B = rng.standard_normal((5, 5))
    A = B @ B.T + np.eye(5)
    L = np.linalg.cholesky(A)
    v = rng.standard_normal(5)
    out = np.empty(5)
    chol_solve(L, v, out)
    np.testing.assert_allclose(A @ out, v, rtol=1e-12)
    chol_solve(L, v, v)  # in place
    np.testing.assert_allclose(v, out, rtol=1e-15)
