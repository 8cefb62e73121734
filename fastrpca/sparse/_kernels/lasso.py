"""Lasso / elastic-net loops: coordinate descent, (F)ISTA, ADMM.

Problem, per column ``y`` of ``Y``::

    min_x  1/2 ||A x - y||^2 + l1 sum_j w_j |x_j| + l2/2 ||x||^2     (and x >= 0 if pos)

with per-feature penalty weights ``w = pw`` (``ipw`` holds 1 / w; both ``None`` for the
plain lasso, a specialisation compiled without the weights). Real or complex data: for
complex A, y and x, |x_j| is the modulus and the prox the modulus soft threshold
(coordinate descent and (F)ISTA; ADMM, ``pos`` and the active-set Newton step are real
only).

Layout: the dictionary is passed transposed, ``At = A.T`` C-contiguous (n, m), so that
column j of A is the contiguous row ``At[j]``; batches are rows: ``Yt`` (k, m), ``Xt``
(k, n). Each kernel solves the k rows one after the other (the Python layer splits rows
across threads; kernels release the GIL) and writes ``stats[c] = (iterations, objective,
duality gap, history length)``. Every method stops on the same rule: duality gap
<= tol * objective, the gap computed from the rescaled residual (elastic net handled as a
lasso on [A; sqrt(l2) I]). ``hist`` (h, 2) receives (iteration, gap) for row 0.
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload

from ..._core._kernels.linalg import chol_solve
from ..._core._kernels.prox import shrink
from ..._core.config import kernel


# ---------------------------------------------------------------- real / complex scalars
# Plain Python versions (used as such when the JIT is disabled) and, through
# ``overload``, one compiled specialisation per scalar type: for real types they reduce
# to the original arithmetic, so the real kernels compile to the same code as before.
def _zero(z):
    """A double-precision zero of z's kind (float64 or complex128): the accumulator."""
    return 0j if np.iscomplexobj(z) else 0.0


def _conj(z):
    """Complex conjugate (identity for real z)."""
    return np.conj(z)


def _abs2(z):
    """|z|^2 as a real number."""
    return (z * np.conj(z)).real


def _redot(a, b):
    """Re(conj(a) b)."""
    return (np.conj(a) * b).real


def _w(weights, j):
    """weights[j], or 1 when there are no weights (``None``: a separate compiled
    specialisation in which the weight is the constant 1, so the unweighted lasso
    costs what it did before weights existed)."""
    return 1.0 if weights is None else weights[j]


def _prox(t, tau, pos):
    """Soft threshold of one scalar (one-sided if pos; modulus for complex t)."""
    if pos:
        return max(t - tau, t - t)
    return shrink(t, tau)


@overload(_zero, inline="always")
def _ov_zero(z):
    if isinstance(z, types.Complex):
        return lambda z: 0j
    return lambda z: 0.0


@overload(_conj, inline="always")
def _ov_conj(z):
    if isinstance(z, types.Complex):
        return lambda z: z.conjugate()
    return lambda z: z


@overload(_abs2, inline="always")
def _ov_abs2(z):
    if isinstance(z, types.Complex):
        return lambda z: z.real * z.real + z.imag * z.imag
    return lambda z: z * z


@overload(_redot, inline="always")
def _ov_redot(a, b):
    if isinstance(a, types.Complex) or isinstance(b, types.Complex):
        return lambda a, b: a.real * b.real + a.imag * b.imag
    return lambda a, b: a * b


@overload(_w, inline="always")
def _ov_w(weights, j):
    if isinstance(weights, types.NoneType):
        return lambda weights, j: 1.0
    return lambda weights, j: weights[j]


@overload(_prox)
def _ov_prox(t, tau, pos):
    if isinstance(t, types.Complex):
        return lambda t, tau, pos: shrink(t, tau)

    def impl(t, tau, pos):
        if pos:
            return max(t - tau, t - t)
        return shrink(t, tau)

    return impl


@kernel
def _gap(rr, ry, l1n, xx, qmax, exc, l1, l2):
    """Primal objective and duality gap from the residual statistics.

    Dual D(theta) = Re(y^H theta) - ||theta||^2/2 - g*(A^H theta). Lasso view:
    theta = s r' with r' = [r; -sqrt(l2) x] the residual of [A; sqrt(l2) I], s the best
    feasible scaling (``qmax`` = max_j |a_j^H r'| / w_j, ``l1n`` = sum_j w_j |x_j|). If
    l2 > 0 also theta = r with g*(v) = sum (|v_j| - l1 w_j)_+^2 / (2 l2) (``exc`` is the
    sum); the better of the two bounds is used.
    """
    rr = max(rr, 0.0)
    obj = 0.5 * rr + l1 * l1n + 0.5 * l2 * xx
    den = rr + l2 * xx
    s = ry / den if den > 0.0 else 0.0
    if qmax > 0.0:
        s = min(s, l1 / qmax)
    s = max(s, 0.0)
    dual = s * ry - 0.5 * s * s * den
    if l2 > 0.0:
        dual = max(dual, ry - 0.5 * rr - 0.5 * exc / l2)
    return obj, obj - dual


