"""Sound-field maps: the pressure a drive puts on a plane or any set of points.

p(x) = sum_i G(x, i) q_i with the transfer model of :mod:`fastrpca.holography.transfer`
(the same directivity, sign convention and calibration offsets as the holograms), in Pa
(complex: magnitude and phase). Sound pressure level uses AUTD3's convention,
20 log10(|p| / 20 uPa) on the pressure *amplitude* (subtract 3.01 dB for the RMS-based
level of a sine). Pictures need matplotlib, imported only by :func:`plot_field`.
"""

from __future__ import annotations

import numpy as np

from .._core.validation import as_array, positive
from ._kernels import acoustics as _k
from ._kernels import emission as _e
from .hardware import parse_phase_offset
from .transfer import (
    FREQUENCY,
    P0,
    SOUND_SPEED,
    as_transducers,
    directivity_code,
    raise_status,
    wavenumber,
)

__all__ = ["pressure_field", "field_map", "FieldMap", "spl", "plot_field"]

P_REF = 20e-6  # Pa
_CHUNK = 256  # points per transfer-matrix block


def spl(pressure) -> np.ndarray:
    """Sound pressure level in dB re 20 uPa of pressure amplitudes (Pa), AUTD3's convention.

    Parameters
    ----------
    pressure : array_like
        Pressure (complex or magnitude) in Pa.

    Returns
    -------
    numpy.ndarray
        ``20 log10(abs(p) / 20e-6)``; -inf where p = 0.
    """
    p = np.abs(np.asarray(pressure))
    with np.errstate(divide="ignore"):
        return 20.0 * np.log10(p / P_REF)


def pressure_field(
    transducers,
    drive,
    points,
    *,
    frequency: float = FREQUENCY,
    sound_speed: float = SOUND_SPEED,
    directivity: str = "t4010a1",
    phase_offset=None,
) -> np.ndarray:
    """Complex pressure (Pa) of ``drive`` at ``points`` (..., 3) mm.

    Parameters
    ----------
    transducers : TransducerArray or (N, 3) array_like
    drive : (N,) array_like
        Complex drives (``HoloResult.drive``), amplitude in [0, 1] of full emission.
    points : (..., 3) array_like
        Where to evaluate, mm; none may coincide with a transducer.
    frequency, sound_speed, directivity
        As in :func:`fastrpca.holography.transfer_matrix`.
    phase_offset : (N,) array_like, optional
        Calibration offsets (rad) the holograms were solved with.

    Returns
    -------
    numpy.ndarray
        Complex pressure of shape ``points.shape[:-1]``.
    """
    trans = as_transducers(transducers)
    n = len(trans)
    q = as_array(drive, "drive", ndim=1).astype(np.complex128)
    if q.shape != (n,):
        raise ValueError(f"drive has {q.shape[0]} entries for {n} transducers; pass one each")
    rotor = parse_phase_offset(phase_offset, n)
    if rotor is not None:
        q = q * rotor
    pts = as_array(points, "points", allow_complex=False).astype(np.float64)
    if pts.ndim == 0 or pts.shape[-1] != 3:
        raise ValueError(f"points must have shape (..., 3), got {pts.shape}")
    shape = pts.shape[:-1]
    flat = np.ascontiguousarray(pts.reshape(-1, 3))
    k = wavenumber(positive(frequency, "frequency"), positive(sound_speed, "sound_speed"))
    code = directivity_code(directivity)
    out = np.empty(flat.shape[0], np.complex128)
    block = np.empty((min(_CHUNK, max(flat.shape[0], 1)), n), np.complex128)
    amp = np.empty(block.shape[0])
    for s in range(0, flat.shape[0], _CHUNK):
        f = flat[s : s + _CHUNK]
        G = block[: f.shape[0]]
        status = _k.transfer(trans.layout, f, k, P0, code, G)
        if status != _k.OK:
            raise_status(status, trans, f)
        _e.focal_pressure(G, q, out[s : s + f.shape[0]], amp[: f.shape[0]])
    return out.reshape(shape)


