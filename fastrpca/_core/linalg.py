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


def orthonormal_basis_and_r(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(Q, R)`` of the thin QR of a tall ``A`` (m x k, m >= k) by LAPACK; A is consumed.
    Q is the same as :func:`orthonormal_basis` gives."""
    geqrf, orgqr, _ = _lapack(A.dtype)
    qr, tau, _, info = geqrf(A, overwrite_a=True)
    R = np.triu(qr[: min(A.shape)])
    Q, _, info2 = orgqr(qr, tau, overwrite_a=True)
    if info or info2:
        raise np.linalg.LinAlgError(f"QR failed (LAPACK info {info}, {info2})")
    return Q, R


def gram_orthonormalizer(A: np.ndarray) -> np.ndarray | None:
    """A k x k ``C`` with ``A @ C`` orthonormal, from the Gram matrix of a tall ``A``.

    CholeskyQR in its eigenvector form, with the columns equilibrated: with
    ``G = D^-1 A^H A D^-1 = W diag(lam) W^H`` (D the column norms, G formed by one BLAS
    product in A's precision), ``C = D^-1 W diag(lam)^(-1/2)``. The loss of orthogonality
    of ``A C`` is about ``eps * cond^2`` (cond that of ``A D^-1``): this returns C only
    when cond <= 10 (orthogonal to about 100 eps), as for the image ``X V`` of the last
    right singular vectors in a warm-started subspace iteration (cond near 1), and None
    otherwise (or for a rank-deficient A). A is not modified.
    """
    return orthonormalizer_from_gram(A.conj().T @ A)


def orthonormalizer_from_gram(G: np.ndarray) -> np.ndarray | None:
    """:func:`gram_orthonormalizer` given ``G = A^H A`` (in A's dtype) instead of A: the
    Gram matrix of a tall matrix held in row blocks is the sum of the blocks' own."""
    dtype = G.dtype
    wide = np.complex128 if G.dtype.kind == "c" else np.float64
    G = G.astype(wide)
    d = np.sqrt(np.diagonal(G).real)
    if not np.all(d > 0):
        return None
    lam, W = np.linalg.eigh(G / np.outer(d, d))
    if not lam[-1] <= 100 * lam[0]:  # cond > 10 (or NaN)
        return None
    return ((W / np.sqrt(lam)) / d[:, None]).astype(dtype)


def small_svd(B: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD of a wide ``B`` (k x n, k <= n) by LAPACK ``gesdd`` on its transpose."""
    gesdd = _lapack(B.dtype)[2]
    U1, s, Vh1, info = gesdd(B.T, compute_uv=1, full_matrices=0, overwrite_a=True)
    if info:
        return sla.svd(B, full_matrices=False, check_finite=False, lapack_driver="gesvd")
    return Vh1.T, s, U1.T
