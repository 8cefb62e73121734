"""``fastrpca decompose`` for frame stacks larger than memory.

The frames are streamed (decoded one at a time) into a zarr store as the columns of M
(:func:`fastrpca.robust_pca.dask.frames_to_zarr`), Robust PCA runs on Dask row blocks
with its state in files (``state_dir``, ``reread=True``), and the pictures are written
batch by batch of frames: L from its factors, S from a copy of it stored in frame
batches, score and mask from :func:`fastrpca.robust_pca.frames.score_and_mask`. No step
holds more than a batch of frames (plus the solver's blocks in flight and the thin
factors of L).

What differs from the in-memory command: the automatic threshold
(:func:`~fastrpca.robust_pca.frames.auto_threshold`) and the foreground pictures' range
are estimated on evenly spaced sample frames (at most
:data:`fastrpca.robust_pca.dask_frames.SAMPLE_ENTRIES` values, as
:func:`fastrpca.decompose_frames` does on dask frames) instead of all of them;
``decomposition.npz`` is replaced by ``factors.npz`` (U, s, Vh with L = U diag(s) Vh) and
``foreground.zarr`` (S as pixels x frames); ``--truth`` is not available.
"""

from __future__ import annotations

import itertools
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np

# Shared with decompose_frames on dask / zarr frames: the frames per batch and the
# threshold's sample of frames.
from ..robust_pca.dask_frames import batch_frames, sample_picks


class _Picked:
    """Frames ``i`` of a stack of ``shape`` for the contact sheet, only those computed."""

    def __init__(self, shape, frames: dict):
        self.shape = tuple(shape)
        self.ndim = len(self.shape)
        self._frames = frames

    def __getitem__(self, i):
        return self._frames[int(i)]


