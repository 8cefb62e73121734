"""Learned Robust PCA: a solver unrolled into K layers whose parameters are trained on
examples of one problem class, with a fixed latency and a safeguard.

Two networks (see :mod:`fastrpca.robust_pca._unrolled` for the formulas):

``variant="factor"`` (default)
    Learned ScaledGD of Cai, Liu & Yin, "Learned Robust PCA: a scalable deep unfolding
    approach for high-dimensional outlier detection" (NeurIPS 2021): a rank-r start from
    a clipped M, then K scaled gradient steps on the factors, each with a learned
    threshold and step size. No SVD in the loop: O(m n r) per layer.
``variant="ialm"``
    The inexact ALM of :func:`fastrpca.rpca` (Lin, Chen & Ma 2010) unrolled: soft
    threshold, singular value thresholding and dual update per layer, with learned
    penalties ``mu_k`` and weights ``lam_k``. One SVD per layer.

Training (:meth:`LearnedRPCA.fit`) minimises the mean relative squared error of L against
targets (planted truths, or :func:`fastrpca.rpca` solutions), layer by layer (Cai et al.'s
scheme: stage k trains layers 1..k on the error after layer k) with L-BFGS and
gradients written out by hand, including through the SVDs.

The safeguard: after the layers, ``S`` is taken as the entries of ``M - L`` above
``OUTLIER_FACTOR`` (10) times their median magnitude (over a systematic sample of about
``MEDIAN_SAMPLE`` = 4096 entries) and above ``tol ||L||_F /
sqrt(min(m, n))`` (the size of the entries of an error of norm ``tol ||L||`` spread along
one row or column); the rest of ``M - L`` is what the decomposition fails to explain.
On those outlier-free entries, the error estimate is ``||M - L - S|| / ||M||`` (Frobenius
norms over the entries where S is 0). For data that follow the model ``M = L0 + S0`` (S0
sparse) it is the relative error of L there: that of L as a whole when the error is
spread out, less when it sits where the outliers are. An error of L gathered on a row or
a column makes that line look like outliers; so a line holding more entries of S than
sparse outliers would (``LINE_SIGMAS`` binomial standard deviations above the overall
fraction) is refitted: its error is the least-squares fit of its outlier-free residual in
the row (column) space of L, and the part of that fit on its entries in S is added to the
estimate (a line with too few outlier-free entries to fit fails the check). The check
passes when the estimate is at most ``tol / 2`` (``CHECK_MARGIN``). When it fails, or the
layers broke down, the solve continues with :func:`fastrpca.rpca` from the layers'
answer (``init=``) and the result says so.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
from scipy.optimize import minimize

from .._core.config import blas_threads
from .._core.result import warn_not_converged
from .._core.validation import as_array, check_random_state, positive, rng_from
from . import _unrolled
from ._kernels.ialm import norm_and_max
from ._kernels.learned import (
    factor_layers,
    factor_start,
    low_rank_into,
    outlier_split,
    sum_squares,
)
from .ialm import (
    RPCAResult,
    RPCAWorkspace,
    _low_rank_into,
    default_lambda,
    fused_pass_rows,
    row_split,
    rpca,
)
from .svd import make_engine, spectral_norm

__all__ = ["LearnedRPCA", "planted_problems", "OUTLIER_FACTOR"]

VARIANTS = ("factor", "ialm")
#: Entries of M - L above this many times their median magnitude count as outliers.
OUTLIER_FACTOR = 10.0
#: The check accepts the layers' answer when its error estimate is at most tol / this.
CHECK_MARGIN = 2.0
#: The outlier threshold's median is taken over a systematic sample of about this many
#: entries of |M - L|.
MEDIAN_SAMPLE = 4096
#: A row or column holding more entries of S than this many binomial standard deviations
#: above the overall fraction is refitted by the safeguard's check.
LINE_SIGMAS = 4.0
FORMAT_VERSION = 1
#: The factor variant's default rank counts the targets' singular values above this
#: fraction of the largest (rpca's solutions carry tiny spurious ones).
RANK_RTOL = 1e-3
#: The factor variant's start threshold is trained in this many first stages, then frozen.
START_STAGES = 2
# Bounds of the trained parameters (log scale for thresholds, penalties and weights).
_STEP_BOUNDS = (0.01, 3.0)
_LOG_BOUNDS = {"thresholds": (-25.0, 8.0), "mu": (-8.0, 30.0), "lam": (-7.0, 7.0)}


def planted_problems(
    n_problems: int,
    shape: tuple[int, int],
    rank: int,
    fraction: float = 0.05,
    magnitude: float = 500.0,
    random_state=None,
):
    """Planted Robust PCA problems ``M = L0 + S0`` (Lin, Chen & Ma 2010; Candès et al. 2011).

    ``L0 = A B^T`` with standard Gaussian factors; ``S0`` on a uniformly random support
    of ``fraction`` of the entries, values uniform in ``[-magnitude, magnitude]``.

    Parameters
    ----------
    n_problems : int
        How many.
    shape : (m, n).
    rank : int
        Rank of L0.
    fraction : float in [0, 1). Fraction of entries corrupted.
    magnitude : float > 0
        Largest outlier magnitude.
    random_state : None, int or Generator (None = seed 0).

    Returns
    -------
    M, L0, S0 : ndarrays of shape (n_problems, m, n).
    """
    n_problems = positive(n_problems, "n_problems", integer=True)
    m, n = (positive(int(s), "shape", integer=True) for s in shape)
    rank = positive(rank, "rank", integer=True)
    positive(fraction, "fraction", allow_zero=True, upper=0.999)
    positive(magnitude, "magnitude")
    rng = rng_from(random_state)
    L0 = np.empty((n_problems, m, n))
    S0 = np.zeros((n_problems, m, n))
    for i in range(n_problems):
        L0[i] = rng.standard_normal((m, rank)) @ rng.standard_normal((n, rank)).T
        support = rng.random((m, n)) < fraction
        S0[i][support] = rng.uniform(-magnitude, magnitude, int(support.sum()))
    return L0 + S0, L0, S0


class LearnedRPCA:
    """Robust PCA by K trained layers, with a safeguard that finishes with IALM.

    Parameters
    ----------
    n_layers : int
        K, the number of layers (the latency).
    variant : {"factor", "ialm"}
        Learned ScaledGD on rank-r factors (no SVD in the loop)
        or the unrolled IALM of :func:`fastrpca.rpca` (see the module docstring).
    rank : int, optional
        Rank r of the factor variant; default: the largest rank of the
        training targets (singular values above ``RANK_RTOL`` = 1e-3 times the largest).
    lam : float, optional
        Weight of ``||S||_1`` of the Robust PCA problem (the IALM
        variant's reference weight and the safeguard's :func:`rpca`); default
        ``1 / sqrt(max(m, n))``.
    tol : float
        The largest relative error of L the safeguard accepts from the layers
        (its check asks the error estimate to be at most ``tol / 2``; module docstring).
    safeguard : bool
        Continue with :func:`fastrpca.rpca` when the check fails (else the
        result says ``converged=False`` and warns).
    ialm_tol : float, optional
        ``tol`` of the safeguard's :func:`rpca` (its default when
        None).
    power_iter, oversample : int
        Subspace steps and extra columns of the factor variant's
        randomized start.
    random_state : None, int or Generator
        Seeds the start block of the factor variant and
        the safeguard's :func:`rpca` (None = seed 0).

    Notes
    -----
    A model keeps small per-shape buffers: do not call one model from several threads at
    once. With ``workspace=`` the factor variant allocates no array in steady state.

    Examples
    --------
    >>> import fastrpca
    >>> from fastrpca.robust_pca import planted_problems
    >>> M, L0, _ = planted_problems(8, (60, 50), rank=3, random_state=0)
    >>> model = fastrpca.LearnedRPCA(n_layers=6, tol=2e-2).fit(M, L0, max_iter=20)
    >>> M_new, L_new, _ = planted_problems(1, (60, 50), rank=3, random_state=1)
    >>> res = model.solve(M_new[0])  # K layers, then IALM from there if not within tol
    >>> res.n_layers, bool(res.converged)
    (6, True)
    """

    def __init__(
        self,
        n_layers: int = 8,
        *,
        variant: str = "factor",
        rank: int | None = None,
        lam: float | None = None,
        tol: float = 1e-3,
        safeguard: bool = True,
        ialm_tol: float | None = None,
        power_iter: int = 1,
        oversample: int = 5,
        random_state=None,
    ):
        self.n_layers = positive(n_layers, "n_layers", integer=True)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        self.variant = variant
        self.rank = None if rank is None else positive(rank, "rank", integer=True)
        self.lam = None if lam is None else positive(lam, "lam")
        self.tol = positive(tol, "tol")
        self.safeguard = bool(safeguard)
        self.ialm_tol = None if ialm_tol is None else positive(ialm_tol, "ialm_tol", upper=1.0)
        self.power_iter = positive(power_iter, "power_iter", integer=True, allow_zero=True)
        self.oversample = positive(oversample, "oversample", integer=True, allow_zero=True)
        check_random_state(random_state)
        if random_state is None or isinstance(random_state, (int, np.integer)):
            self.seed = int(random_state or 0)
        else:
            self.seed = int(rng_from(random_state).integers(2**31 - 1))
        self.shape: tuple[int, int] | None = None
        self.params: dict[str, np.ndarray] = {}
        self.fit_history: dict[str, np.ndarray] = {}
        self._small: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------ parameters
    def _untrained(self):
        """The untrained schedule: ScaledGD with geometric thresholds, or plain IALM."""
        K = self.n_layers
        if self.variant == "factor":
            return {
                "thresholds": np.r_[1.0, 0.3 * 0.5 ** np.arange(K)],
                "steps": np.full(K, 0.8),
            }
        # rpca's schedule: mu_k = 1.25 rho^k / ||M||_2 (rho = 1.5), lam_k = lam
        return {"mu": 1.25 * 1.5 ** np.arange(K), "lam": np.ones(K)}

    def _require_fit(self) -> tuple[int, int]:
        """The trained shape; a clear error before fit."""
        if self.shape is None:
            raise RuntimeError(
                "this LearnedRPCA is not trained: call fit(matrices) (max_iter=0 for the "
                "untrained schedule) or LearnedRPCA.load(path)"
            )
        return self.shape

    def _factor_rank(self) -> int:
        """The factor variant's rank (set by fit when rank=None)."""
        if self.rank is None:
            raise RuntimeError("the factor variant's rank is set by fit(); call fit first")
        return self.rank

    def _lam0(self):
        return default_lambda(self.shape) if self.lam is None else self.lam

    def _vector(self, layers, first):
        """Free parameters of layers 1..layers as one vector (log scale where positive),
        from the factor variant's start threshold (``first = 0``) or not (``first = 1``)."""
        p = self.params
        if self.variant == "factor":
            x = np.r_[np.log(p["thresholds"][first : layers + 1]), p["steps"][:layers]]
            lo, hi = _LOG_BOUNDS["thresholds"]
            bounds = [(lo, hi)] * (layers + 1 - first) + [_STEP_BOUNDS] * layers
        else:
            x = np.r_[np.log(p["mu"][:layers]), np.log(p["lam"][:layers])]
            bounds = [_LOG_BOUNDS["mu"]] * layers + [_LOG_BOUNDS["lam"]] * layers
        return x, bounds

    def _set_vector(self, x, layers, first):
        p = self.params
        if self.variant == "factor":
            p["thresholds"][first : layers + 1] = np.exp(x[: layers + 1 - first])
            p["steps"][:layers] = x[layers + 1 - first :]
        else:
            p["mu"][:layers] = np.exp(x[:layers])
            p["lam"][:layers] = np.exp(x[layers:])

    # ------------------------------------------------------------ training
    def _loss(self, Ms, Ls, layers, starts=None):
        """Mean relative squared error of L after ``layers`` layers, and its gradient
        w.r.t. the parameters of the first ``layers`` layers. ``starts``: the factor
        variant's starts (:func:`_unrolled.factor_start`) when its threshold is frozen."""
        p = self.params
        total = 0.0
        grads = [np.zeros(layers + 1), np.zeros(layers)]
        if self.variant == "ialm":
            grads = [np.zeros(layers), np.zeros(layers)]
        for i, (M, L0) in enumerate(zip(Ms, Ls)):
            norm = float(np.sum(L0 * L0)) or 1.0
            if self.variant == "factor":
                start = None if starts is None else starts[i]
                X, tape = _unrolled.factor_forward(
                    M, self.rank, p["thresholds"], p["steps"], layers, start
                )
                D = X - L0
                g = _unrolled.factor_backward(tape, 2.0 * D / norm, p["steps"], start is None)
            else:
                X, _, _, tape = _unrolled.ialm_forward(M, p["mu"], p["lam"], self._lam0(), layers)
                D = X - L0
                g = _unrolled.ialm_backward(tape, 2.0 * D / norm, p["mu"], p["lam"])
            total += float(np.sum(D * D)) / norm
            grads[0] += g[0][: grads[0].size]
            grads[1] += g[1][: grads[1].size]
        k = len(Ms)
        return total / k, [g / k for g in grads]

    def loss_and_grads(self, matrices, L, layers: int | None = None):
        """Mean over the matrices of ``||L_K - L*||_F^2 / ||L*||_F^2`` and its gradients.

        Parameters
        ----------
        matrices : array_like (k, m, n) or list of (m, n) arrays.
        L : array_like like ``matrices``. Targets L*.
        layers : int, optional
            Evaluate after this many layers (default all).

        Returns
        -------
        loss : float
        grads : dict
            Gradient w.r.t. each entry of :attr:`params` (zero beyond
            ``layers``).
        """
        self._require_fit()
        Ms, Ls = self._stack(matrices, "matrices"), self._stack(L, "L")
        layers = self.n_layers if layers is None else positive(layers, "layers", integer=True)
        layers = min(layers, self.n_layers)
        loss, (g0, g1) = self._loss(Ms, Ls, layers)
        names = ("thresholds", "steps") if self.variant == "factor" else ("mu", "lam")
        out = {name: np.zeros_like(self.params[name]) for name in names}
        out[names[0]][: g0.size] = g0
        out[names[1]][: g1.size] = g1
        return loss, out

    def _stack(self, matrices, name):
        if isinstance(matrices, np.ndarray) and matrices.ndim == 2:
            raise ValueError(
                f"{name} is one matrix of shape {matrices.shape}; pass a stack (k, m, n) "
                f"or a list of matrices, e.g. [{name}]"
            )
        arrays = [
            as_array(a, f"{name}[{i}]", ndim=2, allow_complex=False).astype(np.float64)
            for i, a in enumerate(matrices)
        ]
        if not arrays:
            raise ValueError(f"{name} is empty; pass at least one example matrix")
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise ValueError(f"{name} mixes shapes {sorted(shapes)}; a model is for one shape")
        if self.shape is not None and arrays[0].shape != self.shape:
            raise ValueError(
                f"{name} has matrices of shape {arrays[0].shape} but the model was trained "
                f"on {self.shape}"
            )
        return arrays

    def fit(self, matrices, L=None, *, max_iter: int = 30) -> LearnedRPCA:
        """Train the layers on example matrices of one shape.

        Parameters
        ----------
        matrices : array_like (k, m, n) or list of (m, n) arrays
            Examples of the problem
            class (e.g. :func:`planted_problems`, or windows of the user's own frames).
        L : array_like like ``matrices``, optional. Target low-rank parts (the planted
            truths); default :func:`fastrpca.rpca` solutions (tol 1e-7).
        max_iter : int >= 0
            L-BFGS iterations per training stage (K stages); 0 keeps the
            untrained schedule (plain IALM for ``variant="ialm"``).

        Returns
        -------
        self
        """
        start = time.perf_counter()
        max_iter = positive(max_iter, "max_iter", integer=True, allow_zero=True)
        self.shape = None
        Ms = self._stack(matrices, "matrices")
        shape = Ms[0].shape
        if L is None:
            Ls = [rpca(M, self.lam, tol=1e-7, random_state=self.seed).L for M in Ms]
        else:
            Ls = self._stack(L, "L")
            if len(Ls) != len(Ms) or Ls[0].shape != shape:
                raise ValueError(
                    f"L holds {len(Ls)} matrices of shape {Ls[0].shape}; the targets of "
                    f"matrices need {len(Ms)} of shape {shape}"
                )
        if self.variant == "factor":
            if self.rank is None:
                self.rank = max(_rank(L0) for L0 in Ls)
                if self.rank == 0:
                    raise ValueError(
                        "the training targets L are all zero (rank 0); the factor variant "
                        "needs rank >= 1: pass rank= or other targets"
                    )
            if self.rank >= min(shape):
                raise ValueError(
                    f"rank={self.rank} must be below min(m, n) = {min(shape)} for the factor "
                    "variant; use variant='ialm'"
                )
        self.shape = shape
        self.params = self._untrained()
        if self.variant == "ialm" and max_iter:
            self._skip_empty_layers(Ms)
        stage_loss = []
        for k in range(1, self.n_layers + 1):
            if max_iter == 0:
                break
            stage_loss.append(self._train_stage(Ms, Ls, k, max_iter))
            if k < self.n_layers:  # the next layer starts from this one's values
                p = self.params
                if self.variant == "factor":
                    p["thresholds"][k + 1] = 0.5 * p["thresholds"][k]
                    p["steps"][k] = p["steps"][k - 1]
                else:
                    p["mu"][k] = 1.5 * p["mu"][k - 1]
                    p["lam"][k] = p["lam"][k - 1]
        errors = np.sqrt([self._loss([M], [L0], self.n_layers)[0] for M, L0 in zip(Ms, Ls)])
        self.fit_history = {
            "stage_loss": np.asarray(stage_loss),
            "train_error": errors,
            "time": np.array([time.perf_counter() - start]),
        }
        self._allocate()
        if max_iter and np.median(errors) > self.tol:
            warnings.warn(
                f"after training, the median relative error of L on the training matrices is "
                f"{np.median(errors):.2e} > tol={self.tol:g}: most solves will continue with "
                "IALM. Train more layers (n_layers), raise max_iter or tol",
                UserWarning,
                stacklevel=2,
            )
        return self

    def _skip_empty_layers(self, Ms):
        """Start training from the plain IALM schedule advanced to the first iteration
        whose L is not zero on every training matrix (before it, the loss is flat: no
        gradient reaches mu or lam)."""
        mu = self.params["mu"]
        for _ in range(60):
            if any(
                np.any(_unrolled.ialm_forward(M, mu, self.params["lam"], self._lam0(), 1)[0])
                for M in Ms
            ):
                return
            mu *= 1.5

    def _train_stage(self, Ms, Ls, layers, max_iter):
        # The factor variant's start threshold is trained in the first START_STAGES stages
        # only, then frozen: its gradient needs a full SVD per matrix and evaluation.
        first = int(self.variant == "factor" and layers > START_STAGES)
        starts = None
        if first:
            t0 = self.params["thresholds"][0]
            starts = [_unrolled.factor_start(M, self.rank, t0) for M in Ms]
        x0, bounds = self._vector(layers, first)

        def objective(x):
            self._set_vector(x, layers, first)
            try:
                with np.errstate(all="ignore"):
                    loss, (g0, g1) = self._loss(Ms, Ls, layers, starts)
            except np.linalg.LinAlgError:
                loss = np.inf
            if not (np.isfinite(loss) and np.all(np.isfinite(g0)) and np.all(np.isfinite(g1))):
                return 1e3, np.zeros_like(x)  # far above any trained log-loss: backtrack
            # log of the loss (its scale spans decades); chain rule to the log parameters
            if self.variant == "factor":
                g0 = g0[first:] * self.params["thresholds"][first : layers + 1]
            else:
                g0 = g0 * self.params["mu"][:layers]
                g1 = g1 * self.params["lam"][:layers]
            return np.log(loss + 1e-300), np.r_[g0, g1] / (loss + 1e-300)

        res = minimize(
            objective,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": max_iter},
        )
        self._set_vector(res.x, layers, first)
        return float(np.exp(res.fun))

    # ------------------------------------------------------------ inference
    def _allocate(self):
        m, n = self._require_fit()
        small = {"zeta": np.empty(self.n_layers), "rows": np.empty(m), "cols": np.empty(n)}
        self._stride = _sample_stride(m, n)
        if self.variant == "factor":
            r = self._factor_rank()
            k = min(r + self.oversample, min(m, n))
            small.update(
                Om=np.random.default_rng(self.seed).standard_normal((n, k)),
                Tb=np.empty((_block_rows(n), n)),
                Q=np.empty((m, k)),
                C=np.empty((n, k)),
                Cb=np.empty((n, k)),
                B=np.empty((k, k)),
                W=np.empty((k, k)),
                w=np.empty(k),
                L=np.empty((m, r)),
                R=np.empty((n, r)),
                FL=np.empty((m, r)),
                FR=np.empty((n, r)),
                Fb=np.empty((n, r)),
                GL=np.empty((r, r)),
                GR=np.empty((r, r)),
            )
        self._small = small

    def _check_input(self, M, check_finite):
        M = as_array(M, "M", ndim=2, allow_complex=False, check_finite=check_finite)
        if M.shape != self.shape:
            raise ValueError(
                f"M has shape {M.shape} but the model was trained on {self.shape} matrices; "
                "train a model for this shape"
            )
        return M

    def solve(
        self,
        M,
        *,
        safeguard: bool | None = None,
        workspace: RPCAWorkspace | None = None,
        check_finite: bool = True,
    ) -> RPCAResult:
        """Split ``M`` into low-rank ``L`` and sparse ``S`` with the trained layers.

        Parameters
        ----------
        M : array_like (m, n), real, of the training shape
            Never modified.
        safeguard : bool, optional
            Override the model's ``safeguard``.
        workspace : RPCAWorkspace, optional
            Reuse its m x n buffers (the returned L, S, Y
            are then views of it, overwritten by the next call): the factor variant then
            allocates no array in steady state.
        check_finite : bool
            Reject NaN / Inf.

        Returns
        -------
        RPCAResult
            ``L``, ``S``, ``Y`` (the dual of the IALM variant or of the safeguard's IALM,
            else None), ``n_layers``, ``safeguard_iter`` (IALM iterations after the
            layers), ``n_iter`` (their sum), ``error_estimate`` (module docstring),
            ``n_outliers``, ``residual`` (``||M - L - S||_F / ||M||_F``),
            ``converged``, ``message``, ``rank``, ``history`` (the safeguard's), ``time``.
        """
        self._require_fit()
        with blas_threads():
            return self._solve(M, safeguard, workspace, check_finite)

    def _solve(self, M, safeguard, workspace, check_finite):
        start = time.perf_counter()
        safeguard = self.safeguard if safeguard is None else bool(safeguard)
        M = self._check_input(M, check_finite)
        ws_obj = workspace if workspace is not None else RPCAWorkspace()
        copy = M.dtype != np.float64 or not M.flags.c_contiguous or ws_obj._holds(M)
        ws = ws_obj.buffers(self.shape, np.float64, "D", "work")
        D = M
        if copy:
            D = ws["D"]
            np.copyto(D, M, casting="unsafe")
        X, S, Y, work = ws["X"], ws["S0"], ws["Y"], ws["work"].reshape(-1)
        K = self.n_layers
        sum_sq = sum_squares(D)
        if not np.isfinite(sum_sq):
            raise ValueError(
                "M holds NaN or Inf (check_finite=False skipped the check), or its squares "
                "overflow; rescale M"
            )
        if sum_sq == 0:
            for a in (X, S, Y):
                a.fill(0)
            zero = (0.0, 0.0, 0)
            return self._result(X, S, Y, K, 0, True, zero, "M is zero: L = S = 0", {}, start)
        if self.variant == "factor":
            layers_done, dual = self._factor_layers(D, sum_sq, ws), None
        else:
            layers_done, dual = self._ialm_layers(D, ws), Y
        floor = self.tol / np.sqrt(min(self._require_fit()))
        rows, cols = self._small["rows"], self._small["cols"]
        res_sq, clean_sq, count = outlier_split(
            D, X, S, work, OUTLIER_FACTOR, floor, self._stride, rows, cols
        )
        hidden, unresolved = 0.0, 0
        if layers_done == K and np.isfinite(res_sq):
            hidden, unresolved = self._refit_lines(D, X, S, count, self._bases)
        estimate = _estimate(res_sq + hidden, clean_sq)
        fields = (estimate, res_sq / sum_sq, count)
        if layers_done == K and CHECK_MARGIN * estimate <= self.tol and not unresolved:
            message = (
                f"{K} learned layers: error estimate {estimate:.2e} <= tol / {CHECK_MARGIN:g}"
                f" ({self.tol:g}), no safeguard iteration"
            )
            return self._result(X, S, dual, K, 0, True, fields, message, {}, start)
        if layers_done < K:
            why = f"the factors lost rank after {layers_done} of {K} layers"
        elif unresolved:
            why = (
                f"after {K} learned layers the outliers filled {unresolved} row(s) or "
                "column(s) too densely to check them (L is wrong along them)"
            )
        else:
            why = (
                f"after {K} learned layers the error estimate was {estimate:.2e} > tol / "
                f"{CHECK_MARGIN:g} ({self.tol:g})"
            )
        if not safeguard:
            message = f"not converged: {why} (safeguard off)"
            warn_not_converged(message)
            return self._result(X, S, dual, K, 0, False, fields, message, {}, start)
        init = (X, S) if dual is None else (X, S, dual)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = rpca(
                D,
                self._lam0(),
                tol=self.ialm_tol,
                init=init,
                workspace=ws_obj,
                random_state=self.seed,
                check_finite=False,
            )
        spare = ws["S1"] if np.shares_memory(res.S, S) else S  # not holding the result
        res_sq, clean_sq, _ = outlier_split(
            D, res.L, spare, work, OUTLIER_FACTOR, floor, self._stride, rows, cols
        )
        estimate = _estimate(res_sq, clean_sq)
        message = (
            f"{why}; the safeguard continued with IALM from it: {res.message} "
            f"(error estimate now {estimate:.2e})"
        )
        if not res.converged:
            warn_not_converged(message)
        fields = (estimate, res.residual**2, int(np.count_nonzero(res.S)))
        out = self._result(
            res.L, res.S, res.Y, K, res.n_iter, res.converged, fields, message, res.history, start
        )
        out.rank = res.rank
        return out

    def _factor_layers(self, D, sum_sq, ws):
        s = self._small
        p = self.params
        scale = np.sqrt(sum_sq / D.size)
        factor_start(
            D,
            p["thresholds"][0] * scale,
            s["Om"],
            s["Tb"],
            s["Q"],
            s["C"],
            s["Cb"],
            s["B"],
            s["W"],
            s["w"],
            s["L"],
            s["R"],
            self.power_iter,
        )
        np.multiply(p["thresholds"][1:], scale, out=s["zeta"])
        done = factor_layers(
            D,
            s["zeta"],
            p["steps"],
            s["Tb"],
            s["L"],
            s["R"],
            s["FL"],
            s["FR"],
            s["Fb"],
            s["GL"],
            s["GR"],
        )
        low_rank_into(s["L"], s["R"], ws["X"], s["Tb"].shape[0])
        self._bases = (s["R"], s["L"])  # the row and column spaces of L = L_f R_f^T
        return done

    def _ialm_layers(self, D, ws):
        p = self.params
        X, S_cur, S_next, Y = ws["X"], ws["S0"], ws["S1"], ws["Y"]
        lam0 = self._lam0()
        norm_two = spectral_norm(D, self.seed)
        _, max_abs, _ = norm_and_max(D)
        mus = p["mu"] / norm_two
        lams = p["lam"] * lam0
        engine = make_engine("auto", self.shape, np.float64, self.seed)
        split = row_split(D.shape, D.dtype)

        def pass_(*args):
            return fused_pass_rows(split, *args)

        X.fill(0)
        S_cur.fill(0)
        np.multiply(D, 1.0 / max(norm_two, max_abs / lam0), out=Y)
        pass_(D, X, S_cur, S_next, Y, 0.0, mus[0], lams[0], None, None)
        S_cur, S_next = S_next, S_cur
        K = self.n_layers
        for k in range(K):
            U, s, Vh = engine(X, 1.0 / mus[k])
            factors = (U * (s - 1.0 / mus[k]), Vh)
            _low_rank_into(factors, X, split)
            nxt = min(k + 1, K - 1)
            pass_(D, X, S_cur, S_next, Y, mus[k], mus[nxt], lams[nxt], None, None)
            if k < K - 1:
                S_cur, S_next = S_next, S_cur
        _low_rank_into(factors, X, split)
        self._ialm_rank = s.size
        self._bases = (Vh.T, U)
        return K

    def _refit_lines(self, D, X, S, count, bases):
        """The safeguard's line check (module docstring): ``(hidden, unresolved)``, the
        squared error the refits find on the entries of S of the over-full lines, and how
        many such lines had too few outlier-free entries to fit. Allocates nothing unless
        a line is over-full."""
        m, n = D.shape
        p = count / (m * n)
        hidden, unresolved = 0.0, 0
        counts = (self._small["rows"], self._small["cols"])
        for axis, (basis, length) in enumerate(zip(bases, (n, m))):
            bound = (p + LINE_SIGMAS * np.sqrt(p * (1 - p) / length)) * length + 1
            if counts[axis].max() <= bound:
                continue
            for i in np.flatnonzero(counts[axis] > bound):
                line = (D[i] - X[i]) if axis == 0 else (D[:, i] - X[:, i])
                flagged = (S[i] if axis == 0 else S[:, i]) != 0
                if np.count_nonzero(~flagged) < 2 * basis.shape[1] + 2:
                    unresolved += 1
                    continue
                coef = np.linalg.lstsq(basis[~flagged], line[~flagged], rcond=None)[0]
                hidden += float(np.sum((basis[flagged] @ coef) ** 2))
        return hidden, unresolved

    def _result(self, L, S, Y, layers, extra, converged, fields, message, history, start):
        estimate, residual_sq, count = fields
        if extra:
            rank = 0  # the caller sets the safeguard's
        elif self.variant == "factor":
            rank = self._factor_rank()
        else:
            rank = getattr(self, "_ialm_rank", 0)
        return RPCAResult(
            L=L,
            S=S,
            Y=Y,
            rank=int(rank),
            n_iter=layers + extra,
            n_layers=layers,
            safeguard_iter=extra,
            converged=bool(converged),
            error_estimate=float(estimate),
            residual=float(np.sqrt(residual_sq)),
            n_outliers=int(count),
            message=message,
            history=history,
            lam=float(self._lam0()),
            tol=self.tol,
            svd=f"learned-{self.variant}",
            time=time.perf_counter() - start,
        )

    def predict(self, matrices, *, safeguard: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Low-rank and sparse parts of a batch, one :meth:`solve` per matrix.

        Parameters
        ----------
        matrices : array_like (k, m, n) or list of (m, n) arrays of the training shape.
        safeguard : bool, optional
            Override the model's ``safeguard``.

        Returns
        -------
        L, S : ndarrays (k, m, n).
        """
        self._require_fit()
        Ms = self._stack(matrices, "matrices")
        m, n = Ms[0].shape
        L = np.empty((len(Ms), m, n))
        S = np.empty_like(L)
        ws = RPCAWorkspace()
        for i, M in enumerate(Ms):
            res = self.solve(M, safeguard=safeguard, workspace=ws, check_finite=False)
            L[i], S[i] = res.L, res.S
        return L, S

    # ------------------------------------------------------------ persistence
    def save(self, path) -> None:
        """Write the trained parameters and settings to a ``.npz`` file (no pickle).

        Parameters
        ----------
        path : str or path-like
            The file to write.
        """
        self._require_fit()
        fields: dict[str, Any] = {
            "format_version": np.array(FORMAT_VERSION),
            "variant": np.array(self.variant),
            "n_layers": np.array(self.n_layers),
            "shape": np.array(self.shape),
            "rank": np.array(-1 if self.rank is None else self.rank),
            "lam": np.array(np.nan if self.lam is None else self.lam),
            "tol": np.array(self.tol),
            "safeguard": np.array(self.safeguard),
            "ialm_tol": np.array(np.nan if self.ialm_tol is None else self.ialm_tol),
            "power_iter": np.array(self.power_iter),
            "oversample": np.array(self.oversample),
            "seed": np.array(self.seed),
        }
        fields.update({f"param_{k}": v for k, v in self.params.items()})
        np.savez(path, **fields)

    @classmethod
    def load(cls, path) -> LearnedRPCA:
        """A model from a file written by :meth:`save`.

        Parameters
        ----------
        path : str or path-like
            The ``.npz`` file.

        Returns
        -------
        LearnedRPCA
        """
        try:
            with np.load(path, allow_pickle=False) as f:
                data = {k: f[k] for k in f.files}
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read a LearnedRPCA from {str(path)!r}: {exc}") from exc
        if int(data.get("format_version", -1)) != FORMAT_VERSION:
            raise ValueError(
                f"{str(path)!r} is not a LearnedRPCA file of format {FORMAT_VERSION} (written "
                "by LearnedRPCA.save)"
            )
        rank = int(data["rank"])
        lam, ialm_tol = float(data["lam"]), float(data["ialm_tol"])
        model = cls(
            int(data["n_layers"]),
            variant=str(data["variant"]),
            rank=None if rank < 0 else rank,
            lam=None if np.isnan(lam) else lam,
            tol=float(data["tol"]),
            safeguard=bool(data["safeguard"]),
            ialm_tol=None if np.isnan(ialm_tol) else ialm_tol,
            power_iter=int(data["power_iter"]),
            oversample=int(data["oversample"]),
        )
        model.seed = int(data["seed"])
        m, n = (int(s) for s in data["shape"])
        model.shape = (m, n)
        names = ("thresholds", "steps") if model.variant == "factor" else ("mu", "lam")
        expected = model._untrained()
        for name in names:
            value = np.asarray(data.get(f"param_{name}"), dtype=np.float64)
            if value.shape != expected[name].shape or not np.all(np.isfinite(value)):
                raise ValueError(f"{str(path)!r} holds a damaged parameter {name!r}")
            model.params[name] = value.copy()
        model._allocate()
        return model


def _sample_stride(m, n):
    """Stride of the systematic sample (about ``MEDIAN_SAMPLE`` entries) over which the
    outlier threshold's median is taken; coprime with n, so every column is visited."""
    stride = max(1, (m * n) // MEDIAN_SAMPLE)
    while stride > 1 and np.gcd(stride, n) != 1:
        stride += 1
    return stride


def _rank(L):
    """Number of singular values above ``RANK_RTOL`` times the largest."""
    s = np.linalg.svd(L, compute_uv=False)
    return int(np.count_nonzero(s > RANK_RTOL * s[0])) if s[0] > 0 else 0


def _block_rows(n):
    """Rows per block of the factor kernels: about 32 KiB of float64 per block."""
    return int(min(64, max(4, 4096 // n)))


def _estimate(res_sq, clean_sq):
    if clean_sq > 0:
        return float(np.sqrt(res_sq / clean_sq))
    return 0.0 if res_sq == 0 else float("inf")


def _warmup() -> None:
    """Compile (or load) the learned-layer kernels."""
    M, L0, _ = planted_problems(2, (12, 10), 2, random_state=0)
    model = LearnedRPCA(n_layers=2, safeguard=False).fit(M, L0, max_iter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.solve(M[0], workspace=RPCAWorkspace())
