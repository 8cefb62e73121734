"""Acoustic holography kernels: transfer matrix, Tikhonov SDP matrix, drives, baselines.

Sign convention: a transducer driven with complex amplitude q = a exp(i phi) puts
p = G q at the foci with G[j, i] = P0 / r * D(theta) * exp(-i k r) (the convention of
pyautd3 26 and earlier: its focus gain returns phi = k r). Units: mm, Pa, rad.
"""

from __future__ import annotations

import math

import numpy as np

from ..._core._kernels.linalg import cholesky_lower
from ..._core.config import kernel
from .phasecut import gram_of_rows, lowrank_sweeps, random_rows, round_unit
from .trig import NO_REASSOC, acos_unit, sincos

# T4010A1 directivity: cubic per 10-degree bin (AUTD3 table, ANCHORS section 2)
_DA = np.array(
    [1.0, 1.0, 1.0, 0.891250938, 0.707945784, 0.501187234, 0.354813389, 0.251188643, 0.199526231]
)
_DB = np.array(
    [
        0.0,
        0.0,
        -0.00459648054721,
        -0.0155520765675,
        -0.0208114779827,
        -0.0182211227016,
        -0.0122437497109,
        -0.00780345575475,
        -0.00312857467007,
    ]
)
_DC = np.array(
    [
        0.0,
        0.0,
        -7.87968093807e-4,
        -3.07591508224e-4,
        -2.18348633296e-4,
        4.7738416141e-4,
        1.20353137658e-4,
        3.23676257958e-4,
        1.43850511e-4,
    ]
)
_DD = np.array(
    [
        0.0,
        0.0,
        1.60125528528e-5,
        2.9747624976e-6,
        2.31910931569e-5,
        -1.1901034125e-5,
        6.77743734332e-6,
        -5.99548024824e-6,
        -4.79372835035e-6,
    ]
)

_DEG = 180.0 / math.pi

SPHERE, T4010A1 = 0, 1
NORMALIZE, CLAMP, MULTIPLY, UNIFORM = 0, 1, 2, 3
SDP, NAIVE, GS, GSPAT = 0, 1, 2, 3
# status codes of holo_solve / transfer
OK, BAD_AMPLITUDE, NOT_PD, BAD_FOCUS, ZERO_DISTANCE = 0, 1, 2, 3, 4


@kernel
def t4010a1(cos_theta):
    """Directivity from the cosine of the angle to the transducer axis."""
    c = min(1.0, max(-1.0, cos_theta))
    t = math.degrees(math.acos(c))
    if t > 90.0:
        t = 180.0 - t
    i = int(math.ceil(t / 10.0))
    if i == 0:
        return 1.0
    b = i - 1
    x = t - 10.0 * b
    return ((_DD[b] * x + _DC[b]) * x + _DB[b]) * x + _DA[b]


_TA, _TB, _TC, _TD = (tuple(float(v) for v in a) for a in (_DA, _DB, _DC, _DD))


@kernel(fastmath=NO_REASSOC)
def directivity_poly(t):
    """T4010A1 table at t degrees in [0, 90] (bins 0 and 1 are both D = 1), with the
    coefficients selected rather than gathered (vectorises better)."""
    bf = max(math.ceil(t * 0.1) - 1.0, 0.0)
    x = t - 10.0 * bf
    a = 1.0
    b = 0.0
    c = 0.0
    d = 0.0
    for q in range(2, 9):
        hit = bf == q
        a = _TA[q] if hit else a
        b = _TB[q] if hit else b
        c = _TC[q] if hit else c
        d = _TD[q] if hit else d
    return ((d * x + c) * x + b) * x + a


