"""Robust PCA: ``M = L + S`` by the inexact ALM, its SVD engines, streaming, and frame stacks.

Modules
-------
ialm
    :func:`rpca` (Lin, Chen & Ma 2010) with :class:`RPCAWorkspace` and :class:`RPCAResult`.
svd
    The SVD engines of the singular value thresholding step, and the spectral norm.
dask
    :func:`~fastrpca.robust_pca.dask.rpca_dask`: :func:`rpca` on Dask arrays, in row
    blocks on a cluster or out of core (needs the ``dask`` extra; imported on use).
stream
    :class:`StreamingRPCA`, frame-by-frame background estimation.
frames
    Frame stacks to matrices and back, anomaly scores and thresholds, :func:`decompose_frames`.
metrics
    Detection metrics of a mask or a score against a known mask.
learned
    :class:`LearnedRPCA`, K trained layers with a safeguard, and :func:`planted_problems`.
"""

from __future__ import annotations

from .frames import (
    BinnedThreshold,
    FrameDecomposition,
    anomaly_score,
    auto_threshold,
    decompose_frames,
    frames_to_matrix,
    matrix_to_frames,
    noise_scale,
    noise_sigma,
    quantum,
    score_and_mask,
    to_grey,
)
from .ialm import RPCAResult, RPCAWorkspace, default_lambda, rpca
from .learned import LearnedRPCA, planted_problems
from .metrics import best_f_measure, cdnet_metrics, precision_recall, roc_auc
from .stream import StreamingRPCA

__all__ = [
    "rpca",
    "RPCAResult",
    "RPCAWorkspace",
    "default_lambda",
    "LearnedRPCA",
    "planted_problems",
    "StreamingRPCA",
    "frames_to_matrix",
    "matrix_to_frames",
    "to_grey",
    "decompose_frames",
    "FrameDecomposition",
    "anomaly_score",
    "noise_scale",
    "auto_threshold",
    "BinnedThreshold",
    "noise_sigma",
    "quantum",
    "score_and_mask",
    "precision_recall",
    "roc_auc",
    "cdnet_metrics",
    "best_f_measure",
]


def _warmup() -> None:
    """Compile (or load) every Robust PCA kernel."""
    from . import frames, ialm, learned, stream

    ialm._warmup()
    stream._warmup()
    learned._warmup()
    frames._warmup()
