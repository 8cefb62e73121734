"""fastrpca: Numba-compiled solvers for Robust PCA, sparse regression and acoustic holography.

Importing compiles nothing; call :func:`warmup` to compile (or load from numba's on-disk
cache) every kernel before a real-time loop.

Three families, one package each, over a shared core (:mod:`fastrpca._core`):

* :mod:`fastrpca.robust_pca`: :func:`rpca` (IALM), :class:`RPCAWorkspace`,
  :class:`StreamingRPCA`, :class:`LearnedRPCA` (trained layers with a safeguard),
  :func:`decompose_frames` and the frame helpers.
* :mod:`fastrpca.sparse`: :func:`soft_threshold`, :func:`svt`, :func:`lasso`,
  :func:`elastic_net`, :func:`ridge`, :class:`LassoSolver`, :class:`LISTA`,
  :class:`RobustDictionaryLearning` and the image-patch helpers.
* :mod:`fastrpca.holography`: :func:`phasecut` (the complex MaxCut SDP) and the AUTD3
  holography pipeline.

The application layer, :mod:`fastrpca.app`, holds the ``fastrpca`` command line, image and
video reading, pictures and the demos; no solver imports it.
"""

from __future__ import annotations

from . import holography, robust_pca, sparse
from ._core.concurrency import InUseError
from ._core.result import ConvergenceWarning
from .holography import PhaseCutResult, phasecut
from .robust_pca import (
    FrameDecomposition,
    LearnedRPCA,
    RPCAResult,
    RPCAWorkspace,
    StreamingRPCA,
    anomaly_score,
    auto_threshold,
    best_f_measure,
    cdnet_metrics,
    decompose_frames,
    frames_to_matrix,
    matrix_to_frames,
    noise_scale,
    noise_sigma,
    precision_recall,
    roc_auc,
    rpca,
    to_grey,
)
from .sparse import (
    LISTA,
    CodingResult,
    DictionaryLearningResult,
    LassoResult,
    LassoSolver,
    RidgeResult,
    RobustDictionaryLearning,
    elastic_net,
    elastic_net_prox,
    enet_from_sklearn,
    extract_patches,
    lam_from_sklearn,
    lam_max,
    lasso,
    patches_to_image,
    ridge,
    ridge_shrink,
    sklearn_alpha,
    soft_threshold,
    svt,
)

__version__ = "0.2.0"

__all__ = [
    "ConvergenceWarning",
    "InUseError",
    "warmup",
    "robust_pca",
    "sparse",
    "holography",
    "rpca",
    "RPCAResult",
    "RPCAWorkspace",
    "StreamingRPCA",
    "LearnedRPCA",
    "soft_threshold",
    "svt",
    "ridge_shrink",
    "elastic_net_prox",
    "lasso",
    "elastic_net",
    "ridge",
    "LassoSolver",
    "LassoResult",
    "RidgeResult",
    "LISTA",
    "RobustDictionaryLearning",
    "DictionaryLearningResult",
    "CodingResult",
    "extract_patches",
    "patches_to_image",
    "lam_max",
    "lam_from_sklearn",
    "sklearn_alpha",
    "enet_from_sklearn",
    "phasecut",
    "PhaseCutResult",
    "frames_to_matrix",
    "matrix_to_frames",
    "to_grey",
    "decompose_frames",
    "FrameDecomposition",
    "anomaly_score",
    "noise_scale",
    "auto_threshold",
    "noise_sigma",
    "precision_recall",
    "roc_auc",
    "cdnet_metrics",
    "best_f_measure",
]

#: The families whose ``_warmup()`` compiles (or loads) their kernels, in order.
_FAMILIES = (sparse, robust_pca, holography)


def warmup(progress: bool = False) -> None:
    """Compile, or load from numba's on-disk cache, every kernel for every supported dtype.

    Call it once at start-up so that nothing compiles inside a real-time loop. A cold
    cache takes tens of seconds; a warm one about a second.

    Parameters
    ----------
    progress : bool
        Print one line per family as it is compiled (to standard error), with its time.
    """
    import sys
    import time

    for family in _FAMILIES:
        start = time.perf_counter()
        if progress:
            print(f"fastrpca.warmup: {family.__name__} ...", end="", file=sys.stderr, flush=True)
        family._warmup()
        if progress:
            print(f" {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
