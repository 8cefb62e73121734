"""fastrpca: Numba-compiled solvers for Robust PCA, sparse regression and acoustic holography.

Importing compiles nothing; call :func:`warmup` to compile (or load from numba's on-disk
cache) every kernel before a real-time loop.

Families:

* Robust PCA: :func:`rpca` (IALM), :class:`RPCAWorkspace`, :class:`StreamingRPCA`.
* L1 / L2: :mod:`fastrpca.prox` (:func:`soft_threshold`, :func:`svt`, ``ridge_shrink``,
  ``elastic_net_prox``), :func:`lasso`, :func:`elastic_net`, :func:`ridge`,
  :class:`LassoSolver`, :class:`LISTA`.
* Semidefinite relaxation: :func:`phasecut` and the :mod:`fastrpca.holography` pipeline.
* Frames: :func:`decompose_frames` and helpers from image stacks to matrices and anomaly
  masks; the ``fastrpca`` command line (:mod:`fastrpca.cli`).
"""
from . import holography
from ._result import ConvergenceWarning
from .frames import (FrameDecomposition, anomaly_score, auto_threshold, decompose_frames,
                     frames_to_matrix, matrix_to_frames, noise_scale, precision_recall,
                     roc_auc, to_grey)
from .phasecut import PhaseCutResult, phasecut
from .prox import elastic_net_prox, ridge_shrink, soft_threshold, svt
from .rpca import RPCAResult, RPCAWorkspace, rpca
from .stream import StreamingRPCA
from .sparse import (LISTA, LassoResult, LassoSolver, RidgeResult, elastic_net,
                     enet_from_sklearn, lam_from_sklearn, lam_max, lasso, ridge,
                     sklearn_alpha)

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning", "warmup",
    "rpca", "RPCAResult", "RPCAWorkspace", "StreamingRPCA",
    "soft_threshold", "svt", "ridge_shrink", "elastic_net_prox",
    "lasso", "elastic_net", "ridge", "LassoSolver", "LassoResult", "RidgeResult", "LISTA",
    "lam_max", "lam_from_sklearn", "sklearn_alpha", "enet_from_sklearn",
    "phasecut", "PhaseCutResult", "holography",
    "frames_to_matrix", "matrix_to_frames", "to_grey", "decompose_frames",
    "FrameDecomposition", "anomaly_score", "noise_scale", "auto_threshold",
    "precision_recall", "roc_auc",
]

#: Modules whose ``_warmup()`` compiles (or loads) their kernels.
_WARMUP_MODULES = ("prox", "rpca", "stream", "sparse", "phasecut", "holography")


def warmup() -> None:
    """Compile, or load from numba's on-disk cache, every kernel for every supported dtype.

    Call it once at start-up so that nothing compiles inside a real-time loop.
    """
    import importlib

    for name in _WARMUP_MODULES:
        importlib.import_module(f"{__name__}.{name}")._warmup()
