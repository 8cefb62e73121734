"""Robust PCA on Dask arrays: row blocks on the workers, one pass over them per iteration.

``fastrpca.rpca(M)`` with a ``dask.array.Array`` M lands here (:func:`rpca_dask`). The
matrix is cut into row blocks holding all n columns (rechunked once if its columns are
split); each block's state (``D``, ``S``, ``Y`` and the SVT input) is built once on a
worker and updated in place by one task per iteration, which

1. forms the block's rows of ``L = U diag(s) Vh`` from the factors (never the whole L),
2. runs the fused IALM kernel (:mod:`fastrpca.robust_pca._kernels.ialm`) on them,
3. computes the next randomized SVD's products while the block is in memory: ``A = X W``
   with the engine's next start block W, the R of A's QR and ``C = A^H X``.

The client stacks the R's (TSQR), forms ``B = R^-H C`` (k x n) and its SVD, and sends the
small factors back: O(k n) numbers per block and iteration cross the network. The
engine is :class:`~fastrpca.robust_pca.svd.RandomizedSVD` itself, run through
:class:`~fastrpca.robust_pca._blocks.BlockOperator`, so growth, refinement and the
full-SVD fallback (a TSQR of X) follow the in-memory solver step for step: the result
equals ``rpca(M.compute(), svd=...)`` to rounding, whatever the chunking.

Schedulers: the ``distributed.Client`` in use (or the one passed), else Dask's threaded
scheduler in this process. Long runs write checkpoints (``checkpoint=``, a zarr group)
and resume from them (``resume=``); the blocks hold no task lineage, so a lost worker is
reported (:class:`~fastrpca.robust_pca._blocks.StaleBlockError`) instead of replayed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import scipy.linalg as sla

from .._core.config import blas_threads
from .._core.result import stop_requested, warn_not_converged
from .._core.validation import check_random_state, positive, rng_from, scale_exponent
from . import _blocks as bk
from .ialm import RPCAResult, _check_delta, default_lambda
from .svd import GRAM_MIN_ASPECT, RandomizedSVD, _above, make_engine

__all__ = ["DaskRPCAResult", "rpca_dask", "from_npy", "from_zarr", "frames_to_zarr"]

#: The spectral norm takes the Gram route (one pass: each block's n x n ``D^H D``, summed
#: where the blocks live) up to this many columns, else Lanczos (a pass per product).
GRAM_MAX_COLUMNS = 1024

_INSTALL = "Robust PCA on Dask arrays needs dask: pip install 'fastrpca[dask]'"


class DaskRPCAResult(RPCAResult):
    """Outcome of :func:`rpca_dask`; unpacks as ``L, S = result`` (both Dask arrays).

    Attributes
    ----------
    U : dask array (m x rank), row-chunked like M
        Left singular vectors of L.
    s : ndarray (rank,)
        Singular values of L, largest first.
    Vh : ndarray (rank x n)
        Right singular vectors of L.
    L : dask array
        ``U @ diag(s) @ Vh``, lazy (computed block by block when asked).
    S, Y : dask arrays, persisted (in this process, on the workers, or in ``state_dir``).
    E : dask array or None
        The noise part of stable PCP (``delta > 0``), persisted like
        S; None for exact PCP.
    rank, n_iter, converged, residual, message, history, lam, mu, tol, delta, sigma,
    e_norm, max_rank, svd, time : as for :class:`~fastrpca.robust_pca.ialm.RPCAResult`.
    scheduler : str
        ``"threads"`` or ``"distributed"``.
    passes : int
        Passes over the row blocks (one per iteration plus the SVD engine's
        extra ones: cold start, growth, refinement).
    state_dir : str or None
        Out of core: the new folder holding the files the result reads
        (S, Y, E, U); delete it when done with them. None in memory.
    """

    U: Any
    s: np.ndarray
    Vh: np.ndarray
    scheduler: str
    passes: int
    state_dir: str | None


def _dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - exercised without dask only
        raise ImportError(_INSTALL) from exc
    return dask, da


def is_dask_array(x) -> bool:
    """Whether ``x`` is a ``dask.array.Array`` (without importing dask)."""
    return type(x).__module__.split(".")[0] == "dask" and hasattr(x, "chunks")


class _FullOnBlocks:
    """The ``"full"`` engine on row blocks: TSQR of X, then the SVD of its R."""

    name = "full"
    tall = False  # no warm steps, no Gram route

    def __init__(self, max_rank=None):
        self.max_rank = max_rank

    def __call__(self, op, tau):
        U, s, Vh = op.full_svd()
        return _above(U, s, Vh, tau, self.max_rank)


def _validate(M, mask, lam, tol, max_iter, mu, rho, svd):
    dask, da = _dask()
    if M.ndim != 2:
        raise ValueError(f"M must be 2-D, got a dask array of shape {M.shape}")
    if any(np.isnan(c) for c in M.shape):
        raise ValueError("M has unknown chunk sizes; call M.compute_chunk_sizes() first")
    if M.size < 2:
        raise ValueError(f"M has shape {M.shape} with {M.size} entries; at least 2 are needed")
    kind = M.dtype.kind
    if kind in "OUSVMm":
        raise TypeError(
            f"M has dtype {M.dtype}; pass a numeric array (float32, float64, complex64 or "
            "complex128)"
        )
    if kind in "biu" or M.dtype in (np.float16, np.longdouble):
        M = M.astype(np.float64)
    elif M.dtype == np.clongdouble:
        M = M.astype(np.complex128)
    if len(M.chunks[1]) > 1:  # row blocks must hold whole rows: rechunk once
        M = M.rechunk({0: "auto", 1: -1})
    if mask is not None:
        mask = da.asarray(mask)
        if mask.dtype != bool:
            raise TypeError(
                f"mask must be a boolean array (True = observed), got dtype {mask.dtype}; "
                "use mask=mask.astype(bool)"
            )
        if mask.shape != M.shape:
            raise ValueError(f"mask has shape {mask.shape} but M has shape {M.shape}")
        mask = mask.rechunk(M.chunks)
    lam = default_lambda(M.shape) if lam is None else positive(lam, "lam")
    if tol is None:
        tol = 1e-7 if np.empty(0, M.dtype).real.dtype == np.float64 else 1e-6
    tol = positive(tol, "tol", upper=1.0)
    positive(max_iter, "max_iter", integer=True)
    if mu is not None:
        positive(mu, "mu")
    if positive(rho, "rho") < 1:
        raise ValueError(f"rho must be >= 1 (the penalty may not shrink), got {rho}")
    if svd not in ("auto", "full", "randomized"):
        raise ValueError(
            f"svd must be 'auto', 'full' or 'randomized' for a dask array, got {svd!r} "
            "('partial' needs the whole matrix in memory)"
        )
    return M, mask, lam, tol


def _runner(M, mask, client, state_dir, reread):
    """Build the blocks where they will live (their files in the folder ``state_dir``,
    out of core); return the runner holding them."""
    dask, _ = _dask()
    starts = np.concatenate([[0], np.cumsum(M.chunks[0])[:-1]]).astype(int)
    m_blocks = M.to_delayed().ravel()
    k_blocks = [None] * len(m_blocks) if mask is None else mask.to_delayed().ravel()
    make = dask.delayed(bk.make_block, pure=False)
    tasks = [
        make(a, b, int(s), state_dir, bk.Source(a, b) if reread and state_dir else None)
        for a, b, s in zip(m_blocks, k_blocks, starts)
    ]
    if client is None:
        client = _default_client()
    runner: bk.ThreadRunner | bk.DistributedRunner
    if client is False or client is None:
        blocks = dask.compute(*tasks, scheduler="threads")
        runner = bk.ThreadRunner(list(blocks))
    else:
        futures = client.compute(tasks)
        client.gather(client.map(bk.nbytes_of, futures, pure=False))  # wait for every block
        runner = bk.DistributedRunner(client, futures)
    runner.state_dir = state_dir
    return runner


def _default_client():
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _spectral_norm(runner, G, shape, dtype, random_state):
    m, n = shape
    small, large = min(shape), max(shape)
    if not (small <= 64 or large >= GRAM_MIN_ASPECT * small):
        # The in-memory solver draws its Lanczos start here: keep a Generator in step.
        rng_from(random_state).standard_normal(small)
    if n <= GRAM_MAX_COLUMNS:
        top = sla.eigvalsh(G, subset_by_index=[n - 1, n - 1], check_finite=False)[0]
        return float(np.sqrt(max(float(top), 0.0)))
    from scipy.sparse.linalg import LinearOperator, eigsh

    def matvec(v):
        return runner.map(bk.gram_matvec, np.asarray(v, dtype).ravel(), combine=bk.add)

    op = LinearOperator((n, n), matvec=matvec, dtype=dtype)
    v0 = rng_from(random_state).standard_normal(n).astype(dtype)
    top = eigsh(op, k=1, which="LA", v0=v0, tol=0, return_eigenvectors=False)[0]
    return float(np.sqrt(max(float(top.real), 0.0)))


def rpca_dask(
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
    mask=None,
    random_state=None,
    callback: Callable | None = None,
    check_finite: bool = True,
    client=None,
    checkpoint: str | None = None,
    checkpoint_every: int = 10,
    resume: str | None = None,
    state_dir: str | None = None,
    reread: bool = False,
) -> DaskRPCAResult:
    """Robust PCA of a Dask array (``fastrpca.rpca`` calls this for one).

    Parameters
    ----------
    M : dask.array.Array, shape (m, n)
        Row-chunked (each chunk all n columns; other
        chunkings are rechunked once). Never modified.
    lam : float, optional
        As for :func:`fastrpca.rpca`; so are the other arguments up
        to ``check_finite``, and the result equals ``rpca(M.compute(), ...)`` with the
        same arguments to rounding (the same iterations and ranks).
    delta : float or "auto"
        Stable PCP (``M = L + S + E``, ``||E||_F <= delta``) as
        for :func:`fastrpca.rpca`: two passes over the blocks per iteration instead of
        one (the projection onto the ball needs ``||W||_F`` summed over all blocks).
        ``"auto"`` estimates the noise from the same row sample as in memory (gathered
        from the blocks in the first pass over them), so ``sigma`` and ``delta`` equal
        the in-memory ones.
    rank : int, optional
        Cap on the rank of L.
    tol : float, optional
        Relative residual at which to stop.
    max_iter : int
        Iteration limit (one pass over the blocks per iteration, plus the
        SVD engine's occasional extra passes).
    mu : float, optional
        Initial penalty.
    rho : float
        Penalty growth factor.
    svd : {"auto", "full", "randomized"}
        As for :func:`fastrpca.rpca` ("full" is a
        TSQR of the row blocks plus the SVD of an n x n R).
    mask : dask or NumPy array of bool, optional
        True where M is observed.
    random_state : None, int or Generator
        Seeds the randomized SVD's start block.
    callback : callable, optional
        ``callback(info)`` after each iteration.
    check_finite : bool
        Reject NaN / Inf at observed entries.
    client : distributed.Client, False or None
        None: the default client when one
        exists, else Dask's threaded scheduler in this process; False: the threaded
        scheduler.
    checkpoint : str, optional
        Path of a zarr group written every ``checkpoint_every``
        iterations (S, Y, the factors and the solver's state; replaced atomically). With
        a distributed cluster it must be on storage every worker and the client see.
    checkpoint_every : int
        Iterations between checkpoints.
    resume : str, optional
        A checkpoint to continue from (same M, mask, lam and rho);
        the run then ends as the uninterrupted one would have.
    state_dir : str, optional
        Out of core: keep each block's m x n arrays in ``.npy``
        files in a new folder under this one (local disk; with a cluster, one every
        worker and the client see) instead of in memory. A task then holds one block's
        arrays (about 6 times its size) while it runs, and each iteration reads and writes
        every block once. The folder keeps the result's S and Y (read lazily); delete it
        when done with them (a run that fails removes it). None: in memory.
    reread : bool
        With ``state_dir``: read M's blocks from M's own graph whenever a task
        needs them instead of storing a copy (for M read from files or zarr, or cheaply
        computed; the disk then holds only Y and the compressed S pair).

    Returns
    -------
    DaskRPCAResult : factors ``U`` (dask), ``s``, ``Vh``; lazy ``L``; persisted ``S``,
        ``Y`` (and ``E``); ``rank``, ``n_iter``, ``converged``, ``residual``, ``message``,
        ``history``, ``delta``, ``sigma``, ``e_norm``.
    """
    o = SimpleNamespace(
        delta=_check_delta(delta),
        start=time.perf_counter(),
        random_state=0 if check_random_state(random_state) is None else random_state,
        max_rank=None if rank is None else positive(rank, "rank", integer=True),
        max_iter=max_iter,
        mu=mu,
        rho=rho,
        svd=svd,
        callback=callback,
        check_finite=check_finite,
        checkpoint=checkpoint,
        checkpoint_every=positive(checkpoint_every, "checkpoint_every", integer=True),
        resume=resume,
    )
    M, mask, o.lam, o.tol = _validate(M, mask, lam, tol, max_iter, mu, rho, svd)
    folder = None
    if state_dir is not None:  # a new folder of ours, removed if the run fails
        folder = os.path.join(os.path.abspath(os.fspath(state_dir)), f"rpca-{os.urandom(4).hex()}")
        os.makedirs(folder)
    try:
        with blas_threads():
            runner = _runner(M, mask, client, folder, reread)
            try:
                return _iterate(runner, M, mask, o)
            finally:
                runner.release()
    except BaseException:
        if folder is not None:  # never state_dir itself: the caller's
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _sample_rows(M, random_state):
    """The rows :func:`~fastrpca.robust_pca.frames.noise_sigma` samples (the same draw),
    as one index array per block (a slice for all rows), or None when it uses them all."""
    m, n = M.shape
    if m * (n - 1) <= NOISE_SAMPLES:
        return None
    k = max(1, NOISE_SAMPLES // (n - 1))
    rows = np.sort(rng_from(random_state).choice(m, size=k, replace=False))
    edges = np.concatenate([[0], np.cumsum(M.chunks[0])])
    return bk.PerBlock(rows[(rows >= a) & (rows < b)] - a for a, b in zip(edges, edges[1:]))


def _auto_delta(sample, n_obs, n):
    """sigma and delta of ``delta="auto"`` from the blocks' sampled rows (in order)."""
    from .frames import noise_sigma

    A = np.concatenate([a for a, _ in sample])
    obs = None
    if any(k is not None for _, k in sample):
        obs = np.concatenate([np.ones(a.shape, bool) if k is None else k for a, k in sample])
    # All the sampled rows: noise_sigma draws no further sample.
    sigma = noise_sigma(A, mask=obs, max_samples=max(1, A.size), check_finite=False)
    return sigma, float(np.sqrt(n_obs + np.sqrt(8.0 * n_obs)) * sigma)


#: ``noise_sigma``'s default ``max_samples``: the in-memory ``delta="auto"`` sample size.
NOISE_SAMPLES = 2**18


def _iterate(runner, M, mask, o):
    shape, dtype = M.shape, M.dtype
    n = shape[1]
    gram = n <= GRAM_MAX_COLUMNS
    rows = None
    if o.delta == "auto":
        if n < 2:
            raise ValueError(f"M has {n} column; delta='auto' needs at least 2 (frames)")
        rows = _sample_rows(M, o.random_state)
        rows = slice(None) if rows is None else rows
    first = runner.map(bk.stats, gram, rows, combine=bk.combine_stats)
    sum_sq, max_abs, part, bad, G, n_obs, sample = first
    if bad:
        if o.check_finite:
            hint = (
                " at observed positions (mask True)"
                if mask is not None
                else "; pass mask=da.isfinite(M) to treat them as missing"
            )
            raise ValueError(f"M contains {bad} NaN or infinite entries{hint}")
        raise ValueError(
            "M holds NaN or Inf (check_finite=False skipped the check); "
            "pass mask=da.isfinite(M) to treat them as missing"
        )
    # As in memory: extreme data is solved scaled by 2**-e (exact), the answer scaled back.
    o.sigma = None
    if o.delta == "auto":
        o.sigma, o.delta = _auto_delta(sample, n_obs, n)
    o.stable = o.delta > 0
    o.e = scale_exponent(part, dtype, force=not np.isfinite(sum_sq) or (sum_sq == 0 < part))
    if o.e:
        runner.map(bk.scale, o.e)
        sum_sq, max_abs, _, _, G, _, _ = runner.map(bk.stats, gram, combine=bk.combine_stats)
    delta = float(np.ldexp(o.delta, -o.e))  # the scaled problem's bound
    d_norm = float(np.sqrt(sum_sq))
    op = bk.BlockOperator(runner, shape, dtype)
    op.row_chunks = tuple(int(c) for c in M.chunks[0])
    history: dict[str, list] = {"residual": [], "rank": [], "mu": []}
    if o.stable:
        history["e_norm"] = []
    o.e_norm = 0.0
    if d_norm == 0:
        runner.map(bk.start, dtype.type(0), 1.0, o.lam, o.stable)
        empty = np.zeros(0, dtype), np.zeros((0, n), dtype)
        return _result(
            runner,
            op,
            o,
            shape,
            dtype,
            False,
            *empty,
            0,
            True,
            0.0,
            "M is zero: L = S = 0",
            history,
            o.mu or 0.0,
            o.svd,
        )
    norm_two = _spectral_norm(runner, G, shape, dtype, o.random_state)
    mu = 1.25 / norm_two if o.mu is None else float(np.ldexp(o.mu, o.e))
    mu_bar = 1e7 * mu
    svd = o.svd
    if svd == "auto":
        svd = "full" if min(shape) <= 32 else "randomized"
    if svd == "full":
        engine = _FullOnBlocks(o.max_rank)
    else:
        engine = make_engine(svd, shape, dtype, o.random_state, max_rank=o.max_rank)
    n_start = 1
    if o.resume is not None:
        mu, n_start, history = _load(o.resume, runner, op, engine, shape, dtype, o, d_norm)
    else:
        y_scale = dtype.type(1.0 / max(norm_two, max_abs / o.lam))
        w2 = runner.map(bk.start, y_scale, mu, o.lam, o.stable, combine=bk.add)
        if o.stable:  # the first E and SVT input
            o.e_norm = _noise_pass(runner, op, "S", mu, w2, delta, None, None, False)
    if n_start > o.max_iter:
        raise ValueError(f"the checkpoint is at iteration {n_start - 1}; raise max_iter past it")

    converged, stopped, swap = False, False, False
    for n_iter in range(n_start, o.max_iter + 1):
        U, s, Vh = engine(op, 1.0 / mu)
        w = (s - 1.0 / mu).astype(dtype)
        mu_next = min(o.rho * mu, mu_bar)
        W = engine.planned_block() if isinstance(engine, RandomizedSVD) else None
        a_name = op.fresh()
        gram_route = W is not None and engine.tall
        total, w2, G, H = runner.map(
            bk.step,
            op.generation,
            swap,
            U.name,
            U.T,
            w,
            Vh,
            mu,
            mu_next,
            o.lam,
            None if o.stable else W,  # stable: the products come with the second pass
            a_name,
            gram_route,
            combine=bk.combine_step,
        )
        op.generation += 1
        op.stepped(None if o.stable else W, a_name, G, H)
        swap = True
        residual = float(np.sqrt(total)) / d_norm
        rank = s.size
        history["residual"].append(residual)
        history["rank"].append(rank)
        history["mu"].append(float(np.ldexp(mu, -o.e)))
        if o.stable:
            history["e_norm"].append(float(np.ldexp(o.e_norm, o.e)))
        converged = bool(residual < o.tol)
        if not np.isfinite(residual):
            break
        if o.callback is not None and not converged:
            stopped = stop_requested(
                o.callback, n_iter=n_iter, residual=residual, rank=rank, mu=np.ldexp(mu, -o.e)
            )
        if converged or stopped or n_iter == o.max_iter:
            break
        if o.stable:  # E and the next SVT input, once ||W|| is known
            o.e_norm = _noise_pass(runner, op, "S_next", mu_next, w2, delta, W, a_name, gram_route)
        mu = mu_next
        if o.checkpoint is not None and n_iter % o.checkpoint_every == 0:
            _save(o.checkpoint, runner, op, engine, w, Vh, mu, n_iter, history, o, d_norm)
    if converged:
        message = f"converged: residual {residual:.2e} < tol {o.tol:.0e} in {n_iter} iterations"
    elif stopped:
        message = f"stopped by callback after {n_iter} iterations (residual {residual:.2e})"
    elif not np.isfinite(residual):
        message = (
            f"stopped at iteration {n_iter}: the residual became {residual} (numerical breakdown)"
        )
        warn_not_converged(message, stacklevel=4)
    else:
        message = (
            f"not converged: residual {residual:.2e} >= tol {o.tol:.0e} after "
            f"max_iter={o.max_iter} iterations; raise max_iter or tol"
        )
        warn_not_converged(message, stacklevel=4)
    return _result(
        runner,
        op,
        o,
        shape,
        dtype,
        True,
        w,
        Vh,
        n_iter,
        converged,
        residual,
        message,
        history,
        mu,
        engine.name,
    )


def _noise_pass(runner, op, s_key, mu, w2, delta, W, a_name, gram):
    """Stable PCP's projection pass: ``c = min(1, delta / ||W||)``, then every block's
    ``E = c W`` and SVT input (and the warm step's products for ``W``); ``||E||_F``."""
    c = 1.0 if w2 <= delta * delta else delta / np.sqrt(w2)
    G, H = runner.map(
        bk.noise_step, op.generation, s_key, mu, c, W, a_name, gram, combine=bk.combine_products
    )
    op.passes += 1
    op.stepped(W, a_name, G, H)
    return float(c * np.sqrt(w2))


def _blocks_array(runner, what, dtype, chunks, files=None, e=0):
    """A dask array of the blocks' ``take(what)`` results (no copies), or of their files."""
    _, da = _dask()
    name = f"fastrpca-{what}-{os.urandom(6).hex()}"
    if files is not None and what in files[0]:  # out of core: read the files when computed
        graph = {
            (name, i, 0): (bk.read_scaled, f[what], rows, e if what in "SE" else 0)
            for i, (f, rows) in enumerate(zip(files, chunks[0]))
        }
        return da.Array(graph, name, chunks, dtype=dtype)
    if runner.kind == "threads":
        parts = [bk.take(b, what) for b in runner.blocks]
    else:
        parts = [
            runner.client.submit(bk.take, b, what, pure=False, workers=[w])
            for b, w in zip(runner.blocks, runner.workers)
        ]
    dsk = {(name, i, 0): p for i, p in enumerate(parts)}
    return da.Array(dsk, name, chunks, dtype=dtype)


def _result(
    runner,
    op,
    o,
    shape,
    dtype,
    have_u,
    w,
    Vh,
    n_iter,
    converged,
    residual,
    message,
    history,
    mu,
    svd,
):
    _, da = _dask()
    rows = op.row_chunks
    files = runner.map(bk.result_files)
    files = None if files[0] is None else files
    if o.e and files is None:
        runner.map(bk.unscale, o.e)
    S = _blocks_array(runner, "S", dtype, (rows, (shape[1],)), files, o.e)
    Y = _blocks_array(runner, "Y", dtype, (rows, (shape[1],)), files)
    E = _blocks_array(runner, "E", dtype, (rows, (shape[1],)), files, o.e) if o.stable else None
    r = int(w.size)
    s = np.ldexp(w.real, o.e).astype(np.empty(0, dtype).real.dtype)
    if have_u:
        U = _blocks_array(runner, "U", dtype, (rows, (r,)), files)
    else:
        U = da.zeros((shape[0], 0), dtype=dtype, chunks=(rows, (0,)))
    L = (
        (U * s.astype(dtype)) @ Vh
        if r
        else da.zeros(shape, dtype=dtype, chunks=(rows, (shape[1],)))
    )
    return DaskRPCAResult(
        L=L,
        S=S,
        E=E,
        Y=Y,
        U=U,
        s=s,
        Vh=Vh,
        rank=r,
        n_iter=n_iter,
        converged=converged,
        residual=float(residual),
        message=message,
        history={k: np.asarray(v) for k, v in history.items()},
        lam=float(o.lam),
        mu=float(np.ldexp(mu, -o.e)),
        tol=float(o.tol),
        delta=float(o.delta),
        sigma=o.sigma,
        e_norm=float(np.ldexp(o.e_norm, o.e)),
        max_rank=o.max_rank,
        svd=svd,
        time=time.perf_counter() - o.start,
        scheduler=runner.kind,
        passes=op.generation + op.passes,
        state_dir=runner.state_dir,
    )


# ---- checkpoints -----------------------------------------------------------------------------


def _engine_state(engine) -> tuple[dict, dict]:
    """(JSON-able attributes, arrays) of an engine, to restore it exactly."""
    attrs: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for key, value in vars(engine).items():
        if key == "_planned":  # (k, start block) drawn for the next call
            attrs[key] = None if value is None else {"planned_k": int(value[0])}
            if value is not None:
                arrays[key] = value[1]
        elif isinstance(value, np.random.Generator):
            attrs[key] = {"bit_generator": json.dumps(value.bit_generator.state)}
        elif isinstance(value, np.ndarray):
            arrays[key] = value
        elif isinstance(value, np.dtype):
            attrs[key] = {"dtype": value.str}
        elif isinstance(value, tuple):
            attrs[key] = {"tuple": list(value)}
        else:
            attrs[key] = value
    return attrs, arrays


def _restore_engine(engine, attrs, arrays):
    for key, value in attrs.items():
        if isinstance(value, dict) and "planned_k" in value:
            setattr(engine, key, (value["planned_k"], arrays[key]))
        elif isinstance(value, dict) and "bit_generator" in value:
            getattr(engine, key).bit_generator.state = json.loads(value["bit_generator"])
        elif isinstance(value, dict) and "dtype" in value:
            setattr(engine, key, np.dtype(value["dtype"]))
        elif isinstance(value, dict) and "tuple" in value:
            setattr(engine, key, tuple(value["tuple"]))
        else:
            setattr(engine, key, value)
    for key in ("V",):
        if hasattr(engine, key):
            setattr(engine, key, arrays.get(key))


def _save(path, runner, op, engine, w, Vh, mu, n_iter, history, o, d_norm):
    import zarr

    path = os.fspath(path)
    partial = path + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    group = zarr.open_group(partial, mode="w")
    m, n = op.shape
    bk.write_array(f"{partial}/w", w)
    bk.write_array(f"{partial}/Vh", Vh)
    attrs, arrays = _engine_state(engine)
    for key, value in arrays.items():
        bk.write_array(f"{partial}/engine_{key}", value)
    pieces = runner.map(bk.save_rows, op.generation, partial)
    group.attrs.update(
        {
            "pieces": [[int(a), int(b)] for a, b in pieces],
            "n_iter": int(n_iter),
            "mu": float(mu),
            "history": {
                k: [x.item() if hasattr(x, "item") else x for x in v] for k, v in history.items()
            },
            "lam": float(o.lam),
            "rho": float(o.rho),
            "max_rank": o.max_rank,
            "delta": float(o.delta),
            "e_norm": float(o.e_norm),
            "d_norm": float(d_norm),
            "shape": [int(m), int(n)],
            "dtype": op.dtype.str,
            "engine": engine.name,
            "engine_attrs": attrs,
            "engine_arrays": sorted(arrays),
        }
    )
    shutil.rmtree(path, ignore_errors=True)
    os.replace(partial, path)


def _load(path, runner, op, engine, shape, dtype, o, d_norm):
    import zarr

    path = os.fspath(path)
    group = zarr.open_group(path, mode="r")
    a = dict(group.attrs)
    problems = []
    if tuple(a["shape"]) != tuple(shape) or np.dtype(a["dtype"]) != dtype:
        problems.append(f"shape/dtype {tuple(a['shape'])} {a['dtype']} vs {shape} {dtype}")
    if a["engine"] != engine.name:
        problems.append(f"svd engine {a['engine']!r} vs {engine.name!r}")
    if not np.isclose(a["lam"], o.lam, rtol=1e-12) or not np.isclose(a["rho"], o.rho, rtol=1e-12):
        problems.append(f"lam, rho = {a['lam']}, {a['rho']} vs {o.lam}, {o.rho}")
    if a.get("max_rank") != o.max_rank:
        problems.append(f"rank cap {a.get('max_rank')} vs {o.max_rank}")
    if not np.isclose(a.get("delta", 0.0), o.delta, rtol=1e-12, atol=0):
        problems.append(f"delta {a.get('delta', 0.0)} vs {o.delta}")
    if not np.isclose(a["d_norm"], d_norm, rtol=1e-9):
        problems.append(f"||M|| = {a['d_norm']} vs {d_norm} (a different matrix or mask)")
    if problems:
        raise ValueError(
            f"checkpoint {path} was written for another problem: " + "; ".join(problems)
        )
    arrays = {k: bk.read_array(f"{path}/engine_{k}") for k in a["engine_arrays"]}
    _restore_engine(engine, a["engine_attrs"], arrays)
    mu = float(a["mu"])
    w, Vh = bk.read_array(f"{path}/w"), bk.read_array(f"{path}/Vh")
    runner.map(bk.load_rows, path, a["pieces"], w, Vh, mu, o.stable)
    o.e_norm = float(a.get("e_norm", 0.0))
    history = {k: list(v) for k, v in a["history"].items()}
    return mu, int(a["n_iter"]) + 1, history


# ---- inputs ----------------------------------------------------------------------------------


def _npy_rows(path, start, stop):
    return np.array(np.load(path, mmap_mode="r")[start:stop])


def from_npy(path, rows: int | None = None):
    """A row-chunked dask array reading a ``.npy`` file by memory map, block by block.

    Parameters
    ----------
    path : str
        The file (``numpy.save`` format); workers must see the same path.
    rows : int, optional
        Rows per block; default about 128 MiB per block.

    Returns
    -------
    dask.array.Array
    """
    dask, da = _dask()
    path = os.fspath(path)
    head = np.load(path, mmap_mode="r")
    if head.ndim != 2:
        raise ValueError(f"{path} holds an array of shape {head.shape}; a 2-D matrix is needed")
    m, n = head.shape
    if rows is None:
        rows = max(1, (128 << 20) // max(1, n * head.dtype.itemsize))
    rows = positive(rows, "rows", integer=True)
    load = dask.delayed(_npy_rows, pure=True)
    parts = [
        da.from_delayed(load(path, a, min(a + rows, m)), (min(a + rows, m) - a, n), head.dtype)
        for a in range(0, m, rows)
    ]
    return da.concatenate(parts, axis=0)


def from_zarr(url, component: str | None = None, rows: int | None = None):
    """A zarr array as row blocks holding all columns (rechunked once if needed).

    Parameters
    ----------
    url : str
        The zarr store (path or URL).
    component : str, optional
        The array inside a group.
    rows : int, optional
        Rows per block; default: dask's automatic chunk size.

    Returns
    -------
    dask.array.Array
    """
    _, da = _dask()
    M = da.from_zarr(url, component=component)
    if M.ndim != 2:
        raise ValueError(f"{url} holds an array of shape {M.shape}; a 2-D matrix is needed")
    if rows is not None or len(M.chunks[1]) > 1:
        M = M.rechunk({0: "auto" if rows is None else positive(rows, "rows", integer=True), 1: -1})
    return M


def frames_to_zarr(
    frames,
    path,
    *,
    dtype=np.float32,
    batch: int = 64,
    rows: int | None = None,
):
    """Write a stream of frames into a zarr store as the columns of M, batch by batch.

    Only ``batch`` frames are held at a time: a video larger than memory becomes the
    pixels x frames matrix of :func:`fastrpca.robust_pca.frames.frames_to_matrix` on
    disk, stored in chunks of (pixel rows, ``batch`` frames) so that both the writer (a
    batch of frames) and the solver (row blocks holding every frame) read whole chunks.

    Parameters
    ----------
    frames : iterable of ndarray
        Frames of one shape, (h, w) or (h, w, c), in time order
        (e.g. a generator decoding a video). At least 2.
    path : str
        The zarr array to create (replaced if it exists); its attribute
        ``frame_shape`` records the frames' shape.
    dtype : floating dtype
        dtype of M.
    batch : int
        Frames per write, and columns per zarr chunk.
    rows : int, optional
        Rows (pixels) of the row blocks of the returned array; default
        about 128 MiB per block, a multiple of the chunk height.

    Returns
    -------
    dask.array.Array : M (pixels x frames), row-chunked for :func:`rpca_dask`.
    """
    import zarr

    from .frames import frames_to_matrix

    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    batch = positive(batch, "batch", integer=True)
    path = os.fspath(path)
    st: dict[str, Any] = {"out": None, "shape": None, "n": 0}
    buf: list[np.ndarray] = []

    def flush():
        part = frames_to_matrix(np.stack(buf), dtype=dtype)
        n = st["n"]
        if st["out"] is None:
            high = max(1, (16 << 20) // (batch * dtype.itemsize))  # chunks of about 16 MiB
            store: Any = zarr.open_array(
                path, mode="w", shape=(part.shape[0], 0), chunks=(high, batch), dtype=dtype
            )
            store.attrs["frame_shape"] = list(st["shape"])
            st["out"] = store
        st["out"].resize((part.shape[0], n + part.shape[1]))
        st["out"][:, n : n + part.shape[1]] = part
        st["n"] = n + part.shape[1]
        buf.clear()

    for i, frame in enumerate(frames):
        frame = np.asarray(frame)
        if st["shape"] is None:
            if frame.ndim not in (2, 3):
                raise ValueError(f"frame 0 has shape {frame.shape}; frames are (h, w) or (h, w, c)")
            st["shape"] = frame.shape
        elif frame.shape != st["shape"]:
            raise ValueError(
                f"frame {i} has shape {frame.shape} but frame 0 has {st['shape']}; all frames "
                "must have one shape"
            )
        buf.append(frame)
        if len(buf) == batch:
            flush()
    if buf:
        flush()
    n = st["n"]
    if n < 2:
        raise ValueError(f"{n} frame(s) given; at least 2 are needed")
    m, high = st["out"].shape[0], st["out"].chunks[0]
    if rows is None:
        rows = max(1, (128 << 20) // (n * dtype.itemsize))
        rows = max(high, rows // high * high)
    return from_zarr(path, rows=min(positive(rows, "rows", integer=True), m))
