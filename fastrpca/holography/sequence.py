"""Hologram sequences (AUTD3's FociSTM / GainSTM): many foci sets per call.

Frames are solved in one compiled loop, each warm-started from the frame before (SDP:
the PhaseCut factor; GS: the array phases; GS-PAT: the focal phases; LM: transducer and
focal phases; Greedy: refinement passes from the previous levels), and an optional bound
on the phase change between frames (phase continuity): the new hologram is first turned
by the global phase that best matches the previous one (free: |G q| does not change),
then no transducer's phase moves by more than ``max_phase_step``. With ``phase_levels``
the bound is counted in whole levels, so quantisation cannot push a step past it.
Nothing is allocated per frame; with ``out=`` a call allocates only its checks of the
inputs (of the size of the foci), nothing of the size of the drives.
"""

from __future__ import annotations

import numpy as np

from .._core.concurrency import Exclusive
from .._core.result import Result, warn_not_converged
from .._core.validation import as_array, positive
from ._kernels import acoustics as _k
from ._kernels import sequence as _s
from .methods import Workspace
from .phase_only import GREEDY, LM
from .transfer import P0, raise_status

__all__ = ["HologramSequence", "SequenceResult"]


class SequenceResult(Result):
    """Holograms of a sequence, frame by frame (``drive`` gives amplitude exp(i phase)).

    Attributes
    ----------
    amplitude : ndarray (F, N)
        Emission amplitudes in [0, 1] per frame.
    phase : ndarray (F, N)
        Commanded phases in rad, [0, 2 pi).
    focal_pressure : ndarray (F, m)
        ``abs(G @ drive)`` in Pa per frame.
    n_iter : ndarray (F,)
        Sweeps, iterations or passes per frame.
    frame_converged : ndarray (F,) of bool
        Whether each frame's solver met its own test.
    max_step : ndarray (F,)
        Largest phase change from the previous frame (rad), after the bound; 0 for the
        first frame of a cold start or without a bound.
    clipped : ndarray (F,)
        Phases the bound moved, per frame.
    converged : bool
        Every frame met its test.
    history : dict of ndarray
        Empty.
    message : str
        How many frames met their test.
    """

    amplitude: np.ndarray
    phase: np.ndarray
    focal_pressure: np.ndarray
    frame_converged: np.ndarray
    max_step: np.ndarray
    clipped: np.ndarray

    @property
    def drive(self) -> np.ndarray:
        """Complex drives amplitude exp(i phase), (F, N)."""
        return self.amplitude * np.exp(1j * self.phase)


def _empty(dtype, ndim):
    return np.zeros((0,) * ndim, dtype)