@kernel
def _residual(At, y, x, r):
    """r = y - A x (skips zero coefficients)."""
    n, m = At.shape
    for i in range(m):
        r[i] = y[i]
    for j in range(n):
        xj = x[j]
        if xj != 0.0:
            for i in range(m):
                r[i] -= xj * At[j, i]


@kernel
def _gap_resid(At, y, x, r, q, l1, l2, pos, pw, ipw):
    """Objective and gap at x given r = y - A x; fills q = A^H r."""
    n, m = At.shape
    rr = 0.0
    ry = 0.0
    for i in range(m):
        rr += _abs2(r[i])
        ry += _redot(r[i], y[i])
    l1n = 0.0
    xx = 0.0
    qmax = 0.0
    exc = 0.0
    for j in range(n):
        s = _zero(q[j])
        for i in range(m):
            s += _conj(At[j, i]) * r[i]
        q[j] = s
        v = s - l2 * x[j]
        qmax = max(qmax, (v.real if pos else abs(v)) * _w(ipw, j))
        e = max((s.real if pos else abs(s)) - l1 * _w(pw, j), 0.0)
        exc += e * e
        l1n += _w(pw, j) * abs(x[j])
        xx += _abs2(x[j])
    return _gap(rr, ry, l1n, xx, qmax, exc, l1, l2)


@kernel
def _gap_gram(G, b, yy, x, q, l1, l2, pos, pw, ipw):
    """Objective and gap from the Gram form (G = A^H A, b = A^H y); recomputes
    q = b - G x exactly."""
    n = x.size
    for j in range(n):
        q[j] = b[j]
    for j in range(n):
        xj = x[j]
        if xj != 0.0:
            for i in range(n):
                q[i] -= xj * _conj(G[j, i])
    bx = 0.0
    qx = 0.0
    l1n = 0.0
    xx = 0.0
    qmax = 0.0
    exc = 0.0
    for j in range(n):
        bx += _redot(b[j], x[j])
        qx += _redot(q[j], x[j])
        v = q[j] - l2 * x[j]
        qmax = max(qmax, (v.real if pos else abs(v)) * _w(ipw, j))
        e = max((q[j].real if pos else abs(q[j])) - l1 * _w(pw, j), 0.0)
        exc += e * e
        l1n += _w(pw, j) * abs(x[j])
        xx += _abs2(x[j])
    return _gap(yy - bx - qx, yy - bx, l1n, xx, qmax, exc, l1, l2)


@kernel
def _gap_ws(M, y, b, yy, x, r, q, l1, l2, pos, gram, pw, ipw, idx, count):
    """Objective and gap of the problem restricted to the working set idx[:count] (which
    holds the support). Residual form: q = A^H r is recomputed on the working set (the
    cost of one sweep); Gram form: q is current there already and this costs O(count)."""
    rr = 0.0
    ry = 0.0
    if gram:
        bx = 0.0
        qx = 0.0
        for u in range(count):
            j = idx[u]
            bx += _redot(b[j], x[j])
            qx += _redot(q[j], x[j])
        rr = yy - bx - qx
        ry = yy - bx
    else:
        for i in range(r.size):
            rr += _abs2(r[i])
            ry += _redot(r[i], y[i])
    l1n = 0.0
    xx = 0.0
    qmax = 0.0
    exc = 0.0
    for u in range(count):
        j = idx[u]
        if gram:
            s = q[j]
        else:
            s = _zero(q[j])
            for i in range(r.size):
                s += _conj(M[j, i]) * r[i]
            q[j] = s
        v = s - l2 * x[j]
        qmax = max(qmax, (v.real if pos else abs(v)) * _w(ipw, j))
        e = max((s.real if pos else abs(s)) - l1 * _w(pw, j), 0.0)
        exc += e * e
        l1n += _w(pw, j) * abs(x[j])
        xx += _abs2(x[j])
    return _gap(rr, ry, l1n, xx, qmax, exc, l1, l2)


@kernel
def _record(hist, nh, it, gap):
    if nh < hist.shape[0]:
        hist[nh, 0] = it
        hist[nh, 1] = gap
        return nh + 1
    return nh


