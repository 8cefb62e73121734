"""Hologram sequences: many foci sets in one call, each frame warm-started from the last.

One kernel runs every frame (transfer matrix, calibration, the method, the phase-step
bound or the quantisation, focal pressures) into caller-owned arrays: no allocation and
no Python between frames.
"""

from __future__ import annotations

import math

from ..._core.config import kernel
from .acoustics import GS, NAIVE, OK, SDP, holo_solve, transfer
from .emission import focal_pressure, limit_steps, quantize, rotate_columns
from .greedy import greedy_hologram
from .lm import lm_hologram
from .trig import sincos

LM, GREEDY = 4, 5


@kernel
def run_frames(
    method,
    layout,
    foci,
    amps,
    k,
    p0,
    directivity,
    rotor,
    levels,
    bound,
    warm_start,
    has_prev,
    fopts,
    iopts,
    hs,
    lmb,
    gb,
    G,
    amp,
    phase,
    drive,
    focal,
    out_amp,
    out_phase,
    out_focal,
    out_iter,
    out_step,
    out_clip,
    out_conv,
    prev_amp,
    prev_phase,
):
    """Solve frames f = 0..F-1 of ``foci`` (F, m, 3) / ``amps`` (F, m).

    ``fopts`` = [alpha, tol, omega, clamp a, clamp b, LM step_tol, LM tau],
    ``iopts`` = [constraint code, max_iter, seed, max_iter of warm frames]; ``hs``,
    ``lmb``, ``gb`` hold the buffers of holo_solve, LM and Greedy (empty arrays for
    methods not in use).
    ``bound`` < 0: no phase-step bound. ``has_prev[0]`` says whether ``prev_amp`` /
    ``prev_phase`` hold the frame before the first one (then it is warm-started and
    bounded too). Returns (status, index of the failing frame or -1).
    """
    nf = foci.shape[0]
    m, n = G.shape
    alpha, tol, omega, ca, cb, step_tol, tau = (
        fopts[0], fopts[1], fopts[2], fopts[3], fopts[4], fopts[5], fopts[6]
    )  # fmt: skip
    ccode, cold_iter, seed, warm_iter = iopts[0], iopts[1], iopts[2], iopts[3]
    A, L, M, X, W, vecs, q, state, hist, info = hs
    x, lbufs, ybuf, cbufs, K, Lc, C, Gt, lhist, linfo = lmb
    order, gstate, level, cosd, sind, cache, val, ghist, ginfo, gq, gp = gb
    field = vecs[1]
    step_levels = levels
    if method == GREEDY:
        step_levels = cosd.size  # a bound moves Greedy's phases in its own levels
    for f in range(nf):
        status = transfer(layout, foci[f], k, p0, directivity, G)
        if status != OK:
            return status, f
        if rotor.size > 0:
            rotate_columns(G, rotor)
        warm = warm_start and has_prev[0] == 1
        max_iter = warm_iter if warm else cold_iter
        a = amps[f]
        if method == LM:
            status = lm_hologram(
                G, a, x, warm, max_iter, tol, step_tol, tau, lbufs, ybuf, cbufs, K, Lc, C,
                Gt, lhist, linfo, ccode, ca, cb, amp, phase, drive, field, focal,
            )  # fmt: skip
            out_iter[f] = linfo[0]
            out_conv[f] = linfo[4] != 0
        elif method == GREEDY:
            status = greedy_hologram(
                G, a, max_iter, warm, 1e-12, seed, order, gstate, level, cosd, sind, cache,
                val, ghist, ginfo, ccode, ca, cb, gq, gp, amp, phase, drive, field, focal,
            )  # fmt: skip
            out_iter[f] = ginfo[0]
            out_conv[f] = ginfo[1] == 0 or max_iter == 1
        else:
            sweeps = max_iter if method == SDP else 1
            iters = max_iter if method != SDP else 1
            status = holo_solve(
                method, G, a, alpha, ccode, ca, cb, sweeps, tol, omega, iters, seed, A, L,
                M, X, W, vecs, q, state, hist, amp, phase, drive, focal, info, warm,
            )  # fmt: skip
            out_iter[f] = info[0] if method != NAIVE else 1
            out_conv[f] = info[2] <= tol if method != NAIVE else True
        if status != OK:
            return status, f
        biggest = 0.0
        clipped = 0
        if bound >= 0.0 and has_prev[0] == 1:
            biggest, clipped = limit_steps(
                prev_amp, prev_phase, amp, phase, drive, bound, step_levels
            )
        elif levels > 0:
            quantize(amp, phase, drive, levels)
        focal_pressure(G, drive, field, focal)
        out_step[f] = biggest
        out_clip[f] = clipped
        for i in range(n):
            out_amp[f, i] = amp[i]
            out_phase[f, i] = phase[i]
            prev_amp[i] = amp[i]
            prev_phase[i] = phase[i]
        for j in range(m):
            out_focal[f, j] = focal[j]
        has_prev[0] = 1
        # the next frame starts from what was emitted
        if method == LM:
            for i in range(n):
                x[i] = phase[i]
            for j in range(m):
                x[n + j] = math.atan2(field[j].imag, field[j].real)
        elif method == GREEDY:
            L_ = cosd.size
            for i in range(n):
                level[i] = int(math.floor(phase[i] * L_ / (2.0 * math.pi) + 0.5)) % L_
        elif method == GS:
            for i in range(n):
                sn, cs = sincos(phase[i])
                q[i] = complex(cs, sn)
    return OK, -1