@kernel(fastmath=NO_REASSOC)
def transfer(layout, foci, k, p0, directivity, G):
    """G[j, i] = p0 / r D(theta) exp(-i k r); returns OK, BAD_FOCUS or ZERO_DISTANCE.

    ``layout`` (6, N): transducer x, y, z and axis ux, uy, uz, one row each. The inner
    loop streams through these rows with no calls (polynomial sin / cos / acos from
    ``trig``, the directivity table gathered by bin), so LLVM vectorises it."""
    m = foci.shape[0]
    n = layout.shape[1]
    px, py, pz = layout[0], layout[1], layout[2]
    ux, uy, uz = layout[3], layout[4], layout[5]
    for j in range(m):
        fx, fy, fz = foci[j, 0], foci[j, 1], foci[j, 2]
        if not (math.isfinite(fx) and math.isfinite(fy) and math.isfinite(fz)):
            return BAD_FOCUS
        zero = False
        if directivity == T4010A1:
            for i in range(n):
                dx, dy, dz = fx - px[i], fy - py[i], fz - pz[i]
                r2 = dx * dx + dy * dy + dz * dz
                zero |= r2 == 0.0
                r = math.sqrt(r2)
                inv = 1.0 / r
                c = (dx * ux[i] + dy * uy[i] + dz * uz[i]) * inv
                # the table is symmetric about 90 degrees: fold with |cos|
                t = acos_unit(min(abs(c), 1.0)) * _DEG
                d = directivity_poly(t)
                s, co = sincos(k * r)
                a = p0 * inv * d
                G[j, i] = complex(a * co, -a * s)
        else:
            for i in range(n):
                dx, dy, dz = fx - px[i], fy - py[i], fz - pz[i]
                r2 = dx * dx + dy * dy + dz * dz
                zero |= r2 == 0.0
                r = math.sqrt(r2)
                s, co = sincos(k * r)
                a = p0 / r
                G[j, i] = complex(a * co, -a * s)
        if zero:
            return ZERO_DISTANCE
    return OK


@kernel
def gram(G, shift, A):
    """A = G G^H + shift I (lower triangle computed, upper mirrored)."""
    m, n = G.shape
    for j in range(m):
        for l in range(j + 1):
            ar = 0.0
            ai = 0.0
            for i in range(n):
                a = G[j, i]
                b = G[l, i]
                ar += a.real * b.real + a.imag * b.imag
                ai += a.imag * b.real - a.real * b.imag
            A[j, l] = complex(ar, ai)
            A[l, j] = complex(ar, -ai)
        A[j, j] = A[j, j].real + shift


@kernel
def cholesky_inverse(A, L, Ainv):
    """Ainv = A^-1 for Hermitian positive definite A via A = L L^H; False if not PD."""
    m = A.shape[0]
    if not cholesky_lower(A, L, 0.0):
        return False
    # L <- L^-1 (lower triangular, row by row), then Ainv = L^-H L^-1
    for i in range(m):
        inv = 1.0 / L[i, i].real
        for j in range(i):
            s = 0j
            for p in range(j, i):
                s -= L[i, p] * L[p, j]
            L[i, j] = s * inv
        L[i, i] = inv
        for j in range(i + 1, m):
            L[i, j] = 0.0
    for i in range(m):
        for j in range(i + 1):
            s = 0j
            for p in range(i, m):
                s += L[p, i].conjugate() * L[p, j]
            Ainv[i, j] = s
            Ainv[j, i] = s.conjugate()
    return True


@kernel
def forward(G, q, out):
    """out = G q."""
    m, n = G.shape
    for j in range(m):
        ar = 0.0
        ai = 0.0
        for i in range(n):
            a = G[j, i]
            b = q[i]
            ar += a.real * b.real - a.imag * b.imag
            ai += a.real * b.imag + a.imag * b.real
        out[j] = complex(ar, ai)


@kernel
def adjoint(G, w, out):
    """out = G^H w."""
    m, n = G.shape
    for i in range(n):
        out[i] = 0.0
    for j in range(m):
        wj = w[j]
        for i in range(n):
            out[i] += G[j, i].conjugate() * wj


@kernel
def with_amplitudes(g, p, out):
    """out_j = p_j g_j / |g_j| (p_j where g_j = 0): the phases of g, the amplitudes p
    (real parts of ``p``); ``out`` may be ``g``."""
    for j in range(g.size):
        r = abs(g[j])
        out[j] = p[j].real * g[j] / r if r > 0.0 else p[j]


@kernel
def scale_phase_only(G, amps, p):
    """Check the targets and scale a unit-modulus-drive problem (LM, Greedy): G and the
    amplitudes multiplied by one power of two 2**-e (G in place, the amplitudes into
    ``p``) when their squares would over- or underflow; the same problem, exactly.
    Returns (False, 0) for a negative or non-finite target (G untouched), else (True, e)."""
    amax = 0.0
    for j in range(amps.size):
        if not (amps[j] >= 0.0 and math.isfinite(amps[j])):
            return False, 0
        amax = max(amax, amps[j])
    e = _exponent(max(max_component(G), amax))
    if e != 0:
        _scale(G, -e)
    for j in range(amps.size):
        p[j] = math.ldexp(amps[j], -e)
    return True, e


@kernel
def matvec(A, x, out):
    """out = A x for a small square matrix."""
    m = A.shape[0]
    for j in range(m):
        s = 0j
        for l in range(m):
            s += A[j, l] * x[l]
        out[j] = s


