"""Reading frames (images, video, arrays), writing pictures, and staged output folders.

The image side needs the optional extra ``pip install "fastrpca[io]"`` (imageio for
reading and writing images; the PyAV package ``av`` for video; matplotlib for the contact
sheet and the convergence plot). Nothing here is imported by ``import fastrpca``; each
dependency is imported when first needed, and a missing one raises
:class:`MissingDependencyError` saying what to install.

Frames are returned as float32 with integer images scaled to [0, 1] by their type's
maximum (255 for 8-bit, 65535 for 16-bit); floating images and ``.npy`` / ``.npz`` float
arrays are taken as they are. An alpha channel is dropped; grey frames mixed with colour
ones are repeated to three channels.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".gif")
ARRAY_SUFFIXES = (".npy", ".npz")

INSTALL_HINT = 'pip install "fastrpca[io]"'


class MissingDependencyError(ImportError):
    """An optional dependency of the image / video / plotting side is not installed."""


class InputError(ValueError):
    """The input frames cannot be used (unreadable, empty, inconsistent, too few)."""


# --------------------------------------------------------------------------- dependencies


def _imageio():
    try:
        import imageio.v3 as iio
    except ImportError as exc:
        raise MissingDependencyError(
            f"reading and writing images needs imageio, which is not installed; install the "
            f"image extra: {INSTALL_HINT}"
        ) from exc
    return iio


def _matplotlib():
    """matplotlib's Figure and Agg canvas (no pyplot, no global backend switch)."""
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError(
            f"the contact sheet and the convergence plot need matplotlib, which is not "
            f"installed; install the image extra: {INSTALL_HINT}"
        ) from exc
    return matplotlib, Figure, FigureCanvasAgg


def _check_video_backend():
    try:
        import av  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            f"reading video needs the PyAV package (av), which is not installed; "
            f"{INSTALL_HINT} installs it (or: pip install av)"
        ) from exc


def check_dependencies(*, video: bool = False) -> None:
    """Raise :class:`MissingDependencyError` unless imageio and matplotlib (and, with
    ``video=True``, PyAV) can be imported."""
    _imageio()
    _matplotlib()
    if video:
        _check_video_backend()


# --------------------------------------------------------------------------- reading


@dataclass
class FrameSource:
    """Frames read from disk.

    Attributes
    ----------
    frames : ndarray, float32, shape (n, h, w) or (n, h, w, 3)
    sources : list of str
        Where each frame came from (file name, or ``video.mp4#12``).
    kind : str
        ``"images"``, ``"video"`` or ``"array"``.
    display_range : (float, float)
        Values shown as black and white in pictures.
    """

    frames: np.ndarray
    sources: list
    kind: str
    display_range: tuple


