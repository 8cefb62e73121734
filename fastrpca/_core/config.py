"""Compile flags shared by every kernel.

Every ``@njit`` in fastrpca goes through :func:`kernel`, so the flags live in one place:

* ``cache=True``: compiled machine code is stored on disk (``__pycache__`` beside the
  source, or ``NUMBA_CACHE_DIR``) and loaded by later processes instead of recompiled.
* ``nogil=True``: kernels release the GIL, so callers can run solvers in their own threads.
* ``fastmath``: a safe subset. ``nnan`` and ``ninf`` are left out so that NaN / Inf
  checks inside kernels keep working; ``reassoc`` lets LLVM vectorise reductions.
* ``error_model="numpy"``: division follows IEEE rules instead of raising, which removes
  a branch from every division in the hot loops.

One Python function may be compiled twice with different options (``score_and_mask`` and
``score_and_mask_parallel``). numba names a function's on-disk cache entry after its module,
qualified name and first line, and its index key ignores the options (numba issue 6845),
so both variants would share one entry and a later process would load whichever was
compiled first for both. :func:`kernel` therefore compiles a variant with non-default
options from a copy of the function whose ``__qualname__`` names them
(``_score_and_mask__parallel``): its own cache entry.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import types
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numba

FASTMATH = set({"nsz", "arcp", "contract", "afn", "reassoc"})

#: Above this many entries, solvers run several threads: Robust PCA on row ranges side by
#: side (:class:`fastrpca._core.concurrency.RowSplit`), a few elementwise kernels as their
#: ``parallel=True`` variant (below it the thread start costs more than it saves; see
#: ANCHORS section 4).
PARALLEL_MIN_SIZE = int(os.environ.get("FASTRPCA_PARALLEL_MIN_SIZE", 1_000_000))


def kernel(fn: Callable | None = None, *, parallel: bool = False, **extra: Any) -> Any:
    """Decorate ``fn`` with the project's compile flags (usable with or without arguments)."""
    options: dict[str, Any] = dict(
        cache=True, nogil=True, fastmath=set(FASTMATH), error_model="numpy"
    )
    options.update(extra)
    if parallel:
        options["parallel"] = True
    variant = (["parallel"] if parallel else []) + [f"{k}_{v}" for k, v in sorted(extra.items())]

    def wrap(f: Callable) -> Any:
        if variant:  # its own cache entry (see the module docstring)
            f = _renamed(f, "__" + re.sub(r"\W+", "_", "_".join(variant)))
        try:
            return numba.njit(**options)(f)
        except RuntimeError as exc:  # no writable cache location: compile every process
            if "cannot cache" not in str(exc):
                raise
            warnings.warn(
                f"numba cannot cache fastrpca's kernels ({exc}); set "
                "NUMBA_CACHE_DIR to a writable folder to avoid recompiling in "
                "every process",
                RuntimeWarning,
                stacklevel=3,
            )
            return numba.njit(**{**options, "cache": False})(f)

    return wrap if fn is None else wrap(fn)


def _renamed(f: Callable, suffix: str) -> Callable:
    """A copy of the Python function ``f`` whose name and qualified name end in ``suffix``
    (same code, globals, defaults and closure)."""
    assert isinstance(f, types.FunctionType)
    g = types.FunctionType(
        f.__code__, f.__globals__, f.__name__ + suffix, f.__defaults__, f.__closure__
    )
    g.__qualname__ = f.__qualname__ + suffix
    g.__module__ = f.__module__
    g.__doc__ = f.__doc__
    g.__kwdefaults__ = f.__kwdefaults__
    g.__dict__.update(f.__dict__)
    return g


def kernel_threads() -> int:
    """Threads a solver uses (numba's count, set by ``NUMBA_NUM_THREADS`` or
    ``numba.set_num_threads``): its ``parallel=True`` kernels, or its row ranges."""
    return int(numba.get_num_threads())


#: BLAS threads inside fastrpca's solvers. One by default: the BLAS calls there are thin
#: (m x k products, small QR / SVD) and a second BLAS thread competing with numba's
#: threads or another process on the core made rpca 20-60x slower in our measurements.
BLAS_THREADS = int(os.environ.get("FASTRPCA_BLAS_THREADS", 1))

_controller: Any = None  # a threadpoolctl.ThreadpoolController, built on first use
_blas_lock = threading.Lock()
_blas_users = 0  # solves inside blas_threads() now, in any thread
_blas_limiter: Any = None  # the limit they hold (restored by the last one out)


@contextlib.contextmanager
def blas_threads(n: int | None = None) -> Iterator[None]:
    """Context manager holding BLAS to ``n`` threads (default :data:`BLAS_THREADS`).

    ``FASTRPCA_BLAS_THREADS=0`` leaves BLAS as it is. BLAS's thread count is one setting
    for the whole process: solves running at once in several threads share one limit
    (the first one's ``n``), and the last one out restores the caller's count (OpenBLAS
    ignores a rise of its count asked from a thread other than the main one, so it may
    stay at ``n`` when that last one is another thread). The threadpoolctl controller is
    built on first use (a few ms), then each entry costs about 10 us.
    """
    global _controller, _blas_users, _blas_limiter
    n = BLAS_THREADS if n is None else n
    if n <= 0:
        yield
        return
    with _blas_lock:
        if _blas_users == 0:
            if _controller is None:
                from threadpoolctl import ThreadpoolController

                _controller = ThreadpoolController()
            _blas_limiter = _controller.limit(limits=n, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None