# ---------------------------------------------------------------- coordinate descent
@kernel
def _cd_sweep(M, nrm2, l1, l2, pos, gram, x, r, q, idx, count, pw):
    """One pass of exact coordinate minimisation over idx[:count] (all j if count < 0).

    Residual form: M = At, r = y - A x kept current. Gram form: M = A^T A, q = A^T r
    kept current on idx[:count] only (the other entries go stale until the next gap
    check recomputes q in full). Returns sum_j (||a_j||^2 + l2) |dx_j|^2 (twice the
    objective decrease) and the number of coordinates that entered or left the support.
    """
    n = x.size
    total = n if count < 0 else count
    dsum = 0.0
    flips = 0
    for t in range(total):
        j = t if count < 0 else idx[t]
        d = nrm2[j]
        if d == 0.0:
            x[j] = 0.0
            continue
        if gram:
            g = q[j]
        else:
            g = _zero(r[0])
            for i in range(r.size):
                g += _conj(M[j, i]) * r[i]
        old = x[j]
        new = _prox(g + d * old, l1 * _w(pw, j), pos) / (d + l2)
        delta = new - old
        if delta != 0.0:
            flips += (old == 0.0) | (new == 0.0)
            x[j] = new
            if gram:  # written out: a helper call per coordinate costs refcounting
                if count < 0:
                    for i in range(n):
                        q[i] -= delta * _conj(M[j, i])
                else:
                    for u in range(count):
                        i = idx[u]
                        q[i] -= delta * _conj(M[j, i])
            else:
                for i in range(r.size):
                    r[i] -= delta * M[j, i]
            dsum += (d + l2) * _abs2(delta)
    return dsum, flips


@kernel
def _gap_cd(M, y, b, yy, x, r, q, l1, l2, pos, gram, pw, ipw):
    if gram:
        return _gap_gram(M, b, yy, x, q, l1, l2, pos, pw, ipw)
    return _gap_resid(M, y, x, r, q, l1, l2, pos, pw, ipw)


@kernel
def _working_set(x, q, inrm, l1, pos, idx, score, size, pw):
    """idx[:count] = the support of x plus the largest KKT violations
    (|q_j| - l1 w_j) / ||a_j|| at zeros, about ``size`` features in all (the cut is found
    with a 64-bin histogram of the violations: linear time, no sort). The loops are
    written without data-dependent branches (selects and counted stores): which
    features violate changes from signal to signal, and mispredicted branches cost
    more than the arithmetic here."""
    n = x.size
    nnz = 0
    nviol = 0
    smax = 0.0
    for j in range(n):
        a = ((q[j].real if pos else abs(q[j])) - l1 * _w(pw, j)) * inrm[j]
        on = x[j] != 0.0
        a = 0.0 if on else max(a, 0.0)
        nnz += on
        nviol += a > 0.0
        smax = max(smax, a)
        score[j] = a
    room = max(size - nnz, 1)
    cut = 0.0
    if nviol > room:
        bins = np.zeros(65, np.int64)
        scale = 64.0 / smax
        for j in range(n):
            bins[int(scale * score[j])] += 1  # non-violators land in bin 0
        total = bins[64]
        for t in range(63, 0, -1):
            total += bins[t]
            if total >= room:
                cut = t / scale
                break
    count = 0
    for j in range(n):
        idx[count] = j
        count += (x[j] != 0.0) | ((score[j] > 0.0) & (score[j] >= cut))
    return count, nnz


#: Anderson extrapolation of coordinate descent every ANDERSON_K sweeps.
ANDERSON_K = 3
#: Sweeps on a working set stop once its own duality gap is below this fraction of the
#: last global gap.
WS_FRACTION = 0.3
#: ... on supports of more than this many features (smaller ones stop on small steps and
#: are finished by the Newton step).
WS_GAP_MIN_NNZ = 64


@kernel
def _anderson(M, gram, l1, l2, pos, x, r, q, idx, count, pw, H, dx, buf):
    """Anderson extrapolation of the last ANDERSON_K sweeps on the working set
    (Bertrand & Massias 2021): with H[i] = x on idx[:count] after sweep i (H[0] before
    the first) and U_i = H[i] - H[i-1], the combination x_e = sum_i c_i H[i] with
    sum c = 1 minimising ||sum_i c_i U_i|| (c = z / sum z, Re(U U^H) z = 1). x_e is
    kept only if it lowers the objective (computed exactly on the change, with ``buf`` an
    m-vector (residual form) or a count-vector (Gram form)). Returns True if accepted."""
    K = H.shape[0] - 1
    C = np.zeros((K, K))
    for a in range(K):
        for c in range(a + 1):
            s = 0.0
            for u in range(count):
                s += _redot(H[a + 1, u] - H[a, u], H[c + 1, u] - H[c, u])
            C[a, c] = s
            C[c, a] = s
    # Cholesky of C + tiny ridge, then C z = 1
    ridge = 1e-12 * (np.trace(C) + 1e-300)
    z = np.ones(K)
    for a in range(K):
        C[a, a] += ridge
        for c in range(a):
            s = C[a, c]
            for e in range(c):
                s -= C[a, e] * C[c, e]
            C[a, c] = s / C[c, c]
        s = C[a, a]
        for e in range(a):
            s -= C[a, e] * C[a, e]
        if not s > 0.0:
            return False
        C[a, a] = np.sqrt(s)
    for a in range(K):
        s = z[a]
        for e in range(a):
            s -= C[a, e] * z[e]
        z[a] = s / C[a, a]
    for a in range(K - 1, -1, -1):
        s = z[a]
        for e in range(a + 1, K):
            s -= C[e, a] * z[e]
        z[a] = s / C[a, a]
    zs = 0.0
    for a in range(K):
        zs += z[a]
    if not abs(zs) > 0.0:
        return False
    for u in range(count):  # dx = x_e - x on the working set
        xe = _zero(x[0])
        for a in range(K):
            xe += (z[a] / zs) * H[a + 1, u]
        if pos:
            xe = _prox(xe, 0.0, pos)
        dx[u] = xe - x[idx[u]]
    return _move(M, gram, l1, l2, x, r, q, idx, count, pw, dx, buf)