@kernel
def constrain(q, code, a, b, amp, phase, drive):
    """AUTD3's emission constraints on q -> amplitude in [0, 1], phase in [0, 2 pi)."""
    n = q.size
    qmax = 0.0
    for i in range(n):
        qmax = max(qmax, abs(q[i]))
    for i in range(n):
        z = q[i]
        r = abs(z)
        if code == NORMALIZE:
            v = r / qmax if qmax > 0.0 else 0.0
        elif code == MULTIPLY:
            v = a * r / qmax if qmax > 0.0 else 0.0
        elif code == UNIFORM:
            v = a
        else:
            v = min(max(r, a), b)
        ph = math.atan2(z.imag, z.real)
        if ph < 0.0:
            ph += 2.0 * math.pi
        amp[i] = v
        phase[i] = ph
        drive[i] = v * z / r if r > 0.0 else complex(v, 0.0)


@kernel
def holo_solve(
    method,
    G,
    amps,
    alpha,
    code,
    ca,
    cb,
    max_sweeps,
    tol,
    omega,
    iters,
    seed,
    A,
    L,
    M,
    X,
    W,
    vecs,
    q,
    state,
    hist,
    amp,
    phase,
    drive,
    focal,
    info,
    warm=False,
):
    """One hologram from G: drives into amp / phase / drive, |G drive| into focal.

    ``vecs`` is (6, m) complex scratch, ``W`` (k, m). ``info`` receives
    [sweeps, relaxed objective, relative change, rounded objective, power iterations].
    ``warm``: start from the previous hologram's state instead of the seeded cold start
    (SDP: the factor W; GS: the array phases in q; GS-PAT: the focal field in vecs[1]).
    Returns a status code (OK, BAD_AMPLITUDE, NOT_PD).

    Every method's drive direction is unchanged when G (with alpha) or the amplitudes
    are multiplied by a positive number, so G and the amplitudes are scaled by powers of
    two (exactly) to largest entries near 1 when far from it, and G is restored before
    returning: any finite G and amplitudes work. The SDP matrix is formed without its
    factor alpha^2 (which does not change the minimiser and may underflow); the
    objectives in ``info`` carry it.
    """
    m, n = G.shape
    amax = 0.0
    for j in range(m):
        if not (amps[j] >= 0.0 and math.isfinite(amps[j])):
            return BAD_AMPLITUDE
        amax = max(amax, amps[j])
    top = max_component(G)
    if method == SDP:  # alpha far above G: alpha^2 would overflow once G is scaled
        top = max(top, alpha)
    eg = _exponent(top)
    ea = _exponent(amax)
    if eg != 0:
        _scale(G, -eg)
        alpha = math.ldexp(alpha, -eg)
    p = vecs[0]
    g = vecs[1]
    for j in range(m):
        p[j] = math.ldexp(amps[j], -ea)  # the amplitudes as solved
    for t in range(info.size):
        info[t] = 0.0
    if method == SDP:
        gram(G, alpha * alpha, A)
        if not cholesky_inverse(A, L, X):  # X holds (G G^H + alpha^2 I)^-1 for now
            if eg != 0:
                _scale(G, eg)
            return NOT_PD
        fro = 0.0
        for i in range(m):
            for j in range(m):
                M[i, j] = p[i] * p[j] * X[i, j]
                fro += M[i, j].real ** 2 + M[i, j].imag ** 2
        u = vecs[2]
        if not warm:
            state[0] = np.uint64(seed)
            random_rows(W, state)
        floor = max(1e-8 * m * math.sqrt(fro), 1e-300)
        sweeps, f, rel = lowrank_sweeps(
            M,
            W,
            omega,
            max_sweeps,
            tol,
            floor,
            vecs[3],
            vecs[4][: W.shape[0]],
            vecs[5][: W.shape[0]],
            hist,
        )
        gram_of_rows(W, X)
        it, fr = round_unit(X, M, vecs[3], vecs[4], u, 1000, 1e-12)
        # objectives of the caller's problem, alpha^2 P (G G^H + alpha^2 I)^-1 P: with
        # G' = G 2**-eg, alpha' = alpha 2**-eg and P' = P 2**-ea that matrix is
        # alpha'^2 2**(2 ea) P' (G' G'^H + alpha'^2 I)^-1 P'
        am, ae = math.frexp(alpha)  # alpha'^2 = am^2 2**(2 ae): no underflow
        a2 = am * am
        e2 = 2 * ea + 2 * ae
        info[0] = sweeps
        info[1] = math.ldexp(a2 * f, e2)
        info[2] = rel
        info[3] = math.ldexp(a2 * fr, e2)
        info[4] = it
        for t in range(min(sweeps, hist.size)):
            hist[t] = math.ldexp(a2 * hist[t], e2)
        for j in range(m):
            g[j] = p[j] * u[j]
        # Ainv was overwritten: solve (G G^H + alpha^2 I) w = P u with L^-1 (still in L)
        for i in range(m):
            s = 0j
            for j in range(i + 1):
                s += L[i, j] * g[j]
            vecs[3][i] = s
        for i in range(m):
            s = 0j
            for j in range(i, m):
                s += L[j, i].conjugate() * vecs[3][j]
            vecs[4][i] = s
        adjoint(G, vecs[4], q)
    else:
        done, change = 1, 0.0  # round trips and the last relative amplitude change
        pw = vecs[2]  # row power of G (the back-propagation weights)
        for j in range(m):
            s = 0.0
            for i in range(n):
                s += G[j, i].real ** 2 + G[j, i].imag ** 2
            pw[j] = s
        if method == NAIVE:
            for j in range(m):
                g[j] = p[j] / pw[j]
            adjoint(G, g, q)
        elif method == GS:
            if not warm:
                for i in range(n):
                    q[i] = 1.0
            prev = vecs[4]
            done = iters
            for t in range(iters):
                forward(G, q, g)
                change = _amplitude_change(g, prev, t)
                if tol > 0.0 and change <= tol:
                    done = t
                    break
                with_amplitudes(g, p, g)
                adjoint(G, g, q)
                for i in range(n):
                    r = abs(q[i])
                    q[i] = q[i] / r if r > 0.0 else 1.0
        else:  # GS-PAT on R = G B, B = G^H diag(1 / pw)
            gram(G, 0.0, A)
            for j in range(m):
                for l in range(m):
                    A[j, l] = A[j, l] / pw[l].real
            if not warm:
                matvec(A, p, g)
            y = vecs[3]
            prev = vecs[4]
            done = iters
            for t in range(iters):
                change = _amplitude_change(g, prev, t)
                if tol > 0.0 and change <= tol:
                    done = t
                    break
                with_amplitudes(g, p, y)
                matvec(A, y, g)
            for j in range(m):
                r2 = g[j].real ** 2 + g[j].imag ** 2
                y[j] = p[j].real * p[j].real * g[j] / r2 / pw[j].real if r2 > 0.0 else 0.0
            adjoint(G, y, q)
        if method != NAIVE:
            info[0] = done
            info[2] = change
    if code == CLAMP and method != GS:  # the only constraint that reads |q| itself
        e = ea - eg  # q of the caller's problem is q * 2**(ea - eg) (GS: unit modulus)
        for i in range(n):
            q[i] = complex(math.ldexp(q[i].real, e), math.ldexp(q[i].imag, e))
    constrain(q, code, ca, cb, amp, phase, drive)
    forward(G, drive, g)
    for j in range(m):
        focal[j] = math.ldexp(abs(g[j]), eg)
    if eg != 0:
        _scale(G, eg)
    return OK


