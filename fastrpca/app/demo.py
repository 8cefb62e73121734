"""The built-in demo: a synthetic factory line with known defects, found by Robust PCA.

:func:`make_factory_line` renders a camera looking at a brushed-metal product surface under
light that drifts slowly (overall brightness and a moving gradient), with sensor noise, and
with scratches (thin bright or dark lines) and spots (small dark foreign particles) on some
frames. Because the surface stays put and the light only scales it smoothly, the clean
frames span a rank-3 space; the defects are sparse. The ground-truth defect mask is known,
so :func:`run_demo` can report how well the decomposition finds them: pixel precision and
recall of the thresholded mask, and the per-pixel ROC AUC of the anomaly score.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._core.validation import positive, rng_from

#: Default size: 80 frames of 64 x 96 pixels (a 6144 x 80 matrix; about a second of IALM).
DEFAULT_FRAMES, DEFAULT_HEIGHT, DEFAULT_WIDTH = 80, 64, 96

#: Per-channel tint of the colour variant (a copper-like surface) and of its spots (rust).
_SURFACE_TINT = np.array([1.0, 0.78, 0.6])
_SPOT_TINT = np.array([0.55, 0.75, 1.0])


@dataclass
class FactoryLine:
    """A synthetic sequence with its ground truth.

    Attributes
    ----------
    frames : ndarray, float64 in [0, 1], shape (n, h, w) or (n, h, w, 3).
    truth : ndarray of bool, shape (n, h, w)
        True on defect pixels.
    clean : ndarray, shape of ``frames``. The frames without defects and without noise.
    defects : list of dict
        One per defect: ``frame``, ``kind`` ("scratch" / "spot"),
        ``pixels``, and its geometry.
    noise : float
        Standard deviation of the added sensor noise.
    background_rank : int
        Rank of the clean frames as a pixels x frames matrix (3: the
        surface times a light of three terms, overall gain and two gradients).
    """

    frames: np.ndarray
    truth: np.ndarray
    clean: np.ndarray
    defects: list = field(default_factory=list)
    noise: float = 0.0
    background_rank: int = 0


def _smooth_noise(rng, shape, sigma):
    from scipy.ndimage import gaussian_filter

    field_ = gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return field_ / field_.std()


def _surface(rng, h, w):
    """Brushed metal: long horizontal streaks, fine grain and broad blotches around 0.5.

    The deviation from 0.5 is capped at 0.18 so that, under the brightest light, clean
    pixels stay below 0.9 and are never clipped (clipping would break the low rank).
    """
    streaks = _smooth_noise(rng, (h, w), (0.7, 10.0))
    grain = _smooth_noise(rng, (h, w), 0.8)
    blotches = _smooth_noise(rng, (h, w), 10.0)
    dev = 0.06 * streaks + 0.03 * grain + 0.04 * blotches
    return 0.5 + dev * min(1.0, 0.18 / np.abs(dev).max())


def _scratch(rng, h, w):
    length = rng.uniform(0.2, 0.45) * w
    angle = rng.uniform(0, np.pi)
    cx, cy = rng.uniform(0.15 * w, 0.85 * w), rng.uniform(0.15 * h, 0.85 * h)
    s = np.linspace(-length / 2, length / 2, int(4 * length))
    xs = np.rint(cx + s * np.cos(angle)).astype(int)
    ys = np.rint(cy + s * np.sin(angle)).astype(int)
    width = int(rng.integers(1, 3))
    mask = np.zeros((h, w), bool)
    for d in range(width):  # thicken across the line's main direction
        dx, dy = (0, d) if abs(np.cos(angle)) > abs(np.sin(angle)) else (d, 0)
        x, y = xs + dx, ys + dy
        ok = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        mask[y[ok], x[ok]] = True
    contrast = rng.choice([-1.0, 1.0]) * rng.uniform(0.06, 0.22)
    geometry = {
        "center": [float(cx), float(cy)],
        "length": float(length),
        "angle_deg": float(np.degrees(angle)),
        "width": width,
    }
    return mask, contrast, geometry


def _spot(rng, h, w):
    radius = rng.uniform(1.5, 3.5)
    cx, cy = rng.uniform(4, w - 4), rng.uniform(4, h - 4)
    yy, xx = np.mgrid[0:h, 0:w]
    mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
    contrast = -rng.uniform(0.1, 0.3)
    return mask, contrast, {"center": [float(cx), float(cy)], "radius": float(radius)}


def plant_defects(
    image, *, n_scratches: int = 6, n_spots: int = 8, contrast: float = 0.25, random_state=0
) -> tuple[np.ndarray, np.ndarray]:
    """Draw scratches (thin lines, bright or dark) and spots (small dark disks) on an image.

    The same shapes as :func:`make_factory_line`'s defects, with a fixed contrast, for
    testing anomaly detection on real textures (``skimage.data.brick()`` and the like).

    Parameters
    ----------
    image : array_like (h, w), real
        Grey image, values in the units of ``contrast`` (never modified).
    n_scratches, n_spots : int
        How many of each to draw.
    contrast : float > 0
        Change of intensity on a defect pixel (added for bright scratches, subtracted for
        dark scratches and spots).
    random_state : None, int or Generator
        Seed of the shapes and positions.

    Returns
    -------
    image : ndarray (h, w), float64
        A copy with the defects.
    mask : ndarray (h, w) of bool
        True on defect pixels.
    """
    img = np.array(image, dtype=np.float64)
    if img.ndim != 2 or min(img.shape) < 16:
        raise ValueError(f"image must be a grey image of at least 16 x 16, got {img.shape}")
    n_scratches = positive(n_scratches, "n_scratches", integer=True, allow_zero=True)
    n_spots = positive(n_spots, "n_spots", integer=True, allow_zero=True)
    contrast = positive(contrast, "contrast")
    rng = rng_from(random_state)
    h, w = img.shape
    mask = np.zeros((h, w), bool)
    for _ in range(n_scratches):
        shape, sign, _geometry = _scratch(rng, h, w)
        img[shape] += np.sign(sign) * contrast
        mask |= shape
    for _ in range(n_spots):
        shape, _c, _geometry = _spot(rng, h, w)
        img[shape] -= contrast
        mask |= shape
    return img, mask


def make_factory_line(
    n_frames: int = DEFAULT_FRAMES,
    height: int = DEFAULT_HEIGHT,
    width: int = DEFAULT_WIDTH,
    *,
    color: bool = False,
    defect_rate: float = 0.3,
    noise: float = 0.01,
    random_state=0,
) -> FactoryLine:
    """Synthesise a factory-line sequence with scratches and spots, ground truth known.

    Parameters
    ----------
    n_frames, height, width : int
        Sequence size (at least 2 frames of 16 x 16).
    color : bool
        Render RGB frames (a copper-tinted surface, bluish-dark spots) instead of grey.
    defect_rate : float in [0, 1]
        Fraction of frames that carry one or two defects.
    noise : float
        Standard deviation of the Gaussian sensor noise (image range is [0, 1]).
    random_state : None, int or Generator
        Seed; the same seed gives the same sequence.

    Returns
    -------
    FactoryLine
    """
    n_frames = positive(n_frames, "n_frames", integer=True)
    height = positive(height, "height", integer=True)
    width = positive(width, "width", integer=True)
    if n_frames < 2 or height < 16 or width < 16:
        raise ValueError(
            f"the factory line needs at least 2 frames of 16 x 16 pixels, got "
            f"{n_frames} frames of {height} x {width}"
        )
    defect_rate = positive(defect_rate, "defect_rate", allow_zero=True, upper=1.0)
    noise = positive(noise, "noise", allow_zero=True)
    rng = rng_from(random_state)
    h, w = height, width

    surface = _surface(rng, h, w)
    # Slowly drifting light: gain around 1 and a gradient whose direction turns.
    t = np.arange(n_frames) / max(n_frames - 1, 1)
    phase = rng.uniform(0, 2 * np.pi, 3)
    gain = 1.0 + 0.12 * np.sin(2 * np.pi * 0.9 * t + phase[0])
    gx = 0.2 * np.sin(2 * np.pi * 0.6 * t + phase[1])
    gy = 0.15 * np.cos(2 * np.pi * 0.7 * t + phase[2])
    yy, xx = np.mgrid[0:h, 0:w]
    xn, yn = (xx - (w - 1) / 2) / w, (yy - (h - 1) / 2) / h
    light = gain[:, None, None] + gx[:, None, None] * xn + gy[:, None, None] * yn
    clean = surface[None] * light

    truth = np.zeros((n_frames, h, w), bool)
    change = np.zeros((n_frames, h, w))
    spot_pixels = np.zeros((n_frames, h, w), bool)
    defects = []
    n_bad = int(round(defect_rate * n_frames))
    for k in np.sort(rng.choice(n_frames, n_bad, replace=False)):
        for _ in range(int(rng.integers(1, 3))):
            kind = "scratch" if rng.random() < 0.5 else "spot"
            mask, contrast, geometry = (_scratch if kind == "scratch" else _spot)(rng, h, w)
            change[k][mask] = contrast
            truth[k] |= mask
            if kind == "spot":
                spot_pixels[k] |= mask
            defects.append(
                {
                    "frame": int(k),
                    "kind": kind,
                    "pixels": int(mask.sum()),
                    "contrast": float(contrast),
                    **geometry,
                }
            )

    if color:
        clean = clean[..., None] * _SURFACE_TINT
        tint = np.where(spot_pixels[..., None], _SPOT_TINT, 1.0)
        frames = clean + change[..., None] * tint
        frames = frames + noise * rng.standard_normal(frames.shape)
    else:
        frames = clean + change + noise * rng.standard_normal(clean.shape)
    rank = int(np.linalg.matrix_rank(clean.reshape(n_frames, -1)))
    return FactoryLine(
        frames=np.clip(frames, 0.0, 1.0),
        truth=truth,
        clean=clean,
        defects=defects,
        noise=noise,
        background_rank=rank,
    )


def detection_report(truth, dec) -> dict:
    """The CDnet measures of ``dec.mask`` (:func:`fastrpca.cdnet_metrics`: recall,
    specificity, FPR, FNR, PWC, precision, F-measure) and the ROC AUC of ``dec.score``
    against ``truth``."""
    from ..robust_pca.metrics import cdnet_metrics, roc_auc

    return {
        **cdnet_metrics(truth, dec.mask),
        "roc_auc": roc_auc(truth, dec.score),
        "true_anomaly_fraction": float(np.mean(truth)),
        "detected_anomaly_fraction": float(np.mean(dec.mask)),
    }


def run_demo(
    out_dir=None,
    *,
    n_frames: int = DEFAULT_FRAMES,
    height: int = DEFAULT_HEIGHT,
    width: int = DEFAULT_WIDTH,
    color: bool = False,
    noise: float = 0.01,
    random_state=0,
    force: bool = False,
    callback=None,
    threshold: float | None = None,
    k: float = 5.0,
    min_contrast: float = 0.01,
    dtype=np.float32,
    lam: float | None = None,
    tol: float | None = None,
    delta: float | str = "auto",
    rank: int | None = None,
    max_iter: int = 1000,
    svd: str = "auto",
    seed=0,
    sheet_frames: int = 8,
    save_arrays: bool = True,
    blas_threads: int | None = 1,
    on_solved=None,
) -> dict:
    """Generate the factory line, decompose it, write the pictures, score the detection.

    Parameters
    ----------
    out_dir : path, optional
        Folder for the pictures (written through a temporary sibling and renamed at the
        end, so an interrupted run leaves nothing under this name); None writes nothing.
    n_frames, height, width, color, noise, random_state
        Passed to :func:`make_factory_line`.
    force : bool
        Replace an existing non-empty ``out_dir``.
    callback : callable, optional
        The solver's per-iteration callback (e.g. a progress bar).
    threshold, k, min_contrast : optional
        Fixed threshold, or the parameters of the automatic one
        (:func:`fastrpca.auto_threshold`).
    dtype, lam, tol, delta, rank, max_iter, svd, seed
        Passed to :func:`fastrpca.decompose_frames` (``seed`` as ``random_state``):
        stable PCP with ``delta="auto"`` by default; ``tol`` defaults
        to 1e-3 (stable PCP) or rpca's default for ``dtype`` (``delta=0``).
    sheet_frames : int
        Frames in the contact sheet.
    save_arrays : bool
        Also write ``decomposition.npz`` (and ``ground_truth.npz``).
    blas_threads : int or None
        BLAS threads during the solve (1 is fastest at the demo's size); None leaves them.
    on_solved : callable, optional
        Called with the :class:`~fastrpca.RPCAResult` as soon as the solver returns.

    Returns
    -------
    dict
        The summary: sizes, solver figures (iterations, time, rank, residual), the
        threshold, the detection figures (``detection``: ``precision``, ``recall``,
        ``roc_auc``), ``time_total`` and the files written. Also saved as
        ``summary.json`` in ``out_dir``.
    """
    from threadpoolctl import threadpool_limits

    from .. import __version__
    from ..robust_pca.frames import decompose_frames

    start = time.perf_counter()
    line = make_factory_line(
        n_frames, height, width, color=color, noise=noise, random_state=random_state
    )
    dtype = np.dtype(dtype)
    if tol is None:  # decompose_frames' defaults
        tol = 1e-3 if delta != 0 else (1e-6 if dtype == np.float32 else 1e-7)
    with contextlib.ExitStack() as stack:
        tmp = None
        if out_dir is not None:
            from .outputs import staged_directory
            from .reading import check_dependencies

            check_dependencies()
            tmp = Path(stack.enter_context(staged_directory(out_dir, force=force)))
        with threadpool_limits(blas_threads):
            dec = decompose_frames(
                line.frames,
                lam,
                dtype=dtype,
                tol=tol,
                delta=delta,
                rank=rank,
                callback=callback,
                threshold=threshold,
                k=k,
                min_contrast=min_contrast,
                max_iter=max_iter,
                svd=svd,
                random_state=seed,
            )
        if on_solved is not None:
            on_solved(dec.result)
        summary = {
            "fastrpca_version": __version__,
            "command": "demo",
            "data": {
                "kind": "synthetic factory line",
                "frames": n_frames,
                "frame_shape": list(line.frames.shape[1:]),
                "noise": noise,
                "background_rank": line.background_rank,
                "seed": random_state if isinstance(random_state, int) else None,
                "defective_frames": sorted({d["frame"] for d in line.defects}),
                "defects": line.defects,
            },
            **solver_summary(dec, tol, dtype),
            "detection": detection_report(line.truth, dec),
        }
        if tmp is not None:
            from .outputs import write_json, write_outputs

            summary["files"] = write_outputs(
                tmp, line.frames, dec, tol=tol, sheet_frames=sheet_frames, save_arrays=save_arrays
            )
            if save_arrays:
                np.savez_compressed(tmp / "ground_truth.npz", frames=line.frames, truth=line.truth)
                summary["files"]["ground_truth"] = "ground_truth.npz"
            summary["out_dir"] = str(out_dir)
            summary["time_total"] = time.perf_counter() - start
            write_json(tmp / "summary.json", summary)
    summary["time_total"] = time.perf_counter() - start
    return summary


def solver_summary(dec, tol: float, dtype) -> dict:
    """The solver and threshold part of a summary (shared by the demo and the CLI)."""
    res = dec.result
    bins = dec.bins
    return {
        "matrix_shape": list(res.L.shape),
        "color": dec.color,
        "dtype": str(np.dtype(dtype)),
        "rpca": {
            "lam": res.lam,
            "tol": tol,
            "svd": res.svd,
            "n_iter": res.n_iter,
            "converged": res.converged,
            "residual": res.residual,
            "rank": res.rank,
            "max_rank": res.max_rank,
            "delta": res.delta,
            "sigma": res.sigma,
            "e_norm": res.e_norm,
            "time": res.time,
            "message": res.message,
        },
        "threshold": {
            "value": dec.threshold,
            "automatic": dec.threshold_auto,
            "noise_scale": dec.noise_scale,
            "rule": (
                "per brightness bin b of L: max(k * max(sigma, sigma_b), min_contrast * "
                "(max(M) - min(M))), sigma = 1.4826 * MAD(M - L) with a quantisation floor"
                if dec.threshold_auto
                else "fixed by the user"
            ),
            "k": dec.k,
            "min_contrast": dec.min_contrast,
            "per_bin": None if bins is None else bins.values,
            "bin_edges": None if bins is None else bins.edges,
            "quantum": None if bins is None else bins.quantum,
        },
        "anomaly_fraction": float(dec.mask.mean()),
        "anomaly_fraction_per_frame": dec.anomaly_fraction,
    }
