"""Per-frame kernels of streaming Robust PCA (:mod:`fastrpca.stream`).

A frame ``z`` (m,) is split against an orthonormal basis ``U`` (m, k) in three row passes
plus one pass per inner iteration, then the basis is updated by a rank-one incremental SVD
with forgetting and re-orthonormalised. Small quantities (k-vectors, (k+1)^2 matrices)
are float64 whatever the frame dtype; nothing is allocated: scratch comes from the caller.

* Projection (the per-sample problem of Feng, Xu & Yan 2013, without the ridge, U being
  orthonormal): ``min_r,e 1/2 ||z - U r - e||^2 + t ||e||_1`` by alternating
  ``e = shrink(z - U r, t)``, ``r = U^T (z - e)``, i.e. ``r += U^T clip(z - U r, t)``.
* Refit: least squares of ``z`` on ``U`` over the rows whose residual is within ``t``
  (removes the shrinkage bias; skipped when those rows do not determine r).
* Update: the clean frame ``x`` (= z where ``|z - U r| <= reject t``, else U r: larger
  residuals are treated as missing) enters the weighted data ``[sqrt(forget) U diag(s), x]``,
  whose top-k SVD (Brand 2002) is the new ``U, s``.
"""
from __future__ import annotations

import numpy as np

from .._config import kernel


@kernel
def count_nonfinite(Z):
    """Number of NaN / Inf entries of a 2-D array, without temporaries."""
    n = 0
    for i in range(Z.shape[0]):
        for j in range(Z.shape[1]):
            if not np.isfinite(Z[i, j]):
                n += 1
    return n


@kernel
def cholesky(G):
    """In-place lower Cholesky factor of a small SPD matrix; False if a pivot is tiny."""
    k = G.shape[0]
    for j in range(k):
        d = G[j, j]
        for l in range(j):
            d -= G[j, l] * G[j, l]
        if not d > 1e-9:
            return False
        d = np.sqrt(d)
        G[j, j] = d
        for i in range(j + 1, k):
            v = G[i, j]
            for l in range(j):
                v -= G[i, l] * G[j, l]
            G[i, j] = v / d
    return True


@kernel
def chol_solve(Lc, b):
    """Solve ``Lc Lc^T x = b`` in place of ``b``."""
    k = b.size
    for i in range(k):
        v = b[i]
        for l in range(i):
            v -= Lc[i, l] * b[l]
        b[i] = v / Lc[i, i]
    for i in range(k - 1, -1, -1):
        v = b[i]
        for l in range(i + 1, k):
            v -= Lc[l, i] * b[l]
        b[i] = v / Lc[i, i]


@kernel
def _rotate(M, p, q, c, s):
    for i in range(M.shape[0]):
        x, y = M[i, p], M[i, q]
        M[i, p] = c * x - s * y
        M[i, q] = s * x + c * y


@kernel
def jacobi_svd(A, V, s):
    """One-sided Jacobi (Hestenes): ``A V`` has orthogonal columns; ``s`` their norms.

    On return the columns of V are the right singular vectors of the original A, sorted
    by decreasing singular value ``s``. A is overwritten. Small square matrices only.
    """
    n = A.shape[1]
    V[:] = 0.0
    for i in range(n):
        V[i, i] = 1.0
    for _ in range(60):
        rotated = False
        for p in range(n - 1):
            for q in range(p + 1, n):
                a = b = g = 0.0
                for i in range(A.shape[0]):
                    a += A[i, p] * A[i, p]
                    b += A[i, q] * A[i, q]
                    g += A[i, p] * A[i, q]
                if g == 0.0 or abs(g) <= 1e-15 * np.sqrt(a * b):
                    continue
                rotated = True
                zeta = (b - a) / (2.0 * g)
                t = (1.0 if zeta >= 0 else -1.0) / (abs(zeta) + np.sqrt(1.0 + zeta * zeta))
                c = 1.0 / np.sqrt(1.0 + t * t)
                sn = c * t
                _rotate(A, p, q, c, sn)
                _rotate(V, p, q, c, sn)
        if not rotated:
            break
    for j in range(n):
        v = 0.0
        for i in range(A.shape[0]):
            v += A[i, j] * A[i, j]
        s[j] = np.sqrt(v)
    for j in range(n):  # selection sort, descending, columns of V follow
        best = j
        for l in range(j + 1, n):
            if s[l] > s[best]:
                best = l
        if best != j:
            s[j], s[best] = s[best], s[j]
            for i in range(n):
                V[i, j], V[i, best] = V[i, best], V[i, j]


@kernel
def _clip(d, t):
    return min(max(d, -t), t)


@kernel
def _clean(d, cut):
    """What an entry with residual d contributes to the basis: d if |d| <= cut, else 0."""
    return d if abs(d) <= cut else d - d


@kernel
def _dot_row(U, i, r):
    b = 0.0
    for j in range(r.size):
        b += U[i, j] * r[j]
    return b


