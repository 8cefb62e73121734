"""Transducer arrays: AUTD3 devices at any origins / rotations, or arbitrary arrays.

Units are millimetres. An AUTD3 device (Shinoda-Makino lab / AUTD3 project) carries 249
T4010A1 transducers on an 18 x 14 grid of pitch 10.16 mm with grid points (1, 1), (2, 1)
and (16, 1) left out (screw holes); transducer 0 sits at the device origin, the order is
row-major in y then x, and every transducer points along the device's +z axis.
"""

from __future__ import annotations

import numpy as np

from .._core.validation import as_array

__all__ = [
    "TransducerArray",
    "autd3",
    "transducer_array",
    "rotation_matrix",
    "AUTD3_PITCH",
    "AUTD3_NUM_TRANSDUCERS",
    "AUTD3_WIDTH",
    "AUTD3_HEIGHT",
]

#: Grid pitch of an AUTD3 device, mm.
AUTD3_PITCH = 10.16
AUTD3_NUM_X, AUTD3_NUM_Y = 18, 14
AUTD3_MISSING = ((1, 1), (2, 1), (16, 1))
#: Transducers on one AUTD3 device (18 x 14 grid less 3 screw holes: 249).
AUTD3_NUM_TRANSDUCERS = AUTD3_NUM_X * AUTD3_NUM_Y - len(AUTD3_MISSING)
#: Width of an AUTD3 device's board, mm.
AUTD3_WIDTH = 192.0
#: Height of an AUTD3 device's board, mm.
AUTD3_HEIGHT = 151.4


class TransducerArray:
    """Positions (N, 3) in mm, unit axis directions (N, 3), device index (N,).

    Build one with :func:`autd3` or :func:`transducer_array`, which validate their input;
    the constructor keeps read-only copies of the arrays and ``layout`` (6, N), the same
    numbers one coordinate per row (the order the transfer-matrix kernel streams through).

    Parameters
    ----------
    positions : ndarray (N, 3), float64
        Transducer centres in mm.
    directions : ndarray (N, 3), float64
        Unit vectors along each transducer's axis.
    device : ndarray (N,), int
        Index of the device each transducer belongs to.
    """

    def __init__(self, positions: np.ndarray, directions: np.ndarray, device: np.ndarray):
        self.positions = np.array(positions, dtype=np.float64)
        self.directions = np.array(directions, dtype=np.float64)
        self.device = np.array(device)
        self.layout = np.ascontiguousarray(np.vstack([self.positions.T, self.directions.T]))
        for a in (self.positions, self.directions, self.device, self.layout):
            a.flags.writeable = False

    def __len__(self) -> int:
        return self.positions.shape[0]

    def __repr__(self) -> str:
        ndev = int(self.device.max()) + 1 if len(self) else 0
        return f"TransducerArray({len(self)} transducers, {ndev} device(s))"


def _autd3_local() -> np.ndarray:
    pts = [
        (x * AUTD3_PITCH, y * AUTD3_PITCH, 0.0)
        for y in range(AUTD3_NUM_Y)
        for x in range(AUTD3_NUM_X)
        if (x, y) not in AUTD3_MISSING
    ]
    return np.array(pts, dtype=np.float64)


def rotation_matrix(rotation) -> np.ndarray:
    """3 x 3 rotation from None (identity), a quaternion (w, x, y, z) or a matrix.

    Parameters
    ----------
    rotation : None, array_like (4,) or array_like (3, 3)
        None for no rotation; a quaternion ``(w, x, y, z)`` (normalised here, not zero);
        or a rotation matrix (orthonormal, determinant +1).

    Returns
    -------
    ndarray (3, 3)
        The rotation matrix (a new array).
    """
    if rotation is None:
        return np.eye(3)
    R = as_array(rotation, "rotation", ndim=(1, 2), allow_complex=False).astype(np.float64)
    if R.shape == (4,):
        nrm = np.linalg.norm(R)
        if nrm == 0:
            raise ValueError(
                "rotation quaternion is zero; pass (w, x, y, z) = (1, 0, 0, 0) for no rotation"
            )
        w, x, y, z = R / nrm
        return np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
            ]
        )
    if R.shape == (3, 3):
        if not (np.allclose(R @ R.T, np.eye(3), atol=1e-6) and np.linalg.det(R) > 0):
            raise ValueError("rotation matrix must be orthonormal with determinant +1")
        return R.copy()
    raise ValueError(
        f"rotation must be a quaternion (w, x, y, z) or a 3 x 3 matrix, got shape {R.shape}"
    )


def autd3(origins=((0.0, 0.0, 0.0),), rotations=None) -> TransducerArray:
    """AUTD3 devices: ``origins`` (D, 3) in mm, ``rotations`` None or one per device.

    Parameters
    ----------
    origins : array_like, shape (D, 3) or (3,)
        Position of transducer 0 of each device.
    rotations : None or sequence of D rotations
        Each a quaternion (w, x, y, z) or a 3 x 3 matrix, about the device origin.

    Returns
    -------
    TransducerArray
        249 D transducers, device by device.
    """
    o = as_array(origins, "origins", ndim=(1, 2), allow_complex=False)
    o = np.atleast_2d(o).astype(np.float64)
    if o.shape[1] != 3:
        raise ValueError(f"origins must have shape (D, 3), got {o.shape}")
    D = o.shape[0]
    if rotations is None:
        rots = [np.eye(3)] * D
    else:
        if len(rotations) != D:
            raise ValueError(
                f"{len(rotations)} rotations for {D} devices; pass one per device (or None)"
            )
        rots = [rotation_matrix(r) for r in rotations]
    local = _autd3_local()
    pos = np.concatenate([o[d] + local @ rots[d].T for d in range(D)])
    dirs = np.concatenate([np.tile(rots[d][:, 2], (len(local), 1)) for d in range(D)])
    dev = np.repeat(np.arange(D), len(local))
    return TransducerArray(np.ascontiguousarray(pos), np.ascontiguousarray(dirs), dev)


def transducer_array(positions, directions=(0.0, 0.0, 1.0)) -> TransducerArray:
    """An arbitrary array: ``positions`` (N, 3) mm, ``directions`` (3,) or (N, 3) axes.

    Parameters
    ----------
    positions : array_like (N, 3)
        Transducer centres in mm.
    directions : array_like (3,) or (N, 3)
        Axis of every transducer (one shared axis, or one per transducer); normalised
        here, none may be zero. Default +z.

    Returns
    -------
    TransducerArray
        One device (``device`` all 0).
    """
    pos = as_array(positions, "positions", ndim=2, allow_complex=False).astype(np.float64)
    if pos.shape[1] != 3:
        raise ValueError(f"positions must have shape (N, 3), got {pos.shape}")
    d = as_array(directions, "directions", ndim=(1, 2), allow_complex=False)
    d = (
        np.broadcast_to(np.atleast_2d(d).astype(np.float64), pos.shape)
        if d.ndim == 1 or d.shape[0] == 1
        else d.astype(np.float64)
    )
    if d.shape != pos.shape:
        raise ValueError(f"directions must have shape (3,) or {pos.shape}, got {d.shape}")
    nrm = np.linalg.norm(d, axis=1)
    if (nrm == 0).any():
        raise ValueError(f"{int((nrm == 0).sum())} transducer directions are zero vectors")
    return TransducerArray(
        np.ascontiguousarray(pos),
        np.ascontiguousarray(d / nrm[:, None]),
        np.zeros(len(pos), dtype=np.int64),
    )
