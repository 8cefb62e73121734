"""Proximal operators: the building blocks of the L1 / nuclear-norm solvers."""
from __future__ import annotations

import numpy as np

from ._kernels.prox import soft_threshold_flat
from ._validation import NUMERIC, as_array, positive
from .svd import full_svd

# The L2 pieces live with the solvers that use them; this module is the one place to find
# every proximal operator.
from .sparse import elastic_net_prox, ridge_shrink  # noqa: E402,F401

__all__ = ["soft_threshold", "svt", "ridge_shrink", "elastic_net_prox"]


def soft_threshold(x, tau: float, out: np.ndarray | None = None, *,
                   check_finite: bool = True) -> np.ndarray:
    r"""Soft thresholding, the proximal operator of ``tau * ||.||_1``.

    .. math:: \operatorname{prox}_{\tau\|\cdot\|_1}(x)_i
              = \frac{x_i}{|x_i|}\max(|x_i| - \tau, 0)
              = \arg\min_z \tfrac12\|z - x\|_2^2 + \tau\|z\|_1

    For complex entries the modulus is shrunk and the phase kept.

    Parameters
    ----------
    x : array_like, any shape, real or complex.
    tau : float, threshold, ``>= 0``.
    out : ndarray, optional. C-contiguous array of ``x``'s shape and dtype to write into
        (may be ``x`` itself for an in-place update).
    check_finite : bool. Reject NaN / Inf in ``x`` (skip for speed in trusted loops).

    Returns
    -------
    ndarray : the shrunk array (``out`` when given).
    """
    x = as_array(x, "x", min_size=0, check_finite=check_finite)
    tau = positive(tau, "tau", allow_zero=True)
    if out is None:
        out = np.empty(x.shape, dtype=x.dtype)
    elif not (isinstance(out, np.ndarray) and out.shape == x.shape and out.dtype == x.dtype
              and out.flags.c_contiguous and out.flags.writeable):
        raise ValueError(
            f"out must be a writeable C-contiguous array of shape {x.shape} and dtype "
            f"{x.dtype}; got {getattr(out, 'shape', None)} {getattr(out, 'dtype', type(out))}")
    if x.size:
        soft_threshold_flat(np.ascontiguousarray(x).reshape(-1), tau, out.reshape(-1))
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
    check_finite : bool. Reject NaN / Inf in ``X``.

    Returns
    -------
    ndarray : the thresholded matrix, same shape and dtype as ``X``.
    """
    X = as_array(X, "X", ndim=2, check_finite=check_finite)
    tau = positive(tau, "tau", allow_zero=True)
    U, s, Vh = full_svd(X)
    keep = int(np.count_nonzero(s > tau))
    return (U[:, :keep] * (s[:keep] - tau).astype(U.dtype)) @ Vh[:keep]


def _warmup() -> None:
    """Compile (or load) the soft-threshold kernel for ``dtypes``."""
    for dtype in NUMERIC:
        x = np.zeros(2, dtype)
        soft_threshold_flat(x, 0.0, x)
