"""Result containers, modelled on ``scipy.optimize.OptimizeResult``."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


class ConvergenceWarning(UserWarning):
    """A solver stopped at its iteration limit before meeting its tolerance."""


class Result:
    """Named fields with attribute access and a compact ``repr`` (scipy's OptimizeResult idea).

    Every iterative solver's result has at least ``converged`` (its own stopping
    certificate was met), ``n_iter``, ``message`` and ``history`` (a dict of arrays, one
    entry per iteration or check; empty when nothing was recorded). Subclasses declare their
    further fields as annotations and set them in ``__init__``; arrays are summarised by
    shape and dtype in the ``repr``.

    Parameters
    ----------
    **fields
        The result's fields, set as attributes.
    """

    # A batch solver (lasso on k signals at once) reports one entry per signal.
    converged: bool | np.ndarray
    n_iter: int | np.ndarray
    message: str
    history: dict[str, np.ndarray]

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    def keys(self) -> list[str]:
        """The names of the fields, in the order they were set."""
        return list(self.__dict__)

    def __getitem__(self, key: str) -> Any:
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


def stop_requested(callback, **fields: Any) -> bool:
    """Call a solver's ``callback`` with the iterate's fields as a :class:`Result`.

    The one callback convention of every solver: ``callback(info)`` after an iteration
    (or a convergence check), ``info`` carrying ``n_iter`` and the solver's progress
    fields; a return value of True stops the solver (its result then says so).
    """
    return bool(callback(Result(**fields)))


def warn_not_converged(message: str, stacklevel: int = 3) -> None:
    """Emit the project's :class:`ConvergenceWarning`."""
    warnings.warn(message, ConvergenceWarning, stacklevel=stacklevel)
