"""Penalty scales: the largest useful lasso weight and scikit-learn's conventions."""

from __future__ import annotations

import numpy as np

from .._core.validation import as_array
from .._core.validation import positive as _positive


def lam_max(A, y, *, positive: bool = False) -> float | np.ndarray:
    r"""Smallest :math:`\lambda_1` for which the lasso solution is zero.

    .. math:: \lambda_{\max} = \|A^T y\|_\infty \quad(\max_j (A^T y)_j \text{ if positive})

    Parameters
    ----------
    A : array_like (m, n), real
        Dictionary / design matrix.
    y : array_like (m,) or (m, k), real
        One signal, or k signals as columns.
    positive : bool
        For the lasso constrained to ``x >= 0`` (only positive correlations count).

    Returns
    -------
    float or ndarray (k,)
        A float for 1-D ``y``, one value per column for 2-D ``y``.
    """
    A = as_array(A, "A", ndim=2, allow_complex=False)
    y = as_array(y, "y", ndim=(1, 2), allow_complex=False, min_size=0)
    _check_rows_shape(A.shape, y)
    c = A.T @ y
    v = np.maximum(c.max(axis=0), 0.0) if positive else np.abs(c).max(axis=0)
    return float(v) if y.ndim == 1 else v


def lam_from_sklearn(alpha: float, n_samples: int) -> float:
    """The ``lam`` of :func:`lasso` equal to scikit-learn's ``Lasso(alpha)``.

    scikit-learn minimises ``1/(2 n) ||y - Xw||^2 + alpha ||w||_1``, so ``lam = n alpha``.

    Parameters
    ----------
    alpha : float
        scikit-learn's ``alpha``.
    n_samples : int
        Number of samples (rows of ``A``, entries of ``y``).

    Returns
    -------
    float
    """
    alpha = _positive(alpha, "alpha", allow_zero=True)
    return alpha * _positive(n_samples, "n_samples", integer=True)


def sklearn_alpha(lam: float, n_samples: int) -> float:
    """scikit-learn's ``alpha`` for this module's ``lam`` (``alpha = lam / n``).

    Parameters
    ----------
    lam : float
        The unscaled L1 weight of :func:`lasso`.
    n_samples : int
        Number of samples (rows of ``A``, entries of ``y``).

    Returns
    -------
    float
    """
    lam = _positive(lam, "lam", allow_zero=True)
    return lam / _positive(n_samples, "n_samples", integer=True)


def enet_from_sklearn(alpha: float, l1_ratio: float, n_samples: int) -> tuple[float, float]:
    """``(l1, l2)`` of :func:`elastic_net` equal to scikit-learn's ``ElasticNet``.

    scikit-learn: ``1/(2n)||y - Xw||^2 + alpha r ||w||_1 + alpha (1 - r)/2 ||w||^2``.

    Parameters
    ----------
    alpha : float
        scikit-learn's ``alpha``.
    l1_ratio : float
        scikit-learn's ``l1_ratio`` (``r`` above), in [0, 1].
    n_samples : int
        Number of samples (rows of ``A``, entries of ``y``).

    Returns
    -------
    l1, l2 : float
        The weights of :func:`elastic_net`.
    """
    alpha = _positive(alpha, "alpha", allow_zero=True)
    r = _positive(l1_ratio, "l1_ratio", allow_zero=True)
    if r > 1:
        raise ValueError(
            f"l1_ratio must be in [0, 1] (scikit-learn's L1 share of the penalty), got {r!r}"
        )
    n = _positive(n_samples, "n_samples", integer=True)
    return alpha * r * n, alpha * (1.0 - r) * n


def _check_rows_shape(shape, y):
    if y.shape[0] != shape[0]:
        raise ValueError(
            f"y has {y.shape[0]} rows but A has {shape[0]} (A is {shape}); "
            f"y must have shape ({shape[0]},) or ({shape[0]}, k)"
        )
