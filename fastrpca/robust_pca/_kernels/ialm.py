"""Fused elementwise passes of the inexact ALM for Robust PCA.

One pass over memory per iteration does all the non-SVD work of Lin, Chen & Ma (2010):
with L already written into ``X`` (by the SVT), for each entry

    z = M - L - S          (constraint residual, accumulated as ||Z||_F^2)
    Y = Y + mu z           (dual ascent)
    S' = shrink(M - L + Y/mu', lam/mu')    (next S, into the other S buffer)
    X = M - S' + Y/mu'     (next SVT input, over L)

with mu' the next penalty. Unobserved entries (``mask`` False) carry no constraint: there
z = 0, S' = 0 and X keeps L, so the next SVT imputes them from the low-rank estimate.
"""

from __future__ import annotations

import numba

from ..._core._kernels.prox import shrink
from ..._core.config import kernel


def _fused_pass(M, X, S_old, S_new, Y, mu, mu_next, lam, mask):
    inv = 1.0 / mu_next
    tau = lam * inv
    total = 0.0
    for i in numba.prange(M.shape[0]):
        row = 0.0
        for j in range(M.shape[1]):
            if mask is not None and not mask[i, j]:
                S_new[i, j] = 0
                continue
            m = M[i, j]
            l = X[i, j]
            z = m - l - S_old[i, j]
            y = Y[i, j] + mu * z
            Y[i, j] = y
            row += z.real * z.real + z.imag * z.imag
            s = shrink(m - l + y * inv, tau)
            S_new[i, j] = s
            X[i, j] = m - s + y * inv
        total += row
    return total


fused_pass = kernel(_fused_pass)
fused_pass_parallel = kernel(_fused_pass, parallel=True)


@kernel
def norm_and_max(D):
    """``(sum |d|^2, max |d|, max(|Re d|, |Im d|))`` over all entries, one pass, no
    temporaries. The last never overflows (the first two may, for entries beyond the
    square root of the largest float): it decides the rescaling."""
    total = 0.0
    peak = 0.0
    part = 0.0
    for i in range(D.shape[0]):
        for j in range(D.shape[1]):
            d = D[i, j]
            a2 = d.real * d.real + d.imag * d.imag
            total += a2
            peak = max(peak, a2)
            part = max(part, abs(d.real), abs(d.imag))
    return total, peak**0.5, part
