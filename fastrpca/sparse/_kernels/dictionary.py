"""(Robust) dictionary learning loops: the coding step with an anomaly block, the
statistics of Mairal et al. (2010) and their block-coordinate dictionary update.

Problem, per sample ``y`` (a row of ``Yt``)::

    min_{x, s}  1/2 ||y - D x - s||^2 + lam ||x||_1 + lam_s ||s||_1

a lasso on ``[D, (lam / lam_s) I]`` with the single weight ``lam``. The identity block is
never formed: its coordinates are minimised in closed form all at once (``_s_step``), and
the ``x`` block reuses the lasso kernels (working sets, sweeps, the active-set Newton
step and the duality gap of ``lasso.py``). Layout as there: the dictionary transposed,
``Dt`` (n, m) C order (atom j is the row ``Dt[j]``), samples and codes as rows ``Yt``
(k, m), ``Xt`` (k, n), ``St`` (k, m).

Statistics of the stored codes: ``A = sum x x^T`` (n, n), ``Bt = sum x (y - s)^T`` (n, m)
and ``acc = (sum ||y - s||^2, sum ||x||_1, sum ||s||_1)``, so that the surrogate
``1/2 (acc[0] - 2 <D, B> + <D^T D, A>) + lam acc[1] + lam_s acc[2]`` is the objective
of the stored codes with the current dictionary.
"""

from __future__ import annotations

import numpy as np

from ..._core._kernels.prox import shrink
from ..._core.config import kernel
from . import lasso as _k

#: Coordinate sweeps between two gap checks (and Newton steps) at most: when s covers
#: most of a sample, the atoms restricted to the few free entries are nearly collinear
#: and the sweeps alone crawl.
SWEEPS_PER_CHECK = 10


# ---------------------------------------------------------------- coding with anomalies
@kernel
def _s_step(r, s, lam_s):
    """Exact minimisation over the identity block, s_i = shrink(r_i + s_i, lam_s), with
    r = y - D x - s kept current; returns sum of squared changes (twice the decrease)."""
    d2 = 0.0
    for i in range(r.size):
        t = r[i] + s[i]
        new = shrink(t, lam_s)
        d = new - s[i]
        s[i] = new
        r[i] = t - new
        d2 += d * d
    return d2


@kernel
def _joint_gap(Dt, y, x, s, r, q, lam, lam_s):
    """Objective and duality gap at (x, s) given r = y - D x - s; fills q = D^T r.

    The lasso gap of ``lasso._gap`` on [D, c I], c = lam / lam_s: the dual point is the
    residual scaled into {|D^T theta| <= lam, |theta| <= lam_s}."""
    n, m = Dt.shape
    rr = 0.0
    ry = 0.0
    rmax = 0.0
    l1s = 0.0
    for i in range(m):
        rr += r[i] * r[i]
        ry += r[i] * y[i]
        rmax = max(rmax, abs(r[i]))
        l1s += abs(s[i])
    qmax = 0.0
    l1x = 0.0
    for j in range(n):
        t = 0.0
        for i in range(m):
            t += Dt[j, i] * r[i]
        q[j] = t
        qmax = max(qmax, abs(t))
        l1x += abs(x[j])
    qmax = max(qmax, rmax * (lam / lam_s))
    return _k._gap(rr, ry, l1x + l1s * (lam_s / lam), 0.0, qmax, 0.0, lam, 0.0)


