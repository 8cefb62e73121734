"""Levenberg-Marquardt on the phases (the LM hologram of AUTD3, pyautd3 <= 26).

Unknowns: x = (theta, phi), the n transducer phases and the m focal phases. Residual
r(x) = G e^{i theta} - P e^{i phi} (P = diag(amplitudes)), objective F = 1/2 ||r||^2,
minimised by the damped Gauss-Newton iteration of Madsen, Nielsen & Tingleff, "Methods
for non-linear least squares problems" (2nd ed., 2004), Algorithm 3.16, with their
gain-ratio update of the damping mu.

With J the complex Jacobian (m x (n + m)) and R = [Re J; Im J], the step solves
(R^T R + mu I) h = -g with g = R^T [Re r; Im r]. R has only 2m rows, so the step is taken
through the push-through identity (R^T R + mu I)^-1 R^T = R^T (R R^T + mu I)^-1: a
Cholesky factorisation of order 2m instead of a dense solve of order n + m (what AUTD3
does), the same step in exact arithmetic. With Gt = G diag(e^{i theta}):
J J^H = G G^H + P^2 (constant) and J J^T = -(Gt Gt^T + diag(p^2 e^{2 i phi})), from which
R R^T follows in four m x m blocks.
"""

from __future__ import annotations

import math

from ..._core._kernels.linalg import chol_solve, cholesky_lower
from ..._core.config import kernel
from .acoustics import BAD_AMPLITUDE, OK, _scale, constrain, gram, scale_phase_only
from .emission import focal_pressure
from .trig import sincos


@kernel
def phase_column_scale(G, x, Gt):
    """Gt[:, i] = G[:, i] exp(i x_i) for the n transducer phases at the head of x."""
    m, n = G.shape
    for i in range(n):
        sn, cs = sincos(x[i])
        e = complex(cs, sn)
        for j in range(m):
            Gt[j, i] = G[j, i] * e


@kernel
def residual(G, amps, x, q, r):
    """q = exp(i theta); r = G q - P exp(i phi); returns 1/2 ||r||^2."""
    m, n = G.shape
    for i in range(n):
        sn, cs = sincos(x[i])
        q[i] = complex(cs, sn)
    f = 0.0
    for j in range(m):
        ar = 0.0
        ai = 0.0
        for i in range(n):
            a = G[j, i]
            b = q[i]
            ar += a.real * b.real - a.imag * b.imag
            ai += a.real * b.imag + a.imag * b.real
        ph = x[n + j]
        v = complex(ar - amps[j] * math.cos(ph), ai - amps[j] * math.sin(ph))
        r[j] = v
        f += v.real * v.real + v.imag * v.imag
    return 0.5 * f


@kernel
def gradient(Gt, amps, x, r, g):
    """g = Re(J^H r): Im((Gt^H r)_i) for transducers, -Im(p_j e^{-i phi_j} r_j) for foci."""
    m, n = Gt.shape
    for i in range(n):
        acc = 0.0
        for j in range(m):
            a = Gt[j, i]
            b = r[j]
            acc += a.real * b.imag - a.imag * b.real  # Im(conj(a) b)
        g[i] = acc
    for j in range(m):
        ph = x[n + j]
        b = r[j]
        # Im(p e^{-i phi} r) = p (cos(phi) Im r - sin(phi) Re r)
        g[n + j] = -amps[j] * (math.cos(ph) * b.imag - math.sin(ph) * b.real)


@kernel
def normal_blocks(Gt, amps, x, C, K):
    """K = R R^T (2m x 2m) from C = G G^H + P^2 and S = J J^T at the current phases."""
    m, n = Gt.shape
    for j in range(m):
        for l in range(j + 1):
            sr = 0.0
            si = 0.0
            for i in range(n):
                a = Gt[j, i]
                b = Gt[l, i]
                sr += a.real * b.real - a.imag * b.imag
                si += a.real * b.imag + a.imag * b.real
            if j == l:
                ph = 2.0 * x[n + j]
                p2 = amps[j] * amps[j]
                sr += p2 * math.cos(ph)
                si += p2 * math.sin(ph)
            sr = -sr  # S = J J^T = -(Gt Gt^T + diag(p^2 e^{2 i phi}))
            si = -si
            c = C[j, l]
            # [[Re(C+S)/2, (Im S - Im C)/2], [(Im S + Im C)/2, Re(C-S)/2]]
            K[j, l] = 0.5 * (c.real + sr)
            K[l, j] = K[j, l]
            K[m + j, m + l] = 0.5 * (c.real - sr)
            K[m + l, m + j] = K[m + j, m + l]
            K[j, m + l] = 0.5 * (si - c.imag)
            K[m + l, j] = K[j, m + l]
            # C^T = conj(C), S^T = S: the (l, j) entries of the off-diagonal block
            K[l, m + j] = 0.5 * (si + c.imag)
            K[m + j, l] = K[l, m + j]


