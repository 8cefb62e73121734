"""Frame stacks for Robust PCA: reshaping, anomaly scores, thresholds and detection metrics.

A camera watching a factory line or a corridor gives a stack of frames, shape
``(n_frames, height, width)`` for grey or ``(n_frames, height, width, channels)`` for colour.
Robust PCA wants a matrix ``M`` whose columns are the frames: the steady background is then
low rank (``L``) and what appears in a few frames only, such as a scratch, a spot or a
passer-by, is sparse (``S``). This module turns stacks into matrices and back, scores and
thresholds ``S`` per pixel, and measures a detection against ground truth, all with NumPy
(and SciPy's ranking for the ROC AUC); no scikit-learn, no image library.

Colour
------
A colour frame becomes one column of length ``height * width * channels``: the channels are
stacked as extra rows, pixel by pixel (C order), so the background keeps its colours and an
anomaly in any channel shows up in ``S``. The per-pixel anomaly score then combines the
channels as their root mean square. The alternative, decomposing the luminance only, is
:func:`to_grey` followed by the grey path.

Automatic threshold
-------------------
:func:`auto_threshold` flags a pixel when its score exceeds

    ``tau = max(k * sigma, min_contrast * (max(M) - min(M)))``

where ``sigma = 1.4826 * median(|S - median(S)|)`` is the median absolute deviation of all
entries of ``S`` (every channel pooled), rescaled to estimate a Gaussian standard deviation.
Anomalies are sparse, so they barely move the median, and ``sigma`` measures the sensor
noise that Robust PCA leaves in ``S``. With ``k = 5`` a Gaussian noise pixel passes with
probability about 6e-7, under one false pixel per million. The floor, 1 % of the data's
range by default, keeps noise-free inputs (synthetic, or rounding residue only, where
``sigma`` is 0) from flagging every tiny nonzero of ``S``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._core.validation import as_array, check_all_finite, positive
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
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"dtype must be a floating dtype, got {dtype}")
        arr = arr.astype(dtype, copy=False)
    return arr.reshape(arr.shape[0], -1).T


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


def anomaly_score(S) -> np.ndarray:
    """Per-pixel anomaly score: ``|S|`` for grey frames, RMS over channels for colour.

    Parameters
    ----------
    S : array_like, shape (n, h, w) or (n, h, w, c)
        The sparse part, as frames (see :func:`matrix_to_frames`).

    Returns
    -------
    score : ndarray, shape (n, h, w), non-negative, in the units of the data.
    """
    S = as_array(S, "S", ndim=(3, 4), allow_complex=False, check_finite=False)
    if S.ndim == 3:
        return np.abs(S)
    return np.sqrt(np.mean(np.square(S), axis=3))


def noise_scale(S) -> float:
    """Robust noise level of the sparse part: ``1.4826 * median(|S - median(S)|)``.

    All entries (every channel) are pooled. Sparse anomalies hardly move a median, so this
    estimates the standard deviation of the dense noise that Robust PCA leaves in ``S``;
    it is 0 when ``S`` is zero on more than half of its entries (noise-free data).

    Parameters
    ----------
    S : array_like
        The sparse part, any shape (not empty).

    Returns
    -------
    float
        The robust standard deviation, in the units of ``S``.
    """
    S = np.asarray(S)
    if S.size == 0:
        raise ValueError("S is empty")
    flat = S.ravel()
    med = np.median(flat)
    return float(MAD_TO_SIGMA * np.median(np.abs(flat - med)))


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
            return float(sigma_d / np.sqrt(2))
    return 0.0


def auto_threshold(S, data_range: float, *, k: float = 5.0, min_contrast: float = 0.01) -> float:
    """The automatic anomaly threshold on :func:`anomaly_score`.

    ``tau = max(k * noise_scale(S), min_contrast * data_range)``; see the module notes.

    Parameters
    ----------
    S : array_like
        The sparse part (any shape; all entries pooled).
    data_range : float
        Range of the input data, ``max(M) - min(M)`` (1 for images scaled to [0, 1]).
    k : float
        How many robust noise sigmas a pixel must stand out by. Default 5.
    min_contrast : float
        Floor as a fraction of ``data_range``: smaller changes are never anomalies.

    Returns
    -------
    float, the threshold, in the units of the data.
    """
    k = positive(k, "k")
    min_contrast = positive(min_contrast, "min_contrast", allow_zero=True)
    data_range = positive(data_range, "data_range", allow_zero=True)
    return max(k * noise_scale(S), min_contrast * data_range)


@dataclass(repr=False)
class FrameDecomposition:
    """Outcome of :func:`decompose_frames`, everything in frame shape.

    Attributes
    ----------
    background : ndarray, shape of the frames. The low-rank part ``L``.
    foreground : ndarray, shape of the frames. The sparse part ``S`` (signed).
    score : ndarray, shape (n, h, w). Per-pixel anomaly score (:func:`anomaly_score`).
    mask : ndarray of bool, shape (n, h, w). ``score > threshold``.
    threshold : float. The threshold used.
    threshold_auto : bool. Whether it came from :func:`auto_threshold`.
    k, min_contrast : float or None. The automatic rule's parameters (None when fixed).
    noise_scale : float. :func:`noise_scale` of ``S``.
    anomaly_fraction : ndarray, shape (n,). Fraction of each frame's pixels flagged.
    color : str. ``"stack"`` or ``"grey"`` (how colour was handled).
    result : RPCAResult. The solver's result (``L``, ``S`` as matrices, history, time...).
    """

    background: np.ndarray
    foreground: np.ndarray
    score: np.ndarray
    mask: np.ndarray
    threshold: float
    threshold_auto: bool
    k: float | None
    min_contrast: float | None
    noise_scale: float
    anomaly_fraction: np.ndarray
    color: str
    result: RPCAResult

    def __repr__(self) -> str:
        return (
            f"FrameDecomposition(frames={self.background.shape}, rank={self.result.rank}, "
            f"threshold={self.threshold:.3g}, "
            f"anomalous pixels={float(self.mask.mean()):.2%})"
        )


def decompose_frames(
    frames,
    lam: float | None = None,
    *,
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
    frames : array_like, shape (n, h, w) or (n, h, w, c)
        At least 2 frames. Never modified.
    lam : float, optional
        Sparsity weight passed to :func:`fastrpca.rpca` (default ``1/sqrt(max(m, n))``).
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
        Passed on to :func:`fastrpca.rpca` (``tol``, ``max_iter``, ``svd``, ``callback``,
        ``random_state``...).

    Returns
    -------
    FrameDecomposition
    """
    if color not in ("stack", "grey"):
        raise ValueError(f"color must be 'stack' or 'grey', got {color!r}")
    stack = _as_stack(frames)
    if color == "grey" and stack.ndim == 4:
        stack = to_grey(stack)
    frame_shape = stack.shape[1:]
    M = frames_to_matrix(stack, dtype=dtype)
    result = rpca(M, lam, **rpca_options)
    background = matrix_to_frames(result.L, frame_shape)
    foreground = matrix_to_frames(result.S, frame_shape)
    score = anomaly_score(foreground)
    sigma = noise_scale(result.S)
    if threshold is None:
        data_range = float(M.max() - M.min())
        tau = auto_threshold(result.S, data_range, k=k, min_contrast=min_contrast)
    else:
        tau = positive(threshold, "threshold", allow_zero=True)
    mask = score > tau
    fraction = mask.reshape(mask.shape[0], -1).mean(axis=1)
    return FrameDecomposition(
        background=background,
        foreground=foreground,
        score=score,
        mask=mask,
        threshold=float(tau),
        threshold_auto=threshold is None,
        k=float(k) if threshold is None else None,
        min_contrast=float(min_contrast) if threshold is None else None,
        noise_scale=sigma,
        anomaly_fraction=fraction,
        color=color,
        result=result,
    )
