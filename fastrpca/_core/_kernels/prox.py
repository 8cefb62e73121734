"""Proximal building blocks: scalar soft threshold (real and complex) and its array pass."""

from __future__ import annotations

from numba import types
from numba.extending import overload

from ..config import kernel


def shrink(t, tau):
    """Soft threshold of one scalar: ``t * max(1 - tau/|t|, 0)`` (real or complex)."""
    a = abs(t)
    if a > tau:
        return t - t * (tau / a)
    return t - t


@overload(shrink)
def _shrink_typed(t, tau):
    if isinstance(t, types.Complex):

        def impl(t, tau):
            a = abs(t)
            if a > tau:
                return t * (1.0 - tau / a)
            return t - t
    else:

        def impl(t, tau):
            if t > tau:
                return t - tau
            if t < -tau:
                return t + tau
            return t - t

    return impl


@kernel
def soft_threshold_flat(x, tau, out):
    """``out[i] = shrink(x[i], tau)`` over 1-D arrays (``out`` may be ``x``)."""
    for i in range(x.size):
        out[i] = shrink(x[i], tau)
