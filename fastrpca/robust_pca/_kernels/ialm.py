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

import numpy as np

from ..._core._kernels.prox import shrink
from ..._core.config import kernel


@kernel
def fused_rows(D, X, S_old, S_new, Y, r0, r1, mu, mu_next, lam, mask, E, x0):
    """The fused entries of :func:`fused_pass` on rows ``r0:r1`` (row i of X is
    ``X[i - x0]``: X may be a tile's scratch); ``(|Z|^2, |W|^2)``."""
    inv = 1.0 / mu_next
    tau = lam * inv
    total = 0.0
    total_w = 0.0
    for i in range(r0, r1):
        row = 0.0
        row_w = 0.0
        for j in range(D.shape[1]):
            if mask is not None and not mask[i, j]:
                S_new[i, j] = 0
                continue
            m = D[i, j]
            l = X[i - x0, j]
            if E is None:
                z = m - l - S_old[i, j]
                y = Y[i, j] + mu * z
                Y[i, j] = y
                row += z.real * z.real + z.imag * z.imag
                s = shrink(m - l + y * inv, tau)
                S_new[i, j] = s
                X[i - x0, j] = m - s + y * inv
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


@kernel
def project_rows(D, X, S, Y, E, r0, r1, mu, c, mask):
    """The entries of :func:`project_pass` on rows ``r0:r1``."""
    inv = 1.0 / mu
    keep = 1.0 - c
    for i in range(r0, r1):
        for j in range(D.shape[1]):
            if mask is not None and not mask[i, j]:
                E[i, j] = 0
                continue
            l = X[i, j]
            w = D[i, j] - l - S[i, j] + Y[i, j] * inv
            E[i, j] = c * w
            X[i, j] = l + keep * w


@kernel
def fused_pass(M, X, S_old, S_new, Y, mu, mu_next, lam, mask, E):
    """:func:`fused_rows` over all rows; ``(|Z|^2, |W|^2)``."""
    return fused_rows(M, X, S_old, S_new, Y, 0, M.shape[0], mu, mu_next, lam, mask, E, 0)


@kernel
def project_pass(M, X, S, Y, E, mu, c, mask):
    """``E = c W`` and ``X = L + (1 - c) W`` with ``W = M - L - S + Y/mu`` (X holds L):
    :func:`project_rows` over all rows."""
    project_rows(M, X, S, Y, E, 0, M.shape[0], mu, c, mask)


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


# ---- tiled step: one pass over row tiles per iteration ---------------------------------
#
# The in-memory solver with the randomized SVD engine runs an iteration as one pass over
# row tiles of a few hundred kilobytes: for each tile, L's rows from the SVT factors
# (``X_t = A_t B``, a small GEMM), the fused entries above on those rows, then, while the
# tile is still in cache, the next warm subspace step's products ``P_t = X_t W``,
# ``H += P_t^H X_t`` and (Gram route) ``G += P_t^H P_t``. The engine then needs no pass of
# its own over X. Each tile's products run in BLAS at one thread; the solver runs row
# ranges side by side on its own threads (:class:`fastrpca._core.concurrency.RowSplit`),
# one call of these kernels each, with its own H and G (summed in range order).


@kernel
def low_rank_rows(A, B, X, r0, r1, x0):
    """``X[r0 - x0:r1 - x0] = A[r0:r1] B`` (0 when A has no column)."""
    if A.shape[1] == 0:
        X[r0 - x0 : r1 - x0] = 0
    else:
        np.dot(A[r0:r1], B, X[r0 - x0 : r1 - x0])


@kernel
def tile_products(X, W, P, H, G, r0, r1, x0):
    """``P[r0:r1] = X[r0 - x0:r1 - x0] W``; ``H += P^H X`` and, when G is not empty,
    ``G += P^H P`` over those rows."""
    Xt = X[r0 - x0 : r1 - x0]
    Pt = P[r0:r1]
    np.dot(Xt, W, Pt)
    Ph = np.conj(Pt).T
    H += np.dot(Ph, Xt)
    if G.shape[0] > 0:
        G += np.dot(Ph, Pt)


@kernel
def tiled_pass(D, X, S_old, S_new, Y, mu, mu_next, lam, mask, E, A, B, W, P, H, G, rows, form):
    """One IALM iteration in row tiles: with ``form``, ``X = A B`` (L; zero when A has no
    column), then :func:`fused_pass`, then (exact PCP and a non-empty W) the products of
    :func:`tile_products` into ``P``, ``H`` and ``G`` (zeroed by the caller). Returns
    ``(|Z|^2, |W|^2)``.

    X is either m x n (it keeps the next SVT input) or a scratch of ``rows`` rows (with
    ``form``, exact PCP): the SVT input then lives only in the tile being worked on and is
    never written to memory."""
    m = D.shape[0]
    scratch = X.shape[0] != m
    total = 0.0
    total_w = 0.0
    products = W.shape[1] > 0 and E is None
    for r0 in range(0, m, rows):
        r1 = min(m, r0 + rows)
        x0 = r0 if scratch else 0
        if form:
            low_rank_rows(A, B, X, r0, r1, x0)
        z2, w2 = fused_rows(D, X, S_old, S_new, Y, r0, r1, mu, mu_next, lam, mask, E, x0)
        total += z2
        total_w += w2
        if products:
            tile_products(X, W, P, H, G, r0, r1, x0)
    return total, total_w


@kernel
def tiled_project(D, X, S, Y, E, mu, c, mask, W, P, H, G, rows):
    """:func:`project_pass` in row tiles, then the products of :func:`tile_products` (for
    a non-empty W) as in :func:`tiled_pass`: stable PCP's second pass."""
    m = D.shape[0]
    for r0 in range(0, m, rows):
        r1 = min(m, r0 + rows)
        project_rows(D, X, S, Y, E, r0, r1, mu, c, mask)
        if W.shape[1] > 0:
            tile_products(X, W, P, H, G, r0, r1, 0)


@kernel
def svt_input(D, S, Y, mu, mask, A, B, X, rows):
    """Exact PCP's SVT input ``X = M - S + Y/mu`` on observed entries and ``L = A B`` on
    the others (L's, as the fused pass leaves them), in row tiles: what the tiled step
    computes in cache, written to memory when an SVD needs more than its products."""
    m = D.shape[0]
    inv = 1.0 / mu
    for r0 in range(0, m, rows):
        r1 = min(m, r0 + rows)
        if mask is not None:
            low_rank_rows(A, B, X, r0, r1, 0)
        for i in range(r0, r1):
            for j in range(D.shape[1]):
                if mask is not None and not mask[i, j]:
                    continue
                X[i, j] = D[i, j] - S[i, j] + Y[i, j] * inv
