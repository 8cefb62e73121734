"""Frame stacks for Robust PCA: reshaping, anomaly scores, thresholds and detection metrics.

A camera watching a factory line or a corridor gives a stack of frames, shape
``(n_frames, height, width)`` for grey or ``(n_frames, height, width, channels)`` for colour.
Robust PCA wants a matrix ``M`` whose columns are the frames: the steady background is then
low rank (``L``) and what appears in a few frames only, such as a scratch, a spot or a
passer-by, is sparse (``S``). This module turns stacks into matrices and back, estimates
the cameras' noise, scores and thresholds the residual from the background per pixel, all
with NumPy and SciPy; no scikit-learn, no image library.

Colour
------
A colour frame becomes one column of length ``height * width * channels``: the channels are
stacked as extra rows, pixel by pixel (C order), so the background keeps its colours and an
anomaly in any channel shows up in ``S``. The per-pixel anomaly score then combines the
channels as their root mean square. The alternative, decomposing the luminance only, is
:func:`to_grey` followed by the grey path.

Decomposition
-------------
:func:`decompose_frames` runs stable principal component pursuit by default
(``rpca(M, delta="auto")``: ``M = L + S + E`` with the dense noise E bounded by the noise
measured between frames, :func:`noise_sigma`), to ``tol = 1e-3``. Exact PCP
(``delta=0``) pushes the sensor noise of real cameras into L, whose rank and cost then
explode (rank 113 on a real-photo sequence), or into S.

Anomaly score
-------------
A pixel's score is its residual from the background, ``|M - L|`` (the RMS over channels
for colour), not ``|S|``: stable PCP shrinks S by only about one noise sigma, so
``|S| > 0`` flags noise (precision 0.38 on a real sequence), while ``M - L`` is the
foreground plus the noise, which the threshold then separates.

Automatic threshold
-------------------
:func:`auto_threshold` flags a pixel when its score exceeds

    ``tau(b) = max(k * max(sigma, sigma_b), min_contrast * (max(M) - min(M)))``

where ``b`` is the pixel's background brightness bin (16 equal bins of L; colour: the mean
over channels), ``sigma`` the robust noise level of the whole residual
(:func:`noise_scale`: ``1.4826 * median(|R - median(R)|)``, every channel pooled) and
``sigma_b`` that of the residual over the pixels of bin b: sensor noise grows with the
brightness (photon shot noise), and compression artefacts with the texture. Both are
floored for quantisation, ``sigma -> sqrt(sigma^2 + (2 q / sqrt(12))^2)``, with q the step
of the data (1/255 for 8-bit frames scaled to [0, 1], found from the data,
:func:`quantum`): compressed video repeats most pixels exactly, and without the floor the
threshold of its flat, dark areas would collapse to 0. Anomalies are sparse, so they
barely move the medians; with ``k = 5`` a Gaussian noise pixel passes with probability
about 6e-7. The medians are taken over a random sample of at most 2**18 pixels. The
contrast floor, 1 % of the data's range by default, keeps noise-free inputs (synthetic,
where sigma is 0) from flagging rounding residue.

On real-camera sequences with known masks (``fastrpca.app.scenes``) this rule is within
0.01 of the F-measure of the best single threshold, and above it under flicker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._core.validation import as_array, check_all_finite, ldexp, positive
from .ialm import RPCAResult, rpca

#: Rec. 601 luma weights (R, G, B), the ones most image tools use for "grey".
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

#: Consistency constant turning a median absolute deviation into a Gaussian sigma.
MAD_TO_SIGMA = 1.4826


def _as_stack(frames, name: str = "frames", *, check_finite: bool = True) -> np.ndarray:
    arr = as_array(frames, name, ndim=(3, 4), allow_complex=False, check_finite=check_finite)
    if arr.shape[0] < 2:
        raise ValueError(
            f"{name} holds {arr.shape[0]} frame(s); Robust PCA separates what "
            f"stays from what changes and needs at least 2 frames"
        )
    if min(arr.shape[1:3]) < 1 or (arr.ndim == 4 and arr.shape[3] < 1):
        raise ValueError(f"{name} has an empty frame shape {arr.shape[1:]}")
    return arr


def frames_to_matrix(frames, *, dtype=None) -> np.ndarray:
    """Stack frames as the columns of a matrix.

    Parameters
    ----------
    frames : array_like, shape (n_frames, height, width) or (n_frames, height, width, c)
        Grey (3-D) or multi-channel (4-D) frames. Integers are promoted to float64.
    dtype : dtype, optional
        Floating dtype of the result (e.g. ``np.float32`` to halve memory and time).

    Returns
    -------
    M : ndarray, shape (height * width * c, n_frames)
        Column ``k`` is frame ``k`` flattened in C order (row, column, channel). It may be a
        view of ``frames`` (when no conversion is needed); copy it before writing into it.

    Examples
    --------
    >>> import numpy as np
    >>> frames = np.arange(24.0).reshape(2, 3, 4)
    >>> M = frames_to_matrix(frames)
    >>> M.shape
    (12, 2)
    >>> bool(np.array_equal(matrix_to_frames(M, (3, 4)), frames))
    True
    """
    arr = _as_stack(frames, check_finite=False)
    dtype = _float_dtype(dtype)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    return arr.reshape(arr.shape[0], -1).T


def _float_dtype(dtype) -> np.dtype | None:
    """``dtype`` as a floating NumPy dtype (None stays None), else TypeError."""
    if dtype is None:
        return None
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    return dtype


def matrix_to_frames(M, frame_shape) -> np.ndarray:
    """Undo :func:`frames_to_matrix`: columns back to frames.

    Parameters
    ----------
    M : array_like, shape (height * width * c, n_frames)
    frame_shape : tuple of int
        ``(height, width)`` or ``(height, width, c)``.

    Returns
    -------
    frames : ndarray, shape ``(n_frames, *frame_shape)``
        A view of ``M`` when its layout allows it.
    """
    M = np.asarray(M)
    if M.ndim != 2:
        raise ValueError(f"M must be 2-D (pixels x frames), got shape {M.shape}")
    frame_shape = tuple(int(s) for s in frame_shape)
    if len(frame_shape) not in (2, 3) or min(frame_shape) < 1:
        raise ValueError(
            f"frame_shape must be (height, width) or (height, width, channels) "
            f"with positive sizes, got {frame_shape}"
        )
    if int(np.prod(frame_shape)) != M.shape[0]:
        raise ValueError(
            f"M has {M.shape[0]} rows but frame_shape {frame_shape} holds "
            f"{int(np.prod(frame_shape))} values"
        )
    return M.T.reshape((M.shape[1],) + frame_shape)


def to_grey(frames) -> np.ndarray:
    """Luminance of colour frames (Rec. 601 weights); grey frames are returned as they are.

    Parameters
    ----------
    frames : array_like, shape (n, h, w) or (n, h, w, c)
        With ``c = 3`` (RGB) or 4 (RGBA, alpha ignored); ``c = 1`` or 2 (grey, grey+alpha)
        keep their first channel.

    Returns
    -------
    ndarray, shape (n, h, w), floating.
    """
    arr = as_array(frames, "frames", ndim=(3, 4), allow_complex=False, check_finite=False)
    if arr.ndim == 3:
        return arr
    c = arr.shape[3]
    if c in (1, 2):
        return arr[..., 0]
    if c in (3, 4):
        return arr[..., :3] @ np.asarray(LUMA_WEIGHTS, dtype=arr.dtype)
    raise ValueError(
        f"frames have {c} channels; to_grey knows 1 (grey), 2 (grey + alpha), 3 (RGB) and 4 (RGBA)"
    )


def anomaly_score(R) -> np.ndarray:
    """Per-pixel anomaly score: ``|R|`` for grey frames, RMS over channels for colour.

    Parameters
    ----------
    R : array_like, shape (n, h, w) or (n, h, w, c)
        The residual from the background, ``frames - background`` (what
        :func:`decompose_frames` scores), or any signed part such as S, as frames.

    Returns
    -------
    score : ndarray, shape (n, h, w), non-negative, in the units of the data.
    """
    R = as_array(R, "R", ndim=(3, 4), allow_complex=False, check_finite=False)
    if R.ndim == 3:
        return np.abs(R)
    return np.sqrt(np.mean(np.square(R), axis=3))


def noise_scale(R, *, max_samples: int | None = None, random_state=None) -> float:
    """Robust noise level: ``1.4826 * median(|R - median(R)|)``, all entries pooled.

    Applied to the residual ``M - L`` of a decomposition (as :func:`auto_threshold`
    does), it estimates the standard deviation of the dense noise: the foreground is
    sparse and hardly moves a median. It is 0 when more than half of the entries are equal,
    e.g. for the S of exact PCP, which is exactly 0 on most entries, or for noise-free
    data; :func:`auto_threshold` floors it for quantised data.

    Parameters
    ----------
    R : array_like
        Any shape (not empty).
    max_samples : int, optional
        Use a random sample of at most this many entries (None: all of them).
    random_state : None, int or Generator
        Seeds the sample (None: seed 0).

    Returns
    -------
    float
        The robust standard deviation, in the units of ``R``.
    """
    R = np.asarray(R)
    if R.size == 0:
        raise ValueError("R is empty")
    flat = R.ravel()
    if max_samples is not None and flat.size > positive(max_samples, "max_samples", integer=True):
        from .._core.validation import rng_from

        flat = flat[rng_from(random_state).integers(0, flat.size, max_samples)]
    return _mad_sigma(flat)


def _mad_sigma(x: np.ndarray) -> float:
    med = np.median(x)
    return float(MAD_TO_SIGMA * np.median(np.abs(x - med)))


def quantum(M, *, max_samples: int = 2**16, random_state=None) -> float:
    """The quantisation step of the data, or 0 when it has none.

    The smallest gap between the distinct values of a random sample (values within 1e-6 of
    the range of each other count as one), provided every gap is a whole multiple of it
    (to 1 %): 1/255 for 8-bit frames scaled to [0, 1], 1 for
    integers. Continuous data (synthetic, or mixed channels such as :func:`to_grey` of
    8-bit colour) have no such grid and give 0.

    Parameters
    ----------
    M : array_like
        The data (any shape).
    max_samples : int
        Size of the random sample.
    random_state : None, int or Generator
        Seeds the sample (None: seed 0).

    Returns
    -------
    float
    """
    from .._core.validation import rng_from

    flat = np.asarray(M).ravel()
    if flat.size > max_samples:
        flat = flat[rng_from(random_state).integers(0, flat.size, max_samples)]
    values = np.unique(flat[np.isfinite(flat)]).astype(np.float64)
    if values.size < 2:
        return 0.0
    gaps = np.diff(values)
    # values a rounding error apart (a/255 + b/255 against (a + b)/255) are one level
    gaps = gaps[gaps > 1e-6 * (values[-1] - values[0])]
    step = float(gaps.min())
    ratio = gaps / step
    if step <= 0 or np.abs(ratio - np.rint(ratio)).max() > 0.01:
        return 0.0
    return step


#: Quantile levels tried in turn by :func:`noise_sigma` (the median first).
NOISE_LEVELS = (0.5, 0.75, 0.9, 0.95, 0.99)


def noise_sigma(
    M,
    *,
    mask=None,
    max_samples: int = 2**18,
    random_state=None,
    check_finite: bool = True,
) -> float:
    """Standard deviation of the dense noise in frames stored as the columns of ``M``.

    The estimate behind ``rpca(M, delta="auto")`` and :func:`decompose_frames`.
    Consecutive columns (frames) of a static scene differ by noise, by a change of
    exposure, and by the few pixels where something moves. For each pair the exposure
    change is removed first: ``d_t = M[:, t+1] - a_t M[:, t]`` with ``a_t`` the least
    squares gain between the two (flicker and drift cancel). ``d`` then holds the
    difference of two noise samples, of deviation ``sqrt(2) sigma``, plus sparse
    motion. Its scale is matched to a Gaussian's at the median of ``|d|`` (robust to the
    motion): ``sigma_d = q_p / Phi^-1((1 + p) / 2)`` with ``p = 0.5``. Compressed video
    and static 8-bit frames repeat most pixels exactly (85 % of differences are 0 on
    MPEG-4 video), which makes the median 0; the first level ``p`` of
    :data:`NOISE_LEVELS` (0.5, 0.75, 0.9, 0.95, 0.99) whose quantile is nonzero is used
    instead. ``sigma = sigma_d / sqrt(2)``. Complex data use the Rayleigh quantile
    ``q_p = sigma_d sqrt(-ln(1 - p))``.

    Cost: the differences of a random sample of rows, at most ``max_samples`` of them
    (the gains are ratios of sums over the sample rows) and one partial sort: about 17
    ms for 50 frames of 576 x 768, whatever the frame size.

    Parameters
    ----------
    M : array_like, shape (m, n)
        Frames as columns (:func:`frames_to_matrix`), n >= 2, in their time order.
    mask : ndarray of bool, optional
        True where ``M`` is observed; only differences of two observed entries count.
    max_samples : int
        Largest number of differences used (rows are sampled at random, without
        replacement, to stay under it).
    random_state : None, int or Generator
        Seeds the row sample (None: seed 0, deterministic).
    check_finite : bool
        Reject NaN / Inf (at observed entries).

    Returns
    -------
    float
        sigma, in M's units; 0 when every tried quantile of ``|d|`` is 0 (noise-free
        frames).
    """
    from scipy.special import ndtri

    from .._core.validation import rng_from

    M = as_array(M, "M", ndim=2, check_finite=False)
    m, n = M.shape
    if n < 2:
        raise ValueError(f"M has {n} column; noise_sigma needs at least 2 frames (columns)")
    max_samples = positive(max_samples, "max_samples", integer=True)
    if mask is not None:
        mask = np.asarray(mask, bool)
        if mask.shape != M.shape:
            raise ValueError(f"mask has shape {mask.shape} but M has shape {M.shape}")
    rows = None
    if m * (n - 1) > max_samples:
        k = max(1, max_samples // (n - 1))
        rows = np.sort(rng_from(random_state).choice(m, size=k, replace=False))
    A = M if rows is None else M[rows]
    A = A.astype(np.complex128 if np.iscomplexobj(A) else np.float64)
    obs = None if mask is None else (mask if rows is None else mask[rows])
    if check_finite:
        check_all_finite(A if obs is None else A[obs], "M")
    if obs is not None:
        A = np.where(obs, A, 0)
    # Work at unit scale (exactly, by a power of two): products of tiny or huge entries
    # would under- or overflow in the gains.
    peak = float(np.abs(A).max()) if A.size else 0.0
    exponent = int(np.frexp(peak)[1]) if 0 < peak < np.inf else 0
    A = ldexp(A, -exponent, out=A)  # (A is a copy of M's rows already)
    prev, nxt = A[:, :-1], A[:, 1:]
    both = None if obs is None else obs[:, :-1] & obs[:, 1:]
    if both is not None:
        prev = np.where(both, prev, 0)
        nxt = np.where(both, nxt, 0)
    # Least squares gain of each pair: a_t = <prev_t, next_t> / <prev_t, prev_t>.
    num = np.einsum("ij,ij->j", prev.conj(), nxt)
    den = np.einsum("ij,ij->j", prev.conj(), prev).real
    gain = np.where(den > 0, num / np.where(den > 0, den, 1), 1)
    d = np.abs(nxt - prev * gain)
    d = d.ravel() if both is None else d[both]
    if d.size == 0:
        raise ValueError("M has no pair of consecutive observed entries to estimate the noise")
    # The first level whose quantile is nonzero, found by counting zeros; then a single
    # partition (np.quantile of several levels costs many).
    zeros = d.size - np.count_nonzero(d)
    for p in NOISE_LEVELS:
        k = int(np.ceil(p * (d.size - 1)))
        if k >= zeros:
            q = float(np.partition(d, k)[k])
            if np.iscomplexobj(A):
                sigma_d = q / np.sqrt(-np.log1p(-p))
            else:
                sigma_d = q / ndtri((1 + p) / 2)
            return float(np.ldexp(sigma_d / np.sqrt(2), exponent))
    return 0.0


#: Brightness bins of the automatic threshold.
N_BINS = 16

#: Pixels a brightness bin needs for its own noise estimate (else the global one is used).
MIN_BIN_COUNT = 50


def brightness(background) -> np.ndarray:
    """Per-pixel brightness of a background: itself for grey frames, the mean over channels
    for colour.

    Parameters
    ----------
    background : array_like, shape (n, h, w) or (n, h, w, c)

    Returns
    -------
    ndarray, shape (n, h, w)
    """
    B = np.asarray(background)
    return B if B.ndim == 3 else B.mean(axis=3)


@dataclass(repr=False)
class BinnedThreshold:
    """The automatic threshold of :func:`auto_threshold`: one value per brightness bin.

    Attributes
    ----------
    edges : ndarray, shape (n_bins + 1,)
        Background brightness bin edges (equal bins).
    values : ndarray, shape (n_bins,)
        The threshold on the score in each bin.
    sigma : float
        Robust noise of the whole residual, quantisation floor included.
    sigma_bins : ndarray, shape (n_bins,)
        The same per bin (``sigma`` where a bin had
        fewer than 50 sampled pixels).
    quantum : float
        Quantisation step used for the floor (0: none).
    k : float
        Sigmas a pixel must stand out by.
    floor : float
        ``min_contrast * data_range``, the smallest threshold allowed.
    """

    edges: np.ndarray
    values: np.ndarray
    sigma: float
    sigma_bins: np.ndarray
    quantum: float
    k: float
    floor: float

    def map(self, background) -> np.ndarray:
        """The threshold of every pixel, from its background brightness bin.

        Parameters
        ----------
        background : array_like, shape (n, h, w) or (n, h, w, c)
            The background (L) the threshold was made for.

        Returns
        -------
        ndarray, shape (n, h, w)
        """
        bright = brightness(background)
        lo, hi = self.edges[0], self.edges[-1]
        n_bins = self.values.size
        scale = n_bins / (hi - lo) if hi > lo else 0.0
        index = np.clip(((bright - lo) * scale).astype(np.intp), 0, n_bins - 1)
        return self.values[index]

    def __repr__(self) -> str:
        return (
            f"BinnedThreshold(k={self.k:g}, sigma={self.sigma:.3g}, "
            f"values {self.values.min():.3g}..{self.values.max():.3g}, quantum={self.quantum:.3g})"
        )


def auto_threshold(
    frames,
    background,
    *,
    k: float = 5.0,
    min_contrast: float = 0.01,
    n_bins: int = N_BINS,
    quantum_step: float | None = None,
    max_samples: int = 2**18,
    random_state=None,
) -> BinnedThreshold:
    """The automatic anomaly threshold on the residual ``frames - background``.

    ``tau(b) = max(k * max(sigma, sigma_b), min_contrast * (max(frames) - min(frames)))``
    per background brightness bin b, the sigmas robust (MAD) noise levels of the residual
    floored for quantisation; see the module notes. The medians use a random sample of at
    most ``max_samples`` pixels.

    Parameters
    ----------
    frames, background : array_like, shape (n, h, w) or (n, h, w, c)
        The frames and their background (the L of a decomposition), same shape.
    k : float
        How many robust noise sigmas a pixel must stand out by. Default 5.
    min_contrast : float
        Floor as a fraction of the data's range: smaller changes are never anomalies.
    n_bins : int
        Brightness bins.
    quantum_step : float, optional
        Quantisation step of the data; default :func:`quantum` of the frames.
    max_samples : int
        Pixels sampled for the medians.
    random_state : None, int or Generator
        Seeds the sample (None: seed 0).

    Returns
    -------
    BinnedThreshold
        ``threshold.map(background)`` is the per-pixel threshold.
    """
    from .._core.validation import rng_from

    k = positive(k, "k")
    min_contrast = positive(min_contrast, "min_contrast", allow_zero=True)
    n_bins = positive(n_bins, "n_bins", integer=True)
    F = as_array(frames, "frames", ndim=(3, 4), allow_complex=False, check_finite=False)
    B = as_array(background, "background", ndim=(3, 4), allow_complex=False, check_finite=False)
    if F.shape != B.shape:
        raise ValueError(f"background has shape {B.shape} but frames have shape {F.shape}")
    rng = rng_from(random_state)
    q = quantum(F, random_state=rng) if quantum_step is None else quantum_step
    q = positive(q, "quantum_step", allow_zero=True)
    q_sigma = 2.0 * q / np.sqrt(12.0)  # combined by hypot: squares of tiny data underflow
    channels = 1 if F.ndim == 3 else F.shape[3]
    F2 = F.reshape(F.shape[0] * F.shape[1] * F.shape[2], channels)
    B2 = B.reshape(F2.shape)
    n_pix = F2.shape[0]
    pick = slice(None) if n_pix <= max_samples else rng.integers(0, n_pix, max_samples)
    Fs, Bs = F2[pick].astype(np.float64), B2[pick].astype(np.float64)
    R = Fs - Bs
    bright = Bs.mean(axis=1)
    sigma = float(np.hypot(_mad_sigma(R), q_sigma))
    bb = brightness(B)
    lo, hi = float(bb.min()), float(bb.max())
    edges = np.linspace(lo, hi, n_bins + 1)
    scale = n_bins / (hi - lo) if hi > lo else 0.0
    index = np.clip(((bright - lo) * scale).astype(np.intp), 0, n_bins - 1)
    sigma_bins = np.full(n_bins, sigma)
    for b in range(n_bins):
        sel = R[index == b]
        if sel.shape[0] >= MIN_BIN_COUNT:
            sigma_bins[b] = max(sigma, float(np.hypot(_mad_sigma(sel), q_sigma)))
    data_range = float(F.max() - F.min())
    floor = min_contrast * data_range
    values = np.maximum(k * sigma_bins, floor)
    return BinnedThreshold(
        edges=edges,
        values=values,
        sigma=sigma,
        sigma_bins=sigma_bins,
        quantum=float(q),
        k=float(k),
        floor=float(floor),
    )


def score_and_mask(frames, background, threshold) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel score ``|frames - background|`` (RMS over channels) and its mask.

    One compiled pass, no temporaries. ``threshold`` is a number (fixed) or a
    :class:`BinnedThreshold` (per background brightness bin).

    Parameters
    ----------
    frames, background : ndarray, shape (n, h, w) or (n, h, w, c), same shape.
    threshold : float or BinnedThreshold

    Returns
    -------
    score : ndarray, shape (n, h, w), frames' dtype.
    mask : ndarray of bool, shape (n, h, w)
        ``score > threshold``.
    """
    from .._core.config import PARALLEL_MIN_SIZE
    from ._kernels.frames import score_and_mask as kern
    from ._kernels.frames import score_and_mask_parallel as kern_parallel

    F = np.ascontiguousarray(frames)
    B = np.ascontiguousarray(background, dtype=F.dtype)
    if F.shape != B.shape:
        raise ValueError(f"background has shape {B.shape} but frames have shape {F.shape}")
    n = F.shape[0]
    p = F.shape[1] * F.shape[2]
    c = 1 if F.ndim == 3 else F.shape[3]
    if isinstance(threshold, BinnedThreshold):
        values = np.asarray(threshold.values, np.float64)
        lo, hi = float(threshold.edges[0]), float(threshold.edges[-1])
        scale = values.size / (hi - lo) if hi > lo else 0.0
    else:
        values = np.array([float(threshold)])
        lo, scale = 0.0, 0.0
    score = np.empty(F.shape[:3], F.dtype)
    mask = np.empty(F.shape[:3], bool)
    run = kern_parallel if F.size >= PARALLEL_MIN_SIZE else kern
    run(
        F.reshape(n, p, c),
        B.reshape(n, p, c),
        lo,
        scale,
        values,
        score.reshape(n, p),
        mask.reshape(n, p),
    )
    return score, mask


