"""Kernels of the learned factor layers (:mod:`fastrpca.robust_pca.learned`).

Fixed-latency inference, nothing allocated: every buffer comes from the caller, the
matrix products go to BLAS through ``np.dot(a, b, out)``.

* Start: ``Z = clip(M, z0)`` (clipped block by block, never formed); a range finder
  (start block ``Om``, ``power`` subspace steps, columns orthonormalised by modified
  Gram-Schmidt, twice) gives ``Q``; the top
  ``r`` eigenvectors ``W`` of ``B B^T`` (``B = Q^T Z``, cyclic Jacobi) give the factors
  ``L = Q W``, ``R = B^T W`` of the rank-r approximation ``Q W W^T Q^T Z``. (The layers
  only see ``L R^T``: they are invariant under ``(L, R) -> (L G, R G^-T)``.)
* Layer k (scaled gradient step of Tong, Ma & Chi 2021 on the clipped residual):
  ``T = clip(M - L R^T, z_k)``, ``L += eta_k T R (R^T R)^-1``,
  ``R += eta_k T^T L (L^T L)^-1`` (both from the old factors), T formed a block of rows
  at a time so that M is read once per layer and the block stays in cache.
* Split: ``S`` keeps the entries of ``M - L`` above ``factor`` times their median
  magnitude (over a systematic sample of the entries, by quickselect) and above
  ``floor ||L||_F``; the rest
  is the residual whose norm, relative to M on those entries, the safeguard checks, with
  the number of entries of S per row and column.
"""

from __future__ import annotations

import numpy as np

from ..._core._kernels.linalg import chol_solve, cholesky_lower
from ..._core.config import kernel


@kernel
def sum_squares(A):
    """``sum a_ij^2`` of a 2-D array."""
    total = 0.0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            total += A[i, j] * A[i, j]
    return total


@kernel
def orthonormalize(Y):
    """Orthonormalise the columns of ``Y`` in place (modified Gram-Schmidt, two passes)."""
    m, k = Y.shape
    for _ in range(2):
        for j in range(k):
            for p in range(j):
                d = 0.0
                for i in range(m):
                    d += Y[i, p] * Y[i, j]
                for i in range(m):
                    Y[i, j] -= d * Y[i, p]
            norm = 0.0
            for i in range(m):
                norm += Y[i, j] * Y[i, j]
            inv = 1.0 / np.sqrt(norm) if norm > 0 else 0.0
            for i in range(m):
                Y[i, j] *= inv


@kernel
def jacobi_eigh(A, W, w):
    """``A = W diag(w) W^T`` for a small symmetric ``A`` (destroyed), ``w`` descending."""
    k = A.shape[0]
    W[:] = 0.0
    for i in range(k):
        W[i, i] = 1.0
    for _ in range(60):
        off = 0.0
        diag = 0.0
        for p in range(k):
            diag += A[p, p] * A[p, p]
            for q in range(p + 1, k):
                off += A[p, q] * A[p, q]
        if off <= 1e-30 * diag:
            break
        for p in range(k - 1):
            for q in range(p + 1, k):
                apq = A[p, q]
                if apq == 0.0:
                    continue
                theta = (A[q, q] - A[p, p]) / (2.0 * apq)
                t = 1.0 / (abs(theta) + np.sqrt(theta * theta + 1.0))
                if theta < 0:
                    t = -t
                c = 1.0 / np.sqrt(t * t + 1.0)
                s = t * c
                for i in range(k):
                    x, y = A[i, p], A[i, q]
                    A[i, p] = c * x - s * y
                    A[i, q] = s * x + c * y
                for i in range(k):
                    x, y = A[p, i], A[q, i]
                    A[p, i] = c * x - s * y
                    A[q, i] = s * x + c * y
                for i in range(k):
                    x, y = W[i, p], W[i, q]
                    W[i, p] = c * x - s * y
                    W[i, q] = s * x + c * y
    for i in range(k):
        w[i] = A[i, i]
    for j in range(k):
        best = j
        for p in range(j + 1, k):
            if w[p] > w[best]:
                best = p
        if best != j:
            w[j], w[best] = w[best], w[j]
            for i in range(k):
                W[i, j], W[i, best] = W[i, best], W[i, j]


@kernel
def _clip_rows(M, i0, z, Zb):
    """``Zb = clip(M[i0 : i0 + len(Zb)], z)``."""
    for i in range(Zb.shape[0]):
        for j in range(M.shape[1]):
            Zb[i, j] = min(max(M[i0 + i, j], -z), z)


@kernel
def _add(A, B):
    """``A += B``."""
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            A[i, j] += B[i, j]


