r"""scikit-learn estimators and regularisation paths on fastrpca's solvers.

The only module of fastrpca that imports scikit-learn (``pip install 'fastrpca[sklearn]'``).
Everything here follows scikit-learn's names and conventions, so it drops into pipelines,
grid searches and cross-validation:

* :class:`Lasso`, :class:`ElasticNet`: ``alpha`` scaled by ``n_samples``,
  ``fit_intercept``, ``sample_weight``, ``warm_start``, ``positive``; attributes ``coef_``,
  ``intercept_``, ``n_iter_``, ``dual_gap_``. Objective, with ``s`` the sample weights
  (default 1) and ``w`` the optional per-feature ``penalty_weights``::

      1 / (2 sum(s)) * sum_i s_i (y_i - x_i . b - b0)^2
          + alpha * l1_ratio * sum_j w_j |b_j| + alpha * (1 - l1_ratio) / 2 * ||b||^2

* :func:`lasso_path`, :func:`enet_path`: scikit-learn's signatures and return values,
  one compiled coordinate-descent loop over the penalties with warm starts and working
  sets (:meth:`fastrpca.sparse.LassoSolver.path`).
* :class:`LassoCV`, :class:`ElasticNetCV`: the path on every fold (folds in threads with
  ``n_jobs``), then a refit at the best penalty.
* :class:`RobustPCA`: Robust PCA (:func:`fastrpca.rpca`) as a transformer: rows of ``X``
  are samples (frames, flattened); :meth:`RobustPCA.transform` gives each row's low-rank
  part, :meth:`RobustPCA.anomaly_score` the size of its sparse part.

Differences from scikit-learn: ``tol`` bounds the *relative* duality gap
(``gap <= tol * objective``, a certificate that the objective is within ``tol`` of its
optimum; scikit-learn stops at ``gap <= tol * ||y||^2 / n_samples``, looser when the fit
is good), ``max_iter`` counts coordinate-descent sweeps (over working sets), coordinates
are visited cyclically (no ``selection``/``random_state``), ``precompute`` takes
``"auto"``, True or False (no Gram array), and sparse ``X`` is not accepted.
"""

from __future__ import annotations

import numbers
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin, TransformerMixin
    from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning
    from sklearn.model_selection import check_cv
    from sklearn.utils.validation import check_array, check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - exercised without scikit-learn only
    raise ImportError(
        "fastrpca.sklearn needs scikit-learn >= 1.6: pip install 'fastrpca[sklearn]'"
    ) from exc

from ._core.result import ConvergenceWarning as _FastConvergenceWarning
from .robust_pca.ialm import default_lambda, rpca
from .sparse import l1 as _l1

__all__ = [
    "Lasso",
    "ElasticNet",
    "LassoCV",
    "ElasticNetCV",
    "RobustPCA",
    "lasso_path",
    "enet_path",
    "ConvergenceWarning",
]

_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))
_PLAIN = (float, int, np.float64)
#: Standard deviation of Gaussian noise per median absolute deviation.
MAD_TO_SIGMA = 1.4826


class ConvergenceWarning(_FastConvergenceWarning, _SklearnConvergenceWarning):
    """Not converged within ``max_iter``: both fastrpca's and scikit-learn's
    ``ConvergenceWarning``, so filters written for either catch it."""


# ---------------------------------------------------------------- shared checks
def _check_params(alpha, l1_ratio, tol, max_iter, precompute):
    if (  # the common case, without the abstract-class checks (microseconds per fit)
        type(alpha) in _PLAIN
        and type(l1_ratio) in _PLAIN
        and type(tol) in _PLAIN
        and type(max_iter) is int
        and 0.0 <= alpha < np.inf
        and 0.0 <= l1_ratio <= 1.0
        and 0.0 <= tol < np.inf
        and max_iter >= 1
        and (precompute is True or precompute is False or precompute.__eq__("auto") is True)
    ):
        return
    if not isinstance(alpha, numbers.Real) or not np.isfinite(float(alpha)) or float(alpha) < 0:
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    if not isinstance(l1_ratio, numbers.Real) or not 0 <= float(l1_ratio) <= 1:
        raise ValueError(f"l1_ratio must be in [0, 1], got {l1_ratio!r}")
    if not isinstance(tol, numbers.Real) or not np.isfinite(float(tol)) or float(tol) < 0:
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if not (
        isinstance(precompute, (bool, np.bool_))
        or (isinstance(precompute, str) and precompute == "auto")
    ):
        raise ValueError(
            f"precompute must be 'auto', True or False, got {precompute!r} (a precomputed "
            "Gram array is not supported: pass True to have it formed and cached)"
        )


def _solver_tol(tol):
    """The solver's relative-gap tolerance (tol = 0: run to max_iter, as in scikit-learn)."""
    return float(tol) if tol > 0 else float(np.finfo(np.float64).tiny)


def _check_sample_weight(sample_weight, n_samples):
    """None, or the weights as a float64 (n_samples,) array of finite values >= 0 with a
    positive sum (a scalar means uniform weights, i.e. None)."""
    if sample_weight is None or isinstance(sample_weight, numbers.Number):
        return None
    sw = check_array(
        sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight", copy=False
    )
    if sw.ndim != 1 or sw.shape[0] != n_samples:
        raise ValueError(f"sample_weight.shape == {sw.shape}, expected ({n_samples},)!")
    if (sw < 0).any():
        raise ValueError("Negative values in data passed to sample_weight")
    if not sw.sum() > 0:
        raise ValueError("sample_weight sums to zero: at least one sample needs weight > 0")
    return sw


