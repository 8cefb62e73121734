"""Result containers, modelled on ``scipy.optimize.OptimizeResult``."""

from __future__ import annotations

import warnings

import numpy as np


class ConvergenceWarning(UserWarning):
    """A solver stopped at its iteration limit before meeting its tolerance."""


class Result:
    """Named fields with attribute access and a compact ``repr``.

    Subclasses set fields in ``__init__``; arrays are summarised by shape and dtype.
    """

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def keys(self):
        return list(self.__dict__)

    def __getitem__(self, key):
        return self.__dict__[key]

    def __repr__(self) -> str:
        def show(value):
            if isinstance(value, np.ndarray):
                return f"<array {value.shape} {value.dtype}>"
            if isinstance(value, dict):
                return "{" + ", ".join(value) + "}"
            return repr(value)

        width = max(len(k) for k in self.__dict__)
        lines = [f"{k.rjust(width)}: {show(v)}" for k, v in self.__dict__.items()]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


def warn_not_converged(message: str, stacklevel: int = 3) -> None:
    """Emit the project's :class:`ConvergenceWarning`."""
    warnings.warn(message, ConvergenceWarning, stacklevel=stacklevel)
