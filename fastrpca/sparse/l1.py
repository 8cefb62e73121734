r"""Lasso and elastic net: coordinate descent, (F)ISTA and ADMM behind one reusable solver.

All solvers minimise, per column ``y`` of the right-hand side,

.. math:: \tfrac12\sum_i s_i |(Ax - y)_i|^2 + \lambda_1\sum_j w_j |x_j|
          + \tfrac{\lambda_2}{2}\|x\|_2^2

with *unscaled* penalties (scikit-learn divides the data term by ``n_samples``; see
:func:`lam_from_sklearn`), optional sample weights ``s`` (``sample_weight``, default 1)
and per-feature penalty weights ``w`` (``penalty_weights``, default 1). ``A`` and ``y``
may be complex (coordinate descent, FISTA, ISTA): ``|x_j|`` is then the modulus and the
proximal step the modulus soft threshold. Every iterative method stops on one rule: the
duality gap is at most ``tol`` times the objective, which certifies a relative objective
error below ``tol / (1 - tol)``. When ``A`` or ``y`` is far from 1 (squares in the gap
would over- or underflow) the problem is solved scaled by powers of two, exactly, and
``x``, the objective and the gap are scaled back: any finite data works.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import numpy as np
import scipy.linalg

from .._core.concurrency import InUseError, shared_pool
from .._core.result import Result, stop_requested, warn_not_converged
from .._core.validation import (
    as_array,
    check_all_finite,
    check_out,
    finish_out,
    ldexp,
    real_dtype,
    scale_exponent,
)
from .._core.validation import positive as _positive
from ._kernels import lasso as _k
from .penalty import _check_rows_shape

__all__ = ["lasso", "elastic_net", "LassoSolver", "LassoResult", "LassoPathResult", "clear_cache"]

METHODS = ("auto", "cd", "fista", "ista", "admm")
DEFAULT_TOL = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 1e-4}
DEFAULT_MAX_ITER = {"cd": 1000, "fista": 20000, "ista": 100000, "admm": 20000}
#: (F)ISTA and ADMM evaluate the duality gap every CHECK_EVERY iterations.
CHECK_EVERY = 10
#: With ``history=True`` the first signal runs this many gap checks per kernel call.
HISTORY_CHUNK = 1024
#: The Gram form of coordinate descent keeps A^T A (n x n); never above this n.
GRAM_MAX_FEATURES = 4096
#: :func:`lasso` also takes the Gram form when forming A^T A costs at most this many
#: multiply-adds (m n^2; a few hundred microseconds, repaid by the cached solver from the
#: second call on: 64 x 256 and 128 x 256 dictionaries qualify, 64 x 512 does not).
GRAM_AUTO_FLOPS = 2**23


# ---------------------------------------------------------------- results
class LassoResult(Result):
    """Solution of :func:`lasso` / :func:`elastic_net` / :meth:`LassoSolver.solve`.

    Attributes
    ----------
    x : ndarray (n,) or (n, k)
        Coefficients (one column per signal).
    n_iter : int or ndarray (k,)
        Iterations (coordinate-descent sweeps, counting the
        cheap active-set sweeps, or (F)ISTA / ADMM iterations).
    converged : bool or ndarray (k,)
        Duality gap <= tol * objective.
    objective : float or ndarray (k,)
        Primal objective at ``x``.
    dual_gap : float or ndarray (k,)
        Duality gap at ``x`` (absolute).
    message : str
        Why the solver stopped.
    method : str
        The method used (``"auto"`` resolved).
    history : dict of ndarrays
        ``{"n_iter": ..., "dual_gap": ...}`` at each gap check
        (first signal) when requested with ``history=True``, else empty.
    """

    x: np.ndarray
    objective: float | np.ndarray
    dual_gap: float | np.ndarray
    method: str


class LassoPathResult(Result):
    """Solutions of :meth:`LassoSolver.path` along a sequence of penalties.

    Attributes
    ----------
    x : ndarray (n, p)
        Coefficients, one column per penalty (in the order given).
    lam, l2 : ndarray (p,)
        The penalties.
    n_iter : ndarray (p,)
        Coordinate-descent sweeps spent at each penalty.
    converged : ndarray (p,) of bool
        Duality gap <= tol * objective at each penalty.
    objective, dual_gap : ndarray (p,)
        Primal objective and duality gap (absolute).
    message : str
        Why the solver stopped.
    method : str
        ``"cd"`` or ``"cd (gram)"``.
    history : dict of ndarrays
        Empty (per-penalty figures are fields of their own).
    """

    x: np.ndarray
    lam: np.ndarray
    l2: np.ndarray
    objective: np.ndarray
    dual_gap: np.ndarray
    method: str


class _Scratch:
    """Per-thread work vectors of one solver (allocated once, reused)."""

    def __init__(self, m, n, dtype):
        e = lambda size: np.zeros(size, dtype=dtype)  # noqa: E731
        self.r, self.w, self.w2 = e(m), e(m), e(m)
        self.q, self.z, self.xold, self.xs, self.u, self.c, self.v = (e(n) for _ in range(7))
        self.score = self.v if dtype.kind == "f" else np.zeros(n, dtype=real_dtype(dtype))
        self.idx = np.zeros(n, dtype=np.int64)
        self.work = np.zeros((_k.ANDERSON_K + 3, max(m, n)), dtype=dtype)
        self.tstate = np.ones(1, dtype=np.float64)
        self.hist0 = np.zeros((0, 2), dtype=np.float64)


# ---------------------------------------------------------------- the workspace
class LassoSolver:
    """Reusable lasso / elastic-net workspace for one dictionary ``A``.

    Holds ``A^T`` (C order), column norms, and lazily the Lipschitz constant, the Gram
    matrix and ADMM factorisations, plus work buffers: repeated :meth:`solve` calls with
    ``out=`` allocate no arrays (real-time loops).

    Parameters
    ----------
    A : array_like (m, n), real or complex
        The dictionary; copied (later changes to the
        caller's array are not seen).
    method : {"auto", "cd", "fista", "ista", "admm"}
        ``"auto"`` picks coordinate
        descent, in Gram form (A^H A kept) when n <= 2048 or m >= n, else residual form.
        Complex ``A``: coordinate descent, FISTA or ISTA.
    positive : bool
        Constrain ``x >= 0`` (real ``A`` only).
    tol : float, optional
        Relative duality-gap tolerance (default 1e-6 for float64,
        1e-4 for float32).
    max_iter : int, optional
        Iteration cap (per signal).
    rho : float, optional
        ADMM penalty (default: a spectrum-based choice).
    gram : bool, optional
        Force the Gram form of coordinate descent on or off.
    n_jobs : int, optional
        Threads for batches (default: all cores for large batches).
    check_finite : bool
        Reject NaN / Inf in ``A``.
    sample_weight : array_like (m,), optional
        Non-negative weights ``s`` of the rows: the
        data term becomes ``1/2 sum_i s_i |(Ax - y)_i|^2``. Applied once here (the rows
        of the solver's copy of ``A`` are scaled by ``sqrt(s)``, and each ``y`` on the
        way in), so weighted solves cost what unweighted ones do.

    Notes
    -----
    Threads: a solver may be shared. Its work buffers serve one :meth:`solve` at a time,
    so concurrent calls from several threads wait for each other (a lock) and each gets
    its own right answer; for parallel solves give each thread its own solver (or pass
    a batch ``y`` with ``n_jobs``).
    """

    def __init__(
        self,
        A,
        *,
        method: str = "auto",
        positive: bool = False,
        tol: float | None = None,
        max_iter: int | None = None,
        rho: float | None = None,
        gram: bool | None = None,
        n_jobs: int | None = None,
        check_finite: bool = True,
        sample_weight=None,
    ):
        A = as_array(A, "A", ndim=2, min_size=0, check_finite=check_finite)
        if A.size == 0:
            raise ValueError(f"A has shape {A.shape}; it needs at least one row and one column")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        self.complex = A.dtype.kind == "c"
        if self.complex and method == "admm":
            raise ValueError(
                "method='admm' takes real data; for complex A use method='cd' (the "
                "default), 'fista' or 'ista'"
            )
        if self.complex and positive:
            raise ValueError("positive=True needs real data; A is complex")
        # A far from 1 is kept scaled by 2**-ea (exactly); each solve scales back
        self._ea = scale_exponent(float(np.abs(A).max()), A.dtype)
        if self._ea:
            A = ldexp(A, -self._ea)
        self.dtype = A.dtype
        self.shape = A.shape
        self.At = np.array(A.T, order="C", copy=True)
        self._sqrt_sw = None
        if sample_weight is not None:
            sw = _check_sample_weight(sample_weight, A.shape[0])
            self._sqrt_sw = np.sqrt(sw).astype(real_dtype(self.dtype))
            self.At *= self._sqrt_sw
        self.nrm2 = np.einsum("ij,ij->i", self.At, self.At.conj()).real
        self._has_zero_col = not self.nrm2.all()
        with np.errstate(divide="ignore"):
            self.inrm = np.where(self.nrm2 > 0, 1 / np.sqrt(self.nrm2), 0).astype(
                real_dtype(self.dtype)
            )
        self.method = method
        self.positive = bool(positive)
        self.tol = DEFAULT_TOL[real_dtype(self.dtype)] if tol is None else _positive(tol, "tol")
        self.max_iter = None if max_iter is None else _positive(max_iter, "max_iter", integer=True)
        self.rho = None if rho is None else _positive(rho, "rho")
        if self.rho is not None and self._ea:
            self.rho = float(np.ldexp(self.rho, -2 * self._ea))  # rho scales as A^2
        m, n = A.shape
        self.gram = (n <= 2048 or m >= n) and n <= GRAM_MAX_FEATURES if gram is None else bool(gram)
        self.n_jobs = n_jobs
        self._G: np.ndarray | None = None
        self._Ac: np.ndarray | None = None
        self._lip: float | None = None
        self._factors: dict = {}
        self._scratch: list[_Scratch] = []
        self._stats = np.zeros((1, 4))
        self._Yt = np.zeros((1, m), dtype=self.dtype)
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._pw = np.ones(n)
        self._ipw = np.ones(n)

    # -- lazily built, cached pieces
    @property
    def G(self) -> np.ndarray:
        """The Gram matrix A^H A (built on first use)."""
        if self._G is None:
            self._G = np.ascontiguousarray(self.At.conj() @ self.At.T)
        return self._G

    @property
    def Ac(self) -> np.ndarray:
        """A in row-major order (built on first use; the Gram form reads it to form
        A^T y, and :func:`lasso` compares C-ordered dictionaries against it)."""
        if self._Ac is None:
            self._Ac = np.ascontiguousarray(self.At.T)
        return self._Ac

    @property
    def lipschitz(self) -> float:
        """Largest eigenvalue of A^T A (the step of (F)ISTA is 1 / (this + l2))."""
        if self._lip is None:
            m, n = self.shape
            if min(m, n) <= 1024:
                At, Ah = self.At, self.At.conj()
                small = Ah @ At.T if n <= m else At.T @ Ah
                lip = float(
                    scipy.linalg.eigvalsh(
                        small.astype(np.result_type(small.dtype, np.float64)),
                        subset_by_index=[min(m, n) - 1] * 2,
                    )[0]
                )
            else:
                import scipy.sparse.linalg as spla

                lip = (
                    float(
                        spla.svds(
                            self.At.astype(np.result_type(self.dtype, np.float64)),
                            k=1,
                            tol=1e-8,
                            return_singular_vectors=False,
                            random_state=0,
                        )[0]
                    )
                    ** 2
                )
            self._lip = lip * (1 + 1e-6) + np.finfo(np.float64).tiny
        return self._lip

    def _rho(self, l1):
        if self.rho is not None:
            return self.rho
        return max(l1, 1e-3 * self.lipschitz) if l1 > 0 else 0.1 * self.lipschitz

    def _factor(self, cc):
        key = float(cc)
        if key not in self._factors:
            m, n = self.shape
            wood = m < n
            M = self.At.T @ self.At if wood else self.At @ self.At.T
            M = M.astype(np.float64)
            M[np.diag_indices_from(M)] += cc
            Lf = np.ascontiguousarray(np.linalg.cholesky(M).astype(self.dtype))
            if len(self._factors) >= 4:
                self._factors.pop(next(iter(self._factors)))
            self._factors[key] = (Lf, wood)
        return self._factors[key]

    def _scratches(self, count):
        m, n = self.shape
        while len(self._scratch) < count:
            self._scratch.append(_Scratch(m, n, self.dtype))
        return self._scratch[:count]

    def _buffers(self, k):
        if self._stats.shape[0] < k:
            m, n = self.shape
            self._stats = np.zeros((k, 4))
            self._Yt = np.zeros((k, m), dtype=self.dtype)
        return self._stats[:k]

    def _penalty_weights(self, weights):
        """Validated penalty weights and their inverses, in the solver's buffers."""
        n = self.shape[1]
        w = as_array(weights, "penalty_weights", ndim=1, allow_complex=False, min_size=0)
        if w.shape != (n,):
            raise ValueError(
                f"penalty_weights has shape {w.shape}; it needs one weight per column of "
                f"A, shape ({n},)"
            )
        if not (w > 0).all():
            raise ValueError(
                f"penalty_weights must be > 0 (got minimum {w.min():g}); features with a "
                "zero weight (unpenalised) are not supported: give them a small positive "
                "weight, or leave the column out"
            )
        np.copyto(self._pw, w)
        np.divide(1.0, self._pw, out=self._ipw)
        return self._pw, self._ipw

    def resolve_method(self, k: int = 1) -> tuple[str, bool]:
        """The method and (for ``"cd"``) whether the Gram form is used, for k signals.

        Parameters
        ----------
        k : int
            Number of signals solved together. The choice does not depend on it at
            present: ``"auto"`` is coordinate descent, in the form fixed at construction.

        Returns
        -------
        method : str
            ``"cd"``, ``"fista"``, ``"ista"`` or ``"admm"``.
        gram : bool
            Whether coordinate descent works on the Gram matrix ``A^T A``.
        """
        if self.method in ("auto", "cd"):
            return "cd", self.gram
        return self.method, False

    # -- the solve
    def solve(
        self,
        y,
        lam: float,
        *,
        l2: float = 0.0,
        penalty_weights=None,
        x0=None,
        out: np.ndarray | None = None,
        callback: Callable | None = None,
        history: bool = False,
        check_finite: bool = True,
    ) -> LassoResult:
        """Solve ``min 1/2||Ax - y||^2 + lam sum_j w_j |x_j| + l2/2 ||x||^2`` for each
        column of y.

        Parameters
        ----------
        y : array_like (m,) or (m, k)
            One signal, or k signals as columns (complex
            when ``A`` is).
        lam : float >= 0
            L1 weight (unscaled).
        l2 : float >= 0
            L2 weight (elastic net).
        penalty_weights : array_like (n,), optional
            Positive weights ``w`` of the L1
            term, one per feature (default: all 1).
        x0 : array_like (n,) or (n, k), optional
            Warm start (copied; may be ``out``).
        out : ndarray, optional
            Where to write x: (n,) C-contiguous, or (n, k)
            F-contiguous, of the solver's dtype. With ``out`` no arrays are allocated.
        callback : callable, optional
            ``callback(info)`` after each gap check (single
            signal only; ``info`` has ``n_iter``, ``objective``, ``dual_gap`` and the
            iterate ``x``); return True to stop.
        history : bool
            Record the duality gap at each check in ``result.history``.
        check_finite : bool
            Reject NaN / Inf in ``y`` and ``x0``.

        Returns
        -------
        LassoResult
        """
        y = _as_rhs(y, check_finite, self.complex)
        me = threading.get_ident()
        if self._owner == me:
            raise InUseError(
                "LassoSolver.solve was called from a callback of its own running solve; "
                "use another LassoSolver there"
            )
        with self._lock:  # the work buffers serve one solve at a time
            self._owner = me
            try:
                return self._solve_checked_out(
                    y, lam, l2, x0, out, callback, history, check_finite, penalty_weights
                )
            finally:
                self._owner = None

    def __getstate__(self) -> dict:  # a copy or a pickle gets a lock of its own
        state = dict(self.__dict__)
        del state["_lock"], state["_owner"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._owner = None

    def _solve_checked_out(
        self, y, lam, l2, x0, out, callback, history, check_finite, penalty_weights=None
    ):
        """:meth:`solve` for a validated ``y``, ``out`` checked (see ``check_out``)."""
        if out is None:
            return self._solve(
                y, lam, l2, x0, None, callback, history, check_finite, penalty_weights
            )
        _check_rows_shape(self.shape, y)
        n = self.shape[1]
        work, out = check_out(
            out,
            (n,) if y.ndim == 1 else (n, y.shape[1]),
            self.dtype,
            inputs=(y,),
            order="C" if y.ndim == 1 else "F",
        )
        result = self._solve(y, lam, l2, x0, work, callback, history, check_finite, penalty_weights)
        if work is not out:  # out overlaps y, or has non-native byte order
            result.x = finish_out(work, out)
        return result

    def _solve(
        self, y, lam, l2, x0, out, callback, history, check_finite, penalty_weights=None
    ) -> LassoResult:
        """:meth:`solve` for a validated ``y``: in a rescaled problem when A or y is far
        from 1 (their squares would over- or underflow in the duality gap)."""
        ey = _exponent_of(y)
        if self._ea or ey:
            return self._solve_rescaled(
                ey, y, lam, l2, x0, out, callback, history, check_finite, penalty_weights
            )
        return self._solve_native(
            y, lam, l2, x0, out, callback, history, check_finite, penalty_weights
        )

    def _solve_rescaled(
        self, ey, y, lam, l2, x0, out, callback, history, check_finite, penalty_weights
    ):
        """Solve for ``A 2**-ea``, ``y 2**-ey`` (exact scalings), where the solution is
        ``x 2**(ea - ey)`` with ``lam 2**-(ea + ey)`` and ``l2 2**-2ea``; scale back."""
        ea = self._ea
        lam = float(np.ldexp(_nonneg(lam, "lam"), -(ea + ey)))
        l2 = float(np.ldexp(_nonneg(l2, "l2"), -2 * ea))
        to_caller = ey - ea  # x = x_scaled * 2**to_caller
        if x0 is not None:
            if x0 is out:
                ldexp(out, -to_caller, out=out)
            else:
                x0 = as_array(
                    x0, "x0", ndim=(1, 2), allow_complex=self.complex, check_finite=check_finite
                )
                x0 = ldexp(x0, -to_caller)
        if callback is not None:
            user = callback

            def callback(info):
                return user(
                    Result(
                        n_iter=info.n_iter,
                        objective=_ldexp_value(info.objective, 2 * ey),
                        dual_gap=_ldexp_value(info.dual_gap, 2 * ey),
                        x=ldexp(info.x, to_caller),
                    )
                )

        res = self._solve_native(
            ldexp(y, -ey) if ey else y,
            lam,
            l2,
            x0,
            out,
            callback,
            history,
            check_finite,
            penalty_weights,
        )
        res.x = ldexp(res.x, to_caller, out=res.x if out is not None else None)
        res.objective = _ldexp_value(res.objective, 2 * ey)
        res.dual_gap = _ldexp_value(res.dual_gap, 2 * ey)
        if "dual_gap" in res.history:
            res.history["dual_gap"] = _ldexp_value(res.history["dual_gap"], 2 * ey)
        return res

    def _solve_native(
        self, y, lam, l2, x0, out, callback, history, check_finite, penalty_weights=None
    ) -> LassoResult:
        """:meth:`_solve` on the solver's own scale."""
        m, n = self.shape
        if y.dtype.kind == "c" and not self.complex:
            raise TypeError(_REAL_A_COMPLEX_Y)
        _check_rows_shape(self.shape, y)
        l1 = _nonneg(lam, "lam")
        l2 = _nonneg(l2, "l2")
        k = 1 if y.ndim == 1 else y.shape[1]
        if penalty_weights is None:
            pw = ipw = None
        else:
            pw, ipw = self._penalty_weights(penalty_weights)
        if l1 == 0.0 and l2 == 0.0:
            return self._least_squares(y, x0, out)
        if (
            y.ndim == 1
            and x0 is None
            and callback is None
            and not history
            and self.method in ("auto", "cd")
            and y.dtype == self.dtype
            and y.flags.c_contiguous
            and self._sqrt_sw is None
        ):
            return self._solve_one_cd(y, l1, l2, out, pw, ipw)
        # right-hand sides as rows (views when the layout allows)
        if y.dtype != self.dtype:
            y = y.astype(self.dtype)
        stats = self._buffers(k)
        if self._sqrt_sw is not None:
            Yt = self._Yt[:k]
            np.multiply(y.T if y.ndim == 2 else y[None, :], self._sqrt_sw, out=Yt)
        elif y.ndim == 1 and y.flags.c_contiguous:
            Yt = y.reshape(1, m)
        elif y.ndim == 2 and y.T.flags.c_contiguous:
            Yt = y.T
        else:
            Yt = self._Yt[:k]
            np.copyto(Yt, y.T if y.ndim == 2 else y[None, :])
        Xt = self._out(out, y.ndim, k)
        if x0 is None:
            Xt[...] = 0
        elif x0 is not out:
            x0 = as_array(
                x0, "x0", ndim=(1, 2), allow_complex=self.complex, check_finite=check_finite
            )
            if x0.shape not in ((n,), (n, k)):
                raise ValueError(f"x0 has shape {x0.shape}; expected ({n},) or ({n}, {k})")
            np.copyto(Xt, x0.T if x0.ndim == 2 else x0[None, :], casting="unsafe")
        if self.positive:
            np.maximum(Xt, 0, out=Xt)
        if self._has_zero_col:
            Xt[:, self.nrm2 == 0] = 0
        method, gram = self.resolve_method(k)
        max_iter = self.max_iter or DEFAULT_MAX_ITER[method]
        tol = self.tol
        if callback is not None and k != 1:
            raise ValueError(
                "callback is supported for a single signal (1-D y); loop "
                "over the columns to monitor each"
            )
        G = self.G if gram else self.At
        Ac = self.Ac if gram else self.At
        if method == "admm":
            rho = self._rho(l1)
            Lf, wood = self._factor(rho + l2)
        lip = self.lipschitz + l2 if method in ("fista", "ista") else 0.0

        def run(a, b, sc, max_it, max_checks, resume, hist):
            if method == "cd":
                _k.cd(
                    self.At,
                    G,
                    Ac,
                    Yt[a:b],
                    self.nrm2,
                    self.inrm,
                    l1,
                    l2,
                    self.positive,
                    gram,
                    Xt[a:b],
                    stats[a:b],
                    tol,
                    max_it,
                    max_checks,
                    sc.r,
                    sc.q,
                    sc.c,
                    sc.idx,
                    sc.score,
                    sc.tstate,
                    resume,
                    hist,
                    pw,
                    ipw,
                    sc.work,
                )
            elif method == "admm":
                _k.admm(
                    self.At,
                    Yt[a:b],
                    Lf,
                    wood,
                    rho,
                    l1,
                    l2,
                    self.positive,
                    Xt[a:b],
                    stats[a:b],
                    tol,
                    max_it,
                    max_checks,
                    CHECK_EVERY,
                    sc.xs,
                    sc.u,
                    sc.c,
                    sc.v,
                    sc.w,
                    sc.w2,
                    sc.r,
                    sc.q,
                    resume,
                    hist,
                    pw,
                    ipw,
                )
            else:
                _k.fista(
                    self.At,
                    Yt[a:b],
                    lip,
                    l1,
                    l2,
                    self.positive,
                    method == "fista",
                    Xt[a:b],
                    stats[a:b],
                    tol,
                    max_it,
                    max_checks,
                    CHECK_EVERY,
                    sc.z,
                    sc.xold,
                    sc.r,
                    sc.q,
                    sc.tstate,
                    resume,
                    hist,
                    pw,
                    ipw,
                )

        hist_out: dict[str, np.ndarray] = {}
        stopped = False
        if callback is not None:
            sc = self._scratches(1)[0]
            its, gaps, total = [], [], 0
            resume = False
            while True:
                run(0, 1, sc, max_iter - total, 1, resume, sc.hist0)
                resume = True
                total += int(stats[0, 0])
                its.append(total)
                gaps.append(stats[0, 2])
                done = stats[0, 2] <= tol * stats[0, 1] or total >= max_iter
                if not done and stop_requested(
                    callback,
                    n_iter=total,
                    objective=float(stats[0, 1]),
                    dual_gap=float(stats[0, 2]),
                    x=Xt[0],
                ):
                    stopped = True
                    break
                if done or stats[0, 0] == 0:
                    break
            stats[0, 0] = total
            if history:
                hist_out = {"n_iter": np.array(its), "dual_gap": np.array(gaps)}
        else:
            jobs = self._n_threads(k)
            scs = self._scratches(jobs)
            first = 0
            if history:
                # the first signal alone, in runs of HISTORY_CHUNK gap checks, its history
                # growing run by run (not reserved for max_iter iterations up front:
                # max_iter=10**9 once took 16 GB)
                sc, chunks, total, resume = scs[0], [], 0, False
                buf = np.zeros((HISTORY_CHUNK + 2, 2))
                while True:
                    run(0, 1, sc, max_iter - total, HISTORY_CHUNK, resume, buf)
                    part = buf[(1 if resume else 0) : int(stats[0, 3])].copy()
                    part[:, 0] += total  # a resumed run counts from 0 and repeats its start
                    chunks.append(part)
                    total += int(stats[0, 0])
                    resume = True
                    if stats[0, 2] <= tol * stats[0, 1] or total >= max_iter or stats[0, 0] == 0:
                        break
                stats[0, 0] = total
                h = np.concatenate(chunks)
                hist_out = {"n_iter": h[:, 0].astype(int), "dual_gap": h[:, 1]}
                first = 1
            if first < k and jobs == 1:
                run(first, k, scs[0], max_iter, -1, False, scs[0].hist0)
            elif first < k:
                bounds = np.linspace(first, k, jobs + 1).astype(int)
                futs = [
                    shared_pool(os.cpu_count() or 1).submit(
                        run, bounds[i], bounds[i + 1], scs[i], max_iter, -1, False, scs[i].hist0
                    )
                    for i in range(jobs)
                ]
                for f in futs:
                    f.result()
        x = Xt[0] if y.ndim == 1 else Xt.T
        if out is not None:
            x = out
        return self._result(x, stats, y.ndim, tol, max_iter, method, gram, hist_out, stopped)

    def _solve_one_cd(self, y, l1, l2, out, pw, ipw):
        """One signal by coordinate descent, no warm start, callback or history: the
        path of the per-call benchmarks, with nothing but the kernel call."""
        Xt = self._out(out, 1, 1)
        Xt[...] = 0
        stats = self._stats[:1]
        sc = self._scratch[0] if self._scratch else self._scratches(1)[0]
        if self.gram:
            G, Ac = self.G, self.Ac
        else:
            G = Ac = self.At
        max_iter = self.max_iter or DEFAULT_MAX_ITER["cd"]
        _k.cd(
            self.At,
            G,
            Ac,
            y.reshape(1, -1),
            self.nrm2,
            self.inrm,
            l1,
            l2,
            self.positive,
            self.gram,
            Xt,
            stats,
            self.tol,
            max_iter,
            -1,
            sc.r,
            sc.q,
            sc.c,
            sc.idx,
            sc.score,
            sc.tstate,
            False,
            sc.hist0,
            pw,
            ipw,
            sc.work,
        )
        return self._result(
            Xt[0] if out is None else out, stats, 1, self.tol, max_iter, "cd", self.gram, {}
        )

    def path(
        self,
        y,
        lams,
        *,
        l2=0.0,
        penalty_weights=None,
        x0=None,
        check_finite: bool = True,
    ) -> LassoPathResult:
        """Solve for each penalty in ``lams`` in turn, each from the previous solution.

        Coordinate descent (Gram or residual form as the solver was built), one compiled
        loop over the penalties: every solve starts from the last one's solution (warm
        start) and its working sets (support plus the largest KKT violations, see
        :func:`lasso`) screen out the inactive features. Pass ``lams`` in decreasing
        order, as :func:`lam_max` down, for the usual path.

        Parameters
        ----------
        y : array_like (m,)
            One signal.
        lams : array_like (p,)
            L1 weights (unscaled), each >= 0.
        l2 : float or array_like (p,)
            L2 weight(s); ``lams[t] + l2[t] > 0``.
        penalty_weights : array_like (n,), optional
            As in :meth:`solve`.
        x0 : array_like (n,), optional
            Start of the first solve (default zero).
        check_finite : bool
            Reject NaN / Inf in ``y`` and ``x0``.

        Returns
        -------
        LassoPathResult
        """
        m, n = self.shape
        y = _as_rhs(y, check_finite, self.complex)
        if y.ndim != 1:
            raise ValueError(
                f"y must be 1-D for a path, got shape {y.shape}; run one path per column"
            )
        _check_rows_shape(self.shape, y)
        l1s = as_array(lams, "lams", ndim=1, allow_complex=False).astype(np.float64)
        l2s = np.broadcast_to(
            as_array(l2, "l2", ndim=(0, 1), allow_complex=False), l1s.shape
        ).astype(np.float64)
        if (l1s < 0).any() or (l2s < 0).any():
            raise ValueError("lams and l2 must be >= 0")
        if not (l1s + l2s > 0).all():
            raise ValueError(
                "every point of the path needs lam > 0 or l2 > 0; for lam = l2 = 0 (least "
                "squares) call solve"
            )
        if x0 is not None:
            x0 = as_array(x0, "x0", ndim=1, allow_complex=self.complex, check_finite=check_finite)
            if x0.shape != (n,):
                raise ValueError(f"x0 has shape {x0.shape}; expected ({n},)")
        # A far from 1 is stored as A 2**-ea; y far from 1 is solved as y 2**-ey (exact):
        # the solution is then x 2**(ea - ey) with lam 2**-(ea + ey) and l2 2**-2ea
        ea, ey = self._ea, _exponent_of(y)
        scaled = bool(ea or ey)
        x0s = ldexp(x0, ea - ey) if scaled and x0 is not None else x0
        with self._lock:  # the work buffers serve one solve at a time
            res = self._path(
                ldexp(y, -ey) if ey else y,
                np.ldexp(l1s, -(ea + ey)) if scaled else l1s,
                np.ldexp(l2s, -2 * ea) if ea else l2s,
                penalty_weights,
                x0s,
            )
        res.lam, res.l2 = l1s, l2s
        if scaled:
            res.x = ldexp(res.x, ey - ea, out=res.x)
            res.objective = _ldexp_value(res.objective, 2 * ey)
            res.dual_gap = _ldexp_value(res.dual_gap, 2 * ey)
        if not np.all(res.converged):
            bad = int(np.flatnonzero(~np.asarray(res.converged))[0])
            res.message = res.message.replace("{lam}", f"{l1s[bad]:g}")
            _warn(f"lasso path ({res.method}): {res.message}", stacklevel=2)
        return res

    def _path(self, y, l1s, l2s, penalty_weights, x0) -> LassoPathResult:
        """:meth:`path` on validated, scaled inputs (no warning)."""
        n = self.shape[1]
        if penalty_weights is None:
            pw = ipw = None
        else:
            pw, ipw = self._penalty_weights(penalty_weights)
        yk = y.astype(self.dtype, copy=self._sqrt_sw is not None)
        if self._sqrt_sw is not None:
            yk *= self._sqrt_sw
        yk = np.ascontiguousarray(yk)
        x = np.zeros(n, dtype=self.dtype)
        if x0 is not None:
            x[:] = x0
            if self.positive:
                np.maximum(x, 0, out=x)
            if self._has_zero_col:
                x[self.nrm2 == 0] = 0
        p = l1s.size
        Xp = np.zeros((p, n), dtype=self.dtype)
        stats = np.zeros((p, 4))
        sc = self._scratches(1)[0]
        G, Ac = (self.G, self.Ac) if self.gram else (self.At, self.At)
        max_iter = self.max_iter or DEFAULT_MAX_ITER["cd"]
        _k.cd_path(
            self.At,
            G,
            Ac,
            yk,
            self.nrm2,
            self.inrm,
            l1s,
            l2s,
            self.positive,
            self.gram,
            x,
            Xp,
            stats,
            self.tol,
            max_iter,
            sc.r,
            sc.q,
            sc.c,
            sc.idx,
            sc.score,
            sc.tstate,
            pw,
            ipw,
            sc.work,
        )
        obj, gap = stats[:, 1].copy(), stats[:, 2].copy()
        conv = gap <= self.tol * obj
        name = "cd (gram)" if self.gram else "cd"
        if conv.all():
            msg = _CONVERGED[self.tol]
        else:
            bad = np.flatnonzero(~conv)
            msg = (
                f"{bad.size} of {p} penalties stopped at max_iter={max_iter} (first: "
                f"lam={{lam}}, relative duality gap "
                f"{gap[bad[0]] / max(obj[bad[0]], 1e-300):.3g} > tol={self.tol:g}); raise "
                "max_iter or tol"
            )
        return LassoPathResult(
            x=Xp.T,
            lam=l1s,
            l2=l2s,
            n_iter=stats[:, 0].astype(np.int64),
            converged=conv,
            objective=obj,
            dual_gap=gap,
            message=msg,
            method=name,
            history={},
        )

    def _n_threads(self, k):
        if self.n_jobs is not None:
            return max(1, min(int(self.n_jobs), k))
        m, n = self.shape
        if k < 8 or m * n * k < 2_000_000:
            return 1
        return max(1, min(os.cpu_count() or 1, k // 4))

    def _out(self, out, ndim, k):
        """x as rows: a new array, or ``out`` (checked by :meth:`solve`) transposed."""
        n = self.shape[1]
        if out is None:
            return np.zeros((k, n), dtype=self.dtype)
        return out.reshape(1, n) if ndim == 1 else out.T

    def _result(self, x, stats, ndim, tol, max_iter, method, gram, hist, stopped=False):
        name = "cd (gram)" if method == "cd" and gram else method
        if ndim == 1:
            it, obj, gap = stats[0, :3].tolist()
            if gap <= tol * obj:  # the common case, without array operations
                return LassoResult(
                    x=x,
                    n_iter=int(it),
                    converged=True,
                    objective=obj,
                    dual_gap=gap,
                    message=_CONVERGED[tol],
                    method=name,
                    history=hist,
                )
        it = stats[:, 0].astype(np.int64)
        obj = stats[:, 1].copy()
        gap = stats[:, 2].copy()
        conv = gap <= tol * obj
        if conv.all():
            msg = _CONVERGED[tol]
        elif stopped:
            msg = "stopped by the callback before convergence"
        else:
            bad = int((~conv).sum())
            finite = np.isfinite(gap).all()
            msg = (
                f"{bad} of {len(conv)} signal(s) stopped at max_iter={max_iter} with "
                f"relative duality gap {np.nanmax(gap / np.maximum(obj, 1e-300)):.3g} > "
                f"tol={tol:g}; raise max_iter or tol"
                if finite
                else f"{bad} signal(s) diverged (non-finite duality gap)"
            )
            _warn(f"lasso ({name}): {msg}", stacklevel=5)
        if ndim == 1:
            return LassoResult(
                x=x,
                n_iter=int(it[0]),
                converged=bool(conv[0]),
                objective=float(obj[0]),
                dual_gap=float(gap[0]),
                message=msg,
                method=name,
                history=hist,
            )
        return LassoResult(
            x=x,
            n_iter=it,
            converged=conv,
            objective=obj,
            dual_gap=gap,
            message=msg,
            method=name,
            history=hist,
        )

    def _least_squares(self, y, x0, out):
        """lam = l2 = 0: the minimum-norm least-squares solution (or NNLS if positive)."""
        wide = np.result_type(self.dtype, np.float64)
        A = self.At.T.astype(wide)
        Y = y.astype(wide).reshape(self.shape[0], -1)
        if self._sqrt_sw is not None:
            Y = Y * self._sqrt_sw[:, None]
        if self.positive:
            from scipy.optimize import nnls

            X = np.column_stack([nnls(A, Y[:, c])[0] for c in range(Y.shape[1])])
        else:
            X = np.linalg.lstsq(A, Y, rcond=None)[0]
        R = Y - A @ X
        obj = 0.5 * np.einsum("ij,ij->j", R, R.conj()).real
        Q = A.conj().T @ R
        gap = np.abs(np.einsum("ij,ij->j", Q.conj(), X))  # dual point theta = r
        X = X.astype(self.dtype)
        x = X[:, 0] if y.ndim == 1 else X
        if out is not None:
            self._out(out, y.ndim, 1 if y.ndim == 1 else y.shape[1])[...] = x.T
            x = out
        msg = "lam = 0: minimum-norm least squares" + (" (NNLS)" if self.positive else "")
        if y.ndim == 1:
            return LassoResult(
                x=x,
                n_iter=0,
                converged=True,
                objective=float(obj[0]),
                dual_gap=float(gap[0]),
                message=msg,
                method="lstsq",
                history={},
            )
        return LassoResult(
            x=x,
            n_iter=np.zeros(len(obj), np.int64),
            converged=np.ones(len(obj), bool),
            objective=obj,
            dual_gap=gap,
            message=msg,
            method="lstsq",
            history={},
        )


_QUIET = threading.local()


class _Quiet:
    """``with _Quiet():`` solvers in this thread do not warn when they stop before
    converging (callers that report it themselves, e.g. :mod:`fastrpca.sklearn`, read
    ``converged``). Cheaper than ``warnings.catch_warnings``."""

    def __enter__(self):
        self._was = getattr(_QUIET, "on", False)
        _QUIET.on = True

    def __exit__(self, *exc):
        _QUIET.on = self._was


def _warn(message, stacklevel):
    if not getattr(_QUIET, "on", False):
        warn_not_converged(message, stacklevel=stacklevel)


class _Messages(dict):
    def __missing__(self, tol):
        msg = self[tol] = f"converged: duality gap <= tol * objective (tol={tol:g})"
        return msg


_CONVERGED = _Messages()
_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


def _nonneg(value, name):
    """``positive(value, name, allow_zero=True)`` with a fast path for plain floats."""
    if type(value) is float and 0.0 <= value < np.inf:
        return value
    return _positive(value, name, allow_zero=True)


_REAL_A_COMPLEX_Y = (
    "y is complex but A is real; pass a complex A (A.astype(complex)) to solve the complex lasso"
)


def _as_rhs(y, check_finite, allow_complex=False):
    """``y`` validated as a 1-D or 2-D array, complex only if allowed (fast path for
    float ndarrays)."""
    if isinstance(y, np.ndarray) and y.dtype in _FLOATS and y.ndim in (1, 2):
        if check_finite and not np.isfinite(y).all():
            check_all_finite(y, "y")
        return y
    y = as_array(y, "y", ndim=(1, 2), min_size=0, check_finite=check_finite)
    if y.dtype.kind == "c" and not allow_complex:
        raise TypeError(_REAL_A_COMPLEX_Y)
    return y


def _check_sample_weight(sample_weight, m):
    """Sample weights as a float64 (m,) array of finite non-negative values."""
    sw = as_array(sample_weight, "sample_weight", ndim=(0, 1), allow_complex=False, min_size=0)
    if sw.ndim == 0:
        sw = np.full(m, float(sw))
    if sw.shape != (m,):
        raise ValueError(
            f"sample_weight has shape {sw.shape}; it needs one weight per row of A, shape ({m},)"
        )
    if (sw < 0).any():
        raise ValueError(f"sample_weight must be >= 0 (got minimum {sw.min():g})")
    return sw.astype(np.float64)


def _exponent_of(y) -> int:
    """:func:`scale_exponent` of ``y``'s largest entry, skipped (one dot product) when
    ``|y|^2`` is far inside the normal range."""
    yy = float(np.vdot(y, y).real)  # |y|^2, real or complex
    if 2.0**-500 < yy < 2.0**500:
        return 0
    return scale_exponent(float(np.abs(y).max()) if y.size else 0.0, y.dtype)


def _ldexp_value(v, e):
    """A float or an array times ``2**e`` (inf or 0 beyond float64's range)."""
    with np.errstate(over="ignore", under="ignore"):
        return float(np.ldexp(v, e)) if np.ndim(v) == 0 else np.ldexp(v, e)


# ---------------------------------------------------------------- solver cache
# One cache per thread: a solver's work buffers must never be shared by two concurrent
# solves (that race gave results differing in the last bits under threads).
_LOCAL = threading.local()
_CACHE_SIZE = 4


def _cache() -> list:
    """This thread's cache entries ``(shape, key, solver)``, most recently used last."""
    entries = getattr(_LOCAL, "entries", None)
    if entries is None:
        entries = _LOCAL.entries = []
    return entries


def _same_values(A, solver) -> bool:
    """A (validated) holds the values of the dictionary ``solver`` was built from.

    Compared in full, in compiled code with one early exit per row, against the
    solver's own copy: the row-major copy the Gram form reads anyway, else ``At``
    (tile by tile for C-ordered A), so no further copy of A is kept."""
    if A.shape != solver.shape or A.dtype != solver.dtype:
        return False
    if solver._ea:  # the solver keeps A * 2**-ea
        return bool(np.array_equal(ldexp(A, -solver._ea), solver.At.T))
    if A.flags.c_contiguous:
        if solver._Ac is None:  # residual form: no row-major copy, compare with At
            return _k.equal_t(A, solver.At)
        return _k.equal(A, solver.Ac)
    if A.flags.f_contiguous:
        return _k.equal(A.T, solver.At)
    return bool(np.array_equal(A, solver.At.T))


def _cached_solver(A, key, check_finite, **options) -> LassoSolver:
    """A solver for A, reused across calls while A's values are unchanged: A is
    compared in full against the solver's copy (so a caller that edits A in place gets
    a new solver, and, NaN never comparing equal, a hit also proves A finite)."""
    cache = _cache()
    for i, (_, k, solver) in enumerate(cache):
        if k == key and _same_values(A, solver):
            if i != len(cache) - 1:
                cache.append(cache.pop(i))
            return solver
    solver = LassoSolver(A, check_finite=check_finite, **options)
    cache.append((A.shape, key, solver))
    while len(cache) > _CACHE_SIZE:
        cache.pop(0)
    return solver


#: Called by :func:`clear_cache` (the scikit-learn estimators register theirs).
_CLEAR_HOOKS: list[Callable[[], None]] = []


def clear_cache() -> None:
    """Forget the solvers :func:`lasso` (and :mod:`fastrpca.sklearn`'s estimators) keep
    (per thread) for recent dictionaries."""
    _cache().clear()
    for hook in _CLEAR_HOOKS:
        hook()


# ---------------------------------------------------------------- public functions
def lasso(
    A,
    y,
    lam: float,
    *,
    method: str = "auto",
    x0=None,
    tol: float | None = None,
    max_iter: int | None = None,
    positive: bool = False,
    callback: Callable | None = None,
    history: bool = False,
    rho: float | None = None,
    check_finite: bool = True,
    penalty_weights=None,
    sample_weight=None,
) -> LassoResult:
    r"""Lasso: :math:`\min_x \tfrac12\|Ax - y\|_2^2 + \lambda\|x\|_1`.

    Parameters
    ----------
    A : array_like (m, n), real or complex
        Dictionary / design matrix.
    y : array_like (m,) or (m, k)
        One signal, or k signals solved as a batch. If ``A``
        or ``y`` is complex, both are taken as complex and ``|x_j|`` is the modulus.
    lam : float >= 0
        Unscaled L1 weight (scikit-learn's ``alpha`` is ``lam / m``; see
        :func:`lam_from_sklearn`). ``lam >= lam_max(A, y)`` gives ``x = 0``.
    method : {"auto", "cd", "fista", "ista", "admm"}
        Coordinate descent (Friedman et
        al. 2010), FISTA with adaptive restart (Beck & Teboulle 2009; O'Donoghue &
        Candes 2015), ISTA, or ADMM (Boyd et al. 2011; its factorisation is cached and
        reused for the same A). ``"auto"``: coordinate descent, in Gram form when
        m >= n, the batch is large, or A^T A is cheap to form (m n^2 <= 2^23).
    x0 : array_like, optional
        Warm start.
    tol : float, optional
        Stop when duality gap <= tol * objective (default 1e-6 for
        float64, 1e-4 for float32).
    max_iter : int, optional
        Iteration cap per signal.
    positive : bool
        Constrain ``x >= 0``.
    callback : callable, optional
        ``callback(info)`` at each gap check (1-D y), with
        ``info.n_iter``, ``info.objective``, ``info.dual_gap`` and ``info.x``; returning
        True stops the solver.
    history : bool
        Keep the duality gap at each check.
    rho : float, optional
        ADMM penalty.
    check_finite : bool
        Reject NaN / Inf (skip in trusted loops).
    penalty_weights : array_like (n,), optional
        Positive per-feature weights ``w``: the
        penalty becomes ``lam * sum_j w_j |x_j|``.
    sample_weight : array_like (m,), optional
        Non-negative row weights ``s``: the data
        term becomes ``1/2 sum_i s_i |(Ax - y)_i|^2`` (for repeated solves with one
        dictionary, :class:`LassoSolver` applies them once).

    Returns
    -------
    LassoResult
        ``x``, ``n_iter``, ``converged``, ``objective``, ``dual_gap``, ``message``.

    Notes
    -----
    The solver built for ``A`` (Gram matrix, factorisations, work buffers) is kept for
    the last few dictionaries (one cache per thread, so concurrent calls never share work
    buffers) and reused while ``A`` holds the same values: each call
    compares ``A`` in full against the solver's copy (a few microseconds for 64 x 256;
    an in-place edit of ``A`` is always seen). For repeated solves with one dictionary,
    :class:`LassoSolver` skips that compare and, with ``out=``, every per-call
    allocation. The input arrays are never modified.
    """
    return _lasso(
        A,
        y,
        lam,
        0.0,
        method,
        x0,
        tol,
        max_iter,
        positive,
        callback,
        history,
        rho,
        check_finite,
        penalty_weights,
        sample_weight,
    )


def _lasso(
    A,
    y,
    lam,
    l2,
    method,
    x0,
    tol,
    max_iter,
    positive,
    callback,
    history,
    rho,
    check_finite,
    penalty_weights=None,
    sample_weight=None,
) -> LassoResult:
    """:func:`lasso` and :func:`elastic_net`: validate, find the cached solver, solve."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not (isinstance(A, np.ndarray) and A.dtype in _FLOATS and A.ndim == 2):
        A = as_array(A, "A", ndim=2, min_size=0, check_finite=False)
    if A.size == 0:
        raise ValueError(f"A has shape {A.shape}; it needs at least one row and one column")
    y = _as_rhs(y, check_finite, allow_complex=True)
    _check_rows_shape(A.shape, y)
    if A.dtype.kind == "c" or y.dtype.kind == "c":
        wide = np.result_type(A.dtype, y.dtype, np.complex64)
        A, y = A.astype(wide, copy=False), y.astype(wide, copy=False)
    if sample_weight is not None:
        root = np.sqrt(_check_sample_weight(sample_weight, A.shape[0]))
        A = A * root.astype(real_dtype(A.dtype))[:, None]
        y = y * (root if y.ndim == 1 else root[:, None]).astype(real_dtype(y.dtype))
    m, n = A.shape
    k = 1 if y.ndim == 1 else y.shape[1]
    gram = n <= GRAM_MAX_FEATURES and (m >= n or k * 16 >= n or m * n * n <= GRAM_AUTO_FLOPS)
    key = (method, bool(positive), tol, max_iter, rho, gram)
    solver = _cached_solver(
        A,
        key,
        check_finite,
        method=method,
        positive=positive,
        tol=tol,
        max_iter=max_iter,
        rho=rho,
        gram=gram,
    )
    return solver._solve(y, lam, l2, x0, None, callback, history, check_finite, penalty_weights)


def elastic_net(
    A,
    y,
    l1: float,
    l2: float,
    *,
    method: str = "auto",
    x0=None,
    tol: float | None = None,
    max_iter: int | None = None,
    positive: bool = False,
    callback: Callable | None = None,
    history: bool = False,
    rho: float | None = None,
    check_finite: bool = True,
    penalty_weights=None,
    sample_weight=None,
) -> LassoResult:
    r"""Elastic net: :math:`\min_x \tfrac12\|Ax - y\|^2 + l_1\|x\|_1 + \tfrac{l_2}{2}\|x\|^2`.

    See :func:`enet_from_sklearn` for scikit-learn's ``(alpha, l1_ratio)``.

    Parameters
    ----------
    A, y : array_like
        As in :func:`lasso`.
    l1 : float >= 0
        L1 weight (plays :func:`lasso`'s ``lam``).
    l2 : float >= 0
        Weight of ``1/2 ||x||^2``.
    method, x0, tol, max_iter, positive, callback, history, rho, check_finite
        As in :func:`lasso`.
    penalty_weights, sample_weight : array_like, optional
        As in :func:`lasso` (the
        penalty weights multiply the L1 term only).

    Returns
    -------
    LassoResult
    """
    l2 = _positive(l2, "l2", allow_zero=True)
    return _lasso(
        A,
        y,
        l1,
        l2,
        method,
        x0,
        tol,
        max_iter,
        positive,
        callback,
        history,
        rho,
        check_finite,
        penalty_weights,
        sample_weight,
    )


# ---------------------------------------------------------------- warm-up
def _warmup() -> None:
    """Compile (or load from the cache) every kernel of this module: float32, float64,
    complex64 and complex128."""
    import warnings

    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32, np.complex128, np.complex64):
        A = rng.standard_normal((6, 4)).astype(dtype)
        y = rng.standard_normal(6).astype(dtype)
        methods = ("cd", "fista") if A.dtype.kind == "c" else ("cd", "fista", "admm")
        # penalty weights compile a specialisation of their own (the unweighted kernels
        # are compiled without them): warmed up for float64, compiled on first use for
        # the other dtypes
        w = np.ones(4) if A.dtype == np.float64 else None
        for method in methods:
            for gram in (False, True) if method == "cd" else (False,):
                s = LassoSolver(A, method=method, gram=gram, max_iter=3)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    s.solve(y, 0.1, history=True)
                    if w is not None:
                        s.solve(y, 0.1, penalty_weights=w)
                    if method == "cd":
                        s.path(y, [0.2, 0.1], penalty_weights=w)
        for arr in (A, np.asfortranarray(A)):  # the cache compare, both memory orders
            lasso(arr, y, 0.1)


# ---------------------------------------------------------------- deep unfolding
