r"""Robust dictionary learning: sparse codes over learned atoms plus a sparse anomaly.

:class:`RobustDictionaryLearning` learns a dictionary ``D`` (m x n, unit-norm atoms) for
samples ``Y`` (m x k, one sample per column) by minimising

.. math:: \tfrac12\|Y - DX - S\|_F^2 + \lambda\|X\|_1 + \lambda_s\|S\|_1
          \quad \text{s.t. } \|d_j\|_2 = 1

over ``D``, the codes ``X`` and the anomalies ``S``: a few atoms explain each sample (the
"normal parts"), and what they cannot explain on a few entries goes to ``S``. With
:math:`\lambda_s = \infty`, ``S = 0`` and this is plain dictionary learning (the
objective of scikit-learn's ``DictionaryLearning`` with ``alpha = lam``).

The coding step is a lasso on ``[D, I]`` (solved by the lasso kernels, the identity block
in closed form); the dictionary step is the block-coordinate update of Mairal, Bach,
Ponce & Sapiro, "Online learning for matrix factorization and sparse coding", JMLR 11
(2010), on the statistics ``A = sum x x^T``, ``B = sum (y - s) x^T`` of mini-batches.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._core.result import Result, stop_requested, warn_not_converged
from .._core.validation import as_array, rng_from
from .._core.validation import positive as _positive
from ._kernels import dictionary as _kd
from .l1 import DEFAULT_MAX_ITER, LassoSolver

__all__ = ["RobustDictionaryLearning", "DictionaryLearningResult", "CodingResult"]

#: Coding iterations (sweeps) per sample inside the learning loop.
CODE_MAX_ITER = 1000


class DictionaryLearningResult(Result):
    """Outcome of :meth:`RobustDictionaryLearning.fit` (kept as ``model.result``).

    Attributes
    ----------
    converged : bool
        The objective fell by at most ``tol`` times its value over the last
        epoch.
    n_iter : int
        Epochs (passes over the samples).
    message : str
        Why the loop stopped.
    objective : float
        The objective of the stored codes and anomalies with the final
        dictionary (an upper bound of the objective with optimal codes; with
        ``keep_codes=False``, the sum of the mini-batches' objectives at coding time
        over the last epoch).
    n_replaced : int
        Atoms that no code used and were replaced by samples, in all.
    history : dict of ndarrays
        ``"objective"`` and ``"n_replaced"`` per epoch.
    """

    objective: float
    n_replaced: int


class CodingResult(Result):
    """Codes and anomalies of :meth:`RobustDictionaryLearning.decompose`.

    Attributes
    ----------
    x : ndarray (n, k)
        Sparse codes, one column per sample.
    s : ndarray (m, k)
        Anomalies (zero when ``lam_s`` is infinite).
    objective : ndarray (k,)
        ``1/2 ||y - D x - s||^2 + lam ||x||_1 + lam_s ||s||_1``
        per sample.
    dual_gap : ndarray (k,)
        Duality gap per sample (absolute).
    converged : ndarray (k,) of bool
        ``dual_gap <= tol * objective``.
    n_iter : ndarray (k,)
        Coordinate-descent sweeps per sample.
    message : str
        Why the solver stopped.
    history : dict of ndarrays
        Empty (nothing is recorded per sweep).
    """

    x: np.ndarray
    s: np.ndarray
    objective: np.ndarray
    dual_gap: np.ndarray


class _Buffers:
    """Work vectors of the coding kernels for one (m, n)."""

    def __init__(self, m: int, n: int):
        self.r = np.zeros(m)
        self.u = np.zeros(m)
        self.q = np.zeros(n)
        self.b = np.zeros(n)
        self.score = np.zeros(n)
        self.idx = np.zeros(n, dtype=np.int64)
        self.H = np.zeros((n, n))
        self.sup = np.zeros(n, dtype=np.int64)
        self.tstate = np.ones(1)
        self.hist0 = np.zeros((0, 2))


class RobustDictionaryLearning:
    r"""Dictionary learning with a sparse anomaly term (robust dictionary learning, RDL).

    Minimises :math:`\tfrac12\|Y - DX - S\|_F^2 + \lambda\|X\|_1 + \lambda_s\|S\|_1` over
    unit-norm atoms ``D``, codes ``X`` and anomalies ``S``, for samples as the columns
    of ``Y``. :meth:`fit` makes passes (epochs) over shuffled mini-batches: code the
    batch (warm-started from the codes of the previous pass), update the statistics, then
    one block-coordinate pass over the atoms (Mairal et al. 2010). :meth:`partial_fit`
    is the online algorithm for data that arrive in pieces or do not fit in memory.

    The model holds work buffers: one instance must not be used by two threads at once.

    Parameters
    ----------
    n_components : int
        Number of atoms ``n`` (may exceed the sample length ``m``).
    lam : float > 0
        Weight of ``||X||_1`` (unscaled, as in :func:`fastrpca.lasso`; equal to
        scikit-learn's ``DictionaryLearning(alpha=...)``).
    lam_s : float > 0, default inf
        Weight of ``||S||_1``; ``inf`` means no anomaly term (plain dictionary learning).
        Entries of the residual above ``lam_s`` go to ``S``, so it is a threshold in the
        units of the data, a few times the noise level.
    batch_size : int
        Samples per mini-batch (one dictionary update each).
    code_tol : float > 0
        Relative duality gap of the coding step while learning (the final codes of
        :meth:`decompose` use their own ``tol``).
    forget : float >= 0
        Online rescaling of the statistics, ``beta_t = (1 - 1/t)^forget`` at mini-batch
        ``t`` (Mairal et al. 2010, section 3.4): 0 weighs every batch equally, larger
        values forget the first (poorly coded) batches faster. Used by :meth:`partial_fit`
        and by the first epoch of :meth:`fit`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrpca import RobustDictionaryLearning
    >>> rng = np.random.default_rng(0)
    >>> D0 = rng.standard_normal((16, 8))
    >>> Y = D0 @ (rng.standard_normal((8, 500)) * (rng.random((8, 500)) < 0.2))
    >>> Y[3, :20] += 5.0  # an anomaly on entry 3 of the first 20 samples
    >>> model = RobustDictionaryLearning(8, lam=0.5, lam_s=1.0).fit(Y)
    >>> model.result.converged, model.dictionary.shape
    (True, (16, 8))
    >>> S = model.decompose(Y).s
    >>> bool(np.all(S[3, :20] > 3)), bool(np.all(S[3, 20:] == 0)), bool(np.all(S[:3] == 0))
    (True, True, True)
    """

    def __init__(
        self,
        n_components: int,
        lam: float,
        lam_s: float = np.inf,
        *,
        batch_size: int = 512,
        code_tol: float = 1e-3,
        forget: float = 2.0,
    ):
        self.n_components = _positive(n_components, "n_components", integer=True)
        self.lam = _positive(lam, "lam")
        if isinstance(lam_s, (int, float, np.floating, np.integer)) and lam_s == np.inf:
            self.lam_s = np.inf
        else:
            self.lam_s = _positive(lam_s, "lam_s")
        self.batch_size = _positive(batch_size, "batch_size", integer=True)
        self.code_tol = _positive(code_tol, "code_tol")
        self.forget = _positive(forget, "forget", allow_zero=True)
        self.result: DictionaryLearningResult | None = None
        self._Dt: np.ndarray | None = None
        self._rng: np.random.Generator | None = None
        self._t = 0

    # ------------------------------------------------------------ state
    @property
    def robust(self) -> bool:
        """True when the model has an anomaly term (finite ``lam_s``)."""
        return bool(np.isfinite(self.lam_s))

    @property
    def dictionary(self) -> np.ndarray:
        """The atoms as columns, ``(m, n_components)``, unit norm (a read-only view)."""
        Dt = self._fitted()
        view = Dt.T
        view.flags.writeable = False
        return view

    def _fitted(self) -> np.ndarray:
        if self._Dt is None:
            raise RuntimeError(
                "this RobustDictionaryLearning has no dictionary yet; call fit(Y) or "
                "partial_fit(Y) first"
            )
        return self._Dt

    def _start(self, m: int, Dt: np.ndarray, rng: np.random.Generator) -> None:
        n = self.n_components
        self._Dt = Dt
        self._rng = rng
        self._t = 0
        self._G = np.empty((n, n))
        self._Dc = np.empty((m, n))
        self._A = np.zeros((n, n))
        self._Bt = np.zeros((n, m))
        self._acc = np.zeros(3)
        self._ones = np.ones(n)
        self._buf = _Buffers(m, n)
        self._stats = np.zeros((self.batch_size, 4))
        self._Yb = np.zeros((self.batch_size, m))
        self._Qb = np.zeros((self.batch_size, n))
        self._Dc[:] = self._Dt.T
        _kd.gram(self._Dt, self._G)

    def _init_atoms(self, Yt: np.ndarray, dict_init, rng: np.random.Generator) -> np.ndarray:
        k, m = Yt.shape
        n = self.n_components
        if dict_init is not None:
            D0 = as_array(dict_init, "dict_init", ndim=2, allow_complex=False)
            if D0.shape != (m, n):
                raise ValueError(
                    f"dict_init has shape {D0.shape}; expected (m, n_components) = ({m}, {n})"
                )
            norms = np.linalg.norm(D0, axis=0)
            if not norms.all():
                raise ValueError(
                    f"dict_init has a zero column ({int(np.argmin(norms))}); every atom needs "
                    "a direction"
                )
            return np.ascontiguousarray((D0 / norms).T, dtype=np.float64)
        norms = np.sqrt(np.einsum("ij,ij->i", Yt, Yt))
        nonzero = np.flatnonzero(norms > 0)
        take = rng.permutation(nonzero)[:n]
        Dt = np.empty((n, m))
        Dt[: take.size] = Yt[take] / norms[take, None]
        if take.size < n:  # fewer distinct non-zero samples than atoms: random directions
            extra = rng.standard_normal((n - take.size, m))
            Dt[take.size :] = extra / np.linalg.norm(extra, axis=1, keepdims=True)
        return Dt

    def _samples(self, Y, check_finite: bool = True) -> np.ndarray:
        """Y (m, k) validated, as C-ordered float64 rows (k, m); never written to."""
        name = "Y"
        Y = as_array(Y, name, ndim=2, allow_complex=False, min_size=0, check_finite=check_finite)
        if self._Dt is not None and Y.shape[0] != self._Dt.shape[1]:
            m = self._Dt.shape[1]
            raise ValueError(
                f"{name} has {Y.shape[0]} rows but the dictionary has atoms of length {m}; "
                f"{name} must have shape ({m}, k), one sample per column"
            )
        return np.ascontiguousarray(Y.T, dtype=np.float64)

    # ------------------------------------------------------------ one mini-batch
    def _batch(self, Yt, Xt, St, rows, replace: bool) -> tuple[float, int]:
        """Code ``rows`` and update the atoms; returns (batch objective, atoms replaced)."""
        b = self._buf
        self._t += 1
        beta = (1.0 - 1.0 / self._t) ** self.forget if self._t > 1 else 0.0
        stats = self._stats[: rows.size]
        lam_s = self.lam_s if self.robust else 1.0
        _kd.code_batch(
            self._Dt,
            self._G,
            self._Dc,
            self._ones,
            self._ones,
            Yt,
            Xt,
            St,
            rows,
            self.lam,
            lam_s,
            self.robust,
            replace,
            beta,
            self._A,
            self._Bt,
            self._acc,
            self.code_tol,
            CODE_MAX_ITER,
            stats,
            self._Yb,
            self._Qb,
            b.r,
            b.q,
            b.idx,
            b.score,
            b.H,
            b.tstate,
            b.sup,
            b.hist0,
        )
        assert self._rng is not None
        fresh = self._rng.integers(0, Yt.shape[0], size=self.n_components)
        replaced = _kd.update_atoms(
            self._Dt, self._Dc, self._A, self._Bt, 1, b.u, fresh, Yt, St, self.robust
        )
        _kd.gram(self._Dt, self._G)
        return float(stats[:, 1].sum()), int(replaced)

    # ------------------------------------------------------------ learning
    def fit(
        self,
        Y,
        *,
        max_iter: int = 100,
        tol: float = 1e-3,
        keep_codes: bool = True,
        dict_init=None,
        random_state=None,
        callback: Callable | None = None,
    ) -> RobustDictionaryLearning:
        """Learn the dictionary from the samples ``Y`` (columns), from scratch.

        The first epoch is online (statistics rescaled by ``forget``); with
        ``keep_codes`` every sample's code (and anomaly) is then stored, later epochs
        warm-start from it and replace its share of the statistics, so the objective of
        the stored codes can only decrease; it is the stopping measure.

        Parameters
        ----------
        Y : array_like (m, k), real
            Training samples, one per column (never modified).
        max_iter : int
            Epochs (passes over the k samples).
        tol : float >= 0
            Stop when an epoch lowers the objective by at most ``tol`` times its value.
        keep_codes : bool
            Store the codes (k x n floats, plus k x m for the anomalies): faster
            convergence. False: every epoch is online, memory independent of k.
        dict_init : array_like (m, n_components), optional
            Starting atoms (normalised); default: distinct random samples, normalised.
        random_state : None, int or numpy Generator
            Seeds the starting atoms, the shuffling and the replacement of unused atoms
            (None: seed 0).
        callback : callable, optional
            ``callback(info)`` after each epoch, ``info`` with ``n_iter``, ``objective``
            and ``dictionary``; returning True stops the loop.

        Returns
        -------
        RobustDictionaryLearning
            ``self``, with ``dictionary`` and ``result`` set.
        """
        max_iter = _positive(max_iter, "max_iter", integer=True)
        tol = _positive(tol, "tol", allow_zero=True)
        self._Dt = None
        Yt = self._samples(Y)
        k, m = Yt.shape
        if k == 0:
            raise ValueError("Y has no columns; fit needs at least one sample")
        rng = rng_from(random_state)
        self._start(m, self._init_atoms(Yt, dict_init, rng), rng)
        n = self.n_components
        robust = self.robust
        if keep_codes:
            Xt = np.zeros((k, n))
            St = np.zeros((k, m) if robust else (1, m))
        else:
            Xt = np.zeros((self.batch_size, n))
            St = np.zeros((self.batch_size, m) if robust else (1, m))
        objective: list[float] = []
        replaced: list[int] = []
        converged = stopped = False
        epoch = 0
        for epoch in range(1, max_iter + 1):
            replace = keep_codes and epoch > 1
            perm = rng.permutation(k)
            total, n_rep = 0.0, 0
            for start in range(0, k, self.batch_size):
                rows = perm[start : start + self.batch_size]
                if keep_codes:
                    value, rep = self._batch(Yt, Xt, St, rows, replace)
                else:
                    Xt[:] = 0.0
                    St[:] = 0.0
                    Yb = np.ascontiguousarray(Yt[rows])
                    value, rep = self._batch(Yb, Xt, St, np.arange(rows.size), False)
                total += value
                n_rep += rep
            if keep_codes:
                if epoch == 1:  # from here on the statistics are the exact sums
                    _kd.rebuild(self._A, self._Bt, self._acc, Yt, Xt, St, robust, self._buf.sup)
                total = self._surrogate()
            objective.append(total)
            replaced.append(n_rep)
            if callback is not None and stop_requested(
                callback, n_iter=epoch, objective=total, dictionary=self.dictionary
            ):
                stopped = True
                break
            if epoch > 1 and objective[-2] - total <= tol * abs(total):
                converged = True
                break
        if converged:
            message = f"converged: the objective fell by <= tol * objective (tol={tol:g})"
        elif stopped:
            message = "stopped by the callback before convergence"
        else:
            last = (objective[-2] - objective[-1]) / abs(objective[-1]) if epoch > 1 else np.nan
            message = (
                f"stopped at max_iter={max_iter} epochs with a last relative decrease of "
                f"{last:.3g} > tol={tol:g}; raise max_iter or tol"
            )
            warn_not_converged(f"RobustDictionaryLearning.fit: {message}")
        self.result = DictionaryLearningResult(
            converged=converged,
            n_iter=epoch,
            message=message,
            objective=objective[-1],
            n_replaced=int(sum(replaced)),
            history={"objective": np.array(objective), "n_replaced": np.array(replaced)},
        )
        return self

    def _surrogate(self) -> float:
        lam_s = self.lam_s if self.robust else 0.0
        return float(
            _kd.surrogate(
                self._Dt, self._G, self._A, self._Bt, self._acc, self.lam, lam_s, self.robust
            )
        )

    def partial_fit(self, Y, *, random_state=None) -> RobustDictionaryLearning:
        """One online pass over the samples ``Y`` (columns), in mini-batches.

        Each mini-batch is coded from zero, folded into the statistics rescaled by
        ``beta_t = (1 - 1/t)^forget``, and followed by one update of the atoms: the
        online algorithm of Mairal et al. (2010). Memory does not grow with the number
        of samples seen. The first call (on a model without a dictionary) starts the atoms
        from its samples; after :meth:`fit`, the updates continue from its statistics.

        Parameters
        ----------
        Y : array_like (m, k), real
            A piece of the data, one sample per column (never modified).
        random_state : None, int or numpy Generator
            Used on the first call only: seeds the starting atoms and the replacement of
            unused atoms for this and later calls (None: seed 0).

        Returns
        -------
        RobustDictionaryLearning
            ``self``, with the atoms updated.
        """
        Yt = self._samples(Y)
        k, m = Yt.shape
        if self._Dt is None:
            if k == 0:
                raise ValueError("Y has no columns; the first partial_fit needs samples")
            rng = rng_from(random_state)
            self._start(m, self._init_atoms(Yt, None, rng), rng)
        n = self.n_components
        Xt = np.zeros((self.batch_size, n))
        St = np.zeros((self.batch_size, m) if self.robust else (1, m))
        for start in range(0, k, self.batch_size):
            Yb = Yt[start : start + self.batch_size]
            Xt[:] = 0.0
            St[:] = 0.0
            self._batch(Yb, Xt, St, np.arange(Yb.shape[0]), False)
        return self

    # ------------------------------------------------------------ coding
    def decompose(
        self,
        Y,
        *,
        lam_s: float | None = None,
        tol: float = 1e-6,
        max_iter: int | None = None,
        check_finite: bool = True,
    ) -> CodingResult:
        """Codes ``X`` and anomalies ``S`` of samples with the learned atoms: D X + S ~ Y.

        Solves, per column ``y``, ``min 1/2 ||y - D x - s||^2 + lam ||x||_1 + lam_s
        ||s||_1`` to a relative duality gap ``tol`` (coordinate descent on ``[D, I]``;
        the lasso solver when ``lam_s`` is infinite).

        Parameters
        ----------
        Y : array_like (m, k), real
            Samples, one per column (never modified).
        lam_s : float > 0, optional
            Anomaly weight for this call (default: the model's); ``inf`` gives S = 0.
        tol : float > 0
            Relative duality-gap tolerance per sample.
        max_iter : int, optional
            Sweeps per sample (default 1000).
        check_finite : bool
            Reject NaN / Inf in ``Y``.

        Returns
        -------
        CodingResult
            ``x`` (n, k), ``s`` (m, k), ``objective``, ``dual_gap``, ``converged``,
            ``n_iter`` per sample.
        """
        Dt = self._fitted()
        n, m = Dt.shape
        if lam_s is None:
            lam_s = self.lam_s
        elif not (isinstance(lam_s, (int, float, np.number)) and lam_s == np.inf):
            lam_s = _positive(lam_s, "lam_s")
        tol = _positive(tol, "tol")
        max_iter = (
            DEFAULT_MAX_ITER["cd"]
            if max_iter is None
            else _positive(max_iter, "max_iter", integer=True)
        )
        Yt = self._samples(Y, check_finite)
        k = Yt.shape[0]
        if not np.isfinite(lam_s):
            solver = LassoSolver(Dt.T, tol=tol, max_iter=max_iter, n_jobs=1, check_finite=False)
            res = solver.solve(Yt.T, self.lam, check_finite=False)
            return CodingResult(
                x=res.x,
                s=np.zeros((m, k)),
                objective=res.objective,
                dual_gap=res.dual_gap,
                converged=res.converged,
                n_iter=res.n_iter,
                message=res.message,
                history={},
            )
        Xt = np.zeros((k, n))
        St = np.zeros((k, m))
        stats = np.zeros((k, 4))
        b = _Buffers(m, n)
        ones = np.ones(n)
        _kd.robust_code(
            Dt,
            Yt,
            ones,
            ones,
            self.lam,
            float(lam_s),
            Xt,
            St,
            stats,
            tol,
            max_iter,
            b.r,
            b.q,
            b.idx,
            b.score,
            b.H,
        )
        obj = stats[:, 1].copy()
        gap = stats[:, 2].copy()
        conv = gap <= tol * obj
        if conv.all():
            message = f"converged: duality gap <= tol * objective (tol={tol:g})"
        else:
            bad = int((~conv).sum())
            message = (
                f"{bad} of {k} sample(s) stopped at max_iter={max_iter} with relative "
                f"duality gap {np.nanmax(gap / np.maximum(obj, 1e-300)):.3g} > tol={tol:g}; "
                "raise max_iter or tol"
            )
            warn_not_converged(f"RobustDictionaryLearning.decompose: {message}")
        return CodingResult(
            x=Xt.T,
            s=St.T,
            objective=obj,
            dual_gap=gap,
            converged=conv,
            n_iter=stats[:, 0].astype(np.int64),
            message=message,
            history={},
        )

    def __repr__(self) -> str:
        lam_s = "inf" if not self.robust else f"{self.lam_s:g}"
        state = "fitted" if self._Dt is not None else "not fitted"
        return (
            f"RobustDictionaryLearning(n_components={self.n_components}, lam={self.lam:g}, "
            f"lam_s={lam_s}, {state})"
        )


def _warmup() -> None:
    """Compile (or load) the kernels: plain and robust learning, online and stored codes."""
    import warnings

    rng = np.random.default_rng(0)
    Y = rng.standard_normal((6, 12))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lam_s in (np.inf, 1.0):
            model = RobustDictionaryLearning(4, 0.1, lam_s, batch_size=5)
            model.fit(Y, max_iter=2)
            model.partial_fit(Y[:, :5])
            model.decompose(Y[:, :3], max_iter=3)