@kernel
def _move(M, gram, l1, l2, x, r, q, idx, count, pw, dx, buf):
    """x[idx[u]] += dx[u] (u < count) if that lowers the objective, computed exactly on
    the change; r (residual form) or q on idx[:count] (Gram form) updated with it.
    ``buf`` is an m-vector (residual form) or a count-vector (Gram form). Returns True if
    the move was made."""
    dpen = 0.0
    for u in range(count):
        j = idx[u]
        xe = x[j] + dx[u]
        dpen += l1 * _w(pw, j) * (abs(xe) - abs(x[j])) + 0.5 * l2 * (_abs2(xe) - _abs2(x[j]))
    if gram:
        dquad = 0.0
        for v in range(count):
            buf[v] = 0.0
        for u in range(count):
            du = dx[u]
            if du != 0.0:
                row = idx[u]
                for v in range(count):
                    buf[v] += du * _conj(M[row, idx[v]])
        for v in range(count):
            dquad += 0.5 * _redot(dx[v], buf[v]) - _redot(q[idx[v]], dx[v])
    else:
        m = r.size
        for i in range(m):
            buf[i] = r[i]
        for u in range(count):
            du = dx[u]
            if du != 0.0:
                row = idx[u]
                for i in range(m):
                    buf[i] -= du * M[row, i]
        dquad = 0.0
        for i in range(m):
            dquad += 0.5 * (_abs2(buf[i]) - _abs2(r[i]))
    if not dquad + dpen < 0.0:
        return False
    for u in range(count):
        x[idx[u]] += dx[u]
    if gram:
        for v in range(count):
            q[idx[v]] -= buf[v]
    else:
        for i in range(r.size):
            r[i] = buf[i]
    return True


#: Residual form: supports of at least this size get A_S^T A_S from one BLAS product.
NEWTON_BLAS_MIN = 48
#: Largest support for the Newton step (its Cholesky factor is nnz x nnz).
NEWTON_MAX = 2048
#: Ridge added to A_S^T A_S, relative to its largest diagonal entry.
NEWTON_RIDGE = 1e-9
#: A dense Newton step is tried once sweeps since the last one cost this multiple of it,
#: and at least NEWTON_MIN_SWEEPS sweeps were made (slow convergence only).
NEWTON_WORK = 1.0
NEWTON_MIN_SWEEPS = 10


