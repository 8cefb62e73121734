"""Detecting two threads (or a callback) using one object's buffers at the same time."""

from __future__ import annotations

import threading


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
