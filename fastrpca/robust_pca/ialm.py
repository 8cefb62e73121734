"""Robust PCA by the inexact augmented Lagrange multiplier method (IALM), exact and stable.

Exact principal component pursuit (``delta = 0``, the default) solves
``min ||L||_* + lam ||S||_1  s.t.  M = L + S`` (on the observed entries) following
Lin, Chen & Ma, "The augmented Lagrange multiplier method for exact recovery of corrupted
low-rank matrices" (2010), Algorithm 5, with the defaults of the authors'
``inexact_alm_rpca.m``.

Stable principal component pursuit (``delta > 0``; Zhou, Li, Wright, Candès & Ma,
"Stable principal component pursuit", ISIT 2010) adds dense noise:
``min ||L||_* + lam ||S||_1  s.t.  M = L + S + E,  ||E||_F <= delta``. It is solved by
the same alternating scheme with a third block: S (soft threshold), then E (projection
onto the Frobenius ball of radius ``delta``), then L (singular value thresholding), then
the dual ascent ``Y += mu (M - L - S - E)``, with the same penalty schedule and stopping
rule. Real footage needs it: without E, the sensor noise goes into L (its rank, and the
cost of every SVD, explode) or into S (false alarms).

The elementwise work of an iteration is one fused kernel pass (two with E: the
projection needs a global norm), :mod:`fastrpca.robust_pca._kernels.ialm`; the SVD is
delegated to an engine of :mod:`fastrpca.robust_pca.svd`, optionally capped at ``rank``
triplets.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial
from typing import Any

import numpy as np

from .._core.concurrency import SERIAL, Exclusive, RowSplit
from .._core.config import PARALLEL_MIN_SIZE, blas_threads, kernel_threads
from .._core.result import Result, stop_requested, warn_not_converged
from .._core.validation import (
    NUMERIC,
    as_array,
    check_all_finite,
    check_random_state,
    ldexp,
    positive,
    scale_exponent,
)
from ._kernels.ialm import (
    fused_pass,
    norm_and_max,
    project_pass,
    svt_input,
    tiled_pass,
    tiled_project,
)
from .svd import (
    ENGINES,
    DenseOperator,
    PrefetchedOperator,
    RandomizedSVD,
    WideRandomizedSVD,
    make_engine,
    spectral_norm,
)


class RPCAResult(Result):
    """Outcome of :func:`rpca`; unpacks as ``L, S = result``.

    Attributes
    ----------
    L, S : ndarray
        Low-rank and sparse parts (``M = L + S (+ E)`` to ``tol`` on observed
        entries; on unobserved entries L is the low-rank estimate and S is 0).
    E : ndarray or None
        The dense noise part of stable PCP (``||E||_F <= delta``; 0 on
        unobserved entries); None for exact PCP (``delta = 0``).
    Y : ndarray
        Final dual variable (Lagrange multiplier).
    rank : int
        Rank of L.
    n_iter : int
        Iterations (SVDs) done.
    converged : bool
        Whether ``residual < tol``.
    residual : float
        ``||M - L - S - E||_F / ||M||_F`` over observed entries.
    message : str.
    history : dict of ndarrays ``residual``, ``rank``, ``mu`` per iteration (and
        ``e_norm``, ``||E||_F``, for stable PCP).
    lam, mu, tol : float
        The sparsity weight, the final penalty, the tolerance used.
    delta : float
        The bound on ``||E||_F`` (0 for exact PCP).
    sigma : float or None
        The noise level estimated for ``delta="auto"``
        (:func:`fastrpca.robust_pca.frames.noise_sigma`), None otherwise.
    e_norm : float
        ``||E||_F`` (0 for exact PCP).
    max_rank : int or None
        The rank cap used.
    svd : str
        SVD engine used.
    time : float
        Wall-clock seconds.
    """

    L: np.ndarray
    S: np.ndarray
    E: np.ndarray | None
    Y: np.ndarray
    rank: int
    residual: float
    lam: float
    mu: float
    tol: float
    delta: float
    sigma: float | None
    e_norm: float
    max_rank: int | None
    svd: str
    time: float

    def __iter__(self):
        return iter((self.L, self.S))


def default_lambda(shape) -> float:
    """``1 / sqrt(max(m, n))``, the weight of Candès, Li, Ma & Wright (2011).

    Parameters
    ----------
    shape : tuple of int
        Shape ``(m, n)`` of the matrix to decompose.

    Returns
    -------
    float
        The default ``lam`` of :func:`rpca`.
    """
    return 1.0 / np.sqrt(max(shape))


def _check_delta(delta):
    if isinstance(delta, str):
        if delta != "auto":
            raise ValueError(f"delta must be a number >= 0 or 'auto', got {delta!r}")
        return delta
    if isinstance(delta, bool) or not isinstance(delta, (int, float, np.integer, np.floating)):
        raise TypeError(f"delta must be a number >= 0 or 'auto', got {type(delta).__name__}")
    return positive(delta, "delta", allow_zero=True)


def _validate(M, lam, tol, max_iter, mu, rho, svd, mask, check_finite):
    M = as_array(M, "M", ndim=2, min_size=2, check_finite=False)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != bool:
            raise TypeError(
                f"mask must be a boolean array (True = observed), got dtype "
                f"{mask.dtype}; use mask=np.asarray(mask, bool)"
            )
        if mask.shape != M.shape:
            raise ValueError(f"mask has shape {mask.shape} but M has shape {M.shape}")
        if not mask.any():
            raise ValueError("mask has no observed entry (all False)")
        if check_finite:
            check_all_finite(M[mask], "M", hint=" at observed positions (mask True)")
        if mask.all():
            mask = None
    elif check_finite:
        check_all_finite(M, "M", hint="; pass mask=np.isfinite(M) to treat them as missing")
    lam = default_lambda(M.shape) if lam is None else positive(lam, "lam")
    if tol is None:
        tol = 1e-7 if M.real.dtype == np.float64 else 1e-6
    tol = positive(tol, "tol", upper=1.0)
    positive(max_iter, "max_iter", integer=True)
    if mu is not None:
        positive(mu, "mu")
    if positive(rho, "rho") < 1:
        raise ValueError(f"rho must be >= 1 (the penalty may not shrink), got {rho}")
    if svd not in ENGINES:
        raise ValueError(f"svd must be one of {ENGINES}, got {svd!r}")
    return M, lam, tol, mask


def rpca(
    M,
    lam: float | None = None,
    *,
    delta: float | str = 0.0,
    rank: int | None = None,
    tol: float | None = None,
    max_iter: int = 1000,
    mu: float | None = None,
    rho: float = 1.5,
    svd: str = "auto",
    mask: np.ndarray | None = None,
    random_state=None,
    callback: Callable | None = None,
    check_finite: bool = True,
    init=None,
    workspace: RPCAWorkspace | None = None,
) -> RPCAResult:
    """Split ``M`` into a low-rank ``L``, a sparse ``S`` and, optionally, dense noise ``E``.

    Exact principal component pursuit (``delta = 0``) or stable principal component
    pursuit (``delta > 0``: ``M = L + S + E`` with ``||E||_F <= delta``), by the inexact
    ALM; see the module notes.

    Parameters
    ----------
    M : array_like, shape (m, n)
        float32 / float64 / complex64 / complex128 (integers
        are promoted to float64); computed in M's precision. Never modified. A
        ``dask.array.Array`` is solved in row blocks on the Dask scheduler in use
        (:func:`fastrpca.robust_pca.dask.rpca_dask`: the same iterations, the result's
        L lazy and S, Y persisted; needs ``pip install 'fastrpca[dask]'``).
    lam : float, optional
        Weight of ``||S||_1``; default ``1 / sqrt(max(m, n))``
        (the theory's value; the original MATLAB code used ``1 / sqrt(m)``).
    delta : float or "auto"
        Bound on the Frobenius norm of the dense noise ``E``, in
        M's units. 0 (default) is exact PCP, ``M = L + S``. ``"auto"`` estimates it for
        M's columns seen as consecutive frames of a camera:
        ``delta = sqrt(N + sqrt(8 N)) * sigma`` (N observed entries; the mean plus two
        standard deviations of ``||E||_F`` for i.i.d. noise of deviation sigma), with
        sigma from gain-compensated differences of consecutive columns
        (:func:`fastrpca.robust_pca.frames.noise_sigma`, computed on a random sample of
        at most 2**18 differences, about 17 ms). Noise-free data give
        ``sigma = 0``, hence exact PCP. For other matrices pass your own delta.
    rank : int, optional
        Cap on the rank of L: each singular value thresholding keeps
        at most this many triplets (the largest), and the SVD engines compute no more
        (``"randomized"``: a block of at most ``rank`` plus its oversampling margin).
        A cap at or above the rank the solver would find changes nothing; below it the
        problem is no longer convex and L is the best it can do with ``rank``
        components. Use it when the background's rank is known (2-5 for a static camera
        under changing light) to bound each SVD's cost.
    tol : float, optional
        Stop when ``||M - L - S - E||_F / ||M||_F < tol``. Default 1e-7
        (the reference's) for float64 / complex128, 1e-6 for float32 / complex64, whose
        rounding noise (about 1.2e-7 relative) keeps 1e-7 out of reach.
    max_iter : int
        Iteration limit (one SVD per iteration).
    mu : float, optional
        Initial penalty; default ``1.25 / ||M||_2``. It grows by
        ``rho`` per iteration up to ``1e7`` times its start.
    rho : float
        Penalty growth factor, ``>= 1``.
    svd : {"auto", "full", "partial", "randomized"}
        SVD engine (see
        :mod:`fastrpca.robust_pca.svd`); all reach the same decomposition to the tolerance.
    mask : ndarray of bool, optional
        True where M is observed. Unobserved entries carry
        no constraint: L is imputed there and S is 0 (Robust PCA with missing data).
    random_state : None, int or Generator
        Seeds the randomized SVD's start block;
        a fixed seed gives bit-identical results, and None means seed 0, so repeated
        calls on the same M agree bit for bit (pass a Generator for fresh draws).
    callback : callable, optional
        Called as ``callback(info)`` after each iteration, with
        ``info.n_iter``, ``info.residual``, ``info.rank`` and ``info.mu``; returning True
        stops the solver.
    check_finite : bool
        Reject NaN / Inf (at observed entries). Skip in trusted loops.
    init : RPCAResult or (L, S) or (L, S, Y), optional
        Warm start: begin from this
        decomposition (and dual, when given) instead of zeros, e.g. the previous
        window's result. ``mu`` restarts from its default: IALM's iteration count is set
        mostly by the penalty schedule, and starting it high gives wrong answers, so a
        warm start saves a quarter to a half of the iterations, not all of them. E
        starts from 0.
    workspace : RPCAWorkspace, optional
        Reuse its m x n buffers across calls (no large
        allocation in steady state). The returned L, S, E and Y are then views of the
        workspace, overwritten by the next call: copy them to keep them.

    Notes
    -----
    Threads: matrices of at least ``FASTRPCA_PARALLEL_MIN_SIZE`` entries (1e6) are cut
    into row ranges, one per thread (numba's thread count: ``NUMBA_NUM_THREADS`` or
    ``numba.set_num_threads``), and the iterations' passes and m x n products run on them
    side by side; the start (norms, Lanczos) and the thin factorisations stay on one.
    Several solves in threads of their own share fastrpca's pool (their ranges queue).
    BLAS is held to one thread inside each range (``FASTRPCA_BLAS_THREADS`` changes it, 0
    leaves BLAS alone): OpenBLAS's idle threads spin, and a second BLAS pool fighting the
    ranges for the cores made the solve several times slower.

    With the randomized engine, a matrix at least 4 times taller than wide (a video's
    pixels x frames), or of at least 16 MB, runs each iteration as one pass over row
    tiles: L's tile, the fused pass and the next SVD step's products while the tile is in
    cache (same iterates to rounding, about 1.9x faster on a 20000 x 200 video matrix,
    1.0-1.1x on squares of 1500-2000; smaller squares keep the separate passes).
    ``FASTRPCA_TILED=1`` / ``0`` forces it on / off.
    For exact PCP it keeps the SVT input in cache only, so its peak memory is about 3.4
    copies of M beside M (the result's L, S and Y are three), against about 4.5 for the
    separate passes.

    Stable PCP costs a second, lighter pass over memory per iteration and one more m x n
    buffer (E). The noise it takes out of L keeps the rank, hence every SVD, small: on
    camera frames it is usually faster than exact PCP.

    The answer scales with M: an M whose entries are far from 1 (their squares would
    over- or underflow) is solved scaled by a power of two, exactly, and L, S and E are
    scaled back, so any finite M works. The tolerance is relative to ``||M||_F``: one
    entry ``1 / tol`` times larger than all others takes the whole budget and leaves L
    at 0 (as in the reference); treat such entries as missing with ``mask``.

    Returns
    -------
    RPCAResult : with ``L``, ``S``, ``E``, ``rank``, ``n_iter``, ``converged``,
        ``residual``, ``message``, ``history``, ``delta``, ``sigma`` and ``e_norm``;
        ``L, S = rpca(M)`` also works.

    Examples
    --------
    >>> import numpy as np, fastrpca
    >>> rng = np.random.default_rng(0)
    >>> L0 = rng.standard_normal((100, 3)) @ rng.standard_normal((3, 80))
    >>> S0 = np.where(rng.random((100, 80)) < 0.05, 10.0, 0.0)
    >>> L, S = fastrpca.rpca(L0 + S0)
    >>> bool(np.allclose(L, L0, atol=1e-5))
    True
    """
    # one argument list for both solvers (their positional signatures match)
    args = (
        M, lam, delta, rank, tol, max_iter, mu, rho, svd, mask, random_state, callback,
        check_finite, init, workspace,
    )  # fmt: skip
    if _is_dask_array(M):
        return _rpca_dask(*args)
    if workspace is not None and not isinstance(workspace, RPCAWorkspace):
        raise TypeError(
            f"workspace must be a fastrpca.RPCAWorkspace() or None, got {type(workspace).__name__}"
        )
    guard = workspace._in_use if workspace is not None else nullcontext()
    with blas_threads(), guard:
        return _solve(*args)


def _is_dask_array(x) -> bool:
    return type(x).__module__.split(".")[0] == "dask" and hasattr(x, "chunks")


def _rpca_dask(
    M,
    lam,
    delta,
    rank,
    tol,
    max_iter,
    mu,
    rho,
    svd,
    mask,
    random_state,
    callback,
    check_finite,
    init,
    workspace,
):
    if init is not None or workspace is not None:
        raise TypeError(
            "init and workspace apply to in-memory arrays; for a dask array M, continue a "
            "run with fastrpca.robust_pca.dask.rpca_dask(M, resume=checkpoint_path)"
        )
    from .dask import rpca_dask

    return rpca_dask(
        M,
        lam,
        delta=delta,
        rank=rank,
        tol=tol,
        max_iter=max_iter,
        mu=mu,
        rho=rho,
        svd=svd,
        mask=mask,
        random_state=random_state,
        callback=callback,
        check_finite=check_finite,
    )


def _solve(
    M,
    lam,
    delta,
    max_rank,
    tol,
    max_iter,
    mu,
    rho,
    svd,
    mask,
    random_state,
    callback,
    check_finite,
    init,
    workspace,
):
    start = time.perf_counter()
    random_state = 0 if check_random_state(random_state) is None else random_state
    delta = _check_delta(delta)
    if max_rank is not None:
        max_rank = positive(max_rank, "rank", integer=True)
    M, lam, tol, mask = _validate(M, lam, tol, max_iter, mu, rho, svd, mask, check_finite)
    sigma = None
    if delta == "auto":
        from .frames import noise_sigma

        sigma = noise_sigma(M, mask=mask, random_state=random_state, check_finite=False)
        n_obs = M.size if mask is None else int(np.count_nonzero(mask))
        delta = float(np.sqrt(n_obs + np.sqrt(8.0 * n_obs)) * sigma)
    stable = delta > 0
    if workspace is not None and workspace._holds(M):
        M = M.copy()  # e.g. rpca(previous.S, workspace=ws): the solve overwrites those buffers
    # Work on a C-ordered matrix; a Fortran-ordered M is solved as its transpose (RPCA and
    # every default are symmetric under transposition), so no copy is made.
    transposed = M.flags.f_contiguous and not M.flags.c_contiguous
    if transposed:
        M = M.T
        mask = None if mask is None else mask.T
    shape, dtype = M.shape, M.dtype
    copy_M = mask is not None or not M.flags.c_contiguous
    extra = (("mask",) if mask is not None else ()) + (("E",) if stable else ())
    engine = make_engine(svd, shape, dtype, random_state, max_rank=max_rank, in_memory=True)
    # The tiled step of exact PCP keeps the SVT input in cache only: no m x n X buffer (the
    # SVD reads it from the spare S buffer when it needs more than the step's products).
    tiled = _use_tiles(engine, shape, dtype)
    keep_x = stable or not tiled or isinstance(engine, WideRandomizedSVD)  # (wants an array)
    # Without a workspace of the caller's, a masked M is zero-filled into a temporary for
    # the norms only: the kernels never read an unobserved entry, so the solve reads M
    # itself, and the m x n buffers are allocated once the temporary is gone.
    temporary_D = mask is not None and workspace is None and M.flags.c_contiguous
    workspace = workspace or RPCAWorkspace()
    d_name = ("D",) if copy_M and not temporary_D else ()

    def buffers():
        ws = workspace.buffers(shape, dtype, *d_name, *extra, x=keep_x)
        # X: the SVT input (then L); without its own buffer, the spare S buffer, which holds
        # the previous S (dead once the convergence test failed) during the SVD.
        X = ws["X"] if keep_x else ws["S1"]
        return ws, X, ws["S0"], ws["S1"], ws["Y"], (ws["E"] if stable else None)

    if mask is None:
        D = M if M.flags.c_contiguous else _copy_into(buffers()[0]["D"], M)
    else:
        D = np.empty(shape, dtype) if temporary_D else buffers()[0]["D"]
        D.fill(0)
        np.copyto(D, M, where=mask)
        mask = mask if mask.flags.c_contiguous else _copy_into(buffers()[0]["mask"], mask)
    info = {"delta": delta, "sigma": sigma, "max_rank": max_rank, "stable": stable}

    sum_sq, max_abs, part = norm_and_max(D)
    if not np.isfinite(sum_sq) and not np.isfinite(D).all():
        raise ValueError(
            "M holds NaN or Inf (check_finite=False skipped the check); "
            "pass mask=np.isfinite(M) to treat them as missing"
        )
    # The answer scales with M: work on M * 2**-e when |M|^2 would over- or underflow
    # (or M is far from 1) and scale L, S and E back; exact, a power of two changes no
    # mantissa. delta scales with M too.
    e = scale_exponent(part, dtype, force=not np.isfinite(sum_sq) or (sum_sq == 0 < part))
    if e:
        src = D
        if D is M:  # no copy was made: scale into the workspace's D buffer
            d_name = ("D",)
            D = buffers()[0]["D"]
        ldexp(src, -e, out=D)
        sum_sq, max_abs, _ = norm_and_max(D)
        delta = float(np.ldexp(delta, -e))
    d_norm = float(np.sqrt(sum_sq))
    if d_norm == 0:
        _, X, S_cur, _, Y, E = buffers()
        for a in (X, S_cur, Y) + ((E,) if stable else ()):
            a.fill(0)
        return _finish(
            X,
            S_cur,
            E,
            0.0,
            Y,
            0,
            0,
            True,
            0.0,
            "M is zero: L = S = 0",
            _empty_history(stable),
            lam,
            mu or 0.0,
            tol,
            svd,
            start,
            transposed,
            info,
        )

    split = row_split(shape, dtype)  # row ranges run side by side
    norm_two = spectral_norm(D, random_state, threads=split.count)
    masked_M = temporary_D and not e  # the solve reads M (D, zero-filled, is dropped)
    if masked_M:
        D = M
    _, X, S_cur, S_next, Y, E = buffers()
    if mu is None:
        mu = 1.25 / norm_two
    else:
        mu = float(np.ldexp(mu, e))  # mu ~ 1 / ||M||: the scaled problem's mu
    mu_bar = 1e7 * mu
    rows = tile_rows(shape[1], dtype)

    pass_ = partial(fused_pass_rows, split)
    project = partial(project_pass_rows, split)

    delta2 = delta * delta
    e_norm = 0.0

    # X holds the SVT input, then L; S_cur / S_next alternate so the pair (L, S) of the
    # last completed iteration survives the pass that computes the next S.
    if init is None:
        X.fill(0)
        S_cur.fill(0)
        scale = 1.0 / max(norm_two, max_abs / lam)  # the original's dual start, D * scale
        if masked_M:
            Y.fill(0)
            np.multiply(M, scale, out=Y, where=mask)
        else:
            np.multiply(D, scale, out=Y)
    else:
        _start_from(init, X, S_cur, Y, transposed)
        if e:
            ldexp(X, -e, out=X)
            ldexp(S_cur, -e, out=S_cur)
    if E is not None:
        E.fill(0)
    # first S (and E) and SVT input, from L
    if keep_x:
        _, w2 = pass_(D, X, S_cur, S_next, Y, 0.0, mu, lam, mask, E)
        if stable:
            e_norm = _project(project, D, X, S_next, Y, E, mu, w2, delta, delta2, mask)
        S_cur, S_next = S_next, S_cur
    else:  # X is the spare S buffer: the first S overwrites the start's in place
        pass_(D, X, S_cur, S_cur, Y, 0.0, mu, lam, mask, E)

    history = _empty_history(stable)
    converged, stopped = False, False
    tiles = _Tiles(engine, shape, dtype, split, keep_x) if tiled else None
    prefetch: tuple = ()
    factors = None
    for n_iter in range(1, max_iter + 1):
        op: Any = X  # the full and partial engines take arrays
        if not keep_x and factors is not None:  # (the first SVT input is in X)
            op = _SpareX(
                _svt_input_into(S_next, D, S_cur, Y, mu, mask, factors, rows, split), split
            )
            op.prefetched(*prefetch)
        elif prefetch:
            W, P, G, H = prefetch
            op = PrefetchedOperator(X, W, P, G, H, split)
        elif isinstance(engine, RandomizedSVD):
            op = DenseOperator(X, split)
        U, s, Vh = engine(op, 1.0 / mu)
        factors = (U * (s - 1.0 / mu).astype(U.dtype), Vh)
        mu_next = min(rho * mu, mu_bar)
        if tiles is None:
            _low_rank_into(factors, X, split)
            z2, w2 = pass_(D, X, S_cur, S_next, Y, mu, mu_next, lam, mask, E)
        else:
            z2, w2, prefetch = tiles.step(
                D, X, S_cur, S_next, Y, mu, mu_next, lam, mask, E, factors
            )
        residual = np.sqrt(z2) / d_norm
        rank = s.size
        history["residual"].append(residual)
        history["rank"].append(rank)
        history["mu"].append(np.ldexp(mu, -e))
        if stable:
            history["e_norm"].append(np.ldexp(e_norm, e))
        converged = bool(residual < tol)
        if not np.isfinite(residual):  # NaN / Inf got in (check_finite=False on bad data)
            break
        if callback is not None and not converged:
            stopped = stop_requested(
                callback, n_iter=n_iter, residual=residual, rank=rank, mu=np.ldexp(mu, -e)
            )
        if converged or stopped or n_iter == max_iter:
            break
        if stable and tiles is not None:
            e_norm, prefetch = tiles.project(D, X, S_next, Y, E, mu_next, w2, delta, mask)
        elif stable:  # E and the next SVT input, once ||W|| is known
            e_norm = _project(project, D, X, S_next, Y, E, mu_next, w2, delta, delta2, mask)
        S_cur, S_next = S_next, S_cur
        mu = mu_next

    if not keep_x:
        X = S_next  # the spare S buffer (the last pass's S, not returned)
    if not stable:
        _low_rank_into(factors, X, split)  # the pass overwrote L with the next SVT input
    if e:
        for a in (X, S_cur) + ((E,) if stable else ()):
            ldexp(a, e, out=a)
        e_norm = float(np.ldexp(e_norm, e))
    if converged:
        message = f"converged: residual {residual:.2e} < tol {tol:.0e} in {n_iter} iterations"
    elif stopped:
        message = f"stopped by callback after {n_iter} iterations (residual {residual:.2e})"
    elif not np.isfinite(residual):
        message = (
            f"stopped at iteration {n_iter}: the residual became {residual} (numerical breakdown)"
        )
        warn_not_converged(message)
    else:
        message = (
            f"not converged: residual {residual:.2e} >= tol {tol:.0e} after "
            f"max_iter={max_iter} iterations; raise max_iter or tol"
        )
        warn_not_converged(message)
    return _finish(
        X,
        S_cur,
        E,
        e_norm,
        Y,
        rank,
        n_iter,
        converged,
        residual,
        message,
        history,
        lam,
        np.ldexp(mu, -e),
        tol,
        engine.name,
        start,
        transposed,
        info,
    )


def _empty_history(stable):
    keys = ("residual", "rank", "mu") + (("e_norm",) if stable else ())
    return {k: [] for k in keys}


def _project(project, D, X, S, Y, E, mu, w2, delta, delta2, mask):
    """E = c W, X = L + (1 - c) W with c = min(1, delta / ||W||); returns ||E||_F."""
    c = 1.0 if w2 <= delta2 else delta / np.sqrt(w2)
    project(D, X, S, Y, E, mu, c, mask)
    return float(c * np.sqrt(w2))


#: Row tiles of the tiled step hold about this many bytes of each m x n array (a few
#: tiles of each array the pass touches fit in a core's L2 cache). 128 KiB was the best
#: of 128 KiB - 2 MiB on the 20000 x 200 video matrix; the square ones did not care.
TILE_BYTES = 1 << 17

#: ... and at least this many rows: the tile's products are GEMMs with this inner
#: dimension (16-row tiles of 1000 x 1000 ran them at two thirds of 64-row ones' speed).
TILE_MIN_ROWS = 64

#: ``FASTRPCA_TILED``: ``auto`` (default) runs the randomized engine's iterations as tiled
#: steps for matrices at least :data:`TILED_MIN_ASPECT` times taller than wide (as the
#: solver sees them: a Fortran-ordered M is solved as its transpose) or of at least
#: :data:`TILED_MIN_BYTES`; ``1`` always, ``0`` never (the separate passes: L, the fused
#: pass, the engine's products).
TILED = os.environ.get("FASTRPCA_TILED", "auto")

#: Measured at one thread (interleaved, one run each): the tiled step took 0.52x the time
#: of the separate passes on 20000 x 200 (rank 2), 0.84x on 5000 x 200, 0.79x on
#: 4000 x 1000, 0.93x on 2000 x 500, and 0.95x-1.05x (noise) on 1000 x 1000 (ranks 5-50)
#: and 2000 x 2000: a square matrix's products are already compute-bound in BLAS, a tall
#: one's are not (X @ V with a thin V runs at a quarter of the flop rate of a tile's).
TILED_MIN_ASPECT = 4

#: ... and for matrices of at least this many bytes whatever their shape: arrays that do
#: not fit in the last-level cache make the separate passes memory-bound. Interleaved
#: whole solves, separate / tiled time at 1 and 2 threads (2026-11-29, one run): 0.94x /
#: 0.95x at 1000 x 1000 rank 50 (8 MB), 1.01x / 1.05x at 1500 x 1500 rank 30 (18 MB),
#: 1.11x / 1.11x at 2000 x 2000 rank 20, 1.02x / 1.08x at rank 50 (32 MB).
TILED_MIN_BYTES = 16_000_000


def tiled_rule(shape, itemsize: int) -> bool:
    """Whether ``FASTRPCA_TILED`` (:data:`TILED`) takes the tiled step for an m x n matrix
    of ``itemsize``-byte entries (the in-memory solver and each Dask row block). A matrix
    4 times wider than tall stays with the separate passes whatever its size (its SVD runs
    on the adjoint, which keeps X anyway; 0.99-1.01x either way at 300 x 8000)."""
    if TILED in ("0", "1"):
        return TILED == "1"
    m, n = shape
    if m >= TILED_MIN_ASPECT * n:
        return True
    return n < TILED_MIN_ASPECT * m and m * n * itemsize >= TILED_MIN_BYTES


def _use_tiles(engine, shape, dtype) -> bool:
    """Whether the solve runs its iterations as tiled steps (see :class:`_Tiles`)."""
    return isinstance(engine, RandomizedSVD) and tiled_rule(shape, np.dtype(dtype).itemsize)


def row_split(shape, dtype, threads: int | None = None) -> RowSplit:
    """The row ranges of a solve on an m x n matrix: ``threads`` of them, by default one
    per numba thread for at least ``PARALLEL_MIN_SIZE`` entries, else one. Ranges hold
    whole tiles of the tiled step when there are enough rows for that (a wide matrix of
    50 rows gets 25 each on two threads)."""
    m, n = shape
    if threads is None:
        threads = kernel_threads() if m * n >= PARALLEL_MIN_SIZE else 1
    return RowSplit(m, threads, align=tile_rows(n, dtype))


def _rows(r0, r1, *arrays):
    """Rows ``r0:r1`` of each array (None stays None)."""
    return tuple(None if a is None else a[r0:r1] for a in arrays)


def fused_pass_rows(split, D, X, S_old, S_new, Y, mu, mu_next, lam, mask, E):
    """:func:`fused_pass` on the split's row ranges side by side; ``(|Z|^2, |W|^2)``."""

    def run(r0, r1):
        d, x, s0, s1, y, m, e = _rows(r0, r1, D, X, S_old, S_new, Y, mask, E)
        return np.array(fused_pass(d, x, s0, s1, y, mu, mu_next, lam, m, e))

    z2, w2 = split.sum(run)
    return float(z2), float(w2)


def project_pass_rows(split, D, X, S, Y, E, mu, c, mask):
    """:func:`project_pass` on the split's row ranges side by side."""

    def run(r0, r1):
        d, x, s, y, e, m = _rows(r0, r1, D, X, S, Y, E, mask)
        project_pass(d, x, s, y, e, mu, c, m)

    split.map(run)


class _Tiles:
    """One IALM iteration as one pass over row tiles (two for stable PCP).

    :func:`fastrpca.robust_pca._kernels.ialm.tiled_pass` forms each tile of L from the SVT
    factors, runs the fused entries on it and, with the engine's planned start block W
    (:meth:`RandomizedSVD.planned_block`), computes the next warm step's ``P = X W``,
    ``P^H X`` (and ``P^H P`` on the Gram route) while the tile is in cache; the engine gets
    them through :class:`PrefetchedOperator`. Same iterates as the separate passes, to
    rounding. The split's row ranges run side by side, each with its own ``P^H X`` and
    ``P^H P`` (summed in range order). Exact PCP without ``keep_x``: each range forms its
    tiles of X in a scratch of its own, and X is written to memory (:class:`_SpareX`) only
    when the SVD asks for a product the step did not compute.
    """

    def __init__(self, engine, shape, dtype, split, keep_x=True):
        self.engine = engine
        self.split = split
        self.rows = tile_rows(shape[1], dtype)
        # Without an m x n X, each range's tiles are formed in a scratch of its own.
        self.scratch = None if keep_x else np.empty((split.count * self.rows, shape[1]), dtype)

    def step(self, D, X, S_cur, S_next, Y, mu, mu_next, lam, mask, E, factors):
        """L from ``factors``, the fused pass and (exact PCP) the products; returns
        ``(|Z|^2, |W|^2, prefetch)``, prefetch the arguments of a PrefetchedOperator after
        X. Without an m x n X (``keep_x`` False) X is ignored and the SVT input is never
        written to memory."""
        if self.scratch is not None:
            X = self.scratch
        W = None if E is not None else self.engine.planned_block()
        z2, w2, P, G, H = tiled_step(
            tiled_pass, D, X, S_cur, S_next, Y, mu, mu_next, lam, mask, E, factors, W,
            self.engine.tall, self.rows, self.split,
        )  # fmt: skip
        return z2, w2, (() if W is None else (W, P, G, H))

    def project(self, D, X, S, Y, E, mu, w2, delta, mask):
        """Stable PCP's projection (see :func:`_project`) and the products; returns
        ``(||E||_F, prefetch)``."""
        c = 1.0 if w2 <= delta * delta else delta / np.sqrt(w2)
        W = self.engine.planned_block()
        Wc, P, H, G = _product_buffers(W, X.shape, X.dtype, self.engine.tall, self.split.count)

        def run(r0, r1):
            g = self.split.part(r0)
            d, x, s, y, e, m, p = _rows(r0, r1, D, X, S, Y, E, mask, P)
            tiled_project(d, x, s, y, e, mu, c, m, Wc, p, H[g], G[g], self.rows)

        self.split.map(run)
        return float(c * np.sqrt(w2)), _prefetched(W, P, H, G)


class _SpareX(PrefetchedOperator):
    """A :class:`PrefetchedOperator` whose X is written only when a product not prefetched
    is asked for (``make()`` writes it into the spare S buffer and returns it)."""

    def __init__(self, make, split=SERIAL):
        self._X: np.ndarray | None = None
        super().__init__(None, split=split)
        self._make = make

    def prefetched(self, W=None, P=None, G=None, H=None):
        """Set the products the tiled step computed ahead."""
        self._W, self._P, self._G, self._H = W, P, G, H

    @property
    def X(self) -> np.ndarray:
        if self._X is None:
            self._X = self._make()
        return self._X

    @X.setter
    def X(self, value):
        self._X = value


def _svt_input_into(out, D, S, Y, mu, mask, factors, rows, split=SERIAL):
    """A function writing exact PCP's SVT input (see
    :func:`fastrpca.robust_pca._kernels.ialm.svt_input`) into ``out`` and returning it."""

    def make():
        dtype = out.dtype
        A = np.ascontiguousarray(factors[0], dtype=dtype)
        B = np.ascontiguousarray(factors[1], dtype=dtype)

        def run(r0, r1):
            d, s, y, m, a, o = _rows(r0, r1, D, S, Y, mask, A, out)
            svt_input(d, s, y, mu, m, a, B, o, rows)

        split.map(run)
        return out

    return make


def tile_rows(n: int, dtype) -> int:
    """Rows of a tile of the tiled step for matrices of n columns."""
    return max(TILE_MIN_ROWS, TILE_BYTES // (n * np.dtype(dtype).itemsize))


def _product_buffers(W, shape, dtype, gram, ranges):
    """The tiled kernels' W, P, H, G for the start block W (empty for None); H and G
    have one layer per row range."""
    m, n = shape
    k = 0 if W is None else W.shape[1]
    g = k if k and gram else 0
    Wc = np.empty((n, 0), dtype) if W is None else np.ascontiguousarray(W, dtype=dtype)
    P = np.empty((m if k else 0, k), dtype)
    return Wc, P, np.zeros((ranges, k, n), dtype), np.zeros((ranges, g, g), dtype)


def _prefetched(W, P, H, G):
    """``(W, P, P^H P or None, P^H X)`` from the kernels' buffers, () without W."""
    if W is None:
        return ()
    return (W, P, G.sum(axis=0) if G.shape[1] else None, H.sum(axis=0))


def tiled_step(
    kernel_, D, X, S_cur, S_next, Y, mu, mu_next, lam, mask, E, factors, W, gram, rows,
    split=SERIAL,
):  # fmt: skip
    """One tiled IALM step (:func:`fastrpca.robust_pca._kernels.ialm.tiled_pass`), shared
    by the in-memory solver and the Dask row blocks: ``X = A B`` (``factors = (A, B)``),
    the fused pass and, with a start block W (exact PCP), ``P = X W``, ``P^H P`` (with
    ``gram``) and ``P^H X``, the split's row ranges side by side. X is m x n or a scratch
    of ``split.count * rows`` rows. Returns ``(|Z|^2, |W|^2, P, P^H P, P^H X)`` (None for
    what was not computed)."""
    dtype = X.dtype
    A = np.ascontiguousarray(factors[0], dtype=dtype)
    B = np.ascontiguousarray(factors[1], dtype=dtype)
    Wc, P, H, G = _product_buffers(W, D.shape, dtype, gram, split.count)
    scratch = X.shape[0] != D.shape[0]

    def run(r0, r1):
        g = split.part(r0)
        x = X[g * rows : (g + 1) * rows] if scratch else X[r0:r1]
        d, s0, s1, y, m, e, a, p = _rows(r0, r1, D, S_cur, S_next, Y, mask, E, A, P)
        return np.array(
            kernel_(d, x, s0, s1, y, mu, mu_next, lam, m, e, a, B, Wc, p, H[g], G[g], rows, True)
        )

    z2, w2 = split.sum(run)
    pre = _prefetched(W, P, H, G)
    return (float(z2), float(w2), *(pre[1:] if pre else (None, None, None)))


class RPCAWorkspace:
    """Reusable buffers for :func:`rpca`, allocated on first use for a shape and dtype.

    Pass the same workspace to successive calls on same-sized matrices (a sliding window,
    a camera's frames) and the m x n buffers are reused instead of allocated; only the SVD
    engine's thin factors, O((m + n) k), are allocated per iteration.

    Threads: a workspace holds one solve at a time, and its results are views of its
    buffers. Give each thread its own workspace; a call made while another thread's (or
    the running solve's callback's) call uses it raises ``InUseError`` (a
    ``RuntimeError``) instead of returning a wrong L.
    """

    def __init__(self):
        self.key = None
        self._buffers = {}
        self._in_use = Exclusive("this RPCAWorkspace", "give each thread its own RPCAWorkspace()")

    def _holds(self, a: np.ndarray) -> bool:
        """Whether ``a`` may share memory with one of the buffers."""
        return any(np.may_share_memory(a, b) for b in self._buffers.values())

    def buffers(self, shape, dtype, *extra: str, x: bool = True) -> dict[str, np.ndarray]:
        """Buffers ``S0, S1, Y``, ``X`` and any ``extra`` ones for a shape, reused when
        possible.

        A call with another shape or dtype than the previous one drops every buffer.

        Parameters
        ----------
        shape : tuple of int
            Shape ``(m, n)`` of the matrix as the solver works on it.
        dtype : numpy dtype
            dtype of the buffers (``"mask"`` is always boolean).
        *extra : str
            Names of further buffers: ``"D"`` (a C-ordered copy of ``M``), ``"mask"``,
            ``"E"`` (the noise part of stable PCP).
        x : bool
            Whether ``X`` (the SVT input) is needed; the tiled step of exact PCP keeps it
            in cache only. A buffer allocated before is kept either way.

        Returns
        -------
        dict of str to ndarray
            The buffers by name, uninitialised when newly allocated.
        """
        key = (tuple(shape), np.dtype(dtype))
        if key != self.key:
            self._buffers = {}
            self.key = key
        for name in ("S0", "S1", "Y") + (("X",) if x else ()) + extra:
            if name not in self._buffers:
                self._buffers[name] = np.empty(shape, bool if name == "mask" else dtype)
        return self._buffers


def _copy_into(out, a):
    np.copyto(out, a)
    return out


def _start_from(init, X, S, Y, transposed):
    """Load a warm start (RPCAResult or tuple) into the working buffers."""
    if isinstance(init, RPCAResult):
        parts = (init.L, init.S, init.Y)
    elif isinstance(init, (tuple, list)) and len(init) in (2, 3):
        parts = tuple(init)
    else:
        raise TypeError(
            f"init must be an RPCAResult or a tuple (L, S) or (L, S, Y), got {type(init).__name__}"
        )
    # a previous result solved in the same workspace lives in these buffers (its L may sit
    # in the S buffer): copy such parts before any buffer is overwritten
    loads = [np.array(p) if any(np.may_share_memory(p, b) for b in (X, S, Y)) else p for p in parts]
    for name, part, buf in zip("LSY", loads, (X, S, Y)):
        part = np.asarray(part)
        if part.dtype.kind not in "biufc" or (part.dtype.kind == "c" and buf.dtype.kind != "c"):
            what = "complex" if part.dtype.kind == "c" else "not numeric"
            raise TypeError(
                f"init's {name} has dtype {part.dtype} ({what}) but M is {buf.dtype}; pass "
                f"init parts of M's kind, e.g. a previous rpca result of the same data"
            )
        part = part.T if transposed else part
        if part.shape != buf.shape:
            raise ValueError(
                f"init's {name} has shape {part.T.shape if transposed else part.shape}"
                f" but M has shape {buf.T.shape if transposed else buf.shape}"
            )
        check_all_finite(part, f"init's {name}")
        np.copyto(buf, part, casting="same_kind")
    if len(parts) == 2:
        Y.fill(0)


def _low_rank_into(factors, out, split=SERIAL):
    """``out = A @ B`` for the SVT factors (zero when the rank is 0), the split's row
    ranges side by side."""
    A, B = factors
    if A.shape[1] == 0:
        out.fill(0)
    else:
        split.map(lambda r0, r1: np.matmul(A[r0:r1], B, out=out[r0:r1]))


def _finish(
    L,
    S,
    E,
    e_norm,
    Y,
    rank,
    n_iter,
    converged,
    residual,
    message,
    history,
    lam,
    mu,
    tol,
    svd,
    start,
    transposed,
    info,
):
    if transposed:
        L, S, Y = L.T, S.T, Y.T
        E = None if E is None else E.T
    history = {k: np.asarray(v) for k, v in history.items()}
    return RPCAResult(
        L=L,
        S=S,
        E=E,
        Y=Y,
        rank=int(rank),
        n_iter=n_iter,
        converged=converged,
        residual=float(residual),
        message=message,
        history=history,
        lam=float(lam),
        mu=float(mu),
        tol=float(tol),
        delta=float(info["delta"]),
        sigma=None if info["sigma"] is None else float(info["sigma"]),
        e_norm=float(e_norm),
        max_rank=info["max_rank"],
        svd=svd,
        time=time.perf_counter() - start,
    )


def _warmup() -> None:
    """Compile (or load) the fused passes and the tiled step (with its SVT-input writer),
    with and without a mask, exact and stable."""
    for dtype in NUMERIC:
        a = np.zeros((2, 2), dtype)
        for mask in (None, np.ones((2, 2), bool)):
            for E in (None, a.copy()):
                fused_pass(a, a.copy(), a.copy(), a.copy(), a.copy(), 1.0, 1.0, 1.0, mask, E)
            project_pass(a, a.copy(), a.copy(), a.copy(), a.copy(), 1.0, 0.5, mask)
        # the tiled step (tall matrices): its kernels with one-column factors and block
        f = np.ones((2, 1), dtype)
        P, H, G = np.empty((2, 1), dtype), np.zeros((1, 2), dtype), np.zeros((1, 1), dtype)
        for mask in (None, np.ones((2, 2), bool)):
            for E in (None, a.copy()):
                tiled_pass(
                    a, a.copy(), a.copy(), a.copy(), a.copy(), 1.0, 1.0, 1.0, mask, E,
                    f, f.T.copy(), f, P, H, G, 1, True,
                )  # fmt: skip
            tiled_project(a, a.copy(), a.copy(), a.copy(), a.copy(), 1.0, 0.5, mask, f, P, H, G, 1)
            svt_input(a, a.copy(), a.copy(), 1.0, mask, f, f.T.copy(), a.copy(), 1)