def _check_penalty_weights(penalty_weights, n_features):
    if penalty_weights is None:
        return None
    w = check_array(
        penalty_weights, ensure_2d=False, dtype=np.float64, input_name="penalty_weights"
    )
    if w.shape != (n_features,):
        raise ValueError(
            f"penalty_weights has shape {w.shape}; it needs one weight per feature, "
            f"shape ({n_features},)"
        )
    if not (w > 0).all():
        raise ValueError(f"penalty_weights must be > 0, got minimum {w.min():g}")
    return w


_LOCAL = threading.local()


def _scratch(shape, dtype):
    """This thread's reusable array for the centred X (a large allocation per fit costs
    as much as a small solve; the cached solvers keep copies of their own)."""
    buf = getattr(_LOCAL, "centred", None)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = _LOCAL.centred = np.empty(shape, dtype)
    return buf


def _center(X, y, sw, fit_intercept, sums=None):
    """X, y centred by their (weighted) means when fitting an intercept (``sums``: their
    column sums, when already known)."""
    if not fit_intercept:
        return X, y, np.zeros(X.shape[1], X.dtype), np.zeros(y.shape[1:], y.dtype)
    if sw is None:
        x_sum, y_sum = sums if sums is not None else (X.sum(axis=0), y.sum(axis=0))
        inv = 1.0 / X.shape[0]
        x_mean = x_sum * X.dtype.type(inv)
        y_mean = y_sum * y.dtype.type(inv)
    else:
        x_mean = np.average(X, axis=0, weights=sw).astype(X.dtype, copy=False)
        y_mean = np.average(y, axis=0, weights=sw).astype(y.dtype, copy=False)
    Xc = np.subtract(X, x_mean, out=_scratch(X.shape, X.dtype))
    return Xc, y - y_mean, x_mean, y_mean


def _scaled(X, y, sw):
    """The rows of X and y scaled by sqrt(sample weight): the weighted least squares
    problem as a plain one."""
    if sw is None:
        return X, y
    root = np.sqrt(sw).astype(X.dtype)
    return X * root[:, None], y * (root if y.ndim == 1 else root[:, None])


def _gram_choice(precompute, m, n):
    if precompute == "auto":
        return n <= _l1.GRAM_MAX_FEATURES and (m >= n or m * n * n <= _l1.GRAM_AUTO_FLOPS)
    return bool(precompute)


def _solver_for(X, positive, tol, max_iter, gram):
    """A cached :class:`LassoSolver` for X (reused while X holds the same values, as
    :func:`fastrpca.lasso` does), coordinate descent."""
    key = ("cd", bool(positive), tol, max_iter, None, gram)
    return _l1._cached_solver(
        X, key, False, method="cd", positive=positive, tol=tol, max_iter=max_iter, gram=gram
    )


#: Fits on X of at most this many entries remember X (a copy), its means and the solver
#: for it centred, so that refits on the same X (new y or alpha) skip the centring.
_CENTRED_MAX_SIZE = 2**20
_CENTRED_ENTRIES = 4


def _plain_xy(X, y):
    """X, y are float ndarrays of matching shapes (finiteness not checked)."""
    return (
        type(X) is np.ndarray
        and type(y) is np.ndarray
        and X.ndim == 2
        and X.dtype in _FLOATS
        and y.dtype == X.dtype
        and y.ndim in (1, 2)
        and X.shape[0] == y.shape[0]
        and X.shape[0] > 1
        and X.shape[1] > 0
        and (y.ndim == 1 or y.shape[1] > 0)
    )


def _centred_lookup(X, key):
    """(x_mean, solver) from this thread's entries if X holds the values of a stored X
    (compared in full, in compiled code), else None."""
    entries = getattr(_LOCAL, "fits", None)
    if not entries:
        return None
    for i, (k, Xs, x_mean, solver) in enumerate(entries):
        if k != key or Xs.shape != X.shape or Xs.dtype != X.dtype:
            continue
        if X.flags.c_contiguous and Xs.flags.c_contiguous:
            same = _l1._k.equal(X, Xs)
        elif X.flags.f_contiguous and Xs.flags.f_contiguous:
            same = _l1._k.equal(X.T, Xs.T)
        else:
            same = bool(np.array_equal(X, Xs))
        if same:
            if i != len(entries) - 1:
                entries.append(entries.pop(i))
            return x_mean, solver
    return None


def _centred_clear():
    _LOCAL.fits = []


_l1._CLEAR_HOOKS.append(_centred_clear)


def _centred_store(X, key, x_mean, solver):
    entries = getattr(_LOCAL, "fits", None)
    if entries is None:
        entries = _LOCAL.fits = []
    entries.append((key, np.array(X, order="K"), x_mean, solver))
    del entries[:-_CENTRED_ENTRIES]


def _fast_xy(estimator, X, y):
    """Validation of plain float ndarrays without scikit-learn's general machinery (a
    large share of a small fit's time): the same checks and attributes, and the column
    sums of X and y (finite sums prove finite entries; NaN, Inf or an overflowing sum
    take scikit-learn's path, which names the problem). None if not applicable."""
    if _plain_xy(X, y):
        x_sum, y_sum = np.add.reduce(X, axis=0), np.add.reduce(y, axis=0)
        if np.isfinite(x_sum).all() and np.isfinite(y_sum).all():
            estimator.n_features_in_ = X.shape[1]
            estimator.__dict__.pop("feature_names_in_", None)
            return X, y, (x_sum, y_sum)
    return None


def _fast_x(estimator, X):
    """Fast validation of X for predict / transform (see :func:`_fast_xy`), else None."""
    if (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in _FLOATS
        and X.shape[0] > 0
        and X.shape[1] == estimator.n_features_in_
        and not hasattr(estimator, "feature_names_in_")
        and np.isfinite(np.add.reduce(X, axis=None))
    ):
        return X
    return None