@kernel
def _face_newton(Dt, y, lam, lam_s, x, s, r, q, idx, H, cap):
    """The active-set Newton step of ``lasso._newton`` on the joint face {signs of x and s
    fixed}: s is eliminated in closed form (r_i = lam_s sign(s_i) where s_i != 0), which
    leaves a lasso face for x whose Hessian is D^T D over the rows where s = 0. That
    Hessian is written to H (n, n; only the support's entries) and handed to the Gram
    form of ``lasso._newton``, whose gradient q = D^T r is made current on the support
    first (idx receives the support, which is the working set ``lasso._newton`` keeps q
    current on and checks its step over); then r and s are brought back to the new x.
    Without this step coordinate descent zig-zags between the blocks when s covers much
    of the sample."""
    n, m = Dt.shape
    nnz = 0
    for j in range(n):
        if x[j] != 0.0:
            idx[nnz] = j
            nnz += 1
            t = 0.0
            for i in range(m):
                t += Dt[j, i] * r[i]
            q[j] = t
    if nnz == 0 or nnz > cap:
        return
    for u in range(nnz):
        a = idx[u]
        for v in range(u + 1):
            b = idx[v]
            h = 0.0
            for i in range(m):
                h += Dt[a, i] * Dt[b, i] * (s[i] == 0.0)
            H[a, b] = h
            H[b, a] = h
    before = _objective(x, s, r, lam, lam_s)
    old = np.empty(nnz)
    for u in range(nnz):
        old[u] = x[idx[u]]
    s0 = s.copy()
    if not _k._newton(H, lam, 0.0, False, True, x, r, q, cap, idx, nnz, None):
        return
    # The face model holds while the signs of s do; when one flips, the full step can
    # lose. phi(x) = min_s F(x, s) is convex and the step a descent direction for it,
    # so halving it (s re-minimised at each trial) finds a decrease; else it is undone.
    step = np.empty(nnz)
    for u in range(nnz):
        step[u] = x[idx[u]] - old[u]
    t = 1.0
    for _ in range(8):
        for i in range(m):
            s[i] = s0[i]
        _k._residual(Dt, y, x, r)
        for i in range(m):
            r[i] -= s[i]
        _s_step(r, s, lam_s)
        if _objective(x, s, r, lam, lam_s) <= before:
            return
        t *= 0.5
        for u in range(nnz):
            x[idx[u]] = old[u] + t * step[u]
    for u in range(nnz):
        x[idx[u]] = old[u]
    for i in range(m):
        s[i] = s0[i]
    _k._residual(Dt, y, x, r)
    for i in range(m):
        r[i] -= s[i]


@kernel
def _objective(x, s, r, lam, lam_s):
    """1/2 ||r||^2 + lam ||x||_1 + lam_s ||s||_1 (r = y - D x - s given)."""
    v = 0.0
    for i in range(r.size):
        v += 0.5 * r[i] * r[i] + lam_s * abs(s[i])
    a = 0.0
    for j in range(x.size):
        a += abs(x[j])
    return v + lam * a


@kernel
def _robust_col(Dt, y, nrm2, inrm, lam, lam_s, x, s, r, q, idx, score, H, tol, max_iter):
    """Coordinate descent on [D, I] for one sample, warm-started from (x, s).

    As ``lasso._cd_col`` in residual form: each outer step takes the gap (and D^T r), a
    working set of atoms (support + worst KKT violators), then sweeps (the atoms of the
    working set, then the whole identity block in closed form) until a sweep gains
    little (at most SWEEPS_PER_CHECK), then (from the second step on) the Newton step
    on the joint face.
    Returns (sweeps, objective, gap)."""
    n, m = Dt.shape
    _k._residual(Dt, y, x, r)
    for i in range(m):
        r[i] -= s[i]
    obj, gap = _joint_gap(Dt, y, x, s, r, q, lam, lam_s)
    it = 0
    frac = 0.1
    checks = 0
    cap = min(m, 512)
    while not gap <= tol * obj and it < max_iter:
        checks += 1
        nnz = 0
        for j in range(n):
            nnz += x[j] != 0.0
        count, nnz = _k._working_set(x, q, inrm, lam, False, idx, score, max(2 * nnz, 16), None)
        target = frac * gap
        for _ in range(SWEEPS_PER_CHECK):
            if it >= max_iter:
                break
            dsum = _k._cd_sweep(Dt, nrm2, lam, 0.0, False, False, x, r, q, idx, count, None)[0]
            dsum += _s_step(r, s, lam_s)
            it += 1
            if not dsum > target:
                break
        if checks > 1:  # as in the Gram form of lasso._cd_col: cheap next to the sweeps
            _face_newton(Dt, y, lam, lam_s, x, s, r, q, idx, H, cap)
        obj, gap = _joint_gap(Dt, y, x, s, r, q, lam, lam_s)
        if gap != gap:
            break
        frac *= 0.5
    return it, obj, gap


