"""Greedy phase search with quantised phases (the Greedy hologram of AUTD3).

Suzuki, Fujiwara, Makino & Shinoda, "Radiation pressure field reconstruction for
ultrasound midair haptics by Greedy algorithm with brute-force search", IEEE Trans.
Haptics 14(4), 2021: transducers are visited in a random order; each takes the phase,
out of L equally spaced levels, that minimises sum_j | a_j - |c_j + G_ji w| | given the
field c built by the transducers placed before it (AUTD3's default objective), at full
amplitude. One pass builds the hologram (AUTD3 stops there). Further passes revisit
every transducer with the field of all the others: a coordinate descent over the
quantised phases that never raises the objective and stops at a local optimum (a pass
that changes nothing).

|c + g w|^2 = |c|^2 + |g|^2 + 2 Re(conj(c) g w), so each focus costs one complex product
and then one square root per level.
"""

from __future__ import annotations

import math

import numpy as np

from ..._core.config import kernel
from .acoustics import BAD_AMPLITUDE, OK, _scale, constrain, forward, scale_phase_only
from .emission import focal_pressure
from .phasecut import shuffle


@kernel
def level_values(G, amps, cache, i, cosd, sind, val):
    """val[d] = sum_j | a_j - |c_j + G_ji w_d| | for every level d."""
    m = G.shape[0]
    L = cosd.size
    for d in range(L):
        val[d] = 0.0
    for j in range(m):
        g = G[j, i]
        c = cache[j]
        base = c.real * c.real + c.imag * c.imag + g.real * g.real + g.imag * g.imag
        # conj(c) g
        zr = 2.0 * (c.real * g.real + c.imag * g.imag)
        zi = 2.0 * (c.real * g.imag - c.imag * g.real)
        a = amps[j]
        for d in range(L):
            s = base + zr * cosd[d] - zi * sind[d]
            val[d] += abs(a - math.sqrt(max(s, 0.0)))


@kernel
def pick(val, current, rtol):
    """Lowest level whose value is within rtol of the minimum; ``current`` wins ties."""
    best = val[0]
    for d in range(1, val.size):
        best = min(best, val[d])
    cut = best + rtol * abs(best)
    if current >= 0 and val[current] <= cut:
        return current
    for d in range(val.size):
        if val[d] <= cut:
            return d
    return 0


@kernel
def levels_to_drive(level, cosd, sind, q):
    """q_i = w_{level_i} (unit amplitude)."""
    for i in range(level.size):
        d = level[i]
        q[i] = complex(cosd[d], sind[d])


@kernel
def objective(G, amps, level, cosd, sind, q, cache):
    """q_i = w_{level_i}, cache = G q; returns sum_j | a_j - |cache_j| |."""
    levels_to_drive(level, cosd, sind, q)
    forward(G, q, cache)
    f = 0.0
    for j in range(cache.size):
        f += abs(amps[j] - abs(cache[j]))
    return f


@kernel
def greedy_solve(
    G, amps, max_iter, warm, rtol, order, state, level, cosd, sind, q, cache, val, hist
):
    """``max_iter`` passes over the transducers in a fresh random order each.

    Cold (``warm`` False): pass 1 builds the hologram from an empty field, later passes
    refine. Warm: every pass refines the levels already in ``level``. ``cosd`` / ``sind``
    hold the L levels' cos / sin; ``level`` (n,) receives the chosen level indices, ``q``
    (n,) is scratch. ``hist`` receives the objective after each pass. Returns (passes,
    changes in the last pass, objective).
    """
    m, n = G.shape
    passes = 0
    changes = n
    f = 0.0
    for s in range(max_iter):
        for t in range(n):
            order[t] = t
        shuffle(order, state)
        build = s == 0 and not warm
        if build:
            for j in range(m):
                cache[j] = 0.0
        else:
            objective(G, amps, level, cosd, sind, q, cache)
        changes = 0
        for t in range(n):
            i = order[t]
            cur = -1
            if not build:
                cur = level[i]
                w = complex(cosd[cur], sind[cur])
                for j in range(m):
                    cache[j] -= G[j, i] * w
            level_values(G, amps, cache, i, cosd, sind, val)
            d = pick(val, cur, rtol)
            if d != cur:
                changes += 1
            level[i] = d
            w = complex(cosd[d], sind[d])
            for j in range(m):
                cache[j] += G[j, i] * w
        passes = s + 1
        f = objective(G, amps, level, cosd, sind, q, cache)
        if s < hist.size:
            hist[s] = f
        if changes == 0:
            break
    return passes, changes, f


@kernel
def greedy_hologram(
    G,
    amps,
    max_iter,
    warm,
    rtol,
    seed,
    order,
    state,
    level,
    cosd,
    sind,
    cache,
    val,
    hist,
    info,
    code,
    ca,
    cb,
    q,
    p,
    amp,
    phase,
    drive,
    field,
    focal,
):
    """Check the targets, run :func:`greedy_solve` (seeded by ``seed`` when cold), apply
    the emission constraint, G drive into ``field`` and its modulus into ``focal``.
    ``info`` receives [passes, changes in the last pass, objective]. Returns a status
    code of ``acoustics``.

    G and the amplitudes are solved multiplied by one power of two 2**-e (the same
    problem, exactly: the drive is unit-modulus) when their squares would over- or
    underflow, the amplitudes as solved in ``p`` (m,); G is restored before returning,
    the objective and ``hist`` are in the caller's units (inf / 0 beyond float64)."""
    n = G.shape[1]
    ok, e = scale_phase_only(G, amps, p)
    if not ok:
        return BAD_AMPLITUDE
    if not warm:
        state[0] = np.uint64(seed)
    passes, changes, f = greedy_solve(
        G, p, max_iter, warm, rtol, order, state, level, cosd, sind, q, cache, val, hist
    )
    if e != 0:
        _scale(G, e)
        f = math.ldexp(f, e)  # sum_j |a_j - |p_j||: one power of the scale
        for t in range(min(passes, hist.size)):
            hist[t] = math.ldexp(hist[t], e)
    info[0] = passes
    info[1] = changes
    info[2] = f
    levels_to_drive(level, cosd, sind, q)
    constrain(q, code, ca, cb, amp, phase, drive)
    # constrain recomputes the phase with atan2: put the exact level back
    step = 2.0 * math.pi / cosd.size
    for i in range(n):
        phase[i] = level[i] * step
    focal_pressure(G, drive, field, focal)
    return OK