@kernel
def cholesky_solve(K, mu, Lc, f, y):
    """y = (K + mu I)^-1 f for symmetric PSD K (Lc: scratch of K's shape); False if the
    shifted matrix is not positive definite in floating point."""
    N = K.shape[0]
    for i in range(N):
        for j in range(i + 1):
            Lc[i, j] = K[i, j]
        Lc[i, i] += mu
    if not cholesky_lower(Lc, Lc, 0.0):
        return False
    chol_solve(Lc, f, y)
    return True


@kernel
def lm_step(Gt, amps, x, r, K, mu, Lc, fy, y, w, h):
    """h = -(R^T R + mu I)^-1 g = -R^T (R R^T + mu I)^-1 [Re r; Im r]; False if the
    factorisation fails."""
    m, n = Gt.shape
    for j in range(m):
        fy[j] = r[j].real
        fy[m + j] = r[j].imag
    if not cholesky_solve(K, mu, Lc, fy, y):
        return False
    for j in range(m):
        w[j] = complex(y[j], y[m + j])
    for i in range(n):
        acc = 0.0
        for j in range(m):
            a = Gt[j, i]
            b = w[j]
            acc += a.real * b.imag - a.imag * b.real
        h[i] = -acc  # -Im((Gt^H w)_i)
    for j in range(m):
        ph = x[n + j]
        b = w[j]
        h[n + j] = amps[j] * (math.cos(ph) * b.imag - math.sin(ph) * b.real)
    return True


@kernel
def lm_solve(G, amps, x, max_iter, tol_g, tol_h, tau, mu0, bufs, ybuf, cbufs, K, Lc, C, Gt, hist,
             info):  # fmt: skip
    """Algorithm 3.16 from x (in place, length n + m). Buffers: ``bufs`` (3, n + m) real
    (x_new, g, h), ``ybuf`` (2, 2m) real, ``cbufs`` (4, max(n, m)) complex (q, r, r_new,
    w), K and Lc (2m, 2m), C like G G^H, Gt like G. ``mu0`` > 0: start with this damping
    (a warm start keeps the last one) instead of tau max diag(J^T J). ``hist`` receives F after each
    iteration, ``info`` [iterations, F, ||g||_inf, mu, stop code (0 max_iter, 1 gradient,
    2 step)]. Returns the number of iterations."""
    m, n = G.shape
    N = n + m
    xn = bufs[0]
    g = bufs[1]
    h = bufs[2]
    fy = ybuf[0]
    y = ybuf[1]
    q = cbufs[0][:n]
    r = cbufs[1][:m]
    rn = cbufs[2][:m]
    w = cbufs[3][:m]
    # C = G G^H + P^2, the phase-independent block of J J^H
    gram(G, 0.0, C)
    for j in range(m):
        C[j, j] = C[j, j].real + amps[j] * amps[j]
    f = residual(G, amps, x, q, r)
    phase_column_scale(G, x, Gt)
    gradient(Gt, amps, x, r, g)
    normal_blocks(Gt, amps, x, C, K)
    amax = 0.0  # largest diagonal entry of R^T R: column power of G, or p_j^2
    for i in range(n):
        s = 0.0
        for j in range(m):
            s += G[j, i].real ** 2 + G[j, i].imag ** 2
        amax = max(amax, s)
    for j in range(m):
        amax = max(amax, amps[j] * amps[j])
    mu = mu0 if mu0 > 0.0 else tau * amax
    nu = 2.0
    gmax = 0.0
    for t in range(N):
        gmax = max(gmax, abs(g[t]))
    stop = 1 if gmax <= tol_g else 0
    k = 0
    while stop == 0 and k < max_iter:
        k += 1
        if not lm_step(Gt, amps, x, r, K, mu, Lc, fy, y, w, h):
            # R R^T + mu I not positive definite in floating point: damp more
            mu *= nu
            nu *= 2.0
            if k <= hist.size:
                hist[k - 1] = f
            continue
        hn = 0.0
        xnrm = 0.0
        for t in range(N):
            hn += h[t] * h[t]
            xnrm += x[t] * x[t]
        if math.sqrt(hn) <= tol_h * (math.sqrt(xnrm) + tol_h):
            stop = 2
            if k <= hist.size:
                hist[k - 1] = f
            break
        for t in range(N):
            xn[t] = x[t] + h[t]
        fn = residual(G, amps, xn, q, rn)
        # L(0) - L(h) = 1/2 h^T (mu h - g) > 0 for any nonzero step
        dl = 0.0
        for t in range(N):
            dl += h[t] * (mu * h[t] - g[t])
        dl *= 0.5
        rho = (f - fn) / dl if dl > 0.0 else -1.0
        if rho > 0.0:
            for t in range(N):
                x[t] = xn[t]
            for j in range(m):
                r[j] = rn[j]
            f = fn
            phase_column_scale(G, x, Gt)
            gradient(Gt, amps, x, r, g)
            normal_blocks(Gt, amps, x, C, K)
            gmax = 0.0
            for t in range(N):
                gmax = max(gmax, abs(g[t]))
            if gmax <= tol_g:
                stop = 1
            c = 2.0 * rho - 1.0
            mu *= max(1.0 / 3.0, 1.0 - c * c * c)
            nu = 2.0
        else:
            mu *= nu
            nu *= 2.0
        if k <= hist.size:
            hist[k - 1] = f
    # the drive of the final phases (q holds the last trial point otherwise)
    for i in range(n):
        sn, cs = sincos(x[i])
        q[i] = complex(cs, sn)
    info[0] = k
    info[1] = f
    info[2] = gmax
    info[3] = mu
    info[4] = stop
    return k


