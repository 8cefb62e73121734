"""Threads: solvers splitting their rows among threads, and detecting two threads (or a
callback) using one object's buffers at the same time.

:class:`RowSplit` is the one way fastrpca's in-memory solvers use several cores: an m x n
pass or product is cut into contiguous row ranges, one per thread, each run by a serial
numba kernel (they release the GIL) or a BLAS call at one thread, and the small results
(norms, ``k x n`` products) are summed in range order. Waiting threads sleep, so no two
pools spin against each other for the cores (numba's OpenMP threads and OpenBLAS's pools,
busy-waiting after every call, made two threads slower than one).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any


class InUseError(RuntimeError):
    """An object whose buffers hold one solve at a time was used by a second one."""


class Exclusive:
    """Context manager held while a solve writes an object's buffers.

    Entering it while another thread (or a callback of the running solve) holds it raises
    :class:`InUseError` at once, instead of letting two solves overwrite each other's
    buffers and return wrong answers without a word. It never blocks: objects whose
    results are views of their buffers cannot be shared safely by waiting either (the
    next solve overwrites the previous answer).

    Parameters
    ----------
    what : str
        The object's name in the error message, e.g. ``"this RPCAWorkspace"``.
    advice : str
        What to do instead.
    """

    def __init__(self, what: str, advice: str) -> None:
        self.what = what
        self.advice = advice
        self._lock = threading.Lock()

    def __enter__(self) -> Exclusive:
        if not self._lock.acquire(blocking=False):
            raise InUseError(
                f"{self.what} is already in use by another thread (or by a callback of "
                f"its own running solve); {self.advice}"
            )
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()

    def __getstate__(self) -> dict:  # copies and pickles get a lock of their own
        return {"what": self.what, "advice": self.advice}

    def __setstate__(self, state: dict) -> None:
        self.what, self.advice = state["what"], state["advice"]
        self._lock = threading.Lock()


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def shared_pool(workers: int) -> ThreadPoolExecutor:
    """fastrpca's pool of worker threads, with at least ``workers`` threads.

    A bigger pool replaces it when needed (the old one is left to idle: a caller in
    another thread may be submitting to it). A child process made by ``fork`` starts
    with no pool (the parent's threads do not exist there). Work submitted here must
    not wait for other work submitted here.
    """
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < workers:
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="fastrpca")
        return _pool


def _forget_pool_after_fork() -> None:
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _wait_all(futures) -> None:
    """Wait until every future is done, through KeyboardInterrupt too (re-raised after):
    the work of a future writes into buffers its caller may reuse once this returns."""
    interrupt = None
    while True:
        try:
            wait(futures)
            break
        except BaseException as exc:  # e.g. Ctrl-C while waiting
            interrupt = exc
    if interrupt is not None:
        raise interrupt


class RowSplit:
    """Rows ``0:m`` cut into contiguous ranges, one per thread, run side by side.

    Parameters
    ----------
    m : int or None
        Number of rows; None makes one range ``0:None`` (every row of any array).
    threads : int
        Ranges wanted (1: everything runs in the calling thread).
    align : int
        Range bounds are multiples of this (e.g. the tile height) when m holds ``threads``
        such ranges; otherwise of ``ceil(m / threads)`` (50 rows on two threads: 25 each).

    The ranges, hence every sum over them, depend on ``m``, ``threads`` and ``align``
    only: results are deterministic for a given thread count.
    """

    def __init__(self, m: int | None, threads: int = 1, align: int = 1) -> None:
        if m is None:  # one range, all rows, whatever their number
            self.bounds: list = [0, None]
            return
        if threads > 1:
            align = min(align, -(-m // threads))
        units = -(-m // max(1, align))
        t = max(1, min(int(threads), units))
        self.bounds = [min(m, units * i // t * align) for i in range(t)] + [m]

    @property
    def count(self) -> int:
        """Number of ranges."""
        return len(self.bounds) - 1

    def part(self, r0: int) -> int:
        """The index of the range starting at row ``r0``."""
        return self.bounds.index(r0)

    def ranges(self) -> list[tuple[int, int | None]]:
        """The ``(r0, r1)`` row ranges, in order."""
        return list(zip(self.bounds[:-1], self.bounds[1:]))

    def map(self, fn: Callable[[int, Any], Any]) -> list:
        """``[fn(r0, r1) for each range]``, the ranges run at the same time (the first in
        the calling thread); every range has finished when this returns or raises."""
        first, *rest = self.ranges()
        if not rest:
            return [fn(*first)]
        futures = [shared_pool(len(rest)).submit(fn, r0, r1) for r0, r1 in rest]
        try:
            head = fn(*first)
        finally:
            _wait_all(futures)
        return [head, *(f.result() for f in futures)]

    def sum(self, fn: Callable[[int, Any], Any]) -> Any:
        """The sum of :meth:`map`'s results, in range order."""
        parts = self.map(fn)
        total = parts[0]
        for p in parts[1:]:
            total = total + p
        return total


#: A :class:`RowSplit` that keeps everything in the calling thread: one range, every row.
SERIAL = RowSplit(None)