@kernel
def _newton(M, l1, l2, pos, gram, x, r, q, cap, idx, count, pw):
    """Minimisation on the current support and signs (an active-set Newton step).

    The support must lie in idx[:count] (the working set); in Gram form q is kept
    current there only.

    On the face {sign(x_S) fixed, x_rest = 0} the objective is quadratic: solve
    (A_S^T A_S + l2 I) d = A_S^T r - l2 x_S - l1 w_S sign(x_S) by Cholesky (A_S^T A_S from
    one BLAS product in residual form above NEWTON_BLAS_MIN nonzeros), then take the full
    step with the coordinates that would change sign set to zero, or else the step to
    the first coordinate that reaches zero, whichever first lowers the objective
    (computed exactly). Skipped (returns False) above ``cap`` nonzeros, if singular, or
    if neither step lowers the objective.
    """
    n = x.size
    nnz = 0
    for j in range(n):
        nnz += x[j] != 0.0
    if nnz == 0 or nnz > cap:
        return False
    S = np.empty(nnz, np.int64)
    t = 0
    for j in range(n):
        if x[j] != 0.0:
            S[t] = j
            t += 1
    d = np.empty(nnz)
    H = np.empty((nnz, nnz))
    blas = not gram and nnz >= NEWTON_BLAS_MIN
    if blas:
        m = r.size
        AS = np.empty((nnz, m), M.dtype)
        for a in range(nnz):
            ja = S[a]
            ga = 0.0
            for i in range(m):
                AS[a, i] = M[ja, i]
                ga += M[ja, i] * r[i]
            d[a] = ga - l2 * x[ja] - (l1 * _w(pw, ja) if x[ja] > 0.0 else -l1 * _w(pw, ja))
        HS = AS @ AS.T
        for a in range(nnz):
            for c in range(a + 1):
                H[a, c] = HS[a, c]
            H[a, a] += l2
    for a in range(nnz if not blas else 0):
        ja = S[a]
        if gram:
            ga = q[ja]
        else:
            ga = 0.0
            for i in range(r.size):
                ga += M[ja, i] * r[i]
        d[a] = ga - l2 * x[ja] - (l1 * _w(pw, ja) if x[ja] > 0.0 else -l1 * _w(pw, ja))
        for c in range(a + 1):
            if gram:
                h = M[ja, S[c]]
            else:
                h = 0.0
                jc = S[c]
                for i in range(r.size):
                    h += M[ja, i] * M[jc, i]
            H[a, c] = h
        H[a, a] += l2
    # a tiny ridge keeps a (near) singular A_S^T A_S (more nonzeros than its rank, a
    # degenerate lasso) factorable; the step is checked on the objective anyway
    top = 0.0
    for a in range(nnz):
        top = max(top, H[a, a])
    for a in range(nnz):
        H[a, a] += NEWTON_RIDGE * top
    # Cholesky in place (lower), keeping 1 / diagonal (multiplies instead of a chain of
    # divisions), then two triangular solves
    inv = np.empty(nnz)
    for a in range(nnz):
        for c in range(a):
            s = H[a, c]
            for e in range(c):
                s -= H[a, e] * H[c, e]
            H[a, c] = s * inv[c]
        s = H[a, a]
        for e in range(a):
            s -= H[a, e] * H[a, e]
        if not s > 1e-10 * (H[a, a] + 1e-300):
            return False
        inv[a] = 1.0 / np.sqrt(s)
    for a in range(nnz):
        s = d[a]
        for e in range(a):
            s -= H[a, e] * d[e]
        d[a] = s * inv[a]
    for a in range(nnz - 1, -1, -1):
        d[a] *= inv[a]
        for e in range(a):
            d[e] -= H[a, e] * d[a]
    # the full step with coordinates that would change sign set to zero, if it lowers the
    # objective; else the step to the first sign change (the face's minimiser along d
    # when d is exact), if that lowers it (with A_S^T A_S near singular, d may not)
    dx = np.empty(count, x.dtype)
    buf = np.empty(count if gram else r.size, x.dtype)
    step = 1.0
    hit = -1
    a = 0
    for u in range(count):
        j = idx[u]
        dx[u] = 0.0
        if a < nnz and S[a] == j:
            xn = x[j] + d[a]
            dx[u] = (xn if xn * x[j] > 0.0 else 0.0) - x[j]
            if xn * x[j] <= 0.0 and d[a] != 0.0 and -x[j] / d[a] < step:
                step = -x[j] / d[a]
                hit = u
            a += 1
    if a != nnz:  # the support is not within the working set: no step
        return False
    if _move(M, gram, l1, l2, x, r, q, idx, count, pw, dx, buf):
        return True
    if hit < 0:
        return False
    a = 0
    for u in range(count):
        j = idx[u]
        dx[u] = 0.0
        if a < nnz and S[a] == j:
            dx[u] = -x[j] if u == hit else step * d[a]
            a += 1
    return _move(M, gram, l1, l2, x, r, q, idx, count, pw, dx, buf)


def _try_newton(M, l1, l2, pos, gram, x, r, q, cap, idx, count, pw):
    """:func:`_newton` for real data; complex data (no faces: the modulus is not
    piecewise linear) skips it."""
    if np.iscomplexobj(x):
        return False
    return _newton(M, l1, l2, pos, gram, x, r, q, cap, idx, count, pw)


@overload(_try_newton)
def _ov_try_newton(M, l1, l2, pos, gram, x, r, q, cap, idx, count, pw):
    if isinstance(x.dtype, types.Complex):
        return lambda M, l1, l2, pos, gram, x, r, q, cap, idx, count, pw: False
    return lambda M, l1, l2, pos, gram, x, r, q, cap, idx, count, pw: _newton(
        M, l1, l2, pos, gram, x, r, q, cap, idx, count, pw
    )