def _natural_key(path: Path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def _scale_to_float(img: np.ndarray, what: str) -> np.ndarray:
    if img.dtype == bool:
        return img.astype(np.float32)
    if img.dtype in (np.uint8, np.uint16):  # image bit depths: scale to 0..1
        return img.astype(np.float32) / np.float32(np.iinfo(img.dtype).max)
    if img.dtype.kind in "ui":  # other integers (counts, labels): raw values
        return img.astype(np.float32)
    if img.dtype.kind == "f":
        out = img.astype(np.float32)
        if not np.isfinite(out).all():
            raise InputError(f"{what} contains NaN or infinite values")
        return out
    raise InputError(f"{what} has unsupported pixel type {img.dtype}")


def _normalise_channels(img: np.ndarray, what: str) -> np.ndarray:
    """(h, w) grey or (h, w, 3) colour; alpha dropped, single channels squeezed."""
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[2] in (1, 2):
        return img[..., 0]
    if img.ndim == 3 and img.shape[2] in (3, 4):
        return img[..., :3]
    raise InputError(
        f"{what} has shape {img.shape}, which is not a grey (h, w) or colour (h, w, 3/4) image"
    )


def _downsample(img: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return img
    h, w = img.shape[0] // factor, img.shape[1] // factor
    if h < 1 or w < 1:
        raise InputError(
            f"--downsample {factor} is larger than the frames ({img.shape[0]}x{img.shape[1]})"
        )
    img = img[: h * factor, : w * factor]
    return img.reshape(h, factor, w, factor, *img.shape[2:]).mean(axis=(1, 3))


def _stack(images: list, sources: list) -> np.ndarray:
    """Stack same-size frames; grey ones are promoted to RGB when colour is present."""
    sizes = {img.shape[:2] for img in images}
    if len(sizes) > 1:
        first = images[0].shape[:2]
        bad = next(i for i, img in enumerate(images) if img.shape[:2] != first)
        raise InputError(
            f"frames differ in size: {sources[0]} is {first[0]}x{first[1]} but {sources[bad]} "
            f"is {images[bad].shape[0]}x{images[bad].shape[1]} (height x width); all frames "
            f"must have the same size, so crop or resize them first"
        )
    if any(img.ndim == 3 for img in images):
        images = [img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=2) for img in images]
    return np.stack(images)


def physical_memory() -> int | None:
    """Bytes of physical memory, or None where the OS does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def _check_growing(images: list, where: str) -> None:
    """Stop reading a video before its frames alone fill half of the memory."""
    have = physical_memory()
    if have and len(images) * images[0].nbytes > 0.5 * have:
        raise InputError(
            f"{where}: {len(images)} frames of {images[0].shape[0]}x"
            f"{images[0].shape[1]} already fill half of this machine's memory; "
            f"use fewer or smaller frames (--max-frames, --step, --downsample)"
        )


def _check_start(start: int, n: int, where: str) -> None:
    if start and start >= n:
        raise InputError(
            f"{where} has {n} frames, so starting at frame {start} leaves none; "
            f"use a start below {n}"
        )


def _check_count(n: int, where: str, minimum: int = 2) -> None:
    if n == 0:
        raise InputError(f"no frames found in {where}")
    if n < minimum:
        raise InputError(
            f"only one frame in {where}; Robust PCA separates what stays from "
            f"what changes across frames and needs at least 2"
        )


def _classify(inputs: list[Path]) -> str:
    if len(inputs) == 1:
        p = inputs[0]
        if p.is_dir():
            return "folder"
        suffix = p.suffix.lower()
        if suffix in ARRAY_SUFFIXES:
            return "array"
        if suffix in VIDEO_SUFFIXES:
            return "video"
        if suffix in IMAGE_SUFFIXES:
            return "image-file"  # a multi-page TIFF, or a single image (rejected later)
        return "unknown"
    if any(p.is_dir() for p in inputs):
        raise InputError(
            "give one folder, or a list of image files, not several folders "
            "or a folder mixed with files"
        )
    odd = [p for p in inputs if p.suffix.lower() not in IMAGE_SUFFIXES]
    if odd:
        raise InputError(
            f"{odd[0]} is not an image ({', '.join(IMAGE_SUFFIXES)}); a list of "
            f"inputs must be images only (videos and arrays are given alone)"
        )
    return "images"


def read_frames(
    inputs,
    *,
    max_frames: int | None = None,
    step: int = 1,
    key: str | None = None,
    downsample: int = 1,
    min_frames: int = 2,
    start: int = 0,
) -> FrameSource:
    """Read a frame stack from a folder of images, a list of images, a video or an array.

    Parameters
    ----------
    inputs : path or list of paths
        One folder (its images, in natural order: ``img2`` before ``img10``), several image
        files (in the order given), one video or multi-frame image (GIF, multi-page TIFF),
        or one ``.npy`` / ``.npz`` array of shape (n, h, w) or (n, h, w, c).
    max_frames : int, optional
        Keep at most this many frames (after ``step``).
    step : int
        Keep every ``step``-th frame.
    key : str, optional
        The array to use in an ``.npz`` holding several (default: the only one, or
        ``frames``).
    downsample : int
        Average ``downsample x downsample`` pixel blocks (shrinks frames, speeds up RPCA).
    min_frames : int
        Fewer frames is an error (2 for Robust PCA; 1 for ``fastrpca inspect``).
    start : int
        Skip the first ``start`` frames (a video's are decoded but not kept).

    Returns
    -------
    FrameSource

    Raises
    ------
    FileNotFoundError
        An input does not exist.
    InputError
        Unreadable file, no or one frame, frames of different sizes, bad array.
    MissingDependencyError
        imageio (or PyAV for video) is not installed.
    """
    kind, paths = _resolve(inputs, max_frames, step, min_frames, start)
    step, start = int(step), int(start)
    if kind == "array":
        return _read_array(paths[0], key, max_frames, step, downsample, min_frames, start)
    if kind in ("video", "image-file"):
        return _read_sequence(paths[0], kind, max_frames, step, downsample, min_frames, start)
    return _read_images(paths, max_frames, step, downsample, min_frames, start)


def _resolve(inputs, max_frames, step, min_frames, start=0):
    """``(kind, paths)`` of the inputs, checked (a folder becomes its images)."""
    paths = [Path(p) for p in ([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs)]
    if not paths:
        raise InputError("no input given")
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(f"{p} does not exist")
    step = int(step)
    if step < 1:
        raise InputError(f"step must be >= 1, got {step}")
    if int(start) < 0:
        raise InputError(f"start must be >= 0 (frames to skip), got {start}")
    if max_frames is not None and int(max_frames) < min_frames:
        raise InputError(f"max_frames must be >= {min_frames}, got {max_frames}")
    kind = _classify(paths)
    if kind == "unknown":
        raise InputError(
            f"{paths[0]}: unknown file type {paths[0].suffix!r}; expected a folder, images "
            f"({', '.join(IMAGE_SUFFIXES)}), a video ({', '.join(VIDEO_SUFFIXES)}) or an "
            f"array (.npy, .npz)"
        )
    if kind == "folder":
        folder = paths[0]
        files = sorted(
            (
                p
                for p in folder.iterdir()
                if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
            ),
            key=_natural_key,
        )
        if not files:
            others = [
                p.name
                for p in folder.iterdir()
                if p.suffix.lower() in VIDEO_SUFFIXES + ARRAY_SUFFIXES
            ]
            hint = f" (found {others[0]}: pass that file itself)" if others else ""
            raise InputError(
                f"no images in folder {folder} (looked for {', '.join(IMAGE_SUFFIXES)}){hint}"
            )
        return "images", files
    return kind, paths


def _read_images(paths, max_frames, step, downsample, min_frames=2, start=0) -> FrameSource:
    _check_start(start, len(paths), "the input images")
    paths = paths[start::step]
    if max_frames is not None:
        paths = paths[: int(max_frames)]
    _check_count(len(paths), "the input images", min_frames)
    images = [_read_image(p, downsample) for p in paths]
    sources = [p.name for p in paths]
    return FrameSource(_stack(images, sources), sources, "images", (0.0, 1.0))


def _read_sequence(
    path: Path, kind: str, max_frames, step, downsample, min_frames=2, start=0
) -> FrameSource:
    images, sources = [], []
    frames = _sequence_frames(path, kind, max_frames, step, downsample, min_frames, start)
    for source, img in frames:
        images.append(img)
        sources.append(source)
        _check_growing(images, str(path))
    return FrameSource(
        _stack(images, sources), sources, "video" if kind == "video" else "images", (0.0, 1.0)
    )


def _read_array(
    path: Path, key, max_frames, step, downsample, min_frames=2, start=0
) -> FrameSource:
    arr = _open_array(path, key, max_frames, step, min_frames, start=start)
    raw_values = arr.dtype not in (np.uint8, np.uint16, bool)  # not scaled to 0..1
    frames = _scale_to_float(arr, str(path))
    if downsample > 1:
        frames = np.stack([_downsample(f, downsample) for f in frames]).astype(np.float32)
    if raw_values:
        lo, hi = float(frames.min()), float(frames.max())
        display = (lo, hi if hi > lo else lo + 1.0)
    else:
        display = (0.0, 1.0)
    sources = [f"{path.name}[{start + i * step}]" for i in range(frames.shape[0])]
    return FrameSource(np.ascontiguousarray(frames), sources, "array", display)


def _open_array(path: Path, key, max_frames, step, min_frames=2, mmap=False, start=0) -> np.ndarray:
    """The frames of a ``.npy`` / ``.npz`` file, checked and sliced (a memory map of a
    ``.npy`` with ``mmap``), not yet scaled."""
    try:
        data = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except Exception as exc:
        raise InputError(
            f"cannot read {path} as a NumPy array: it is truncated, corrupt, not written by "
            "numpy.save / numpy.savez, or holds Python objects (not loaded, for safety)"
        ) from exc
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            names = list(data.files)
            if key is None:
                if len(names) == 1:
                    key = names[0]
                elif "frames" in names:
                    key = "frames"
                else:
                    raise InputError(
                        f"{path} holds several arrays ({', '.join(names)}); choose one with --key"
                    )
            if key not in names:
                raise InputError(f"{path} has no array {key!r}; it holds {', '.join(names)}")
            arr = data[key]
    else:
        if key is not None:
            raise InputError(f"--key applies to .npz files only, and {path} is a .npy")
        arr = data
    if arr.ndim == 4 and arr.shape[3] in (1, 2, 3, 4):
        arr = arr[..., 0] if arr.shape[3] in (1, 2) else arr[..., :3]
    elif arr.ndim != 3:
        raise InputError(
            f"{path} holds an array of shape {arr.shape}; expected frames of "
            f"shape (n, height, width) or (n, height, width, channels) with 1, "
            f"3 or 4 channels"
        )
    if min(arr.shape[1:]) == 0:
        raise InputError(f"{path} holds frames of shape {arr.shape[1:]}, which have no pixels")
    _check_start(start, arr.shape[0], str(path))
    arr = arr[start::step]
    if max_frames is not None:
        arr = arr[: int(max_frames)]
    _check_count(arr.shape[0], str(path), min_frames)
    return arr


# --------------------------------------------------------------------------- streaming


@dataclass
class FrameStream:
    """Frames read one at a time, for stacks larger than memory (:func:`stream_frames`).

    Attributes
    ----------
    frames : iterator of (str, ndarray)
        ``(source, frame)``, the frame float32 of shape
        (h, w) or (h, w, 3), as :func:`read_frames` would have it.
    kind : str
        ``"images"``, ``"video"`` or ``"array"``.
    display_range : (float, float)
        Values shown as black and white in pictures.
    """

    frames: Iterator
    kind: str
    display_range: tuple


def stream_frames(
    inputs,
    *,
    max_frames: int | None = None,
    step: int = 1,
    key: str | None = None,
    downsample: int = 1,
    start: int = 0,
) -> FrameStream:
    """The frames of :func:`read_frames`, one at a time (nothing is held but the frame).

    Parameters
    ----------
    inputs : path or list of paths
        As for :func:`read_frames`.
    max_frames : int, optional
        Keep at most this many frames (after ``step``).
    step : int
        Keep every ``step``-th frame.
    key : str, optional
        The array in an ``.npz`` holding several. A ``.npy`` is read by memory map; an
        ``.npz`` is loaded whole (it is compressed).
    downsample : int
        Average ``downsample x downsample`` pixel blocks.
    start : int
        Skip the first ``start`` frames.

    Returns
    -------
    FrameStream
        Its frames are read (and the errors of :func:`read_frames` raised) while it is
        iterated; fewer than 2 frames is an error at the end.
    """
    kind, paths = _resolve(inputs, max_frames, step, 2, start)
    step, start = int(step), int(start)
    if kind == "array":
        arr = _open_array(paths[0], key, max_frames, step, mmap=True, start=start)
        display = (0.0, 1.0)
        if arr.dtype not in (np.uint8, np.uint16, bool):  # raw values: their range, a pass
            lo, hi = np.inf, -np.inf
            for f in arr:
                f = _downsample(_scale_to_float(np.asarray(f), str(paths[0])), downsample)
                lo, hi = min(lo, float(f.min())), max(hi, float(f.max()))
            display = (lo, hi if hi > lo else lo + 1.0)
        name = paths[0].name

        def array_frames():
            for i, f in enumerate(arr):
                frame = _scale_to_float(np.asarray(f), str(paths[0]))
                yield (
                    f"{name}[{start + i * step}]",
                    _downsample(frame, downsample).astype(np.float32),
                )

        return FrameStream(array_frames(), "array", display)
    if kind in ("video", "image-file"):
        frames = _sequence_frames(paths[0], kind, max_frames, step, downsample, 2, start)
        return FrameStream(frames, "video" if kind == "video" else "images", (0.0, 1.0))
    _check_start(start, len(paths), "the input images")
    paths = paths[start::step][: None if max_frames is None else int(max_frames)]
    _check_count(len(paths), "the input images")

    def image_frames():
        for p in paths:
            yield p.name, _read_image(p, downsample)

    return FrameStream(image_frames(), "images", (0.0, 1.0))


def _read_image(p: Path, downsample: int) -> np.ndarray:
    """One image file as a float32 frame."""
    try:
        raw = np.asarray(_imageio().imread(p))
    except MissingDependencyError:
        raise
    except Exception as exc:  # imageio raises many types for corrupt files
        raise InputError(
            f"cannot read {p} as an image: it is truncated, corrupt or not an image "
            f"({', '.join(IMAGE_SUFFIXES)}); replace or remove it"
        ) from exc
    if raw.ndim == 4 or (raw.ndim == 3 and raw.shape[2] > 4):
        raise InputError(
            f"{p} holds several frames (an animation or a multi-page "
            f"image); pass it alone to read all its frames"
        )
    img = _normalise_channels(_scale_to_float(raw, str(p)), str(p))
    return _downsample(img, downsample).astype(np.float32, copy=False)


def _sequence_frames(
    path: Path, kind: str, max_frames, step, downsample, min_frames=2, start=0
) -> Iterator:
    """``(source, frame)`` of a video or multi-frame image, decoded one at a time."""
    iio = _imageio()
    options = {}
    if kind == "video" and path.suffix.lower() != ".gif":
        _check_video_backend()
        options["plugin"] = "pyav"

    def frames_of(reader):
        for raw in reader:
            raw = np.asarray(raw)
            if raw.ndim == 4 or (raw.ndim == 3 and raw.shape[2] > 4):
                yield from raw
            else:
                yield raw

    good = seen = 0
    try:
        for i, raw in enumerate(frames_of(iio.imiter(path, **options))):
            seen = i + 1
            if i < start or (i - start) % step:
                continue
            what = f"{path.name} frame {i}"
            img = _normalise_channels(_scale_to_float(raw, what), what)
            good += 1
            yield f"{path.name}#{i}", _downsample(img, downsample).astype(np.float32, copy=False)
            if max_frames is not None and good >= int(max_frames):
                break
    except (InputError, MissingDependencyError):
        raise
    except Exception as exc:  # FFmpeg / imageio internals: not shown, chained for -v
        what = (
            "a video: it is truncated, corrupt or in a format FFmpeg does not know"
            if kind == "video"
            else "an image sequence: it is truncated, corrupt or not an image"
        )
        done = f" (after {good} good frames)" if good else ""
        raise InputError(f"cannot read {path} as {what}{done}") from exc
    if not good:
        _check_start(start, seen, str(path))
    _check_count(good, str(path), min_frames)