@kernel
def _amplitude_change(g, prev, t):
    """``max_j ||g_j| - prev_j| / max_j |g_j|`` (inf for ``t = 0``); stores ``|g|`` in
    ``prev`` (the real parts of a complex scratch vector)."""
    top = 0.0
    diff = 0.0
    for j in range(g.size):
        a = abs(g[j])
        top = max(top, a)
        diff = max(diff, abs(a - prev[j].real))
        prev[j] = a
    if t == 0:
        return np.inf
    return diff / top if top > 0.0 else 0.0


@kernel
def max_component(G):
    """``max |Re G|, |Im G|`` over all entries (never overflows, allocates nothing)."""
    top = 0.0
    for j in range(G.shape[0]):
        for i in range(G.shape[1]):
            top = max(top, abs(G[j, i].real), abs(G[j, i].imag))
    return top


@kernel
def _exponent(x):
    """Power of two to divide by so that ``x`` (a largest magnitude) lies in [0.5, 1),
    or 0 when ``x`` is within 2**(+-256) (nothing to fear) or not positive."""
    if not (x > 0.0 and math.isfinite(x)):
        return 0
    e = math.frexp(x)[1]
    return e if abs(e) > 256 else 0


@kernel
def _scale(G, e):
    """G *= 2**e in place (exact unless entries leave the normal range)."""
    for j in range(G.shape[0]):
        for i in range(G.shape[1]):
            z = G[j, i]
            G[j, i] = complex(math.ldexp(z.real, e), math.ldexp(z.imag, e))