@kernel
def _cd_col(
    M,
    y,
    b,
    yy,
    nrm2,
    inrm,
    l1,
    l2,
    pos,
    gram,
    x,
    r,
    q,
    idx,
    score,
    tstate,
    resume,
    tol,
    max_iter,
    max_checks,
    hist,
    pw,
    ipw,
    work,
):
    """Coordinate descent (Friedman et al. 2010) on working sets, one signal.

    ``work`` (ANDERSON_K + 3, max(m, n)), of x's dtype, holds the Anderson
    extrapolation's buffers.

    Each outer step: duality gap on all features (which also gives A^T r), working set
    = support + the worst KKT violators, twice the support's size; sweeps on it until a
    sweep decreases the objective by less than a small fraction of the target gap.
    """
    n = x.size
    if not gram:
        _residual(M, y, x, r)
    obj, gap = _gap_cd(M, y, b, yy, x, r, q, l1, l2, pos, gram, pw, ipw)
    it = 0
    nh = _record(hist, 0, 0, gap)
    frac = tstate[0] if resume else 0.1
    checks = 0
    last_nnz = -1
    newton_cap = min(r.size if not gram else n, 512)
    # the Newton step taken when sweeps stall: up to m nonzeros (beyond, A_S^T A_S is
    # singular) unless l2 > 0
    big_cap = min(NEWTON_MAX, r.size if l2 == 0.0 else n)
    m = r.size
    spent = 0.0
    stalled = 0
    while not gap <= tol * obj and it < max_iter and checks != max_checks:
        checks += 1
        nnz = 0
        for j in range(n):
            nnz += x[j] != 0.0
        count, nnz = _working_set(x, q, inrm, l1, pos, idx, score, max(2 * nnz, 16), pw)
        target = frac * gap
        H = work[: ANDERSON_K + 1]
        for u in range(count):
            H[0, u] = x[idx[u]]
        sweeps = 0
        ws_checked = False
        while it < max_iter:
            dsum, flips = _cd_sweep(M, nrm2, l1, l2, pos, gram, x, r, q, idx, count, pw)
            it += 1
            sweeps += 1
            spent += count * count if gram else 2.0 * count * m
            stalled += 1
            newton = False
            if dsum > target and stalled >= NEWTON_MIN_SWEEPS:
                # still large steps after many sweeps: once the sweeps since the last
                # Newton step cost about as much as one, take one (its cost in
                # multiply-adds, the BLAS product counted at a quarter)
                k = 0
                for u in range(count):
                    k += x[idx[u]] != 0.0
                cost = k * k * k / 3.0 + (k * k if gram else k * k * m / 4.0)
                if spent >= NEWTON_WORK * cost and 0 < k <= big_cap:
                    spent = 0.0
                    stalled = 0
                    newton = _try_newton(M, l1, l2, pos, gram, x, r, q, big_cap, idx, count, pw)
            if newton:
                sweeps = 0
                ws_checked = False
            for u in range(count):
                H[sweeps, u] = x[idx[u]]
            if sweeps == ANDERSON_K:
                # extrapolate on large supports, or once this check's sweeps run long
                # (quick small solves would pay for it without gaining)
                if nnz > WS_GAP_MIN_NNZ or stalled > 2 * ANDERSON_K:
                    _anderson(M, gram, l1, l2, pos, x, r, q, idx, count, pw, H, work[-2], work[-1])
                for u in range(count):
                    H[0, u] = x[idx[u]]
                sweeps = 0
                ws_checked = False
            if not dsum > target and not ws_checked:
                # small steps: stop. On a large support (where the Newton step below is
                # dear or unavailable), only once the working-set problem is solved to a
                # fraction of the global gap: slow progress of an ill-conditioned problem
                # is not convergence, so sweep on, extrapolating every ANDERSON_K sweeps
                if nnz <= WS_GAP_MIN_NNZ:
                    break
                wobj, wgap = _gap_ws(M, y, b, yy, x, r, q, l1, l2, pos, gram, pw, ipw, idx, count)
                if not wgap > WS_FRACTION * gap or wgap <= tol * wobj:
                    break
                ws_checked = True
        if nnz == last_nnz or (gram and checks > 1):
            _try_newton(M, l1, l2, pos, gram, x, r, q, newton_cap, idx, count, pw)
        last_nnz = nnz
        obj, gap = _gap_cd(M, y, b, yy, x, r, q, l1, l2, pos, gram, pw, ipw)
        nh = _record(hist, nh, it, gap)
        if gap != gap:
            break
        frac *= 0.5
    tstate[0] = frac
    return it, obj, gap, nh


@kernel
def _gram_rhs(A, y, b):
    """b = A^H y as sum_i conj(A[i, :]) y_i (``A`` (m, n) C order); returns ||y||^2.

    The sum runs over i in the same order for every signal and vectorises across
    features without horizontal reductions, so a batch gives bit-for-bit the results of
    single solves."""
    m, n = A.shape
    yy = 0.0
    for i in range(m):
        yy += _abs2(y[i])
    for j in range(n):
        b[j] = 0.0
    m4 = m - m % 4
    for i in range(0, m4, 4):  # four rows per pass over b
        y0, y1, y2, y3 = y[i], y[i + 1], y[i + 2], y[i + 3]
        for j in range(n):
            b[j] = (
                b[j]
                + y0 * _conj(A[i, j])
                + y1 * _conj(A[i + 1, j])
                + y2 * _conj(A[i + 2, j])
                + y3 * _conj(A[i + 3, j])
            )
    for i in range(m4, m):
        yi = y[i]
        for j in range(n):
            b[j] += yi * _conj(A[i, j])
    return yy