# ---------------------------------------------------------------- paths
def _alpha_max(X, y, sw, l1_ratio, positive, Xy=None):
    """Smallest alpha with all coefficients zero (X, y already centred if needed)."""
    n = X.shape[0] if sw is None else sw.sum()
    if Xy is None:
        Xy = X.T @ (y if sw is None else sw * y)
    Xy = np.asarray(Xy, dtype=np.float64).reshape(X.shape[1])
    top = max(float(Xy.max()), 0.0) if positive else float(np.abs(Xy).max())
    return top / (n * max(l1_ratio, 1e-3))


def _alpha_grid(alphas, n_alphas, eps, alpha_max):
    """Decreasing penalties: the given ones sorted, or ``n_alphas`` log-spaced from
    ``alpha_max`` down to ``eps * alpha_max``."""
    if alphas is None or isinstance(alphas, numbers.Integral):
        count = n_alphas if n_alphas is not None else (100 if alphas is None else alphas)
        if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
            raise ValueError(f"the number of alphas must be an integer >= 1, got {count!r}")
        if not (isinstance(eps, numbers.Real) and float(eps) > 0):
            raise ValueError(f"eps must be > 0, got {eps!r}")
        tiny = np.finfo(np.float64).resolution
        if alpha_max <= tiny:
            return np.full(int(count), tiny)
        return np.geomspace(alpha_max, alpha_max * eps, num=int(count))
    grid = np.asarray(alphas, dtype=np.float64).ravel()
    if grid.size == 0 or not np.isfinite(grid).all() or (grid < 0).any():
        raise ValueError("alphas must be finite numbers >= 0 (at least one)")
    return np.sort(grid)[::-1]


def _run_path(X, y, alphas, l1_ratio, *, sw, positive, tol, max_iter, gram, pw, coef_init):
    """The path on (already centred) X, y: LassoPathResult (no warning)."""
    total = X.shape[0] if sw is None else float(sw.sum())
    l1s = alphas * l1_ratio * total
    l2s = alphas * (1.0 - l1_ratio) * total
    if (l1s + l2s <= 0).any():  # alpha = 0: least squares, which the path cannot take
        l1s = np.maximum(l1s, np.finfo(np.float64).tiny)
    solver = _l1.LassoSolver(
        X, method="cd", positive=positive, tol=tol, max_iter=max_iter, gram=gram,
        sample_weight=sw, check_finite=False,
    )  # fmt: skip
    with _l1._Quiet():
        return solver.path(y, l1s, l2=l2s, penalty_weights=pw, x0=coef_init, check_finite=False)


def enet_path(
    X,
    y,
    *,
    l1_ratio: float = 0.5,
    eps: float = 1e-3,
    n_alphas: int | None = None,
    alphas=None,
    precompute="auto",
    Xy=None,
    copy_X: bool = True,
    coef_init=None,
    verbose=False,
    return_n_iter: bool = False,
    positive: bool = False,
    check_input: bool = True,
    tol: float = 1e-4,
    max_iter: int = 1000,
    penalty_weights=None,
):
    """Elastic-net path by coordinate descent, with scikit-learn's signature and returns.

    Minimises, for each ``alpha``,
    ``1/(2 n) ||y - X b||^2 + alpha l1_ratio ||b||_1 + alpha (1 - l1_ratio)/2 ||b||^2``
    (no intercept: centre X and y first, as scikit-learn's path does not either), from
    the largest ``alpha`` down, each solve warm-started from the previous one.

    Parameters
    ----------
    X : array_like (n_samples, n_features)
        Dense.
    y : array_like (n_samples,)
        One target (scikit-learn's 2-D ``y`` is the multi-task
        lasso, which is not offered here: run one path per column).
    l1_ratio : float in [0, 1].
    eps : float
        ``alpha_min / alpha_max`` of the automatic grid.
    n_alphas : int, optional
        Number of alphas (scikit-learn < 1.9's name; ``alphas``
        also takes an int).
    alphas : int or array_like, optional
        Number of alphas on the automatic grid
        (default 100), or the alphas themselves (sorted in decreasing order).
    precompute : "auto", True or False
        Coordinate descent on the Gram matrix (True) or
        on the residual (False).
    Xy : array_like (n_features,), optional
        ``X.T @ y``, for the grid's largest alpha.
    copy_X : bool
        Accepted for compatibility: X is never modified.
    coef_init : array_like (n_features,), optional
        Start of the first solve.
    verbose : bool or int
        Print a summary of the path.
    return_n_iter : bool
        Also return the sweeps per alpha.
    positive : bool
        Constrain the coefficients to be >= 0.
    check_input : bool
        Validate X and y (skip only for trusted float arrays).
    tol : float
        Stop each solve when its duality gap is below ``tol`` times its
        objective (relative; see the module notes).
    max_iter : int
        Sweep cap per alpha.
    penalty_weights : array_like (n_features,), optional
        Positive weights of the L1 term
        (``alpha l1_ratio sum_j w_j |b_j|``).

    Returns
    -------
    alphas : ndarray (n_alphas,)
        Decreasing.
    coefs : ndarray (n_features, n_alphas).
    dual_gaps : ndarray (n_alphas,)
        Duality gap at each alpha, in the units of the
        objective above (scikit-learn's).
    n_iters : list of int
        Only with ``return_n_iter``.
    """
    if check_input:
        X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
        y = check_array(y, dtype=X.dtype, ensure_2d=False, input_name="y")
        if y.ndim != 1:
            raise ValueError(
                f"y must be 1-D (n_samples,), got shape {y.shape}: scikit-learn's 2-D y "
                "means the multi-task lasso, which fastrpca does not offer; run one path "
                "per column"
            )
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}")
    _check_params(0.0, l1_ratio, tol, max_iter, precompute)
    pw = _check_penalty_weights(penalty_weights, X.shape[1])
    amax = _alpha_max(X, y, None, l1_ratio, positive, Xy) if not _is_array(alphas) else 0.0
    grid = _alpha_grid(alphas, n_alphas, eps, amax)
    if coef_init is not None:
        coef_init = np.asarray(coef_init, dtype=X.dtype).reshape(X.shape[1])
    res = _run_path(
        X, y, grid, l1_ratio, sw=None, positive=positive, tol=_solver_tol(tol),
        max_iter=max_iter, gram=_gram_choice(precompute, *X.shape), pw=pw,
        coef_init=coef_init,
    )  # fmt: skip
    n = X.shape[0]
    if not res.converged.all():
        warnings.warn(f"enet_path: {res.message}", ConvergenceWarning, stacklevel=2)
    if verbose:
        print(
            f"Path: {grid.size} alphas from {grid[0]:.3g} to {grid[-1]:.3g}, "
            f"{int(res.n_iter.sum())} sweeps, largest relative duality gap "
            f"{np.max(res.dual_gap / np.maximum(res.objective, 1e-300)):.2g}"
        )
    out = (grid, res.x, res.dual_gap / n)
    if return_n_iter:
        return (*out, [int(v) for v in res.n_iter])
    return out