@kernel
def robust_code(Dt, Yt, nrm2, inrm, lam, lam_s, Xt, St, stats, tol, max_iter, r, q, idx, score, H):
    """Codes and anomalies of the rows of Yt (warm start from Xt, St); stats[c] =
    (sweeps, objective, gap). H: (n, n) work array."""
    for c in range(Yt.shape[0]):
        it, obj, gap = _robust_col(
            Dt, Yt[c], nrm2, inrm, lam, lam_s, Xt[c], St[c], r, q, idx, score, H, tol, max_iter
        )
        stats[c, 0] = it
        stats[c, 1] = obj
        stats[c, 2] = gap


# ---------------------------------------------------------------- statistics
@kernel
def _accumulate(A, Bt, acc, y, x, s, sign, sup):
    """A += sign x x^T and Bt += sign x (y - s)^T over the support of x; acc += sign
    (||y - s||^2, ||x||_1, ||s||_1)."""
    n = x.size
    m = y.size
    k = 0
    l1x = 0.0
    for j in range(n):
        if x[j] != 0.0:
            sup[k] = j
            k += 1
            l1x += abs(x[j])
    for a in range(k):
        ja = sup[a]
        xa = sign * x[ja]
        for b in range(k):
            A[ja, sup[b]] += xa * x[sup[b]]
        for i in range(m):
            Bt[ja, i] += xa * (y[i] - s[i])
    c = 0.0
    l1s = 0.0
    for i in range(m):
        t = y[i] - s[i]
        c += t * t
        l1s += abs(s[i])
    acc[0] += sign * c
    acc[1] += sign * l1x
    acc[2] += sign * l1s


@kernel
def rebuild(A, Bt, acc, Yt, Xt, St, robust, sup):
    """The statistics of every stored code, from scratch (St unused unless robust)."""
    A[:, :] = 0.0
    Bt[:, :] = 0.0
    acc[:] = 0.0
    for j in range(Yt.shape[0]):
        _accumulate(A, Bt, acc, Yt[j], Xt[j], St[j] if robust else St[0], 1.0, sup)


@kernel
def scale_stats(A, Bt, acc, beta):
    """A, Bt, acc *= beta."""
    n, m = Bt.shape
    for i in range(n):
        for j in range(n):
            A[i, j] *= beta
        for j in range(m):
            Bt[i, j] *= beta
    for t in range(3):
        acc[t] *= beta