@kernel
def cd(
    At,
    G,
    A,
    Yt,
    nrm2,
    inrm,
    l1,
    l2,
    pos,
    gram,
    Xt,
    stats,
    tol,
    max_iter,
    max_checks,
    r,
    q,
    b,
    idx,
    score,
    tstate,
    resume,
    hist,
    pw,
    ipw,
    work,
):
    """Coordinate descent over the rows of Xt: residual form on At, or Gram form on
    G = A^H A, with b = A^H y and ||y||^2 formed here one row at a time
    (:func:`_gram_rhs`; ``A`` is unused in residual form)."""
    for c in range(Xt.shape[0]):
        y = Yt[c]
        yy = _gram_rhs(A, y, b) if gram else 0.0
        it, obj, gap, nh = _cd_col(
            G if gram else At,
            y,
            b,
            yy,
            nrm2,
            inrm,
            l1,
            l2,
            pos,
            gram,
            Xt[c],
            r,
            q,
            idx,
            score,
            tstate,
            resume,
            tol,
            max_iter,
            max_checks,
            hist[:, :] if c == 0 else hist[:0],
            pw,
            ipw,
            work,
        )
        stats[c, 0] = it
        stats[c, 1] = obj
        stats[c, 2] = gap
        stats[c, 3] = nh


@kernel
def cd_path(
    At,
    G,
    A,
    y,
    nrm2,
    inrm,
    l1s,
    l2s,
    pos,
    gram,
    x,
    Xp,
    stats,
    tol,
    max_iter,
    r,
    q,
    b,
    idx,
    score,
    tstate,
    pw,
    ipw,
    work,
):
    """Coordinate descent along a regularisation path for one signal: for each
    (l1s[t], l2s[t]) in order, solve from the previous solution (warm start; ``x`` holds
    the start on entry) and store it in Xp[t]. b = A^H y is formed once (Gram form)."""
    yy = _gram_rhs(A, y, b) if gram else 0.0
    hist = np.zeros((0, 2))
    for t in range(l1s.size):
        it, obj, gap, nh = _cd_col(
            G if gram else At,
            y,
            b,
            yy,
            nrm2,
            inrm,
            l1s[t],
            l2s[t],
            pos,
            gram,
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
            hist,
            pw,
            ipw,
            work,
        )
        for j in range(x.size):
            Xp[t, j] = x[j]
        stats[t, 0] = it
        stats[t, 1] = obj
        stats[t, 2] = gap
        stats[t, 3] = nh


@kernel
def equal_t(a, bt):
    """True if a (p, s) equals bt.T (bt is (s, p), C order), compared in 32 x 32 tiles
    so that both arrays are read along cache lines."""
    p, s = a.shape
    for i0 in range(0, p, 32):
        for j0 in range(0, s, 32):
            diff = 0
            for j in range(j0, min(j0 + 32, s)):
                for i in range(i0, min(i0 + 32, p)):
                    diff += a[i, j] != bt[j, i]
            if diff:
                return False
    return True


@kernel
def equal(a, b):
    """True if the 2-D arrays a and b (same shape, same layout) hold the same values
    (NaN never compares equal). Counts differences per row (a loop that vectorises;
    an early exit per entry would not) and stops at the first row that differs."""
    p, s = a.shape
    for i in range(p):
        diff = 0
        for j in range(s):
            diff += a[i, j] != b[i, j]
        if diff:
            return False
    return True


# ---------------------------------------------------------------- (F)ISTA
@kernel
def _fista_col(
    At,
    y,
    lip,
    l1,
    l2,
    pos,
    momentum,
    x,
    z,
    xold,
    r,
    q,
    tstate,
    resume,
    tol,
    max_iter,
    max_checks,
    check,
    hist,
    pw,
    ipw,
):
    """Proximal gradient (Beck & Teboulle 2009); with ``momentum`` FISTA with the
    gradient-based adaptive restart of O'Donoghue & Candes (2015), else ISTA."""
    n = x.size
    if resume:
        t = tstate[0]
    else:
        t = 1.0
        for j in range(n):
            z[j] = x[j]
    _residual(At, y, x, r)
    obj, gap = _gap_resid(At, y, x, r, q, l1, l2, pos, pw, ipw)
    nh = _record(hist, 0, 0, gap)
    it = 0
    step = 1.0 / lip
    checks = 0
    while not gap <= tol * obj and it < max_iter and checks != max_checks:
        checks += 1
        for _ in range(min(check, max_iter - it)):
            _residual(At, y, z, r)
            inner = 0.0
            for j in range(n):
                g = _zero(r[0])
                for i in range(r.size):
                    g += _conj(At[j, i]) * r[i]
                xold[j] = x[j]
                x[j] = _prox(z[j] + step * (g - l2 * z[j]), step * l1 * _w(pw, j), pos)
                inner += _redot(z[j] - x[j], x[j] - xold[j])
            it += 1
            if momentum and not inner > 0.0:
                tn = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
                beta = (t - 1.0) / tn
                t = tn
                for j in range(n):
                    z[j] = x[j] + beta * (x[j] - xold[j])
            else:
                t = 1.0
                for j in range(n):
                    z[j] = x[j]
        _residual(At, y, x, r)
        obj, gap = _gap_resid(At, y, x, r, q, l1, l2, pos, pw, ipw)
        nh = _record(hist, nh, it, gap)
        if gap != gap:
            break
    tstate[0] = t
    return it, obj, gap, nh


