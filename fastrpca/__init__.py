"""fastrpca: Numba-compiled solvers for Robust PCA, sparse regression and acoustic holography.

Importing compiles nothing; call :func:`warmup` to compile (or load from numba's on-disk
cache) every kernel before a real-time loop.
"""
from ._result import ConvergenceWarning
from .prox import soft_threshold, svt
from .rpca import RPCAResult, RPCAWorkspace, rpca

__version__ = "0.1.0"

__all__ = ["ConvergenceWarning", "RPCAResult", "RPCAWorkspace", "rpca", "soft_threshold", "svt", "warmup"]


def warmup() -> None:
    """Compile, or load from numba's on-disk cache, every kernel for every supported dtype.

    Call it once at start-up so that nothing compiles inside a real-time loop.
    """
    import importlib

    import numpy as np

    dtypes = (np.float32, np.float64, np.complex64, np.complex128)
    for name in _WARMUP_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ImportError:  # an optional family not present in this build
            continue
        module._warmup(dtypes)


_WARMUP_MODULES = ("prox", "rpca")
