"""Ridge regression in closed form (the L2 member of the toolbox)."""

from __future__ import annotations

import numpy as np
import scipy.linalg

from .._core.result import Result
from .._core.validation import as_array, ldexp, scale_exponent
from .._core.validation import positive as _positive
from .penalty import _check_rows_shape


class RidgeResult(Result):
    """Solution of :func:`ridge`.

    Attributes
    ----------
    x : ndarray (n,) or (n, k)
        The coefficients.
    method : str
        ``"cholesky"`` or ``"svd"``.
    objective : float or ndarray (k,)
        ``1/2 ||Ax - y||^2 + alpha/2 ||x||^2`` per column
        (the toolbox's 1/2 convention; the minimiser is that of scikit-learn's ``Ridge``).
    converged, n_iter, message, history : closed form, so True, 1, a note and ``{}``.
    """

    x: np.ndarray
    method: str
    objective: float | np.ndarray


def ridge(A, y, alpha: float, *, method: str = "auto", check_finite: bool = True) -> RidgeResult:
    r"""Ridge regression in closed form.

    .. math:: \min_x \tfrac12\|Ax - y\|_2^2 + \tfrac{\alpha}{2}\|x\|_2^2

    The same minimiser as scikit-learn's ``Ridge(alpha, fit_intercept=False)``, whose
    objective is twice this one.

    Parameters
    ----------
    A : array_like (m, n), real
        Design matrix.
    y : array_like (m,) or (m, k)
        One target, or k targets solved together.
    alpha : float >= 0
        Weight of the squared L2 norm (the ``alpha`` of scikit-learn's
        ``Ridge``, which is not divided by the number of samples).
    method : {"auto", "cholesky", "svd"}
        Cholesky of the smaller of A^T A + alpha I
        (n x n, when m >= n) and A A^T + alpha I (m x m); SVD for alpha = 0 (minimum-norm
        least squares) or when the Cholesky factorisation fails. ``"auto"``: Cholesky
        when alpha > 0.
    check_finite : bool
        Reject NaN / Inf in ``A`` and ``y``.

    Returns
    -------
    RidgeResult

    Notes
    -----
    ``A`` and ``y`` far from 1 are scaled by powers of two (exactly) before solving, and
    ``x`` and the objective scaled back, so any finite input works (an objective beyond
    float64's range is reported as inf).
    """
    if method not in ("auto", "cholesky", "svd"):
        raise ValueError(f"method must be 'auto', 'cholesky' or 'svd', got {method!r}")
    A = as_array(A, "A", ndim=2, allow_complex=False, min_size=0, check_finite=check_finite)
    if A.size == 0:
        raise ValueError(f"A has shape {A.shape}; it needs at least one row and one column")
    y = as_array(y, "y", ndim=(1, 2), allow_complex=False, min_size=0, check_finite=check_finite)
    _check_rows_shape(A.shape, y)
    alpha = alpha_given = _positive(alpha, "alpha", allow_zero=True)
    dtype = np.result_type(A.dtype, y.dtype)
    m, n = A.shape
    # x scales as y / A and alpha as A^2: solve with A and y scaled (exactly, by powers of
    # two) to largest entries near 1 when their squares would over- or underflow.
    ea = scale_exponent(float(np.abs(A).max()), A.dtype)
    ey = scale_exponent(float(np.abs(y).max()) if y.size else 0.0, y.dtype)
    if ea or ey:
        A, y = ldexp(A, -ea), ldexp(y, -ey)
        alpha = float(np.ldexp(alpha, -2 * ea))
    use = method if method != "auto" else ("cholesky" if alpha > 0 else "svd")
    x = None
    if use == "cholesky":
        if alpha_given == 0 and method == "cholesky":
            raise ValueError("method='cholesky' needs alpha > 0; use method='svd'")
        try:
            if m >= n:
                C = A.T @ A
                C[np.diag_indices_from(C)] += alpha
                x = scipy.linalg.cho_solve(
                    scipy.linalg.cho_factor(C, lower=True), A.T @ y, check_finite=False
                )
            else:
                C = A @ A.T
                C[np.diag_indices_from(C)] += alpha
                x = A.T @ scipy.linalg.cho_solve(
                    scipy.linalg.cho_factor(C, lower=True), y, check_finite=False
                )
        except np.linalg.LinAlgError:
            use = "svd"
    if x is None:
        U, s, Vt = scipy.linalg.svd(
            A, full_matrices=False, check_finite=False, lapack_driver="gesdd"
        )
        cut = s.max() * max(m, n) * np.finfo(s.dtype).eps
        d = np.divide(s, s * s + alpha, out=np.zeros_like(s), where=s > cut)
        x = Vt.T @ (d[:, None] * (U.T @ y) if y.ndim == 2 else d * (U.T @ y))
    x = np.asarray(x, dtype=dtype)
    R = A @ x - y
    obj = 0.5 * (np.sum(R * R, axis=0) + alpha * np.sum(x * x, axis=0))
    if ea or ey:
        x = ldexp(x, ey - ea)
        with np.errstate(over="ignore", under="ignore"):  # inf / 0 beyond float64's range
            obj = np.ldexp(obj, 2 * ey)
    return RidgeResult(
        x=x,
        method=use,
        objective=obj if y.ndim == 2 else float(obj),
        converged=True,
        n_iter=1,
        message=f"closed form ({use})",
        history={},
    )