@kernel
def fista(
    At,
    Yt,
    lip,
    l1,
    l2,
    pos,
    momentum,
    Xt,
    stats,
    tol,
    max_iter,
    max_checks,
    check,
    z,
    xold,
    r,
    q,
    tstate,
    resume,
    hist,
    pw,
    ipw,
):
    """ISTA / FISTA over the rows of Xt."""
    for c in range(Xt.shape[0]):
        it, obj, gap, nh = _fista_col(
            At,
            Yt[c],
            lip,
            l1,
            l2,
            pos,
            momentum,
            Xt[c],
            z,
            xold,
            r,
            q,
            tstate,
            resume,
            tol,
            max_iter,
            max_checks,
            check,
            hist[:, :] if c == 0 else hist[:0],
            pw,
            ipw,
        )
        stats[c, 0] = it
        stats[c, 1] = obj
        stats[c, 2] = gap
        stats[c, 3] = nh


# ---------------------------------------------------------------- ADMM
@kernel
def _admm_col(
    At,
    y,
    Lf,
    wood,
    rho,
    l1,
    l2,
    pos,
    z,
    xs,
    u,
    c,
    v,
    w,
    w2,
    r,
    q,
    resume,
    tol,
    max_iter,
    max_checks,
    check,
    hist,
    pw,
    ipw,
):
    """Scaled-form ADMM for the lasso (Boyd et al. 2011, section 6.4), one signal.

    x-step: (A^T A + (rho + l2) I) x = A^T y + rho (z - u), with the cached Cholesky
    factor Lf of A^T A + cI (n x n) or, if ``wood``, of A A^T + cI (m x m) and the
    Woodbury identity. z-step: soft threshold. The reported iterate is z (sparse).
    """
    n, m = At.shape
    cc = rho + l2
    _residual(At, y, z, r)
    obj, gap = _gap_resid(At, y, z, r, q, l1, l2, pos, pw, ipw)
    for j in range(n):
        s = 0.0
        for i in range(m):
            s += At[j, i] * y[i]
        c[j] = s
        if not resume:
            u[j] = (q[j] - l2 * z[j]) / rho
    nh = _record(hist, 0, 0, gap)
    it = 0
    checks = 0
    while not gap <= tol * obj and it < max_iter and checks != max_checks:
        checks += 1
        for _ in range(min(check, max_iter - it)):
            for j in range(n):
                v[j] = c[j] + rho * (z[j] - u[j])
            if wood:
                for i in range(m):
                    w[i] = 0.0
                for j in range(n):
                    vj = v[j]
                    for i in range(m):
                        w[i] += vj * At[j, i]
                chol_solve(Lf, w, w2)
                for j in range(n):
                    s = 0.0
                    for i in range(m):
                        s += At[j, i] * w2[i]
                    xs[j] = (v[j] - s) / cc
            else:
                chol_solve(Lf, v, xs)
            for j in range(n):
                zj = _prox(xs[j] + u[j], l1 * _w(pw, j) / rho, pos)
                z[j] = zj
                u[j] += xs[j] - zj
            it += 1
        _residual(At, y, z, r)
        obj, gap = _gap_resid(At, y, z, r, q, l1, l2, pos, pw, ipw)
        nh = _record(hist, nh, it, gap)
        if gap != gap:
            break
    return it, obj, gap, nh


@kernel
def admm(
    At,
    Yt,
    Lf,
    wood,
    rho,
    l1,
    l2,
    pos,
    Xt,
    stats,
    tol,
    max_iter,
    max_checks,
    check,
    xs,
    u,
    c,
    v,
    w,
    w2,
    r,
    q,
    resume,
    hist,
    pw,
    ipw,
):
    """ADMM over the rows of Xt (z, the sparse iterate, is written to Xt); real data."""
    for k in range(Xt.shape[0]):
        it, obj, gap, nh = _admm_col(
            At,
            Yt[k],
            Lf,
            wood,
            rho,
            l1,
            l2,
            pos,
            Xt[k],
            xs,
            u,
            c,
            v,
            w,
            w2,
            r,
            q,
            resume,
            tol,
            max_iter,
            max_checks,
            check,
            hist[:, :] if k == 0 else hist[:0],
            pw,
            ipw,
        )
        stats[k, 0] = it
        stats[k, 1] = obj
        stats[k, 2] = gap
        stats[k, 3] = nh
