"""Thin dense factorisations by LAPACK, shared by the families (SVD and QR)."""

from __future__ import annotations

import functools

import numpy as np
import scipy.linalg as sla


def full_svd(X: np.ndarray, overwrite: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD ``X = U diag(s) Vh`` by LAPACK (``gesdd``, ``gesvd`` if that fails)."""
    # LAPACK is column-major: hand it the transpose of a C-ordered array, no copy.
    transpose = X.flags.c_contiguous and not X.flags.f_contiguous
    A = X.T if transpose else X
    try:
        U, s, Vh = sla.svd(
            A, full_matrices=False, overwrite_a=overwrite, check_finite=False, lapack_driver="gesdd"
        )
    except np.linalg.LinAlgError:
        U, s, Vh = sla.svd(A, full_matrices=False, check_finite=False, lapack_driver="gesvd")
    if transpose:
        return Vh.T, s, U.T
    return U, s, Vh


@functools.cache
def _lapack(dtype):
    """(geqrf, orgqr/ungqr, gesdd) for ``dtype``: called raw, they cost a third of the
    scipy.linalg wrappers' time on the small matrices of a randomized SVD."""
    kind = "ungqr" if np.dtype(dtype).kind == "c" else "orgqr"
    probe = (np.empty(1, dtype),)
    return sla.get_lapack_funcs(("geqrf", kind, "gesdd"), probe)


def orthonormal_basis(A: np.ndarray) -> np.ndarray:
    """``Q`` of the thin QR of a tall ``A`` (m x k, m >= k) by LAPACK; A is consumed."""
    geqrf, orgqr, _ = _lapack(A.dtype)
    qr, tau, _, info = geqrf(A, overwrite_a=True)
    Q, _, info2 = orgqr(qr, tau, overwrite_a=True)
    if info or info2:
        raise np.linalg.LinAlgError(f"QR failed (LAPACK info {info}, {info2})")
    return Q


def small_svd(B: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD of a wide ``B`` (k x n, k <= n) by LAPACK ``gesdd`` on its transpose."""
    gesdd = _lapack(B.dtype)[2]
    U1, s, Vh1, info = gesdd(B.T, compute_uv=1, full_matrices=0, overwrite_a=True)
    if info:
        return sla.svd(B, full_matrices=False, check_finite=False, lapack_driver="gesvd")
    return Vh1.T, s, U1.T