@dataclass(repr=False)
class FrameDecomposition:
    """Outcome of :func:`decompose_frames`, everything in frame shape.

    For dask or zarr frames, ``background``, ``foreground``, ``score`` and ``mask`` are
    lazy dask arrays chunked by batches of frames (``.compute()`` a slice of frames, or
    ``.to_zarr(path)``), and ``result`` is a
    :class:`~fastrpca.robust_pca.dask.DaskRPCAResult`.

    Attributes
    ----------
    background : ndarray, shape of the frames
        The low-rank part ``L``.
    foreground : ndarray, shape of the frames
        The sparse part ``S`` (signed).
    score : ndarray, shape (n, h, w)
        Per-pixel anomaly score, ``|frames - background|``
        (RMS over channels).
    mask : ndarray of bool, shape (n, h, w)
        ``score > threshold_map()``.
    threshold : float
        The fixed threshold, or the automatic rule's lowest one (that of
        the quietest brightness bins).
    threshold_auto : bool
        Whether it came from :func:`auto_threshold`.
    bins : BinnedThreshold or None
        The automatic threshold per brightness bin.
    k, min_contrast : float or None
        The automatic rule's parameters (None when fixed).
    noise_scale : float
        Robust noise level of the residual (quantisation floor
        included; :func:`noise_scale` of ``frames - background`` when fixed).
    anomaly_fraction : ndarray, shape (n,)
        Fraction of each frame's pixels flagged.
    color : str
        ``"stack"`` or ``"grey"`` (how colour was handled).
    result : RPCAResult
        The solver's result (``L``, ``S``, ``E`` as matrices, ``rank``,
        ``delta``, ``sigma``, history, time...).
    """

    background: np.ndarray
    foreground: np.ndarray
    score: np.ndarray
    mask: np.ndarray
    threshold: float
    threshold_auto: bool
    bins: BinnedThreshold | None
    k: float | None
    min_contrast: float | None
    noise_scale: float
    anomaly_fraction: np.ndarray
    color: str
    result: RPCAResult

    @property
    def noise(self) -> np.ndarray | None:
        """The dense noise part ``E`` of stable PCP as frames (None for exact PCP), so that
        ``frames = background + foreground + noise`` to the solver's tolerance."""
        E = self.result.E
        return None if E is None else matrix_to_frames(E, self.background.shape[1:])

    def threshold_map(self) -> np.ndarray:
        """The threshold of every pixel, shape (n, h, w)."""
        if self.bins is None:
            return np.full(self.score.shape, self.threshold)
        return self.bins.map(self.background)

    def __repr__(self) -> str:
        return (
            f"FrameDecomposition(frames={self.background.shape}, rank={self.result.rank}, "
            f"threshold={self.threshold:.3g}{'+' if self.bins is not None else ''}, "
            f"anomalous pixels={float(np.mean(self.anomaly_fraction)):.2%})"
        )