@kernel
def code_batch(
    Dt,
    G,
    Dc,
    nrm2,
    inrm,
    Yt,
    Xt,
    St,
    rows,
    lam,
    lam_s,
    robust,
    replace,
    beta,
    A,
    Bt,
    acc,
    tol,
    max_iter,
    stats,
    Yb,
    Qb,
    r,
    q,
    idx,
    score,
    H,
    tstate,
    sup,
    hist0,
):
    """Code the samples ``rows`` of Yt, warm-started from their stored codes, and fold
    them into the statistics: with ``replace`` their previous codes' share is removed
    (the statistics stay the exact sums over the stored codes), otherwise the statistics
    are first scaled by ``beta`` (the online rescaling). Plain coding (not ``robust``)
    is ``lasso._cd_col`` in Gram form, with D^T y of the whole batch formed by one
    product (Yb, Qb: (batch, m), (batch, n) work arrays); St is then unused (one zero
    row)."""
    m = Dt.shape[1]
    k = rows.size
    # lasso._cd_col's Anderson-extrapolation rows (one allocation per batch)
    work = np.empty((_k.ANDERSON_K + 3, max(m, Dt.shape[0])), Dt.dtype)
    if not replace:
        scale_stats(A, Bt, acc, beta)
    if not robust:
        for c in range(k):
            for i in range(m):
                Yb[c, i] = Yt[rows[c], i]
        Qb[:k] = np.dot(Yb[:k], Dc)
    for c in range(k):
        j = rows[c]
        x = Xt[j]
        s = St[j] if robust else St[0]
        y = Yt[j]
        if replace:
            _accumulate(A, Bt, acc, y, x, s, -1.0, sup)
        if robust:
            it, obj, gap = _robust_col(
                Dt, y, nrm2, inrm, lam, lam_s, x, s, r, q, idx, score, H, tol, max_iter
            )
        else:
            yy = 0.0
            for i in range(m):
                yy += y[i] * y[i]
            it, obj, gap, nh = _k._cd_col(
                G,
                y,
                Qb[c],
                yy,
                nrm2,
                inrm,
                lam,
                0.0,
                False,
                True,
                x,
                r,
                q,
                idx,
                score,
                tstate,
                False,
                tol,
                max_iter,
                -1,
                hist0,
                None,
                None,
                work,
            )
        stats[c, 0] = it
        stats[c, 1] = obj
        stats[c, 2] = gap
        _accumulate(A, Bt, acc, y, x, s, 1.0, sup)


# ---------------------------------------------------------------- dictionary update
@kernel
def update_atoms(Dt, Dc, A, Bt, passes, u, fresh, Yt, St, robust):
    """Block-coordinate descent on the atoms (Mairal et al. 2010, Algorithm 2).

    Atom j minimises the surrogate with the others fixed, on the unit sphere:
    u = d_j + (b_j - D a_j) / A_jj, d_j = u / ||u|| (the quadratic term is A_jj ||d_j||^2
    / 2, constant on the sphere, so this is the exact block minimiser). D a_j is one BLAS
    product with Dc = D (m, n) C order, kept equal to Dt.T. An atom that no stored code
    uses (A_jj ~ 0) is replaced, in the first pass, by the next sample of ``fresh`` (its
    anomaly-free part), normalised. Returns the number replaced."""
    n, m = Dt.shape
    tr = 0.0
    for j in range(n):
        tr += A[j, j]
    small = 1e-10 * tr / n
    used = 0
    for p in range(passes):
        for j in range(n):
            ajj = A[j, j]
            if ajj > small:
                v = np.dot(Dc, A[j])  # A is symmetric: row j is column j
                inv = 1.0 / ajj
                for i in range(m):
                    u[i] = Dt[j, i] + (Bt[j, i] - v[i]) * inv
            elif p == 0 and used < fresh.size:
                f = fresh[used]
                used += 1
                for i in range(m):
                    u[i] = Yt[f, i] - (St[f, i] if robust else 0.0)
            else:
                continue
            nu = 0.0
            for i in range(m):
                nu += u[i] * u[i]
            if nu > 0.0:
                inv = 1.0 / np.sqrt(nu)
                for i in range(m):
                    Dt[j, i] = u[i] * inv
                    Dc[i, j] = Dt[j, i]
    return used


@kernel
def gram(Dt, G):
    """G = D^T D (one BLAS product)."""
    G[:, :] = np.dot(Dt, Dt.T)


@kernel
def surrogate(Dt, G, A, Bt, acc, lam, lam_s, robust):
    """The objective of the stored codes with the current dictionary."""
    n, m = Dt.shape
    db = 0.0
    for j in range(n):
        for i in range(m):
            db += Dt[j, i] * Bt[j, i]
    ga = 0.0
    for i in range(n):
        for j in range(n):
            ga += G[i, j] * A[i, j]
    val = 0.5 * max(acc[0] - 2.0 * db + ga, 0.0) + lam * acc[1]
    if robust:
        val += lam_s * acc[2]
    return val
