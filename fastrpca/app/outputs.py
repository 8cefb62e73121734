"""Output folders: every picture and array of a decomposition, JSON, staged writes."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .pictures import (
    foreground_range,
    sample_frames,
    save_contact_sheet,
    save_convergence_plot,
    to_uint8,
    write_image,
)


class OutputExistsError(FileExistsError):
    """The output folder exists and is not empty (and overwriting was not asked for)."""


class OutputNotWritableError(OSError):
    """The output cannot be written (permissions, a full disk, a file in the way); the
    message names the caller's output, never the temporary folder it was staged in."""


def write_outputs(
    out_dir,
    frames: np.ndarray,
    dec,
    *,
    display_range=(0.0, 1.0),
    sheet_frames: int = 8,
    save_arrays: bool = True,
    tol=None,
) -> dict:
    """Write every picture of a decomposition into ``out_dir`` (which must exist).

    Writes ``background/``, ``foreground/`` and ``mask/`` (one PNG per frame, named
    ``frame_00000.png``...), ``contact_sheet.png``, ``convergence.png`` and, with
    ``save_arrays``, ``decomposition.npz`` (background, foreground, score, mask and, for
    stable PCP, noise, as float32 / bool arrays in frame shape). The foreground pictures
    show ``S`` around mid-grey (128 = 0), with the same range for every frame
    (:func:`foreground_range`).

    Returns a dict describing what was written (relative paths and picture sizes).
    """
    out = Path(out_dir)
    lo, hi = display_range
    fg_half = foreground_range(dec.foreground, dec.threshold)
    n = frames.shape[0]
    digits = frame_folders(out, n)
    for i in range(n):
        f, b, m = dec.foreground[i], dec.background[i], dec.mask[i]
        write_frame_pictures(out, i, digits, b, f, m, (lo, hi), fg_half)
    shown = sample_frames(dec.anomaly_fraction, sheet_frames)
    base = frames if dec.background.ndim == frames.ndim else _grey_like(frames)
    sheet_size = save_contact_sheet(
        out / "contact_sheet.png",
        base,
        dec.background,
        dec.score,
        dec.mask,
        shown,
        display_range=display_range,
        score_max=fg_half,
    )
    save_convergence_plot(out / "convergence.png", dec.result.history, tol=tol)
    files = picture_files(digits, shown, sheet_size, fg_half)
    if save_arrays:
        np.savez_compressed(
            out / "decomposition.npz",
            background=dec.background.astype(np.float32),
            foreground=dec.foreground.astype(np.float32),
            score=dec.score.astype(np.float32),
            mask=dec.mask,
            **({} if dec.noise is None else {"noise": dec.noise.astype(np.float32)}),
        )
        files["arrays"] = "decomposition.npz"
    return files


def frame_folders(out: Path, n: int) -> int:
    """Make ``background/``, ``foreground/`` and ``mask/`` in ``out``; returns the digits
    of the frame numbers in the pictures' file names."""
    for sub in ("background", "foreground", "mask"):
        (out / sub).mkdir()
    return max(5, len(str(n - 1)))


def write_frame_pictures(out, i, digits, background, foreground, mask, display_range, fg_half):
    """Frame ``i``'s background, foreground (around mid-grey) and mask PNGs."""
    name = f"frame_{i:0{digits}d}.png"
    write_image(out / "background" / name, to_uint8(background, *display_range))
    write_image(out / "foreground" / name, to_uint8(foreground, -fg_half, fg_half))
    write_image(out / "mask" / name, mask.astype(np.uint8) * 255)


def picture_files(digits, shown, sheet_size, fg_half) -> dict:
    """The summary's description of the pictures written by :func:`write_outputs`."""
    return {
        "background": "background/",
        "foreground": "foreground/",
        "mask": "mask/",
        "contact_sheet": "contact_sheet.png",
        "convergence_plot": "convergence.png",
        "summary": "summary.json",
        "frame_names": f"frame_{0:0{digits}d}.png ...",
        "contact_sheet_frames": shown,
        "contact_sheet_size": list(sheet_size),
        "foreground_range": [-fg_half, fg_half],
    }


def _grey_like(frames):
    from ..robust_pca.frames import to_grey

    return to_grey(frames)


def write_json(path, data) -> None:
    """Write ``data`` as indented JSON (NaN and infinities become null)."""
    Path(path).write_text(json.dumps(json_safe(data), indent=2) + "\n")


def json_safe(value):
    """``value`` with NumPy scalars / arrays made plain and non-finite floats made None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------- output folder


def check_output_dir(out, *, force: bool = False) -> Path:
    """Refuse an output path that is a file, or a non-empty folder unless ``force``.

    Parameters
    ----------
    out : path
    force : bool

    Returns
    -------
    Path : ``out``.

    Raises
    ------
    OutputExistsError
    """
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise OutputExistsError(f"{out} exists and is not a folder; choose another --out")
        if any(out.iterdir()) and not force:
            raise OutputExistsError(
                f"output folder {out} exists and is not empty; choose "
                f"another --out, or pass --force to replace it"
            )
    return out


@contextlib.contextmanager
def staged_directory(out, *, force: bool = False):
    """Yield a temporary sibling of ``out`` to write into; it becomes ``out`` on success.

    On any exception (or Ctrl-C) the temporary folder is deleted and ``out`` is left as it
    was, so a half-written result is never found under the final name. With ``force`` an
    existing ``out`` is replaced only once the new one is complete.
    """
    out = check_output_dir(out, force=force)
    parent = out.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
    except OSError as exc:
        raise _not_writable(out, exc) from exc
    try:
        try:
            yield tmp
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o777 & ~umask)
            check_output_dir(out, force=force)  # it may have appeared meanwhile
            old = None
            if out.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
                old.rmdir()
                out.rename(old)
            try:
                tmp.rename(out)
            except BaseException:
                if old is not None:
                    old.rename(out)
                raise
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except OutputExistsError:
            raise
        except OSError as exc:  # while writing (disk full, permissions): name the output
            raise _not_writable(out, exc) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _not_writable(out: Path, exc: OSError) -> OutputNotWritableError:
    reason = exc.strerror or str(exc) or type(exc).__name__
    reason = reason[:1].lower() + reason[1:]
    parent = out.absolute().parent
    for p in (parent, *parent.parents):
        if p.exists() and not p.is_dir():
            reason = f"{p} is a file, not a folder"
            break
    return OutputNotWritableError(
        f"cannot write the output folder {out}: {reason}; choose another --out "
        f"(a folder you can write to, with free space)"
    )