@kernel
def split_frame(z, U, r, acc, G, threshold, tol, max_inner):
    """Background coefficients ``r`` of frame ``z``; returns the inner iterations done.

    ``acc`` (k,) and ``G`` (k, k) are float64 scratch.
    """
    m, k = U.shape
    r[:] = 0.0
    z_norm = 0.0
    for i in range(m):
        zi = z[i]
        z_norm += zi * zi
        for j in range(k):
            r[j] += U[i, j] * zi
    stop = tol * np.sqrt(z_norm)
    n_inner = 0
    while n_inner < max_inner:
        n_inner += 1
        acc[:] = 0.0
        for i in range(m):
            c = _clip(z[i] - _dot_row(U, i, r), threshold)
            for j in range(k):
                acc[j] += U[i, j] * c
        step = 0.0
        for j in range(k):
            r[j] += acc[j]
            step += acc[j] * acc[j]
        if np.sqrt(step) <= stop:
            break
    # Refit on the rows within the threshold: G = I - U_T^T U_T, acc = U^T z - U_T^T z_T.
    G[:] = 0.0
    acc[:] = 0.0
    for i in range(m):
        zi = z[i]
        inside = abs(zi - _dot_row(U, i, r)) <= threshold
        for j in range(k):
            u = U[i, j]
            if inside:
                acc[j] += u * zi
                for l in range(j + 1):
                    G[j, l] += u * U[i, l]
    if cholesky(G):
        chol_solve(G, acc)
        r[:] = acc
    return n_inner


@kernel
def finish_frame(z, U, r, B, S, threshold):
    """Write background ``B = U r`` and sparse ``S`` (the residual where it exceeds the
    threshold, else 0); return the number of sparse entries."""
    n_sparse = 0
    for i in range(z.size):
        b = _dot_row(U, i, r)
        d = z[i] - b
        B[i] = b
        if abs(d) > threshold:
            S[i] = d
            n_sparse += 1
        else:
            S[i] = 0
    return n_sparse


@kernel
def update_basis(z, B, U, sv, r, p, K, V, s_new, row, G, cut, forget):
    """Fold the clean frame ``x = B + clean(z - B)`` into ``U, sv`` (rank-one incremental
    SVD with forgetting), then re-orthonormalise U by Cholesky QR."""
    m, k = U.shape
    # p = U^T x = r + U^T clean(z - B)
    p[:] = r
    for i in range(m):
        c = _clean(z[i] - B[i], cut)
        for j in range(k):
            p[j] += U[i, j] * c
    rn = 0.0
    for i in range(m):
        x = B[i] + _clean(z[i] - B[i], cut)
        d = x - _dot_row(U, i, p)
        rn += d * d
    rn = np.sqrt(rn)
    # K = [[sqrt(forget) diag(sv), p], [0, rn]]; its left singular vectors are the right
    # singular vectors of K^T, which jacobi_svd returns in V.
    root = np.sqrt(forget)
    K[:] = 0.0
    for j in range(k):
        K[j, j] = root * sv[j]
        K[k, j] = p[j]
    K[k, k] = rn
    jacobi_svd(K, V, s_new)
    for j in range(k):
        sv[j] = s_new[j]
    inv_rn = 1.0 / rn if rn > 0 else 0.0
    # U <- [U, q] V[:, :k] row by row in place, q = (x - U p) / rn; accumulate G = U^T U.
    G[:] = 0.0
    for i in range(m):
        x = B[i] + _clean(z[i] - B[i], cut)
        q = (x - _dot_row(U, i, p)) * inv_rn
        for j in range(k):
            v = q * V[k, j]
            for l in range(k):
                v += U[i, l] * V[l, j]
            row[j] = v
        for j in range(k):
            U[i, j] = row[j]
            for l in range(j + 1):
                G[j, l] += row[j] * row[l]
    if not cholesky(G):  # cannot happen for an orthonormal [U, q]; keep U as it is
        return
    for i in range(m):  # U <- U L^-T (forward substitution per row)
        for j in range(k):
            v = U[i, j]
            for l in range(j):
                v -= G[j, l] * U[i, l]
            U[i, j] = v / G[j, j]


@kernel
def process_frames(Z, U, sv, B, S, info, r, p, K, V, s_new, row, G, threshold, forget,
                   tol, max_inner, update, reject):
    """Split each row of ``Z`` (b, m) into ``B`` + ``S``; update the basis after each if
    ``update``. ``info[f] = (inner iterations, sparse entries)`` per frame."""
    for f in range(Z.shape[0]):
        z, b, s = Z[f], B[f], S[f]
        info[f, 0] = split_frame(z, U, r, p, G, threshold, tol, max_inner)
        info[f, 1] = finish_frame(z, U, r, b, s, threshold)
        if update:
            update_basis(z, b, U, sv, r, p, K, V, s_new, row, G, reject * threshold,
                         forget)