def lasso_path(
    X,
    y,
    *,
    eps: float = 1e-3,
    n_alphas: int | None = None,
    alphas=None,
    precompute="auto",
    Xy=None,
    copy_X: bool = True,
    coef_init=None,
    verbose=False,
    return_n_iter: bool = False,
    positive: bool = False,
    check_input: bool = True,
    tol: float = 1e-4,
    max_iter: int = 1000,
    penalty_weights=None,
):
    """Lasso path by coordinate descent: :func:`enet_path` with ``l1_ratio=1``.

    Minimises ``1/(2 n) ||y - X b||^2 + alpha ||b||_1`` for each ``alpha``; parameters and
    returns as in :func:`enet_path` (scikit-learn's).

    Parameters
    ----------
    X, y, eps, n_alphas, alphas, precompute, Xy, copy_X, coef_init, verbose, \
return_n_iter, positive, check_input, tol, max_iter, penalty_weights
        As in :func:`enet_path`.

    Returns
    -------
    alphas, coefs, dual_gaps[, n_iters]
        As in :func:`enet_path`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrpca.sklearn import lasso_path
    >>> X = np.array([[1, 2, 3.1], [2.3, 5.4, 4.3]]).T
    >>> y = np.array([1, 2, 3.1])
    >>> alphas, coefs, gaps = lasso_path(X, y, alphas=[5.0, 1.0, 0.5])
    >>> coefs.shape
    (2, 3)
    """
    return enet_path(
        X, y, l1_ratio=1.0, eps=eps, n_alphas=n_alphas, alphas=alphas,
        precompute=precompute, Xy=Xy, copy_X=copy_X, coef_init=coef_init, verbose=verbose,
        return_n_iter=return_n_iter, positive=positive, check_input=check_input, tol=tol,
        max_iter=max_iter, penalty_weights=penalty_weights,
    )  # fmt: skip


def _is_array(alphas):
    return alphas is not None and not isinstance(alphas, numbers.Integral)


