"""Acoustic holography: PhaseCut (the complex MaxCut SDP), AUTD3 geometry, transfer matrix,
SDP and baseline holograms.

:mod:`fastrpca.holography.maxcut` holds :func:`phasecut`, the solver of the semidefinite
relaxation (Waldspurger, d'Aspremont & Mallat 2015); the hologram methods build on it.

See :mod:`fastrpca.holography.methods` for the method and its citations and
:mod:`fastrpca.holography.transfer` for the propagation model and its sign convention.
"""

from __future__ import annotations

from .certificate import Certificate, certify
from .field import FieldMap, field_map, plot_field, pressure_field, spl
from .geometry import (
    AUTD3_HEIGHT,
    AUTD3_NUM_TRANSDUCERS,
    AUTD3_PITCH,
    AUTD3_WIDTH,
    TransducerArray,
    autd3,
    rotation_matrix,
    transducer_array,
)
from .maxcut import PhaseCutResult, phasecut
from .methods import HoloResult, Workspace, compute, gs, gspat, naive, sdp
from .phase_only import greedy, lm
from .sequence import HologramSequence, SequenceResult
from .transfer import FREQUENCY, P0, SOUND_SPEED, transfer_matrix, wavenumber

__all__ = [
    "phasecut",
    "PhaseCutResult",
    "TransducerArray",
    "autd3",
    "transducer_array",
    "rotation_matrix",
    "transfer_matrix",
    "wavenumber",
    "P0",
    "FREQUENCY",
    "SOUND_SPEED",
    "HoloResult",
    "Workspace",
    "compute",
    "sdp",
    "naive",
    "gs",
    "gspat",
    "lm",
    "greedy",
    "certify",
    "Certificate",
    "HologramSequence",
    "SequenceResult",
    "pressure_field",
    "field_map",
    "FieldMap",
    "plot_field",
    "spl",
    "AUTD3_PITCH",
    "AUTD3_NUM_TRANSDUCERS",
    "AUTD3_WIDTH",
    "AUTD3_HEIGHT",
]


def _warmup() -> None:
    """Compile (or load from the cache) every holography kernel (complex128)."""
    import warnings

    from .maxcut import _warmup as _pc

    _pc()
    arr = autd3()
    foci = [[90.0, 70.0, 150.0], [60.0, 50.0, 150.0]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two iterations do not converge
        for method in ("sdp", "naive", "gs", "gspat", "lm", "greedy"):
            ws = Workspace(arr, 2, method=method, max_iter=2, tol=1.0, random_state=0)
            ws.solve(foci, [5e3, 5e3])
            seq = HologramSequence(arr, 2, method=method, max_iter=2, max_phase_step=1.0)
            seq.solve([foci, foci], [5e3, 5e3])
            seq = HologramSequence(arr, 2, method=method, max_iter=2, phase_levels=256)
            seq.solve([foci], [5e3, 5e3])
        Workspace(arr, 2, phase_levels=256, phase_offset=0.1).solve(foci, [5e3, 5e3])
        pressure_field(arr, ws.drive, foci)