class HologramSequence:
    """Solve sequences of foci sets with warm starts and a bound on phase steps.

    The sequence remembers its last frame: the next :meth:`solve` continues from it
    (warm start and phase bound included) until :meth:`reset`. One thread at a time: a
    second concurrent :meth:`solve` raises ``InUseError`` (give each thread its own
    sequence).

    Parameters
    ----------
    transducers : TransducerArray or (N, 3) array_like
    n_foci : int
        Foci per frame.
    method : {"sdp", "naive", "gs", "gspat", "lm", "greedy"}
    max_phase_step : float, optional
        Largest phase change (rad) of any transducer between consecutive frames; None
        for no bound. For Greedy it is counted in its own ``phase_div`` levels.
    warm_start : bool
        Start each frame from the previous one (True) or cold, like independent
        :class:`Workspace` solves (False).
    warm_max_iter : int, optional
        Iteration limit of warm-started frames (default ``max_iter``): a per-frame budget
        for real-time use; frames it stops are reported in ``frame_converged`` without a
        warning (the first, cold frame still gets ``max_iter``).
    **options
        Those of :class:`Workspace` (``max_iter``, ``tol``, ``constraint``,
        ``phase_levels``, ``phase_offset``, ...).

    Examples
    --------
    >>> import numpy as np
    >>> from fastrpca import holography as H
    >>> t = np.linspace(0, 2 * np.pi, 50)[:, None]
    >>> foci = np.stack([np.c_[90 + 30 * np.cos(t + a), 70 + 30 * np.sin(t + a),
    ...                        np.full_like(t, 150.0)] for a in (0, np.pi)], axis=1)
    >>> seq = H.HologramSequence(H.autd3(), 2, max_phase_step=0.5)
    >>> res = seq.solve(foci, 5e3)
    >>> res.phase.shape, bool(res.max_step.max() <= 0.5)
    ((50, 249), True)
    """

    def __init__(
        self,
        transducers,
        n_foci: int,
        *,
        method: str = "sdp",
        max_phase_step: float | None = None,
        warm_start: bool = True,
        warm_max_iter: int | None = None,
        **options,
    ):
        self._ws = Workspace(transducers, n_foci, method=method, **options)
        self._in_use = Exclusive(
            "this holography.HologramSequence", "give each thread its own HologramSequence"
        )
        self.bound = -1.0 if max_phase_step is None else positive(max_phase_step, "max_phase_step")
        o = self._ws.options
        if method == "greedy" and max_phase_step is not None:
            if max_phase_step < 2 * np.pi / o.phase_only.phase_div:
                raise ValueError(
                    f"max_phase_step = {max_phase_step} is below one Greedy level "
                    f"(2 pi / {o.phase_only.phase_div}); no phase could move"
                )
        self.warm_start = bool(warm_start)
        self.n_foci = self._ws.n_foci
        n = len(self._ws.transducers)
        self.n_transducers = n
        self._prev_amp = np.zeros(n)
        self._prev_phase = np.zeros(n)
        self._has_prev = np.zeros(1, np.int64)
        ccode, ca, cb = o.constraint
        po = o.phase_only
        self._fopts = np.array([o.alpha, o.tol, o.omega, ca, cb, po.step_tol, po.tau])
        self.warm_max_iter = (
            o.max_iter
            if warm_max_iter is None
            else positive(warm_max_iter, "warm_max_iter", integer=True)
        )
        self._iopts = np.array([ccode, o.max_iter, o.seed, self.warm_max_iter], np.int64)
        b = self._ws._b
        self._hs = (b.A, b.L, b.M, b.X, b.W, b.vecs, b.q, b.state, b.hist, b.info)
        e = b.extra
        c1, f1, f2 = (_empty(np.complex128, 1), _empty(np.float64, 1), _empty(np.float64, 2))
        c2 = _empty(np.complex128, 2)
        if o.code == LM:
            self._lm = (e.x, e.bufs, e.ybuf, e.cbufs, e.K, e.Lc, e.C, e.Gt, e.hist, e.info)
        else:
            self._lm = (f1, f2, f2, c2, f2, f2, c2, c2, f1, f1)
        if o.code == GREEDY:
            assert po.table is not None  # Greedy's options always carry the level table
            cosd, sind = po.table
            self._gb = (e.order, e.state, e.level, cosd, sind, e.cache, e.val, e.hist, e.info,
                        e.q, e.p)  # fmt: skip
        else:
            i1, u1 = _empty(np.int64, 1), _empty(np.uint64, 1)
            self._gb = (i1, u1, i1, f1, f1, c1, f1, f1, f1, c1, f1)
        rotor = o.emission.rotor
        self._rotor = rotor if rotor is not None else c1

    @property
    def options(self):
        """The options of the underlying :class:`Workspace`."""
        return self._ws.options

    def reset(self) -> None:
        """Forget the last frame: the next :meth:`solve` starts cold and unbounded."""
        self._has_prev[0] = 0

    def _outputs(self, F: int, out):
        n, m = self.n_transducers, self.n_foci
        want = dict(
            amplitude=((F, n), np.float64),
            phase=((F, n), np.float64),
            focal_pressure=((F, m), np.float64),
            n_iter=((F,), np.int64),
            max_step=((F,), np.float64),
            clipped=((F,), np.int64),
            frame_converged=((F,), np.bool_),
        )
        if out is None:
            return {k: np.empty(s, d) for k, (s, d) in want.items()}
        if not isinstance(out, SequenceResult):
            raise TypeError("out must be a SequenceResult from an earlier solve (or None)")
        arrays = {}
        for key, (shape, dtype) in want.items():
            a = getattr(out, key)
            if a.shape != shape or a.dtype != dtype:
                raise ValueError(
                    f"out.{key} has shape {a.shape} / {a.dtype}, this call needs {shape} / "
                    f"{np.dtype(dtype)}; pass out=None or a result of as many frames"
                )
            arrays[key] = a
        return arrays

    def solve(self, foci, amplitudes, *, out: SequenceResult | None = None) -> SequenceResult:
        """Holograms for ``foci`` (F, m, 3) mm and ``amplitudes`` (F, m), (m,) or scalar, Pa.

        Parameters
        ----------
        foci : (F, m, 3) array_like
            One foci set per frame.
        amplitudes : array_like
            Per frame and focus (F, m), per focus (m,) or one value.
        out : SequenceResult, optional
            A result of an earlier call with as many frames: overwritten in place.

        Returns
        -------
        SequenceResult
        """
        # writable copies (a read-only input would compile the frame loop a second time)
        f = np.array(as_array(foci, "foci", ndim=3, allow_complex=False), np.float64, order="C")
        F, m = f.shape[0], self.n_foci
        if f.shape[1:] != (m, 3):
            raise ValueError(
                f"foci must have shape (frames, {m}, 3) for this sequence, got {f.shape}"
            )
        a = as_array(amplitudes, "amplitudes", ndim=(0, 1, 2), allow_complex=False)
        try:
            a = np.array(np.broadcast_to(a, (F, m)), dtype=np.float64, order="C")
        except ValueError:
            raise ValueError(
                f"amplitudes of shape {np.shape(amplitudes)} do not fit {F} frames of {m} "
                f"foci; pass (F, m), (m,) or one value"
            ) from None
        if (a < 0).any():
            raise ValueError("amplitudes must be >= 0 (pressure magnitudes in Pa)")
        with self._in_use:
            return self._solve(f, a, F, out)

    def _solve(self, f, a, F, out):
        res = self._outputs(F, out)
        ws, o = self._ws, self._ws.options
        had_prev = bool(self._has_prev[0])
        b, t = ws._b, ws.transducers
        status, frame = _s.run_frames(
            o.code, t.layout, f, a, ws.k, P0, ws.directivity, self._rotor,
            o.emission.levels, self.bound, self.warm_start, self._has_prev, self._fopts,
            self._iopts, self._hs, self._lm, self._gb, b.G, b.amplitude, b.phase, b.drive,
            b.focal_pressure, res["amplitude"], res["phase"], res["focal_pressure"],
            res["n_iter"], res["max_step"], res["clipped"], res["frame_converged"],
            self._prev_amp, self._prev_phase,
        )  # fmt: skip
        if status != _k.OK:
            raise_status(status, t, f[frame])
        b.target[...] = a[-1]
        conv = res["frame_converged"]
        bad = F - int(np.count_nonzero(conv))
        # frames started cold get max_iter; warm ones may have a smaller budget
        budget = self.warm_start and self.warm_max_iter < o.max_iter
        bad_cold = bad if not self.warm_start else int(not had_prev and not conv[0])
        if bad:
            message = (
                f"not converged: {bad} of {F} frames stopped at their iteration limit "
                f"(max_iter = {o.max_iter}"
                + (f", warm_max_iter = {self.warm_max_iter}" if budget else "")
                + ") before their tolerance"
            )
            if bad_cold or not budget:
                warn_not_converged(f"holography sequence: {message}", stacklevel=4)
        else:
            message = f"{F} frames solved, each to its method's stopping test"
        if out is not None:
            out.converged, out.message = bad == 0, message
            return out
        return SequenceResult(**res, converged=bad == 0, message=message, history={})

    def last(self, certificate: bool = False):
        """The last frame solved, as a :class:`HoloResult` (copies).

        Parameters
        ----------
        certificate : bool
            Compute its ``lower_bound`` and ``gap``.

        Returns
        -------
        HoloResult
        """
        return self._ws.result(certificate=certificate)
