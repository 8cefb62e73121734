"""Drives the hardware can emit: per-transducer phase calibration and phase quantisation.

Both enter every hologram method the same way:

* ``phase_offset`` (rad, one per transducer, or None): transducer i emits with an extra
  phase delta_i (a measured calibration). The methods solve on the calibrated transfer
  matrix G' = G diag(exp(i delta)) and return the phases to *command*; the transducers
  then emit at phase + delta_i. ``focal_pressure`` and the certificates use G'. AUTD3's
  ``PhaseCorrection`` sends -delta to undo such offsets; here they are in the model, so
  every method (Greedy's phase search included) optimises what is actually emitted.
* ``phase_levels`` (int >= 2, or None for continuous phases): commanded phases are
  rounded to the nearest of L levels 2 pi k / L (an AUTD3 device has L = 256) after the
  method and the emission constraint; ``focal_pressure`` is that of the rounded drive.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._core.validation import as_array
from ._kernels import emission as _e

__all__ = ["Emission", "parse_phase_levels", "parse_phase_offset"]


def parse_phase_levels(phase_levels) -> int:
    """None -> 0 (continuous), else an int >= 2."""
    if phase_levels is None:
        return 0
    if (
        isinstance(phase_levels, (bool, np.bool_))
        or not isinstance(phase_levels, numbers.Integral)
        or phase_levels < 2
    ):
        raise ValueError(
            f"phase_levels must be None (continuous phases) or an integer >= 2 "
            f"(an AUTD3 device has 256), got {phase_levels!r}"
        )
    return int(phase_levels)


def parse_phase_offset(phase_offset, n: int) -> np.ndarray | None:
    """exp(i delta) for the calibration offsets delta (rad), one per transducer."""
    if phase_offset is None:
        return None
    d = as_array(phase_offset, "phase_offset", ndim=(0, 1), allow_complex=False)
    if d.ndim == 1 and d.shape[0] != n:
        raise ValueError(
            f"phase_offset has {d.shape[0]} entries for {n} transducers; pass one "
            f"phase (rad) per transducer"
        )
    d = np.broadcast_to(d, (n,)).astype(np.float64)
    return np.ascontiguousarray(np.exp(1j * d))


class Emission:
    """Calibration rotor (exp(i delta), or None) and phase levels (0 = continuous)."""

    def __init__(self, phase_levels=None, phase_offset=None):
        self.levels = parse_phase_levels(phase_levels)
        self._offset = phase_offset
        self.rotor: np.ndarray | None = None
        self.n = -1

    def bind(self, n: int) -> Emission:
        """Validate the offsets for n transducers (once per workspace)."""
        if n != self.n:
            self.rotor = parse_phase_offset(self._offset, n)
            self.n = n
        return self

    def calibrate(self, G: np.ndarray) -> None:
        """G <- G diag(exp(i delta)) in place (no-op without offsets)."""
        if self.rotor is not None:
            _e.rotate_columns(G, self.rotor)

    def finish(self, G, amplitude, phase, drive, field, focal_pressure) -> None:
        """Quantise the phases (if levels are set) and recompute |G drive|."""
        if self.levels:
            _e.quantize(amplitude, phase, drive, self.levels)
            _e.focal_pressure(G, drive, field, focal_pressure)
