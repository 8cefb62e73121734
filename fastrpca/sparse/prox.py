"""Proximal operators: the building blocks of the L1 / nuclear-norm solvers."""

from __future__ import annotations

import numpy as np

from .._core._kernels.prox import soft_threshold_flat
from .._core.linalg import full_svd
from .._core.validation import NUMERIC, as_array, check_out, finish_out, positive

__all__ = ["soft_threshold", "svt", "ridge_shrink", "elastic_net_prox"]


def soft_threshold(
    x, tau: float, out: np.ndarray | None = None, *, check_finite: bool = True
) -> np.ndarray:
    r"""Soft thresholding, the proximal operator of ``tau * ||.||_1``.

    .. math:: \operatorname{prox}_{\tau\|\cdot\|_1}(x)_i
              = \frac{x_i}{|x_i|}\max(|x_i| - \tau, 0)
              = \arg\min_z \tfrac12\|z - x\|_2^2 + \tau\|z\|_1

    For complex entries the modulus is shrunk and the phase kept.

    Parameters
    ----------
    x : array_like, any shape, real or complex.
    tau : float, threshold, ``>= 0``.
    out : ndarray, optional
        C-contiguous array of ``x``'s shape and dtype to write into:
        ``x`` itself updates in place; an array overlapping ``x`` otherwise (a shifted
        view) still receives the answer for the original ``x``.
    check_finite : bool
        Reject NaN / Inf in ``x`` (skip for speed in trusted loops).

    Returns
    -------
    ndarray : the shrunk array (``out`` when given).
    """
    x = as_array(x, "x", min_size=0, check_finite=check_finite)
    tau = positive(tau, "tau", allow_zero=True)
    work, out = check_out(out, x.shape, x.dtype, inputs=(x,))
    if x.size:
        soft_threshold_flat(np.ascontiguousarray(x).reshape(-1), tau, work.reshape(-1))
    return finish_out(work, out)
    return out


def svt(X, tau: float, *, check_finite: bool = True) -> np.ndarray:
    r"""Singular value thresholding, the proximal operator of ``tau * ||.||_*``.

    .. math:: \operatorname{prox}_{\tau\|\cdot\|_*}(X) = U \operatorname{diag}((s - \tau)_+) V^H
              \quad\text{for}\quad X = U \operatorname{diag}(s) V^H

    (Cai, Candès & Shen 2010). Uses the full SVD; :func:`fastrpca.rpca` uses faster
    truncated engines internally.

    Parameters
    ----------
    X : array_like, 2-D, real or complex.
    tau : float, threshold, ``>= 0``.
    check_finite : bool
        Reject NaN / Inf in ``X``.

    Returns
    -------
    ndarray : the thresholded matrix, same shape and dtype as ``X``.
    """
    X = as_array(X, "X", ndim=2, check_finite=check_finite)
    tau = positive(tau, "tau", allow_zero=True)
    U, s, Vh = full_svd(X)
    keep = int(np.count_nonzero(s > tau))
    return (U[:, :keep] * (s[:keep] - tau).astype(U.dtype)) @ Vh[:keep]


def ridge_shrink(x, tau: float, out: np.ndarray | None = None) -> np.ndarray:
    r"""Proximal operator of the squared L2 norm, :math:`\frac{\tau}{2}\|\cdot\|_2^2`.

    .. math:: \operatorname{prox}(x) = \arg\min_z \tfrac12\|z - x\|^2 + \tfrac{\tau}{2}\|z\|^2
              = \frac{x}{1 + \tau}

    Parameters
    ----------
    x : array_like
        Input, any shape, real or complex.
    tau : float
        Weight of the squared norm, ``>= 0``.
    out : ndarray, optional
        C-contiguous array of ``x``'s shape and dtype to write into (may be ``x``).

    Returns
    -------
    ndarray
        ``x / (1 + tau)`` (``out`` when given).
    """
    x = as_array(x, "x", min_size=0)
    tau = positive(tau, "tau", allow_zero=True)
    work, out = check_out(out, x.shape, x.dtype, inputs=(x,))
    np.multiply(x, x.real.dtype.type(1.0 / (1.0 + tau)), out=work)
    return finish_out(work, out)


def elastic_net_prox(x, l1: float, l2: float, out: np.ndarray | None = None) -> np.ndarray:
    r"""Proximal operator of :math:`l_1\|\cdot\|_1 + \frac{l_2}{2}\|\cdot\|_2^2`.

    .. math:: \operatorname{prox}(x)_i = \frac{\operatorname{sign}(x_i)\max(|x_i| - l_1, 0)}
              {1 + l_2}

    (soft threshold, then ridge shrink; complex entries keep their phase).

    Parameters
    ----------
    x : array_like
        Input, any shape, real or complex.
    l1 : float
        L1 weight (the soft threshold), ``>= 0``.
    l2 : float
        Weight of the squared L2 norm, ``>= 0``.
    out : ndarray, optional
        C-contiguous array of ``x``'s shape and dtype to write into (may be ``x``).

    Returns
    -------
    ndarray
        The proximal point (``out`` when given).
    """
    x = as_array(x, "x", min_size=0)
    l1 = positive(l1, "l1", allow_zero=True)
    l2 = positive(l2, "l2", allow_zero=True)
    work, out = check_out(out, x.shape, x.dtype, inputs=(x,))
    if x.size:
        soft_threshold_flat(np.ascontiguousarray(x).reshape(-1), l1, work.reshape(-1))
    work *= x.real.dtype.type(1.0 / (1.0 + l2))
    return finish_out(work, out)


def _warmup() -> None:
    """Compile (or load) the soft-threshold kernel for ``dtypes``."""
    for dtype in NUMERIC:
        x = np.zeros(2, dtype)
        soft_threshold_flat(x, 0.0, x)
