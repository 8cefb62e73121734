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

from .._core.validation import as_array, positive
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