def decompose_frames(
    frames,
    lam: float | None = None,
    *,
    delta: float | str = "auto",
    rank: int | None = None,
    tol: float | None = None,
    color: str = "stack",
    threshold: float | None = None,
    k: float = 5.0,
    min_contrast: float = 0.01,
    dtype=None,
    **rpca_options,
) -> FrameDecomposition:
    """Robust PCA of a frame stack: background, foreground, anomaly score and mask.

    Parameters
    ----------
    frames : array_like, dask or zarr array, shape (n, h, w) or (n, h, w, c)
        At least 2 frames, in time order. Never modified. A ``dask.array.Array`` or a
        ``zarr`` array is solved on Dask row blocks
        (:func:`fastrpca.robust_pca.dask.rpca_dask`; out of core with
        ``state_dir=``, see ``docs/dask.md``), and the result's frame-shaped arrays are
        then lazy dask arrays, computed a batch of frames at a time.
    lam : float, optional
        Sparsity weight passed to :func:`fastrpca.rpca` (default ``1/sqrt(max(m, n))``).
    delta : float or "auto"
        Noise bound of stable PCP (:func:`fastrpca.rpca`); default ``"auto"``, from the
        noise between frames (:func:`noise_sigma`). 0 gives exact PCP.
    rank : int, optional
        Cap on the background's rank (see :func:`fastrpca.rpca`).
    tol : float, optional
        Solver tolerance; default 1e-3 for stable PCP (below the noise of any camera: a
        tighter one changes no pixel of the masks we measured), rpca's own for exact PCP.
    color : {"stack", "grey"}
        For colour frames: ``"stack"`` decomposes all channels together (channels as extra
        rows of each column); ``"grey"`` decomposes the luminance (:func:`to_grey`) only.
    threshold : float, optional
        Fixed threshold on the score; default :func:`auto_threshold` with ``k`` and
        ``min_contrast``.
    k, min_contrast : float
        Parameters of the automatic threshold.
    dtype : dtype, optional
        Compute in this floating dtype (``np.float32`` is about twice as fast).
    **rpca_options
        Passed on to :func:`fastrpca.rpca` (``max_iter``, ``svd``, ``callback``,
        ``random_state``...); for dask or zarr frames also ``client``, ``state_dir``,
        ``checkpoint``... of :func:`~fastrpca.robust_pca.dask.rpca_dask`.

    Returns
    -------
    FrameDecomposition
    """
    if color not in ("stack", "grey"):
        raise ValueError(f"color must be 'stack' or 'grey', got {color!r}")
    # every argument of ours before the solve (the solver checks its own first thing)
    if threshold is not None:
        threshold = positive(threshold, "threshold", allow_zero=True)
    k = positive(k, "k")
    min_contrast = positive(min_contrast, "min_contrast", allow_zero=True)
    dtype = _float_dtype(dtype)
    if tol is None and not (isinstance(delta, (int, float)) and delta == 0):
        tol = 1e-3
    solver = dict(rpca_options, lam=lam, delta=delta, rank=rank, tol=tol)
    if type(frames).__module__.split(".")[0] in ("dask", "zarr"):  # lazy: row blocks
        from .dask_frames import _decompose_frames, is_lazy_stack

        if is_lazy_stack(frames):
            return _decompose_frames(frames, color, dtype, threshold, k, min_contrast, solver)
    stack = _as_stack(frames)
    if color == "grey" and stack.ndim == 4:
        stack = to_grey(stack)
    if dtype is not None:
        stack = stack.astype(dtype, copy=False)
    frame_shape = stack.shape[1:]
    result = rpca(frames_to_matrix(stack), **solver)
    background = matrix_to_frames(result.L, frame_shape)
    foreground = matrix_to_frames(result.S, frame_shape)
    # The automatic rule (on a sample: a few tens of ms) also gives the noise level.
    auto = auto_threshold(
        stack,
        background,
        k=k,
        min_contrast=min_contrast,
        random_state=rpca_options.get("random_state"),
    )
    score, mask = score_and_mask(stack, background, auto if threshold is None else threshold)
    fraction = mask.reshape(mask.shape[0], -1).mean(axis=1)
    return _decomposition(
        background, foreground, score, mask, fraction, auto, threshold, k, min_contrast, color,
        result,
    )  # fmt: skip


