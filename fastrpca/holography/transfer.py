"""The AUTD3 propagation model as a transfer matrix G (foci x transducers).

G[j, i] = P0 / r * D(theta) * exp(-i k r): r the distance from transducer i to focus j,
theta the angle between the transducer axis and that direction, k = 2 pi f / c, no
attenuation. Sign: exp(-i k r), so driving q_i = a_i exp(i phi_i) with phi_i = k r_i
focuses at j (pyautd3 <= 26 uses this convention; AUTD3 flipped it to exp(+i k r) in 2024,
which conjugates every phase). P0 = 275.57425 * 200 / (4 pi) Pa mm is the T4010A1 output at
full emission (amplitude 1).
"""

from __future__ import annotations

import math

import numpy as np

from .._core.validation import as_array, check_out, finish_out, positive
from ._kernels import acoustics as _k
from .geometry import TransducerArray, transducer_array

__all__ = ["transfer_matrix", "P0", "FREQUENCY", "SOUND_SPEED", "wavenumber"]

#: Output of a T4010A1 transducer at full emission (amplitude 1), Pa mm: the pressure at
#: r mm on its axis is ``P0 / r`` Pa.
P0 = 275.57425 * 200.0 / (4.0 * math.pi)
#: Carrier frequency of AUTD3, Hz.
FREQUENCY = 40e3
#: Speed of sound, mm/s.
SOUND_SPEED = 340e3
_DIRECTIVITY = {"t4010a1": _k.T4010A1, "sphere": _k.SPHERE}


def wavenumber(frequency: float = FREQUENCY, sound_speed: float = SOUND_SPEED) -> float:
    """k = 2 pi f / c in rad/mm.

    Parameters
    ----------
    frequency : float
        Hz (default 40 kHz).
    sound_speed : float
        mm/s (default 340 m/s).

    Returns
    -------
    float
    """
    return 2.0 * math.pi * frequency / sound_speed


def as_transducers(transducers) -> TransducerArray:
    """A TransducerArray, or an (N, 3) position array pointing along +z."""
    if isinstance(transducers, TransducerArray):
        return transducers
    return transducer_array(transducers)


def as_foci(foci, check_finite: bool = True) -> np.ndarray:
    """Foci as a float64 (m, 3) array, m >= 1."""
    f = as_array(
        foci, "foci", ndim=(1, 2), allow_complex=False, min_size=0, check_finite=check_finite
    )
    f = np.atleast_2d(f)
    if f.shape[1] != 3:
        raise ValueError(f"foci must have shape (m, 3), got {f.shape}")
    if f.shape[0] == 0:
        raise ValueError("no foci given (shape (0, 3)); pass at least one focus")
    return np.ascontiguousarray(f, dtype=np.float64)


def directivity_code(directivity: str) -> int:
    try:
        return _DIRECTIVITY[directivity.lower()]
    except (KeyError, AttributeError):
        raise ValueError(
            f"directivity must be one of {sorted(_DIRECTIVITY)}, got {directivity!r}"
        ) from None


def raise_status(status: int, trans: TransducerArray | None = None, foci=None) -> None:
    """Turn a kernel status code into the ValueError it stands for."""
    if status == _k.ZERO_DISTANCE:
        # Only the transfer-matrix kernel reports it, and its callers pass both.
        assert trans is not None and foci is not None, "ZERO_DISTANCE needs trans and foci"
        d = np.linalg.norm(foci[:, None, :] - trans.positions[None, :, :], axis=2)
        j, i = np.argwhere(d == 0)[0]
        raise ValueError(
            f"focus {j} coincides with transducer {i} (r = 0, the field is "
            f"singular there); move the focus off the transducer"
        )
    if status == _k.BAD_FOCUS:
        raise ValueError("foci contain NaN or infinite coordinates")
    if status == _k.BAD_AMPLITUDE:
        raise ValueError("amplitudes must be finite and >= 0 (pressure magnitudes in Pa)")
    if status == _k.NOT_PD:
        raise ValueError(
            "G G^H + alpha^2 I is not positive definite in floating point; "
            "increase alpha or check G"
        )


def transfer_matrix(
    transducers,
    foci,
    *,
    frequency: float = FREQUENCY,
    sound_speed: float = SOUND_SPEED,
    directivity: str = "t4010a1",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Transfer matrix G (m foci x N transducers), complex128, Pa per unit amplitude.

    Parameters
    ----------
    transducers : TransducerArray or (N, 3) array_like
        Positions in mm (and axis directions; a bare array points along +z).
    foci : (m, 3) array_like
        Focal points in mm.
    frequency, sound_speed : float
        Hz and mm/s (40 kHz, 340 m/s).
    directivity : {"t4010a1", "sphere"}
        T4010A1 table (AUTD3) or omnidirectional.
    out : (m, N) complex128 array, optional
        Written in place and returned (writeable, C-contiguous; either byte order).

    Returns
    -------
    numpy.ndarray
        G with G[j, i] = P0 / r D(theta) exp(-i k r).
    """
    trans = as_transducers(transducers)
    f = as_foci(foci)
    k = wavenumber(positive(frequency, "frequency"), positive(sound_speed, "sound_speed"))
    code = directivity_code(directivity)
    shape = (f.shape[0], len(trans))
    work, out = check_out(out, shape, np.complex128, inputs=(f,))
    status = _k.transfer(trans.layout, f, k, P0, code, work)
    raise_status(status, trans, f)
    return finish_out(work, out)
