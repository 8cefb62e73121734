"""Per-frame kernels of streaming Robust PCA (:mod:`fastrpca.robust_pca.stream`).

A frame ``z`` (m,) is split against an orthonormal basis held as ``Ut`` (k, m), each
basis vector contiguous so that every pass is a vectorised axpy or dot product over the
pixels; then the basis is updated by a rank-one incremental SVD with forgetting and
re-orthonormalised. Small quantities (k-vectors, (k+1)^2 matrices) are float64 whatever
the frame dtype; nothing is allocated: scratch comes from the caller.

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

from ..._core._kernels.linalg import chol_solve, cholesky_lower
from ..._core.config import kernel


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
def _combine(Ut, r, out):
    """``out = Ut^T r`` (a background from coefficients), one axpy per basis vector."""
    out[:] = 0
    for j in range(Ut.shape[0]):
        rj = r[j]
        u = Ut[j]
        for i in range(out.size):
            out[i] += rj * u[i]


@kernel
def _dots(Ut, v, out):
    """``out = Ut v`` in float64, one dot product per basis vector."""
    for j in range(Ut.shape[0]):
        u = Ut[j]
        total = 0.0
        for i in range(v.size):
            total += u[i] * v[i]
        out[j] = total


@kernel
def split_frame(z, z_norm, Ut, r, acc, G, b, c, threshold, tol, max_inner):
    """Background coefficients ``r`` of frame ``z`` (``z_norm`` = sum of its squares);
    returns the inner iterations done.

    ``acc`` (k,), ``G`` (k, k) are float64 scratch; ``b``, ``c`` (m,) frame-sized scratch.
    """
    k = Ut.shape[0]
    _dots(Ut, z, r)
    stop = tol * np.sqrt(z_norm)
    n_inner = 0
    while n_inner < max_inner:
        n_inner += 1
        _combine(Ut, r, b)
        for i in range(z.size):
            c[i] = _clip(z[i] - b[i], threshold)
        _dots(Ut, c, acc)
        step = 0.0
        for j in range(k):
            r[j] += acc[j]
            step += acc[j] * acc[j]
        if np.sqrt(step) <= stop:
            break
    # Refit on the entries within the threshold (c = 1 there, else 0):
    # (U_in^T U_in) r = U_in^T z_in.
    _combine(Ut, r, b)
    for i in range(z.size):
        c[i] = 1.0 if abs(z[i] - b[i]) <= threshold else 0.0
    for j in range(k):
        u = Ut[j]
        total = 0.0
        for i in range(z.size):
            total += u[i] * c[i] * z[i]
        acc[j] = total
        for l in range(j + 1):
            v = Ut[l]
            total = 0.0
            for i in range(z.size):
                total += u[i] * c[i] * v[i]
            G[j, l] = total
    if cholesky_lower(G, G, 1e-9):
        chol_solve(G, acc, acc)
        r[:] = acc
    return n_inner


@kernel
def finish_frame(z, Ut, r, B, S, threshold):
    """Write background ``B = U r`` and sparse ``S`` (the residual where it exceeds the
    threshold, else 0); return the number of sparse entries."""
    _combine(Ut, r, B)
    n_sparse = 0
    for i in range(z.size):
        d = z[i] - B[i]
        if abs(d) > threshold:
            S[i] = d
            n_sparse += 1
        else:
            S[i] = 0
    return n_sparse


@kernel
def update_basis(z, B, Ut, Ut_next, sv, p, K, V, s_new, G, x, cut, forget):
    """Fold the clean frame ``x = B + clean(z - B)`` into ``U, sv`` (rank-one incremental
    SVD with forgetting), then re-orthonormalise U by Cholesky QR."""
    k = Ut.shape[0]
    for i in range(z.size):
        d = z[i] - B[i]
        x[i] = z[i] if abs(d) <= cut else B[i]
    _dots(Ut, x, p)
    for j in range(k):  # x <- x - U p, the part of x outside the subspace
        pj = p[j]
        u = Ut[j]
        for i in range(x.size):
            x[i] -= pj * u[i]
    rn = 0.0
    for i in range(x.size):
        rn += x[i] * x[i]
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
    # U_next = [U, q] V[:, :k] with q = x / rn
    q_scale = 1.0 / rn if rn > 0 else 0.0
    for j in range(k):
        out = Ut_next[j]
        a = V[k, j] * q_scale
        for i in range(x.size):
            out[i] = a * x[i]
        for l in range(k):
            a = V[l, j]
            u = Ut[l]
            for i in range(x.size):
                out[i] += a * u[i]
    # Cholesky QR: G = U_next^T U_next = L L^T, U <- U_next L^-T (row j of Ut_next).
    for j in range(k):
        for l in range(j + 1):
            u, v = Ut_next[j], Ut_next[l]
            total = 0.0
            for i in range(x.size):
                total += u[i] * v[i]
            G[j, l] = total
    if not cholesky_lower(G, G, 1e-9):  # cannot happen for an orthonormal [U, q]; keep the rotation
        G[:] = 0.0
        for j in range(k):
            G[j, j] = 1.0
    for j in range(k):
        out = Ut[j]
        for i in range(x.size):
            out[i] = Ut_next[j, i]
        for l in range(j):
            a = G[j, l]
            u = Ut[l]
            for i in range(x.size):
                out[i] -= a * u[i]
        a = 1.0 / G[j, j]
        for i in range(x.size):
            out[i] *= a


@kernel
def energy(z):
    """``(sum of squares, all finite)`` of a frame, one pass."""
    total = 0.0
    finite = True
    for i in range(z.size):
        v = z[i]
        if np.isfinite(v):
            total += v * v
        else:
            finite = False
    return total, finite


@kernel
def process_frames(
    Z, Ut, Ut_next, sv, B, S, info, r, p, K, V, s_new, G, x, r_last, params, max_inner, update
):
    """Split each row of ``Z`` (b, m) into ``B`` + ``S`` against the basis ``Ut`` (k, m);
    update the basis after each frame if ``update``. ``info[f] = (inner iterations,
    sparse entries, refused)`` per frame. ``Ut_next`` and ``x`` are scratch. ``params``
    holds ``threshold, forget, tol, reject, reference energy, max_jump``.

    A frame with NaN / Inf entries, or whose energy exceeds ``max_jump**2`` times the
    reference energy (a running mean of the accepted frames' energies), is refused: its
    background is that of the last accepted frame (coefficients ``r_last``), its sparse
    part the whole difference, and neither the basis nor the reference moves, so one
    corrupt frame cannot poison the frames after it.
    """
    threshold, forget, tol, reject = params[0], params[1], params[2], params[3]
    for f in range(Z.shape[0]):
        z, b, s = Z[f], B[f], S[f]
        zz, finite = energy(z)
        if not (finite and zz <= params[5] * params[5] * params[4]):
            _combine(Ut, r_last, b)
            for i in range(z.size):
                s[i] = z[i] - b[i]
            info[f, 0] = 0
            info[f, 1] = z.size
            info[f, 2] = 1
            continue
        info[f, 0] = split_frame(z, zz, Ut, r, p, G, b, s, threshold, tol, max_inner)
        info[f, 1] = finish_frame(z, Ut, r, b, s, threshold)
        info[f, 2] = 0
        for j in range(r.size):
            r_last[j] = r[j]
        if update:
            update_basis(z, b, Ut, Ut_next, sv, p, K, V, s_new, G, x, reject * threshold, forget)
            params[4] = forget * params[4] + (1.0 - forget) * zz