def _decomposition(
    background,
    foreground,
    score,
    mask,
    fraction,
    auto: BinnedThreshold,
    threshold: float | None,
    k: float,
    min_contrast: float,
    color: str,
    result: RPCAResult,
) -> FrameDecomposition:
    """The :class:`FrameDecomposition` of a solve, scored with ``threshold`` when fixed,
    else with the automatic rule ``auto`` (in memory or lazy alike)."""
    fixed = threshold is not None
    return FrameDecomposition(
        background=background,
        foreground=foreground,
        score=score,
        mask=mask,
        threshold=float(auto.values.min()) if threshold is None else float(threshold),
        threshold_auto=not fixed,
        bins=None if fixed else auto,
        k=None if fixed else float(k),
        min_contrast=None if fixed else float(min_contrast),
        noise_scale=float(auto.sigma),
        anomaly_fraction=fraction,
        color=color,
        result=result,
    )


def _warmup() -> None:
    """Compile (or load) the score-and-mask pass (real frames: float32 and float64)."""
    from ._kernels.frames import score_and_mask as kern
    from ._kernels.frames import score_and_mask_parallel as kern_parallel

    for dtype in (np.float32, np.float64):
        a = np.zeros((2, 2, 1), dtype)
        for run in (kern, kern_parallel):
            run(a, a, 0.0, 1.0, np.ones(2), np.empty((2, 2), dtype), np.empty((2, 2), bool))
