"""Texture inspection by robust dictionary learning: what ``fastrpca inspect`` computes.

The dictionary of 8 x 8 "normal parts" is learned from patches of the images themselves
(the anomaly term keeps rare defects out of it) or of reference images of good products;
each image is then cut into overlapping patches, coded, and what the atoms cannot explain
on a few pixels (``S``) is averaged back into a per-pixel anomaly score. Unlike Robust PCA
the products need not be aligned from image to image: only the texture must repeat.

Units: every patch has its mean removed and is divided by ``scale``, the standard
deviation of the training patches, so ``lam`` and ``lam_s`` do not depend on the images'
brightness or contrast; scores are reported back in the images' units.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .._core.validation import rng_from
from ..robust_pca.frames import MAD_TO_SIGMA, to_grey
from ..sparse.dictionary import RobustDictionaryLearning
from ..sparse.patches import extract_patches, patches_to_image


@dataclass
class Inspection:
    """Outcome of :func:`inspect_images`, per image in ``(n, h, w)`` arrays.

    Attributes
    ----------
    images : ndarray
        The grey images inspected.
    normal : ndarray
        What the dictionary explains (the codes' reconstruction plus each
        patch's mean, overlaps averaged).
    score : ndarray
        Anomaly score: ``|S|`` averaged over the patches covering a pixel.
    mask : ndarray of bool
        ``score > threshold``.
    threshold : float
        In the images' units.
    automatic : bool
        The threshold came from the noise (``k`` times ``noise``).
    noise : float
        Robust standard deviation of the reconstruction residual ``y - D x``.
    anomaly_fraction : ndarray (n,)
        Share of masked pixels per image.
    model : RobustDictionaryLearning
        The learned dictionary (in scaled units).
    scale : float
        Standard deviation of the (mean-removed) training patches.
    n_train : int
        Training patches used.
    times : dict
        Seconds spent learning and decomposing.
    """

    images: np.ndarray
    normal: np.ndarray
    score: np.ndarray
    mask: np.ndarray
    threshold: float
    automatic: bool
    noise: float
    anomaly_fraction: np.ndarray
    model: RobustDictionaryLearning
    scale: float
    n_train: int
    times: dict = field(default_factory=dict)


def _training_patches(images, patch: int, limit: int, rng) -> np.ndarray:
    """Up to ``limit`` patches drawn evenly from the images (every pixel offset possible)."""
    per_image = -(-limit // len(images))
    chunks = []
    for img in images:
        P = extract_patches(img, patch, 1)
        if P.shape[1] > per_image:
            P = P[:, np.sort(rng.choice(P.shape[1], per_image, replace=False))]
        chunks.append(P)
    T = np.concatenate(chunks, axis=1)
    if T.shape[1] > limit:
        T = T[:, np.sort(rng.choice(T.shape[1], limit, replace=False))]
    return T


def inspect_images(
    frames,
    reference=None,
    *,
    patch: int = 8,
    step: int = 2,
    n_atoms: int = 256,
    lam: float = 1.0,
    lam_s: float = 0.25,
    train_patches: int = 20_000,
    threshold: float | None = None,
    k: float = 5.0,
    min_contrast: float = 0.01,
    data_range: float = 1.0,
    tol: float = 1e-4,
    random_state=0,
) -> Inspection:
    """Learn the normal texture and score every pixel of every image.

    Parameters
    ----------
    frames : array_like (n, h, w) or (n, h, w, c)
        The images to inspect (colour is converted to luminance).
    reference : array_like, optional
        Images of good products to learn from (default: the inspected images).
    patch, step : int
        Patch side and the step of the patch grid used for scoring.
    n_atoms, lam, lam_s : int, float, float
        :class:`~fastrpca.sparse.RobustDictionaryLearning` settings, ``lam`` and
        ``lam_s`` in units of the training patches' standard deviation.
    train_patches : int
        Patches drawn at random from the training images.
    threshold : float, optional
        Fixed threshold on the score (images' units); default automatic:
        ``max(k * noise, min_contrast * data_range)``.
    k, min_contrast, data_range : float
        The automatic threshold's factors and the images' value range.
    tol : float
        Relative duality gap of each patch's coding.
    random_state : None, int or Generator
        Seeds the training patches and the learning.

    Returns
    -------
    Inspection
    """
    images = np.asarray(to_grey(frames), dtype=np.float64)
    train = images if reference is None else np.asarray(to_grey(reference), dtype=np.float64)
    if min(images.shape[1:]) < patch or min(train.shape[1:]) < patch:
        raise ValueError(
            f"images of {images.shape[1]} x {images.shape[2]} pixels are smaller than the "
            f"{patch} x {patch} patches; use a smaller --patch"
        )
    rng = rng_from(random_state)
    start = time.perf_counter()
    T = _training_patches(train, patch, train_patches, rng)
    T -= T.mean(axis=0)
    scale = float(T.std()) or 1.0
    T /= scale
    model = RobustDictionaryLearning(n_atoms, lam, lam_s).fit(T, random_state=rng)
    times = {"learn": time.perf_counter() - start}
    start = time.perf_counter()
    normal = np.empty_like(images)
    score = np.empty_like(images)
    residuals = []
    D = np.asarray(model.dictionary)
    for i, img in enumerate(images):
        Q = extract_patches(img, patch, step)
        means = Q.mean(axis=0)
        Q = (Q - means) / scale
        codes = model.decompose(Q, tol=tol)
        fit = D @ codes.x
        normal[i] = patches_to_image(fit * scale + means, img.shape, patch, step)
        score[i] = patches_to_image(np.abs(codes.s) * scale, img.shape, patch, step)
        residuals.append(((Q - fit) * scale).ravel()[:: max(1, Q.size // 200_000)])
    times["decompose"] = time.perf_counter() - start
    r = np.concatenate(residuals)
    noise = float(MAD_TO_SIGMA * np.median(np.abs(r - np.median(r))))
    automatic = threshold is None
    tau = max(k * noise, min_contrast * data_range) if automatic else float(threshold)
    mask = score > tau
    return Inspection(
        images=images,
        normal=normal,
        score=score,
        mask=mask,
        threshold=tau,
        automatic=automatic,
        noise=noise,
        anomaly_fraction=mask.mean(axis=(1, 2)),
        model=model,
        scale=scale,
        n_train=T.shape[1],
        times=times,
    )


def atoms_mosaic(dictionary, patch: int) -> np.ndarray:
    """The atoms as a grid of ``patch x patch`` tiles (each stretched to 0..1, 1 px gaps)."""
    D = np.asarray(dictionary)
    n = D.shape[1]
    cols = int(np.ceil(np.sqrt(n)))
    rows = -(-n // cols)
    out = np.ones((rows * (patch + 1) + 1, cols * (patch + 1) + 1))
    for j in range(n):
        a = D[:, j].reshape(patch, patch)
        span = a.max() - a.min()
        tile = (a - a.min()) / span if span > 0 else np.zeros_like(a)
        r, c = divmod(j, cols)
        y, x = 1 + r * (patch + 1), 1 + c * (patch + 1)
        out[y : y + patch, x : x + patch] = tile
    return out
