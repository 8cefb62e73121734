"""``decompose_frames`` on a dask or zarr array of frames: Robust PCA on Dask row blocks.

:func:`fastrpca.decompose_frames` lands here when its frames are a ``dask.array.Array``
or a ``zarr`` array. The frames become the pixels x frames matrix of
:func:`~fastrpca.robust_pca.frames.frames_to_matrix` as row blocks, solved by
:func:`~fastrpca.robust_pca.dask.rpca_dask`; with ``state_dir`` (out of core) the
frames are first streamed, a batch at a time, into a zarr store in that folder
(:func:`~fastrpca.robust_pca.dask.frames_to_zarr`, the store ``fastrpca decompose
--out-of-core`` uses) and the solver keeps its state in files. Everything m x n in the
result is a lazy dask array computed a batch of frames at a time, never a whole stack:
the background from the factors, the foreground from S, score and mask from the frames
and the background.
"""

from __future__ import annotations

import inspect
import os
import shutil
from typing import Any

import numpy as np

from .._core.validation import check_all_finite, check_random_state, positive
from .dask import _dask, _validate, frames_to_zarr, is_dask_array, rpca_dask
from .frames import FrameDecomposition, _decomposition, auto_threshold, score_and_mask, to_grey
from .ialm import _check_delta

#: Values (pixels x frames) of the sample the automatic threshold is estimated on: evenly
#: spaced frames, all of them when the stack holds fewer values (then the threshold
#: equals the in-memory one).
SAMPLE_ENTRIES = 2**24

#: Bytes of frames per batch (rows of the result's chunks, and of the zarr stores).
BATCH_BYTES = 64 << 20


def is_zarr_array(x) -> bool:
    """Whether ``x`` is a ``zarr`` array (without importing zarr)."""
    return type(x).__module__.split(".")[0] == "zarr" and hasattr(x, "chunks")


def is_lazy_stack(x) -> bool:
    """Whether ``x`` is a dask or zarr array (lazy frames :func:`decompose_frames` takes)."""
    return is_dask_array(x) or is_zarr_array(x)