def decompose(args, frames, display_range, work: Path, out: Path, tol: float, progress):
    """Solve and write the pictures of a streamed stack; returns ``(info, notes)``.

    ``frames`` yields ``(source, frame)``, ``display_range`` as in a FrameSource;
    ``work`` is an empty scratch folder (deleted by the caller); the pictures go to
    ``out``. ``info`` holds ``frame_shape``,
    ``sources``, ``dec`` (the fields of a FrameDecomposition the summary uses), ``files``
    and ``out_of_core`` (the run's figures).
    """
    from threadpoolctl import threadpool_limits

    from .._core.result import ConvergenceWarning
    from ..robust_pca.dask import frames_to_zarr, rpca_dask
    from ..robust_pca.frames import (
        auto_threshold,
        matrix_to_frames,
        score_and_mask,
        to_grey,
    )
    from .outputs import frame_folders, picture_files, write_frame_pictures
    from .pictures import (
        foreground_range,
        sample_frames,
        save_contact_sheet,
        save_convergence_plot,
    )

    dtype = np.dtype(args.dtype)
    frames = iter(frames)
    first = next(frames)
    grey = args.color == "grey" and first[1].ndim == 3
    sources: list[str] = []
    shape = to_grey(first[1][None])[0].shape if grey else first[1].shape
    batch = batch_frames(shape, dtype.itemsize)

    def pixels():
        for source, frame in itertools.chain([first], frames):
            sources.append(source)
            yield to_grey(frame[None])[0] if grey else frame

    M = frames_to_zarr(pixels(), work / "M.zarr", dtype=dtype, batch=batch)
    import zarr

    Mz = zarr.open_array(str(work / "M.zarr"), mode="r")
    m, n = M.shape
    with warnings.catch_warnings(record=True) as caught, threadpool_limits(args.blas_threads):
        warnings.simplefilter("always", ConvergenceWarning)
        res = rpca_dask(
            M,
            args.lam,
            delta=args.delta,
            rank=args.rank,
            tol=tol,
            max_iter=args.max_iter,
            svd=args.svd,
            random_state=args.seed,
            callback=progress,
            client=False,
            state_dir=work / "state",
            reread=True,
        )
    notes = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    res.S.rechunk({1: batch}).to_zarr(str(work / "S.zarr"))  # S in frame batches: one pass
    Sz = zarr.open_array(str(work / "S.zarr"), mode="r")
    U, Vh = res.U.compute(), res.Vh
    Ls = U * res.s.astype(dtype)

    def columns(cols):
        """Frames, background, foreground of the columns ``cols`` (a slice or indices)."""
        if isinstance(cols, slice):
            F, S = Mz[:, cols], Sz[:, cols]
        else:
            F, S = (
                Mz.get_orthogonal_selection((slice(None), cols)),
                Sz.get_orthogonal_selection((slice(None), cols)),
            )
        L = Ls @ Vh[:, cols] if res.rank else np.zeros_like(F)
        return (matrix_to_frames(np.asarray(a, dtype), shape) for a in (F, L, S))

    # the threshold and the pictures' range, on evenly spaced sample frames
    picks = sample_picks(n, m)
    F, B, S = columns(picks)
    auto = auto_threshold(
        F, B, k=args.threshold_k, min_contrast=args.min_contrast, random_state=args.seed
    )
    bins = auto if args.threshold is None else None
    tau = float(auto.values.min()) if args.threshold is None else float(args.threshold)
    fg_half = foreground_range(S, tau)
    lo, hi = display_range

    digits = frame_folders(out, n)
    fractions = np.empty(n)
    for j in range(0, n, batch):
        F, B, S = columns(slice(j, min(j + batch, n)))
        _, mask = score_and_mask(F, B, tau if bins is None else bins)
        fractions[j : j + F.shape[0]] = mask.reshape(mask.shape[0], -1).mean(axis=1)
        for t in range(F.shape[0]):
            write_frame_pictures(out, j + t, digits, B[t], S[t], mask[t], (lo, hi), fg_half)

    shown = sample_frames(fractions, args.sheet_frames)
    F, B, _ = columns(np.asarray(shown))
    score, mask = score_and_mask(F, B, tau if bins is None else bins)
    full = (n, *shape)  # the sheet reads frames i of the stacks, and their height, width
    sheet_size = save_contact_sheet(
        out / "contact_sheet.png",
        _Picked(full, dict(zip(shown, F))),
        _Picked(full, dict(zip(shown, B))),
        _Picked(full, dict(zip(shown, score))),
        _Picked(full, dict(zip(shown, mask))),
        shown,
        display_range=(lo, hi),
        score_max=fg_half,
    )
    save_convergence_plot(out / "convergence.png", res.history, tol=tol)
    files = picture_files(digits, shown, sheet_size, fg_half)
    if not args.no_arrays:
        np.savez(out / "factors.npz", U=U, s=res.s, Vh=Vh)
        shutil.move(str(work / "S.zarr"), str(out / "foreground.zarr"))
        files["arrays"] = "factors.npz"
        files["foreground_matrix"] = "foreground.zarr"
    # the summary reads these fields of a FrameDecomposition; mask.mean() over all pixels
    # is the mean of the per-frame fractions (every frame has as many pixels)
    dec = SimpleNamespace(
        result=res,
        color=args.color,
        threshold=tau,
        threshold_auto=args.threshold is None,
        noise_scale=float(auto.sigma),
        k=float(args.threshold_k) if args.threshold is None else None,
        min_contrast=float(args.min_contrast) if args.threshold is None else None,
        bins=bins,
        mask=fractions,
        anomaly_fraction=fractions,
    )
    info = {
        "frame_shape": list(shape),
        "sources": sources,
        "dec": dec,
        "files": files,
        "out_of_core": {
            "blocks": len(M.chunks[0]),
            "rows_per_block": int(M.chunks[0][0]),
            "batch_frames": batch,
            "passes": int(res.passes),
            "threshold_sample_frames": int(picks.size),
        },
    }
    return info, notes
