"""Fused elementwise passes of the inexact ALM for Robust PCA, exact and stable.

Exact PCP (``E`` is None): one pass over memory per iteration does all the non-SVD work
of Lin, Chen & Ma (2010): with L already written into ``X`` (by the SVT), for each entry

    z = M - L - S          (constraint residual, accumulated as ||Z||_F^2)
    Y = Y + mu z           (dual ascent)
    S' = shrink(M - L + Y/mu', lam/mu')    (next S, into the other S buffer)
    X = M - S' + Y/mu'     (next SVT input, over L)

with mu' the next penalty. Unobserved entries (``mask`` False) carry no constraint: there
z = 0, S' = 0 and X keeps L, so the next SVT imputes them from the low-rank estimate.

Stable PCP (``M = L + S + E``, ``||E||_F <= delta``; ``E`` an array) adds the noise term
in the same order (S, then E, then L, then the dual). The projection of
``W = M - L - S' + Y/mu'`` onto the Frobenius ball needs ``||W||_F`` before any entry of
``E`` can be written, so an iteration takes two passes:

    fused_pass:   z = M - L - S - E; Y += mu z; S' = shrink(M - L - E + Y/mu', lam/mu');
                  accumulate ||Z||^2 and ||W||^2 with W = M - L - S' + Y/mu'
                  (X, holding L, and E are left as they are)
    project_pass: c = min(1, delta / ||W||):  E' = c W;  X = M - S' - E' + Y/mu' = L + (1 - c) W

Unobserved entries get ``W = 0``, so ``E' = 0`` and X keeps L there too. With ``E`` None
the branches on it are removed at compile time: exact PCP runs today's single pass.
"""

from __future__ import annotations

import numba

from ..._core._kernels.prox import shrink
from ..._core.config import kernel


def _fused_pass(M, X, S_old, S_new, Y, mu, mu_next, lam, mask, E):
    inv = 1.0 / mu_next
    tau = lam * inv
    total = 0.0
    total_w = 0.0
    for i in numba.prange(M.shape[0]):
        row = 0.0
        row_w = 0.0
        for j in range(M.shape[1]):
            if mask is not None and not mask[i, j]:
                S_new[i, j] = 0
                continue
            m = M[i, j]
            l = X[i, j]
            if E is None:
                z = m - l - S_old[i, j]
                y = Y[i, j] + mu * z
                Y[i, j] = y
                row += z.real * z.real + z.imag * z.imag
                s = shrink(m - l + y * inv, tau)
                S_new[i, j] = s
                X[i, j] = m - s + y * inv
            else:
                e = E[i, j]
                z = m - l - S_old[i, j] - e
                y = Y[i, j] + mu * z
                Y[i, j] = y
                row += z.real * z.real + z.imag * z.imag
                t = m - l + y * inv
                s = shrink(t - e, tau)
                S_new[i, j] = s
                w = t - s
                row_w += w.real * w.real + w.imag * w.imag
        total += row
        total_w += row_w
    return total, total_w


fused_pass = kernel(_fused_pass)
fused_pass_parallel = kernel(_fused_pass, parallel=True)


def _project_pass(M, X, S, Y, E, mu, c, mask):
    """``E = c W`` and ``X = L + (1 - c) W`` with ``W = M - L - S + Y/mu`` (X holds L)."""
    inv = 1.0 / mu
    keep = 1.0 - c
    for i in numba.prange(M.shape[0]):
        for j in range(M.shape[1]):
            if mask is not None and not mask[i, j]:
                E[i, j] = 0
                continue
            l = X[i, j]
            w = M[i, j] - l - S[i, j] + Y[i, j] * inv
            E[i, j] = c * w
            X[i, j] = l + keep * w


project_pass = kernel(_project_pass)
project_pass_parallel = kernel(_project_pass, parallel=True)


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
