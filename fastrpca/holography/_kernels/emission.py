"""What the hardware emits: phase calibration, phase quantisation, phase-step bounds, fields.

* Calibration: transducer i emits with an extra phase delta_i (measured offsets), so the
  transfer model is G' = G diag(exp(i delta)); every method solves on G' and returns the
  phases to command.
* Quantisation: commanded phases on L levels, phi = 2 pi k / L (AUTD3: L = 256).
* Phase-step bound: between consecutive holograms of a sequence, no transducer's phase
  moves by more than a bound (after removing the free global phase).
"""

from __future__ import annotations

import math

from ..._core.config import kernel
from .acoustics import forward
from .trig import sincos

TWO_PI = 2.0 * math.pi


@kernel
def rotate_columns(G, rotor):
    """G[:, i] *= rotor[i] (rotor = exp(i delta))."""
    m, n = G.shape
    for j in range(m):
        for i in range(n):
            G[j, i] = G[j, i] * rotor[i]


@kernel
def quantize(amp, phase, drive, levels):
    """Round each phase to the nearest of ``levels`` levels in [0, 2 pi); then
    drive = amp e^{i phase}."""
    step = TWO_PI / levels
    for i in range(phase.size):
        k = math.floor(phase[i] / step + 0.5)
        k = k % levels
        ph = k * step
        phase[i] = ph
        s, c = sincos(ph)
        drive[i] = complex(amp[i] * c, amp[i] * s)


@kernel
def focal_pressure(G, drive, field, out):
    """field = G drive, out = |field| (hypot: no underflow of tiny fields' squares)."""
    forward(G, drive, field)
    for j in range(field.size):
        out[j] = math.hypot(field[j].real, field[j].imag)


@kernel
def wrap(d):
    """d wrapped to [-pi, pi)."""
    return d - TWO_PI * math.floor((d + math.pi) / TWO_PI)


@kernel
def limit_steps(prev_amp, prev_phase, amp, phase, drive, bound, levels):
    """Align the new hologram's global phase to the previous one, then move no phase by
    more than ``bound`` rad (``levels`` > 0: whole levels, at most floor(bound L / 2 pi)).

    The global phase is free (|G q| does not change when every q_i turns by the same
    angle); the alignment picks the turn that best matches the previous phases. Returns
    (largest step after the bound, number of phases the bound moved).
    """
    n = phase.size
    sr = 0.0
    si = 0.0
    for i in range(n):
        w = amp[i] * prev_amp[i]
        s, c = sincos(phase[i] - prev_phase[i])
        sr += w * c
        si += w * s
    turn = math.atan2(si, sr) if (sr != 0.0 or si != 0.0) else 0.0
    biggest = 0.0
    clipped = 0
    if levels > 0:
        step = TWO_PI / levels
        kmax = math.floor(bound / step + 1e-9)
        for i in range(n):
            kp = math.floor(prev_phase[i] / step + 0.5)
            kn = math.floor((phase[i] - turn) / step + 0.5)
            dk = (kn - kp) % levels  # in [0, L)
            if dk > levels // 2:
                dk -= levels
            if dk > kmax:
                dk = kmax
                clipped += 1
            elif dk < -kmax:
                dk = -kmax
                clipped += 1
            ph = ((kp + dk) % levels) * step
            phase[i] = ph
            biggest = max(biggest, abs(dk) * step)
            s, c = sincos(ph)
            drive[i] = complex(amp[i] * c, amp[i] * s)
    else:
        for i in range(n):
            d = wrap(phase[i] - turn - prev_phase[i])
            if d > bound:
                d = bound
                clipped += 1
            elif d < -bound:
                d = -bound
                clipped += 1
            ph = prev_phase[i] + d
            ph -= TWO_PI * math.floor(ph / TWO_PI)
            phase[i] = ph
            biggest = max(biggest, abs(d))
            s, c = sincos(ph)
            drive[i] = complex(amp[i] * c, amp[i] * s)
    return biggest, clipped
