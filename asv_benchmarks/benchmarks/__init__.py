"""asv benchmarks for fastrpca.

Conventions (as in scikit-learn's ``asv_benchmarks/``):

* ``setup()`` compiles, or loads from numba's on-disk cache, every kernel a benchmark
  touches, so no ``time_`` / ``peakmem_`` sample ever includes JIT compilation;
* ``time_`` at several sizes, ``peakmem_`` for memory, ``track_`` for accuracy and
  iteration counts (deterministic: fixed seeds), ``timeraw_`` in ``coldstart`` for a
  fresh process (import + first call, with a warm and with an empty numba cache).

BLAS is held at one thread in every benchmark process (``FASTRPCA_BENCH_BLAS_THREADS``
overrides it), as in the side-by-side scripts: on a shared machine an oversubscribed
BLAS is the largest source of noise, and numba's parallel kernels need the cores.
"""

import os

_THREADS = os.environ.get("FASTRPCA_BENCH_BLAS_THREADS", "1")
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, _THREADS)

try:  # scipy's wheels bring their own OpenBLAS: load it before limiting
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    _BLAS_LIMIT = threadpool_limits(int(_THREADS), user_api="blas")
except ImportError:  # pragma: no cover - threadpoolctl is a dependency of fastrpca
    _BLAS_LIMIT = None
