"""Pictures of a decomposition: 8-bit images, the contact sheet, the convergence plot."""

from __future__ import annotations

import math

import numpy as np

from .reading import _imageio, _matplotlib


def to_uint8(image, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """Map ``[lo, hi]`` to 0..255 (clipped), rounding to the nearest level.

    Parameters
    ----------
    image : array_like
        Any shape, real values.
    lo, hi : float
        Values shown as black (0) and white (255).

    Returns
    -------
    ndarray of uint8, same shape.
    """
    image = np.asarray(image, dtype=np.float64)
    scaled = (image - lo) / (hi - lo) if hi > lo else image - lo
    return np.clip(np.rint(scaled * 255.0), 0, 255).astype(np.uint8)


def write_image(path, image: np.ndarray) -> None:
    """Write an image with imageio; the format follows the file's suffix.

    Parameters
    ----------
    path : path
    image : ndarray of uint8, shape (h, w) or (h, w, 3)
        See :func:`to_uint8` for floating data.
    """
    _imageio().imwrite(path, image)


def foreground_range(foreground: np.ndarray, threshold: float) -> float:
    """Half-width of the signed range shown in foreground pictures (same for all frames):
    the 99.9th percentile of ``|S|``, at least twice the threshold."""
    peak = float(np.percentile(np.abs(foreground), 99.9)) if foreground.size else 0.0
    return max(peak, 2.0 * threshold, np.finfo(np.float32).tiny)


def _colormap(name: str):
    matplotlib, _, _ = _matplotlib()
    return matplotlib.colormaps[name]


def _tile(img, lo, hi):
    """A float RGB tile in [0, 1] from a grey or RGB frame."""
    t = np.clip((np.asarray(img, np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return np.repeat(t[..., None], 3, axis=2) if t.ndim == 2 else t


def sheet_geometry(height: int, width: int) -> tuple[int, int, int, int]:
    """Tile layout of the contact sheet: ``(zoom, shrink, tile_height, tile_width)``.

    Small frames are enlarged by an integer ``zoom`` to about 128 px high; frames higher
    than 256 px are reduced by an integer ``shrink`` (block means for pictures, block
    maxima for the score and the mask, so that small anomalies stay visible).
    """
    zoom = max(1, 128 // max(height, 1))
    shrink = max(1, math.ceil(height / 256))
    return zoom, shrink, (height // shrink) * zoom, (width // shrink) * zoom


def _pool(img, f: int, how: str):
    if f == 1:
        return img
    h, w = img.shape[0] // f, img.shape[1] // f
    blocks = img[: h * f, : w * f].reshape(h, f, w, f, *img.shape[2:])
    return blocks.max(axis=(1, 3)) if how == "max" else blocks.mean(axis=(1, 3))


def contact_sheet_array(
    originals,
    background,
    score,
    mask,
    indices,
    *,
    display_range=(0, 1),
    score_max: float = 1.0,
    gap: int = 4,
) -> np.ndarray:
    """The tiles of the contact sheet as one RGB float32 image (no labels).

    One row per frame in ``indices``: original | background | anomaly score (inferno
    colour map, 0 to ``score_max``) | mask (red) over the dimmed original. Tiles are
    sized by :func:`sheet_geometry` and separated by ``gap`` white pixels.
    """
    lo, hi = display_range
    cmap = _colormap("inferno")
    z, f, h, w = sheet_geometry(originals.shape[1], originals.shape[2])
    rows = len(indices)
    sheet = np.ones((rows * h + (rows + 1) * gap, 4 * w + 5 * gap, 3), np.float32)
    for r, i in enumerate(indices):
        orig = _tile(_pool(originals[i], f, "mean"), lo, hi)
        heat = cmap(np.clip(_pool(score[i], f, "max") / score_max, 0.0, 1.0))[..., :3]
        over = 0.5 * orig
        over[_pool(mask[i], f, "max")] = (1.0, 0.1, 0.1)
        tiles = (orig, _tile(_pool(background[i], f, "mean"), lo, hi), heat, over)
        y = gap + r * (h + gap)
        for c, tile in enumerate(tiles):
            x = gap + c * (w + gap)
            sheet[y : y + h, x : x + w] = np.kron(tile, np.ones((z, z, 1)))
    return sheet


def save_contact_sheet(
    path,
    originals,
    background,
    score,
    mask,
    indices,
    *,
    display_range=(0, 1),
    score_max: float = 1.0,
    dpi: int = 100,
    labels=("original", "background (L)", "anomaly |S|", "mask"),
) -> tuple[int, int]:
    """Write the labelled contact sheet (PNG).

    Parameters
    ----------
    path : path
    originals, background : ndarray, shape (n, h, w) or (n, h, w, 3)
    score : ndarray, shape (n, h, w)
    mask : ndarray of bool, shape (n, h, w)
    indices : list of int
        The frames shown, one row each (see :func:`sample_frames`).
    display_range : (float, float)
        Values shown as black and white in the original and background columns.
    score_max : float
        Score shown at the top of the colour map.
    dpi : int
    labels : tuple of 4 str
        The column titles.

    Returns
    -------
    (int, int) : the picture's height and width in pixels (column labels on top, frame
        numbers on the left, tiles as in :func:`contact_sheet_array`).
    """
    _, Figure, FigureCanvasAgg = _matplotlib()
    tiles = contact_sheet_array(
        originals,
        background,
        score,
        mask,
        indices,
        display_range=display_range,
        score_max=score_max,
    )
    header, left = 28, 56
    height, width = tiles.shape[0] + header, tiles.shape[1] + left
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes([left / width, 0, tiles.shape[1] / width, tiles.shape[0] / height])
    ax.imshow(tiles, interpolation="nearest", aspect="auto")
    ax.set_axis_off()
    gap = 4
    _, _, h, w = sheet_geometry(originals.shape[1], originals.shape[2])
    for c, label in enumerate(labels):
        x = left + gap + c * (w + gap) + w / 2
        fig.text(x / width, 1 - header / 2 / height, label, ha="center", va="center", fontsize=10)
    for r, i in enumerate(indices):
        y = gap + r * (h + gap) + h / 2
        fig.text(
            left / 2 / width,
            1 - (header + y) / height,
            f"#{i}",
            ha="center",
            va="center",
            fontsize=9,
        )
    fig.savefig(path, dpi=dpi)
    return height, width


def save_convergence_plot(path, history: dict, *, tol: float | None = None, dpi: int = 100) -> None:
    """Write the convergence plot (PNG): residual (log scale) and rank of L per iteration.

    Parameters
    ----------
    path : path
    history : dict
        ``RPCAResult.history``, with ``residual`` and ``rank`` per iteration.
    tol : float, optional
        Drawn as a dashed line on the residual panel.
    dpi : int
        The figure is 8 x 3.2 inches, i.e. 800 x 320 pixels at the default 100.
    """
    _, Figure, FigureCanvasAgg = _matplotlib()
    residual = np.asarray(history["residual"], dtype=float)
    rank = np.asarray(history["rank"])
    it = np.arange(1, residual.size + 1)
    fig = Figure(figsize=(8, 3.2), dpi=dpi)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    if residual.size:
        ax1.semilogy(it, np.maximum(residual, np.finfo(float).tiny), "o-", ms=3)
    if tol is not None:
        ax1.axhline(tol, color="grey", ls="--", lw=1, label=f"tol {tol:.0e}")
        ax1.legend(loc="upper right")
    ax1.set(xlabel="iteration", ylabel="||M - L - S|| / ||M||", title="residual")
    ax1.grid(alpha=0.3, which="both")
    ax2.step(it, rank, where="mid", color="tab:green")
    ax2.set(xlabel="iteration", ylabel="rank of L", title="rank")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)


def sample_frames(fraction, n_show: int) -> list[int]:
    """Frames for the contact sheet: the most anomalous half, the rest evenly spaced."""
    fraction = np.asarray(fraction)
    n = fraction.size
    if n_show >= n:
        return list(range(n))
    top = [int(i) for i in np.argsort(-fraction, kind="stable")[: n_show // 2] if fraction[i] > 0]
    chosen = set(top)
    for i in np.linspace(0, n - 1, n_show).round().astype(int):
        if len(chosen) >= n_show:
            break
        chosen.add(int(i))
    for i in range(n):  # evenly spaced picks may collide with the top ones
        if len(chosen) >= n_show:
            break
        chosen.add(i)
    return sorted(chosen)
