"""Image patches as columns and back, for dictionaries of textures.

:func:`extract_patches` cuts an image into square patches on a grid (every ``step``
pixels, plus a last row and column of patches flush with the border, so every pixel is
covered) and returns them as the columns of a matrix, the sample layout of
:class:`~fastrpca.sparse.RobustDictionaryLearning`. :func:`patches_to_image` puts
patch-shaped columns (codes' reconstructions, anomalies) back in place, averaging where
patches overlap.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._core.validation import as_array
from .._core.validation import positive as _positive

__all__ = ["extract_patches", "patches_to_image"]


def _positions(length: int, size: int, step: int) -> np.ndarray:
    """Patch starts along one axis: every ``step`` pixels, the last one flush with the end."""
    pos = np.arange(0, length - size + 1, step)
    if pos[-1] != length - size:
        pos = np.append(pos, length - size)
    return pos


def _check_geometry(shape: tuple[int, ...], size, step, name: str) -> tuple[int, int]:
    size = _positive(size, "size", integer=True)
    step = _positive(step, "step", integer=True)
    if len(shape) not in (2, 3) or min(shape[:2]) < 1:
        raise ValueError(
            f"{name} must be (height, width) or (height, width, channels), got {shape}"
        )
    if size > min(shape[:2]):
        raise ValueError(
            f"size={size} is larger than the image ({shape[0]} x {shape[1]}); use a "
            "smaller patch size"
        )
    return size, step


def extract_patches(image, size: int = 8, step: int = 1) -> np.ndarray:
    """The ``size x size`` patches of an image, one per column.

    Parameters
    ----------
    image : array_like (h, w) or (h, w, c), real
        Grey or multi-channel image (never modified).
    size : int
        Patch side in pixels.
    step : int
        Distance between neighbouring patches; a last row and column of patches is added
        flush with the bottom and right borders when ``step`` does not divide the image.

    Returns
    -------
    ndarray (size * size * c, n_patches), Fortran order
        Each column is one patch flattened row by row (channels last); patches in
        row-major order of their top-left corners. The layout of
        :meth:`RobustDictionaryLearning.fit`'s ``Y``.
    """
    img = as_array(image, "image", ndim=(2, 3), allow_complex=False)
    size, step = _check_geometry(img.shape, size, step, "image")
    rows = _positions(img.shape[0], size, step)
    cols = _positions(img.shape[1], size, step)
    window = (size, size) if img.ndim == 2 else (size, size, img.shape[2])
    views = sliding_window_view(img, window)
    if img.ndim == 3:
        views = views[:, :, 0]
    picked = views[rows[:, None], cols[None, :]]  # (gh, gw, size, size[, c]), a copy
    return picked.reshape(rows.size * cols.size, -1).T


def patches_to_image(patches, image_shape, size: int = 8, step: int = 1) -> np.ndarray:
    """Put patch columns back in an image, averaging where patches overlap.

    The inverse of :func:`extract_patches` for the same ``image_shape``, ``size`` and
    ``step``: each pixel gets the mean of the values the patches covering it give it.

    Parameters
    ----------
    patches : array_like (size * size * c, n_patches), real
        One patch per column, in the layout of :func:`extract_patches`.
    image_shape : tuple of int
        ``(h, w)`` or ``(h, w, c)`` of the image the patches were cut from.
    size : int
        Patch side in pixels.
    step : int
        The grid step used to cut them.

    Returns
    -------
    ndarray of shape ``image_shape``
    """
    shape = tuple(int(v) for v in image_shape)
    size, step = _check_geometry(shape, size, step, "image_shape")
    P = as_array(patches, "patches", ndim=2, allow_complex=False, check_finite=False)
    rows = _positions(shape[0], size, step)
    cols = _positions(shape[1], size, step)
    channels = 1 if len(shape) == 2 else shape[2]
    want = (size * size * channels, rows.size * cols.size)
    if P.shape != want:
        raise ValueError(
            f"patches has shape {P.shape}; {size} x {size} patches of a {shape} image "
            f"with step {step} give {want}"
        )
    blocks = P.T.reshape(rows.size, cols.size, size, size, channels)
    out = np.zeros((shape[0], shape[1], channels), dtype=P.dtype)
    count = np.zeros((shape[0], shape[1], 1), dtype=P.dtype)
    for a in range(size):
        for b in range(size):
            # within one offset the target pixels are distinct, so += is exact
            out[np.ix_(rows + a, cols + b)] += blocks[:, :, a, b]
            count[np.ix_(rows + a, cols + b)] += 1
    out /= count
    return out[:, :, 0] if len(shape) == 2 else out