def batch_frames(frame_shape, itemsize: int) -> int:
    """Frames per batch: about :data:`BATCH_BYTES` of them, between 2 and 256."""
    per_frame = int(np.prod(frame_shape)) * itemsize
    return int(min(256, max(2, BATCH_BYTES // max(1, per_frame))))


def sample_picks(n: int, m: int) -> np.ndarray:
    """Evenly spaced frames holding at most :data:`SAMPLE_ENTRIES` values (all frames of a
    small stack): the sample of the automatic threshold."""
    n_sample = int(min(n, max(2, SAMPLE_ENTRIES // max(1, m))))
    return np.unique(np.linspace(0, n - 1, n_sample).round().astype(int))


def _stack(frames, color, dtype):
    _, da = _dask()
    if is_zarr_array(frames):
        frames = da.from_zarr(frames)
    if frames.ndim not in (3, 4):
        raise ValueError(
            f"frames must be (n, h, w) or (n, h, w, c), got a lazy array of shape {frames.shape}"
        )
    if any(np.isnan(c) for c in frames.shape):
        raise ValueError("frames have unknown chunk sizes; call frames.compute_chunk_sizes()")
    if frames.shape[0] < 2:
        raise ValueError(
            f"frames holds {frames.shape[0]} frame(s); Robust PCA separates what stays from "
            "what changes and needs at least 2 frames"
        )
    if min(frames.shape[1:]) < 1:
        raise ValueError(f"frames has an empty frame shape {frames.shape[1:]}")
    if frames.dtype.kind not in "biuf":
        raise TypeError(f"frames has dtype {frames.dtype}; pass real numbers")
    if frames.dtype.kind != "f" or frames.dtype in (np.float16, np.longdouble):
        frames = frames.astype(np.float64)  # as in memory: integers become float64
    if color == "grey" and frames.ndim == 4:
        probe = to_grey(np.zeros((1, 1, 1, frames.shape[3]), frames.dtype))
        frames = frames.rechunk({3: -1}).map_blocks(
            to_grey, drop_axis=3, dtype=probe.dtype, meta=np.empty((0, 0, 0), probe.dtype)
        )
    if dtype is not None:  # checked by decompose_frames
        frames = frames.astype(dtype)
    return frames


def _row_chunks(m: int, n: int, itemsize: int) -> int:
    """Rows per block: dask's ``array.chunk-size`` (128 MiB by default) of n columns."""
    import dask
    from dask.utils import parse_bytes

    size = parse_bytes(dask.config.get("array.chunk-size"))
    return int(min(m, max(1, size // max(1, n * itemsize))))


def _score(F, B, threshold, which):
    return score_and_mask(F, B, threshold)[which]


def _finite_batch(block, block_info=None):
    """A batch of frames as it is, or the error naming its NaN / Inf (frames' own words)."""
    finite = np.isfinite(block)
    if not finite.all():
        start = block_info[0]["array-location"][0][0] if block_info else 0
        bad = np.flatnonzero(~finite.reshape(block.shape[0], -1).all(axis=1)) + start
        which = ", ".join(str(int(b)) for b in bad[:5]) + (", ..." if bad.size > 5 else "")
        check_all_finite(
            block,
            f"frames[{start}:{start + block.shape[0]}]",
            f" (frame(s) {which}); replace them, e.g. frames = dask.array.nan_to_num(frames), "
            "or leave those frames out",
        )
    return block


def _check_solver(M, solver: dict) -> None:
    """Every argument :func:`rpca_dask` checks, checked now: before any frame is read."""
    try:
        bound = inspect.signature(rpca_dask).bind(M, **solver)
    except TypeError as exc:
        raise TypeError(f"decompose_frames passes {exc} on to rpca_dask") from None
    bound.apply_defaults()
    a = bound.arguments
    _check_delta(a["delta"])
    if a["rank"] is not None:
        positive(a["rank"], "rank", integer=True)
    positive(a["checkpoint_every"], "checkpoint_every", integer=True)
    check_random_state(a["random_state"])
    _validate(M, a["mask"], a["lam"], a["tol"], a["max_iter"], a["mu"], a["rho"], a["svd"])


def _decompose_frames(
    frames, color: str, dtype, threshold, k: float, min_contrast: float, solver: dict
) -> FrameDecomposition:
    """:func:`fastrpca.decompose_frames` of a dask or zarr array of frames, its own
    arguments checked; ``solver`` holds the keywords of :func:`rpca_dask` (``state_dir``:
    the frames and the solver's state in a new folder under it, removed if anything
    fails)."""
    _, da = _dask()
    stack = _stack(frames, color, dtype)
    n, frame_shape = int(stack.shape[0]), tuple(int(s) for s in stack.shape[1:])
    m = int(np.prod(frame_shape))
    dt = stack.dtype
    batch = batch_frames(frame_shape, dt.itemsize)
    solver = dict(solver)
    state_dir = solver.pop("state_dir", None)
    rows = _row_chunks(m, n, dt.itemsize)
    checked = stack.map_blocks(_finite_batch, dtype=dt, meta=stack._meta)
    M = checked.reshape((n, m)).T.rechunk({0: rows, 1: -1})
    _check_solver(M, solver)
    rs = solver.get("random_state")
    folder = None
    try:
        if state_dir is not None:  # out of core: frames streamed to a store, state in files
            folder = os.path.join(
                os.path.abspath(os.fspath(state_dir)), f"frames-{os.urandom(4).hex()}"
            )
            os.makedirs(folder)
            stream = (
                frame for j in range(0, n, batch) for frame in np.asarray(checked[j : j + batch])
            )
            M = frames_to_zarr(stream, os.path.join(folder, "M.zarr"), dtype=dt, batch=batch)
            if rows < M.shape[0]:  # whole zarr chunks per block when they fit
                high = M.chunks[0][0]
                M = M.rechunk({0: rows // high * high if rows >= high else rows})
            solver.setdefault("reread", True)
            res = rpca_dask(M, state_dir=folder, **solver)
            # S once into frame batches (one pass over its row blocks), read back as frames
            S_path = os.path.join(folder, "S.zarr")
            S_rows: Any = res.S  # a dask array of row blocks
            S_rows.rechunk({1: batch}).to_zarr(S_path)
            S = da.from_zarr(S_path)
            F = da.from_zarr(os.path.join(folder, "M.zarr")).T.reshape((n, *frame_shape))
        else:
            res = rpca_dask(M, **solver)
            S_rows = res.S
            S = S_rows.rechunk({1: batch})
            F = stack
        res.state_dir = folder
        return _lazy_parts(F, S, res, n, frame_shape, batch, color, threshold, k, min_contrast, rs)
    except BaseException:
        if folder is not None:  # ours, new: a failed call leaves no copy of the frames
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _lazy_parts(F, S, res, n, frame_shape, batch, color, threshold, k, min_contrast, rs):
    """The lazy background, foreground, score and mask of a solve; the threshold and the
    fraction of anomalous pixels computed (one pass over the frames)."""
    _, da = _dask()
    m, dt = int(np.prod(frame_shape)), F.dtype
    frames_chunks = ((batch,) * (n // batch) + ((n % batch,) if n % batch else ()),)
    F = F.rechunk(frames_chunks + tuple((s,) for s in frame_shape))
    Vh = da.from_array(res.Vh, chunks=(res.rank, batch))
    L = (res.U * res.s.astype(dt)) @ Vh if res.rank else da.zeros((m, n), dt, chunks=(m, batch))
    background = L.T.reshape((n, *frame_shape)).rechunk(F.chunks)
    foreground = S.T.reshape((n, *frame_shape)).rechunk(F.chunks)

    # the automatic threshold on evenly spaced frames (all of a small stack: as in memory)
    picks = sample_picks(n, m)
    Fp, Bp = (np.asarray(x) for x in da.compute(F[picks], background[picks]))
    auto = auto_threshold(Fp, Bp, k=k, min_contrast=min_contrast, random_state=rs)
    rule = auto if threshold is None else threshold
    out_chunks = F.chunks[:3]
    score = da.map_blocks(
        _score, F, background, rule, 0, dtype=dt, chunks=out_chunks,
        drop_axis=3 if F.ndim == 4 else None,
    )  # fmt: skip
    mask = da.map_blocks(
        _score, F, background, rule, 1, dtype=bool, chunks=out_chunks,
        drop_axis=3 if F.ndim == 4 else None,
    )  # fmt: skip
    fraction = np.asarray(mask.mean(axis=(1, 2)).compute(), dtype=np.float64)
    return _decomposition(
        background, foreground, score, mask, fraction, auto, threshold, k, min_contrast, color, res
    )