# ---------------------------------------------------------------- estimators
class ElasticNet(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Linear regression with combined L1 and L2 priors (scikit-learn's ``ElasticNet``).

    Minimises ``1/(2 sum(s)) sum_i s_i (y_i - x_i b - b0)^2 + alpha l1_ratio sum_j w_j |b_j|
    + alpha (1 - l1_ratio)/2 ||b||^2`` (``s`` the sample weights, ``w`` the penalty
    weights, both default 1) by coordinate descent on working sets. A 2-D ``y`` fits
    one independent model per column.

    Parameters
    ----------
    alpha : float >= 0
        Penalty strength (0: least squares).
    l1_ratio : float in [0, 1]
        Share of the L1 term (1: lasso, 0: ridge).
    fit_intercept : bool
        Fit ``b0`` (X and y centred by their weighted means).
    precompute : "auto", True or False
        Coordinate descent on the Gram matrix (True) or on
        the residual (False); "auto" picks by size (the solver for one X is cached and
        reused while X holds the same values).
    max_iter : int
        Sweep cap.
    copy_X : bool
        Accepted for compatibility: X is never modified.
    tol : float
        Stop when the duality gap is below ``tol`` times the objective.
    warm_start : bool
        Start from the previous ``coef_``.
    positive : bool
        Constrain the coefficients to be >= 0.
    penalty_weights : array_like (n_features,), optional
        Positive weights of the L1
        term, one per feature (1 by default).

    Attributes
    ----------
    coef_ : ndarray (n_features,) or (n_targets, n_features).
    intercept_ : float or ndarray (n_targets,).
    n_iter_ : int or list of int
        Sweeps used.
    dual_gap_ : float or ndarray (n_targets,)
        Duality gap at the end, in the objective's
        units.
    n_features_in_ : int.
    feature_names_in_ : ndarray
        When X has string feature names.
    """

    path: Callable[..., Any] = staticmethod(enet_path)
    coef_: np.ndarray
    intercept_: Any
    n_iter_: Any
    dual_gap_: Any

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        l1_ratio: float = 0.5,
        fit_intercept: bool = True,
        precompute="auto",
        max_iter: int = 1000,
        copy_X: bool = True,
        tol: float = 1e-4,
        warm_start: bool = False,
        positive: bool = False,
        penalty_weights=None,
    ):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.precompute = precompute
        self.max_iter = max_iter
        self.copy_X = copy_X
        self.tol = tol
        self.warm_start = warm_start
        self.positive = positive
        self.penalty_weights = penalty_weights

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags

    def fit(self, X, y, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : array_like (n_samples, n_features).
        y : array_like (n_samples,) or (n_samples, n_targets).
        sample_weight : array_like (n_samples,) or float, optional
            Non-negative weights.

        Returns
        -------
        self
        """
        _check_params(self.alpha, self.l1_ratio, self.tol, self.max_iter, self.precompute)
        hit = None
        if sample_weight is None and _plain_xy(X, y) and X.size <= _CENTRED_MAX_SIZE:
            gram = _gram_choice(self.precompute, *X.shape)
            key = (self.fit_intercept, bool(self.positive), self.tol, self.max_iter, gram)
            hit = _centred_lookup(X, key)
        if hit is not None and np.isfinite(np.add.reduce(y, axis=0)).all():
            # X seen before (compared in full: equal values, hence finite): its means and
            # the solver built on it centred are reused
            self.n_features_in_ = X.shape[1]
            self.__dict__.pop("feature_names_in_", None)
            x_mean, solver = hit
            m, n = X.shape
            sw = None
            if self.fit_intercept:
                y_mean = np.add.reduce(y, axis=0) * y.dtype.type(1.0 / m)
                ys = y - y_mean
            else:
                ys, y_mean = y, np.zeros(y.shape[1:], y.dtype)
        else:
            checked = _fast_xy(self, X, y)
            sums = None
            if checked is None:
                X, y = validate_data(
                    self, X, y, dtype=[np.float64, np.float32], multi_output=True, y_numeric=True
                )
                y = y.astype(X.dtype, copy=False)
            else:
                X, y, sums = checked
            m, n = X.shape
            sw = _check_sample_weight(sample_weight, m)
            Xc, yc, x_mean, y_mean = _center(X, y, sw, self.fit_intercept, sums)
            Xs, ys = _scaled(Xc, yc, sw)
            gram = _gram_choice(self.precompute, m, n)
            solver = _solver_for(Xs, self.positive, _solver_tol(self.tol), self.max_iter, gram)
            if sw is None and type(X) is np.ndarray and X.size <= _CENTRED_MAX_SIZE:
                key = (self.fit_intercept, bool(self.positive), self.tol, self.max_iter, gram)
                _centred_store(X, key, x_mean, solver)
        pw = _check_penalty_weights(self.penalty_weights, n)
        total = m if sw is None else float(sw.sum())
        l1 = float(self.alpha * self.l1_ratio * total)
        l2 = float(self.alpha * (1.0 - self.l1_ratio) * total)
        x0 = None
        if self.warm_start and getattr(self, "coef_", None) is not None:
            prev = np.asarray(self.coef_)
            if prev.shape == ((n,) if y.ndim == 1 else (y.shape[1], n)):
                x0 = prev.T
        with _l1._Quiet():
            res = solver._solve(ys, l1, l2, x0, None, None, False, False, pw)
        if not np.all(res.converged):
            warnings.warn(f"{type(self).__name__}: {res.message}", ConvergenceWarning, stacklevel=2)
        coef = np.asarray(res.x).T
        self.coef_ = coef.astype(X.dtype, copy=False)
        self.intercept_ = (
            (y_mean - x_mean @ self.coef_.T)
            if self.fit_intercept
            else (0.0 if y.ndim == 1 else np.zeros(y.shape[1], X.dtype))
        )
        if y.ndim == 1 and self.fit_intercept:
            self.intercept_ = float(self.intercept_)
        if y.ndim == 1:
            self.n_iter_ = int(res.n_iter)
            self.dual_gap_ = float(res.dual_gap) / total
        else:
            self.n_iter_ = [int(v) for v in res.n_iter]
            self.dual_gap_ = np.asarray(res.dual_gap) / total
        return self

    def predict(self, X):
        """Predict ``X @ coef_.T + intercept_``.

        Parameters
        ----------
        X : array_like (n_samples, n_features).

        Returns
        -------
        ndarray (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self, "coef_")
        checked = _fast_x(self, X)
        if checked is None:
            checked = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return checked @ self.coef_.T + self.intercept_


class Lasso(ElasticNet):
    """Linear regression with an L1 prior (scikit-learn's ``Lasso``).

    Minimises ``1/(2 sum(s)) sum_i s_i (y_i - x_i b - b0)^2 + alpha sum_j w_j |b_j|``.
    Parameters and attributes as in :class:`ElasticNet` (without ``l1_ratio``).

    Parameters
    ----------
    alpha : float >= 0
        Penalty strength.
    fit_intercept, precompute, max_iter, copy_X, tol, warm_start, positive, \
penalty_weights
        As in :class:`ElasticNet`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrpca.sklearn import Lasso
    >>> X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    >>> reg = Lasso(alpha=0.1).fit(X, [0, 1, 2])
    >>> np.round(reg.coef_, 2), round(reg.intercept_, 2)
    (array([0.85, 0.  ]), 0.15)
    """

    path = staticmethod(lasso_path)

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        fit_intercept: bool = True,
        precompute="auto",
        max_iter: int = 1000,
        copy_X: bool = True,
        tol: float = 1e-4,
        warm_start: bool = False,
        positive: bool = False,
        penalty_weights=None,
    ):
        super().__init__(
            alpha=alpha, l1_ratio=1.0, fit_intercept=fit_intercept, precompute=precompute,
            max_iter=max_iter, copy_X=copy_X, tol=tol, warm_start=warm_start,
            positive=positive, penalty_weights=penalty_weights,
        )  # fmt: skip


# ---------------------------------------------------------------- cross-validation
class ElasticNetCV(RegressorMixin, BaseEstimator):
    """Elastic net with the penalty chosen by cross-validation (scikit-learn's
    ``ElasticNetCV``).

    For each ``l1_ratio`` and fold, the whole path of alphas is solved on the training
    part (one compiled coordinate-descent loop, warm starts) and scored by the (weighted)
    mean squared error on the held-out part; the alpha and l1_ratio with the lowest mean
    error over the folds are refitted on all the data.

    Parameters
    ----------
    l1_ratio : float or list of float in [0, 1].
    eps : float
        ``alpha_min / alpha_max`` of the automatic grid.
    alphas : int or array_like
        Number of alphas on the automatic grid, or the alphas.
    fit_intercept : bool.
    precompute : "auto", True or False.
    max_iter : int
        Sweep cap per alpha.
    tol : float
        Relative duality-gap tolerance of every solve.
    cv : int, cross-validation generator or iterable, optional
        As scikit-learn's
        (default 5-fold).
    copy_X : bool
        Accepted for compatibility: X is never modified.
    verbose : bool or int
        Print one line per fold.
    n_jobs : int, optional
        Threads for the folds (the solvers release the GIL); -1: all
        cores.
    positive : bool.
    penalty_weights : array_like (n_features,), optional.

    Attributes
    ----------
    alpha_, l1_ratio_ : float
        The chosen penalty.
    coef_, intercept_, n_iter_, dual_gap_ : the refitted model's.
    alphas_ : ndarray (n_alphas,) or (n_l1_ratio, n_alphas).
    mse_path_ : ndarray (n_alphas, n_folds) or (n_l1_ratio, n_alphas, n_folds).
    n_features_in_, feature_names_in_.
    """

    path: Callable[..., Any] = staticmethod(enet_path)
    _estimator: type[ElasticNet] = ElasticNet
    coef_: np.ndarray
    intercept_: Any
    n_iter_: Any
    dual_gap_: Any

    def __init__(
        self,
        *,
        l1_ratio=0.5,
        eps: float = 1e-3,
        alphas=100,
        fit_intercept: bool = True,
        precompute="auto",
        max_iter: int = 1000,
        tol: float = 1e-4,
        cv=None,
        copy_X: bool = True,
        verbose=0,
        n_jobs: int | None = None,
        positive: bool = False,
        penalty_weights=None,
    ):
        self.l1_ratio = l1_ratio
        self.eps = eps
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.precompute = precompute
        self.max_iter = max_iter
        self.tol = tol
        self.cv = cv
        self.copy_X = copy_X
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.positive = positive
        self.penalty_weights = penalty_weights

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags

    def _l1_ratios(self):
        return np.atleast_1d(np.asarray(self.l1_ratio, dtype=np.float64))

    def fit(self, X, y, sample_weight=None):
        """Choose the penalty by cross-validation, then fit on all the data.

        Parameters
        ----------
        X : array_like (n_samples, n_features).
        y : array_like (n_samples,).
        sample_weight : array_like (n_samples,) or float, optional.

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], y_numeric=True)
        y = y.astype(X.dtype, copy=False)
        ratios = self._l1_ratios()
        for r in ratios:
            _check_params(0.0, float(r), self.tol, self.max_iter, self.precompute)
        m, n = X.shape
        sw = _check_sample_weight(sample_weight, m)
        pw = _check_penalty_weights(self.penalty_weights, n)
        Xc, yc, _, _ = _center(X, y, sw, self.fit_intercept)
        grids = [
            _alpha_grid(
                self.alphas,
                None,
                self.eps,
                0.0 if _is_array(self.alphas) else _alpha_max(Xc, yc, sw, r, self.positive),
            )
            for r in ratios
        ]
        folds = list(check_cv(self.cv).split(X, y))
        tol = _solver_tol(self.tol)
        jobs = [(i, f) for i in range(len(ratios)) for f in range(len(folds))]

        def score(job):
            i, f = job
            train, test = folds[f]
            swt = None if sw is None else sw[train]
            Xt, yt, xm, ym = _center(X[train], y[train], swt, self.fit_intercept)
            res = _run_path(
                Xt, yt, grids[i], float(ratios[i]), sw=swt, positive=self.positive,
                tol=tol, max_iter=self.max_iter, gram=_gram_choice(self.precompute, *Xt.shape),
                pw=pw, coef_init=None,
            )  # fmt: skip
            coefs = res.x  # (n, n_alphas)
            pred = X[test] @ coefs + (ym - xm @ coefs)
            err = (y[test][:, None] - pred) ** 2
            mse = np.average(err, axis=0, weights=None if sw is None else sw[test])
            if self.verbose:
                print(f"l1_ratio {ratios[i]:g}, fold {f + 1}/{len(folds)}: {res.message}")
            return mse, res.converged.all(), res.message

        threads = self.n_jobs if self.n_jobs is not None else 1
        threads = (os.cpu_count() or 1) if threads < 0 else max(int(threads), 1)
        if threads > 1 and len(jobs) > 1:
            with ThreadPoolExecutor(max_workers=min(threads, len(jobs))) as pool:
                scored = list(pool.map(score, jobs))
        else:
            scored = [score(job) for job in jobs]
        bad = [msg for _, ok, msg in scored if not ok]
        if bad:
            warnings.warn(
                f"{type(self).__name__}: {len(bad)} of {len(jobs)} fold paths did not "
                f"converge ({bad[0]})",
                ConvergenceWarning,
                stacklevel=2,
            )
        mse = np.array([s[0] for s in scored]).reshape(len(ratios), len(folds), -1)
        mse = np.moveaxis(mse, 2, 1)  # (n_l1_ratio, n_alphas, n_folds)
        mean = mse.mean(axis=2)
        i, j = np.unravel_index(np.argmin(mean), mean.shape)
        self.l1_ratio_ = float(ratios[i])
        self.alpha_ = float(grids[i][j])
        single = np.ndim(self.l1_ratio) == 0
        self.mse_path_ = mse[0] if single else mse
        self.alphas_ = grids[0] if single else np.array(grids)
        model = self._estimator(alpha=self.alpha_, **self._refit_params())
        model.fit(X, y, sample_weight=sample_weight)
        self.coef_ = model.coef_
        self.intercept_ = model.intercept_
        self.n_iter_ = model.n_iter_
        self.dual_gap_ = model.dual_gap_
        return self

    def _refit_params(self):
        return dict(
            l1_ratio=self.l1_ratio_, fit_intercept=self.fit_intercept,
            precompute=self.precompute, max_iter=self.max_iter, tol=self.tol,
            positive=self.positive, penalty_weights=self.penalty_weights,
        )  # fmt: skip

    def predict(self, X):
        """Predict with the refitted model.

        Parameters
        ----------
        X : array_like (n_samples, n_features).

        Returns
        -------
        ndarray (n_samples,)
        """
        check_is_fitted(self, "coef_")
        checked = _fast_x(self, X)
        if checked is None:
            checked = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return checked @ self.coef_ + self.intercept_


class LassoCV(ElasticNetCV):
    """Lasso with ``alpha`` chosen by cross-validation (scikit-learn's ``LassoCV``).

    Parameters
    ----------
    eps, alphas, fit_intercept, precompute, max_iter, tol, cv, copy_X, verbose, n_jobs, \
positive, penalty_weights
        As in :class:`ElasticNetCV`.

    Attributes
    ----------
    alpha_, coef_, intercept_, n_iter_, dual_gap_, alphas_ (n_alphas,), \
mse_path_ (n_alphas, n_folds), n_features_in_
    """

    path = staticmethod(lasso_path)
    _estimator = Lasso

    def __init__(
        self,
        *,
        eps: float = 1e-3,
        alphas=100,
        fit_intercept: bool = True,
        precompute="auto",
        max_iter: int = 1000,
        tol: float = 1e-4,
        cv=None,
        copy_X: bool = True,
        verbose=0,
        n_jobs: int | None = None,
        positive: bool = False,
        penalty_weights=None,
    ):
        super().__init__(
            l1_ratio=1.0, eps=eps, alphas=alphas, fit_intercept=fit_intercept,
            precompute=precompute, max_iter=max_iter, tol=tol, cv=cv, copy_X=copy_X,
            verbose=verbose, n_jobs=n_jobs, positive=positive,
            penalty_weights=penalty_weights,
        )  # fmt: skip

    def _l1_ratios(self):
        return np.ones(1)

    def _refit_params(self):
        params = super()._refit_params()
        del params["l1_ratio"]
        return params


# ---------------------------------------------------------------- Robust PCA
class RobustPCA(TransformerMixin, BaseEstimator):
    """Robust PCA as a transformer: low-rank structure shared by the rows, sparse
    anomalies apart (Candes, Li, Ma & Wright 2011; solved by :func:`fastrpca.rpca`).

    ``fit`` splits the training matrix ``X`` (rows are samples: frames, signals) into
    low-rank ``L`` plus sparse ``S`` and keeps the row space of ``L``
    (``components_``). For any row ``z``, :meth:`transform` solves the per-sample
    problem ``min_c,e 1/2 ||z - c V - e||^2 + t ||e||_1`` (Feng, Xu & Yan 2013; ``V`` the
    components, ``t`` = ``threshold_``), refits ``c`` by least squares on the entries
    it did not flag (no shrinkage bias; as :class:`fastrpca.StreamingRPCA` does), and
    returns the low-rank part ``c V``; :meth:`anomaly_score` is the RMS of what lies
    beyond ``t`` of it. Every row is solved on its own, so results do not depend on which
    other rows are passed with it.

    Parameters
    ----------
    lam : float, optional
        Weight of ``||S||_1`` in the fit (default
        ``1 / sqrt(max(n_samples, n_features))``).
    tol : float, optional
        Relative residual tolerance of the fit (:func:`rpca`'s).
    max_iter : int
        Iteration cap of the fit.
    svd : {"auto", "full", "partial", "randomized"}
        :func:`rpca`'s SVD engine.
    threshold : float, optional
        ``t`` of :meth:`transform`, in the data's units: entries
        off the low-rank part by more than this are sparse. Default: five robust (MAD)
        noise sigmas of the fit's residual ``X - L``, at least 1 % of the data's range.
    transform_max_iter : int
        Iteration cap of the per-row problem.
    random_state : None, int or Generator
        Seeds the randomized SVD (None means seed 0).

    Attributes
    ----------
    components_ : ndarray (``n_components_``, n_features). Orthonormal rows spanning the
        low-rank part's row space.
    singular_values_ : ndarray (``n_components_``,). Of the fitted low-rank part.
    n_components_ : int
        Its rank.
    threshold_ : float
        The ``t`` in use.
    lam_ : float
        The sparsity weight used by the fit.
    n_iter_ : int
        Iterations of the fit.
    n_features_in_, feature_names_in_.
    """

    components_: np.ndarray
    threshold_: float

    def __init__(
        self,
        lam: float | None = None,
        *,
        tol: float | None = None,
        max_iter: int = 1000,
        svd: str = "auto",
        threshold: float | None = None,
        transform_max_iter: int = 200,
        random_state=None,
    ):
        self.lam = lam
        self.tol = tol
        self.max_iter = max_iter
        self.svd = svd
        self.threshold = threshold
        self.transform_max_iter = transform_max_iter
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def fit(self, X, y=None):
        """Decompose X and keep the low-rank row space.

        Parameters
        ----------
        X : array_like (n_samples, n_features).
        y : ignored.

        Returns
        -------
        self
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        if self.threshold is not None and not (
            isinstance(self.threshold, numbers.Real) and self.threshold > 0
        ):
            raise ValueError(f"threshold must be > 0, got {self.threshold!r}")
        if (
            isinstance(self.transform_max_iter, bool)
            or not isinstance(self.transform_max_iter, numbers.Integral)
            or self.transform_max_iter < 1
        ):
            raise ValueError(
                f"transform_max_iter must be an integer >= 1, got {self.transform_max_iter!r}"
            )
        lam = default_lambda(X.shape) if self.lam is None else self.lam
        with _l1._Quiet(), warnings.catch_warnings():
            warnings.simplefilter("ignore", _FastConvergenceWarning)
            res = rpca(
                X, lam, tol=self.tol, max_iter=self.max_iter, svd=self.svd,
                random_state=self.random_state,
            )  # fmt: skip
        if not res.converged:
            warnings.warn(f"RobustPCA: {res.message}", ConvergenceWarning, stacklevel=2)
        _, s, Vt = np.linalg.svd(res.L, full_matrices=False)
        keep = s > max(s[0] if s.size else 0.0, 0.0) * max(X.shape) * np.finfo(X.dtype).eps
        rank = int(keep.sum())
        self.components_ = np.ascontiguousarray(Vt[:rank])
        self.singular_values_ = s[:rank]
        self.n_components_ = rank
        self.lam_ = float(lam)
        self.n_iter_ = max(int(res.n_iter), 1)
        if self.threshold is not None:
            self.threshold_ = float(self.threshold)
        else:  # 5 robust noise sigmas of the residual, at least 1 % of the data's range
            resid = (X - res.L).ravel()
            sigma = MAD_TO_SIGMA * float(np.median(np.abs(resid - np.median(resid))))
            floor = np.finfo(X.dtype).eps * max(float(np.abs(X).max()), 1.0)
            self.threshold_ = max(5.0 * sigma, 0.01 * float(X.max() - X.min()), floor)
        return self

    def _split(self, X):
        """Per-row low-rank and sparse parts of X (each row to its own convergence)."""
        check_is_fitted(self, "components_")
        checked = _fast_x(self, X)
        if checked is None:
            checked = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        Z = checked
        V = self.components_.astype(Z.dtype, copy=False)
        t = self.threshold_
        C = Z @ V.T
        E = np.zeros_like(Z)
        active = np.arange(Z.shape[0])
        scale = np.maximum(np.linalg.norm(Z, axis=1), np.finfo(Z.dtype).tiny)
        step_tol = 1e-6 if Z.dtype == np.float32 else 1e-10
        for _ in range(self.transform_max_iter):
            if active.size == 0:
                break
            Za = Z[active]
            R = Za - C[active] @ V
            Ea = np.sign(R) * np.maximum(np.abs(R) - t, 0.0)
            Cn = (Za - Ea) @ V.T
            moved = np.linalg.norm(Cn - C[active], axis=1) + np.linalg.norm(Ea - E[active], axis=1)
            C[active] = Cn
            E[active] = Ea
            active = active[moved > step_tol * scale[active]]
        # refit by least squares on each row's entries within the threshold (the soft
        # threshold biases c by up to t per flagged entry); rows with too few kept
        # entries to determine c keep the thresholded solution
        keep = (E == 0).astype(Z.dtype)
        if V.shape[0] and not keep.all():
            rows = np.flatnonzero(~keep.astype(bool).all(axis=1))
            Gk = np.einsum("kp,np,lp->nkl", V, keep[rows], V)
            bk = np.einsum("kp,np->nk", V, keep[rows] * Z[rows])
            ok = np.linalg.matrix_rank(Gk) == V.shape[0]
            if ok.any():
                C[rows[ok]] = np.linalg.solve(Gk[ok], bk[ok][..., None])[..., 0]
        return C @ V, Z - C @ V

    def transform(self, X):
        """The low-rank part of each row.

        Parameters
        ----------
        X : array_like (n_samples, n_features).

        Returns
        -------
        ndarray (n_samples, n_features), X's dtype.
        """
        return self._split(X)[0]

    def anomaly_score(self, X):
        """RMS of each row's part off the low-rank row space beyond ``threshold_``.

        The part is ``z - c V`` of :meth:`transform`'s problem, soft-thresholded by
        ``threshold_`` (0 for a row that fits the low-rank structure up to the
        threshold); the score is its root mean square, in the data's units.

        Parameters
        ----------
        X : array_like (n_samples, n_features).

        Returns
        -------
        ndarray (n_samples,), >= 0. Larger is more anomalous.
        """
        _, rest = self._split(X)
        sparse = np.sign(rest) * np.maximum(np.abs(rest) - self.threshold_, 0.0)
        return np.sqrt(np.mean(sparse * sparse, axis=1))

    def score_samples(self, X):
        """``-anomaly_score(X)``: scikit-learn's convention (larger is more normal).

        Parameters
        ----------
        X : array_like (n_samples, n_features).

        Returns
        -------
        ndarray (n_samples,)
        """
        return -self.anomaly_score(X)