class FieldMap:
    """Pressure on a rectangular grid of a plane (made by :func:`field_map`).

    Parameters
    ----------
    pressure : ndarray (n_v, n_u), complex
        Pressure in Pa.
    u, v : ndarray
        Grid coordinates along the plane's first and second axis, mm.
    points : ndarray (n_v, n_u, 3)
        The grid points, mm.
    plane : str
        The plane's axes, e.g. "xy".
    offset : float
        The third coordinate, mm.
    """

    def __init__(self, pressure, u, v, points, plane, offset):
        self.pressure = pressure
        self.u = u
        self.v = v
        self.points = points
        self.plane = plane
        self.offset = offset

    @property
    def amplitude(self) -> np.ndarray:
        """``abs(p)`` in Pa."""
        return np.abs(self.pressure)

    @property
    def spl(self) -> np.ndarray:
        """Sound pressure level, dB re 20 uPa (see :func:`spl`)."""
        return spl(self.pressure)

    def plot(self, ax=None, *, db: bool = False, foci=None, **imshow):
        """Draw the map with matplotlib (imported here), as :func:`plot_field` does.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Drawn into; a new figure otherwise.
        db : bool
            Sound pressure level (dB re 20 uPa) instead of Pa.
        foci : (m, 3) array_like, optional
            Marked with crosses.
        **imshow
            Passed to ``Axes.imshow``.

        Returns
        -------
        matplotlib.axes.Axes
        """
        return plot_field(self, ax=ax, db=db, foci=foci, **imshow)


_AXES = {"xy": (0, 1, 2), "xz": (0, 2, 1), "yz": (1, 2, 0)}


def field_map(
    transducers,
    drive,
    *,
    plane: str = "xy",
    offset: float = 150.0,
    u_range=(0.0, 192.0),
    v_range=(0.0, 151.4),
    step: float = 1.0,
    **model,
) -> FieldMap:
    """Pressure of ``drive`` on a grid of a coordinate plane.

    Parameters
    ----------
    transducers : TransducerArray or (N, 3) array_like
    drive : (N,) array_like
        Complex drives.
    plane : {"xy", "xz", "yz"}
        The plane's two axes; the third coordinate is ``offset`` (mm).
    offset : float
        E.g. z = 150 mm for the default "xy" plane above one AUTD3 device.
    u_range, v_range : (float, float)
        Extent along the first and second axis (mm), ends included.
    step : float
        Grid spacing (mm); a wavelength is 8.5 mm at 40 kHz.
    **model
        ``frequency``, ``sound_speed``, ``directivity``, ``phase_offset`` of
        :func:`pressure_field`.

    Returns
    -------
    FieldMap

    Examples
    --------
    >>> from fastrpca import holography as H
    >>> arr = H.autd3()
    >>> r = H.naive(H.transfer_matrix(arr, [[96.0, 70.0, 150.0]]), [5e3])
    >>> fm = H.field_map(arr, r.drive, offset=150.0, step=2.0)
    >>> fm.amplitude.shape
    (76, 97)
    """
    if plane not in _AXES:
        raise ValueError(f"plane must be one of {sorted(_AXES)}, got {plane!r}")
    step = positive(step, "step")
    (u0, u1), (v0, v1) = (float(x) for x in u_range), (float(x) for x in v_range)
    if not (u1 > u0 and v1 > v0):
        raise ValueError("u_range and v_range must be (low, high) with high > low")
    u = u0 + step * np.arange(int(np.floor((u1 - u0) / step + 1e-9)) + 1)
    v = v0 + step * np.arange(int(np.floor((v1 - v0) / step + 1e-9)) + 1)
    a, b, c = _AXES[plane]
    pts = np.empty((v.size, u.size, 3))
    pts[..., a] = u[None, :]
    pts[..., b] = v[:, None]
    pts[..., c] = float(offset)
    return FieldMap(pressure_field(transducers, drive, pts, **model), u, v, pts, plane, offset)


def plot_field(fmap: FieldMap, ax=None, *, db: bool = False, foci=None, **imshow):
    """Draw a :class:`FieldMap` with matplotlib (imported only here).

    Parameters
    ----------
    fmap : FieldMap
    ax : matplotlib Axes, optional
        Drawn into; a new figure otherwise.
    db : bool
        Sound pressure level (dB re 20 uPa) instead of Pa.
    foci : (m, 3) array_like, optional
        Marked with crosses (their coordinates on the plane's axes).
    **imshow
        Passed to ``Axes.imshow`` (e.g. ``cmap``, ``vmin``).

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    data = fmap.spl if db else fmap.amplitude
    extent = (fmap.u[0], fmap.u[-1], fmap.v[0], fmap.v[-1])
    im = ax.imshow(data, origin="lower", extent=extent, **{"cmap": "jet", **imshow})
    ax.figure.colorbar(im, ax=ax, label="SPL (dB re 20 uPa)" if db else "|p| (Pa)")
    a, b, _ = _AXES[fmap.plane]
    ax.set_xlabel(f"{'xyz'[a]} (mm)")
    ax.set_ylabel(f"{'xyz'[b]} (mm)")
    ax.set_title(f"{fmap.plane} plane, {'xyz'[_AXES[fmap.plane][2]]} = {fmap.offset:g} mm")
    if foci is not None:
        f = np.atleast_2d(np.asarray(foci, dtype=float))
        ax.plot(f[:, a], f[:, b], "w+", markersize=10)
    return ax