@kernel
def factor_start(M, z0, Om, Zb, Q, C, Cb, B, W, w, L, R, power):
    """Rank-r factors ``L`` (m, r), ``R`` (n, r) of the start ``P_r(clip(M, z0))``.

    ``Om`` (n, k) start block; scratch ``Zb`` (b, n) a block of rows of the clipped M
    (never formed whole), ``Q`` (m, k), ``C``, ``Cb`` (n, k), ``B``, ``W`` (k, k), ``w`` (k,).
    """
    m = M.shape[0]
    k = Om.shape[1]
    r = L.shape[1]
    bs = Zb.shape[0]
    for i0 in range(0, m, bs):  # Q = Z Om
        i1 = min(i0 + bs, m)
        _clip_rows(M, i0, z0, Zb[: i1 - i0])
        np.dot(Zb[: i1 - i0], Om, Q[i0:i1])
    orthonormalize(Q)
    for step in range(power + 1):
        C[:] = 0.0  # C = Z^T Q
        for i0 in range(0, m, bs):
            i1 = min(i0 + bs, m)
            _clip_rows(M, i0, z0, Zb[: i1 - i0])
            np.dot(Zb[: i1 - i0].T, Q[i0:i1], Cb)
            _add(C, Cb)
        if step == power:
            break
        orthonormalize(C)
        for i0 in range(0, m, bs):  # Q = Z C
            i1 = min(i0 + bs, m)
            _clip_rows(M, i0, z0, Zb[: i1 - i0])
            np.dot(Zb[: i1 - i0], C, Q[i0:i1])
        orthonormalize(Q)
    np.dot(C.T, C, B)  # B B^T with B = Q^T Z = C^T
    jacobi_eigh(B, W, w)
    for i in range(m):
        for a in range(r):
            s = 0.0
            for b in range(k):
                s += Q[i, b] * W[b, a]
            L[i, a] = s
    for i in range(R.shape[0]):
        for a in range(r):
            s = 0.0
            for b in range(k):
                s += C[i, b] * W[b, a]
            R[i, a] = s


@kernel
def _step(X, F, G, eta):
    """``X += eta F G^-1`` row by row, G the lower Cholesky factor; F is overwritten."""
    for i in range(X.shape[0]):
        f = F[i]
        chol_solve(G, f, f)
        for a in range(X.shape[1]):
            X[i, a] += eta * f[a]


@kernel
def factor_layers(M, zeta, eta, Tb, L, R, FL, FR, Fb, GL, GR):
    """Apply the layers (absolute thresholds ``zeta[k]``, steps ``eta[k]``) to ``L, R``.

    Row blocks: ``Tb`` (b, n) holds ``clip(M - L R^T, z)`` for b rows at a time, so M is
    read once per layer and the rest stays in cache. Scratch ``FL`` (m, r), ``FR``,
    ``Fb`` (n, r), ``GL``, ``GR`` (r, r). Returns the number of layers done: fewer than
    ``eta.size`` when a factor lost rank (a Gram matrix was not positive definite).
    """
    m, n = M.shape
    bs = Tb.shape[0]
    for layer in range(eta.size):
        z = zeta[layer]
        np.dot(R.T, R, GR)
        np.dot(L.T, L, GL)
        if not (cholesky_lower(GR, GR, 0.0) and cholesky_lower(GL, GL, 0.0)):
            return layer
        FR[:] = 0.0
        for i0 in range(0, m, bs):
            i1 = min(i0 + bs, m)
            T = Tb[: i1 - i0]
            Lb = L[i0:i1]
            np.dot(Lb, R.T, T)
            for i in range(i1 - i0):
                for j in range(n):
                    T[i, j] = min(max(M[i0 + i, j] - T[i, j], -z), z)
            np.dot(T, R, FL[i0:i1])
            np.dot(T.T, Lb, Fb)
            _add(FR, Fb)
        _step(L, FL, GR, eta[layer])
        _step(R, FR, GL, eta[layer])
    return eta.size


@kernel
def low_rank_into(L, R, X, bs):
    """``X = L R^T`` in row blocks of ``bs`` (each block's product stays in cache)."""
    m = X.shape[0]
    for i0 in range(0, m, bs):
        i1 = min(i0 + bs, m)
        np.dot(L[i0:i1], R.T, X[i0:i1])


@kernel
def select(a, k):
    """The k-th smallest entry of the 1-D ``a`` (quickselect; ``a`` is reordered)."""
    lo, hi = 0, a.size - 1
    while lo < hi:
        mid = (lo + hi) // 2  # median of three as the pivot
        x, y, z = a[lo], a[mid], a[hi]
        pivot = max(min(x, y), min(max(x, y), z))
        i, j = lo, hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return a[k]
    return a[k]


@kernel
def outlier_split(M, L, S, work, factor, floor, stride, rows, cols):
    """``S = (M - L)`` where ``|M - L| > tau``, else 0, with
    ``tau = max(factor * median, floor * ||L||_F)``, the median of ``|M - L|`` over the
    entries of flat index 0, stride, 2 stride, ... (all of them for stride 1).

    ``work`` (at least m n / stride,) scratch; ``rows`` (m,), ``cols`` (n,) receive the
    number of entries of S in each row and column. Returns ``(||M - L - S||_F^2,
    ||M||_F^2, count)``, the two norms over the entries where S = 0; the first is infinite
    (and S untouched) when ``M - L`` holds a NaN or an Inf.
    """
    m, n = M.shape
    norm_l = 0.0
    finite = True
    for i in range(m):
        for j in range(n):
            d = M[i, j] - L[i, j]
            norm_l += L[i, j] * L[i, j]
            finite &= np.isfinite(d)
    if not finite:
        return np.inf, np.inf, m * n
    size = (m * n + stride - 1) // stride
    for t in range(size):
        i, j = divmod(t * stride, n)
        work[t] = abs(M[i, j] - L[i, j])
    tau = max(factor * select(work[:size], size // 2), floor * np.sqrt(norm_l))
    cols[:] = 0.0
    residual = 0.0
    clean = 0.0
    count = 0
    for i in range(m):
        in_row = 0
        for j in range(n):
            d = M[i, j] - L[i, j]
            if abs(d) > tau:
                S[i, j] = d
                in_row += 1
                cols[j] += 1.0
            else:
                S[i, j] = 0.0
                residual += d * d
                clean += M[i, j] * M[i, j]
        rows[i] = in_row
        count += in_row
    return residual, clean, count