@kernel
def lm_hologram(
    G,
    amps,
    x,
    warm,
    max_iter,
    tol,
    step_tol,
    tau,
    bufs,
    ybuf,
    cbufs,
    K,
    Lc,
    C,
    Gt,
    hist,
    info,
    code,
    ca,
    cb,
    amp,
    phase,
    drive,
    field,
    focal,
):
    """Check the targets, run :func:`lm_solve` (from x and the damping left in info[3] if
    ``warm``, else from zero phases as AUTD3 does), apply the emission constraint, put
    G drive into ``field`` and its modulus into ``focal``. The gradient test is
    ||g||_inf <= tol * ||p||^2. ``ybuf`` is (3, 2m): its last row holds the amplitudes
    as solved. Returns a status code of ``acoustics``.

    G and the amplitudes are solved multiplied by one power of two 2**-e (the same
    problem, exactly: the drive is unit-modulus) when their squares would over- or
    underflow, and G is restored before returning. ``info`` = [iterations, F (caller's
    units, inf / 0 beyond float64), ||g||_inf / ||p||^2, mu, stop code, e]: mu in the
    units of the problem solved with e (a warm start rescales it to its own);
    ``hist`` holds F in the caller's units."""
    m, n = G.shape
    p = ybuf[2][:m]
    ok, e = scale_phase_only(G, amps, p)
    if not ok:
        return BAD_AMPLITUDE
    p2 = 0.0
    for j in range(m):
        p2 += p[j] * p[j]
    mu0 = -1.0
    if warm:  # a warm start keeps the damping it ended with, in this problem's units
        mu0 = math.ldexp(info[3], 2 * (int(info[5]) - e)) if info[3] > 0.0 else -1.0
    else:
        for t in range(x.size):
            x[t] = 0.0
    k = lm_solve(
        G, p, x, max_iter, tol * p2, step_tol, tau, mu0, bufs, ybuf, cbufs, K, Lc, C, Gt,
        hist, info,
    )  # fmt: skip
    if e != 0:
        _scale(G, e)
        info[1] = math.ldexp(info[1], 2 * e)
        for t in range(min(k, hist.size)):
            hist[t] = math.ldexp(hist[t], 2 * e)
    info[2] = info[2] / p2 if p2 > 0.0 else info[2]
    info[5] = e
    constrain(cbufs[0][:n], code, ca, cb, amp, phase, drive)
    focal_pressure(G, drive, field, focal)
    return OK
