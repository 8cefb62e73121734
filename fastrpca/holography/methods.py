"""Holograms: SDP (Inoue et al.) and the baselines AUTD3 users rely on (naive, GS, GS-PAT).

SDP (Inoue, Makino & Shinoda, WHC 2015; HORN, SIGGRAPH 2014): with P = diag(amplitudes)
and u the unknown focal phases (|u_j| = 1), minimise ||G q - P u||^2 + alpha^2 ||q||^2.
For each u the best q is q = G+ P u with the Tikhonov pseudo-inverse
G+ = G^H (G G^H + alpha^2 I)^-1, and the residual is u^H M u with
M = P (I - G G+) P = alpha^2 P (G G^H + alpha^2 I)^-1 P. The right-hand form is exact and
free of the cancellation in I - G G+ (about 1e-11 for alpha = 1e-3); phasecut then
minimises u^H M u over unit-modulus u (PhaseCut relaxation + rounding).

Baselines: naive back-propagation q = B p with B = G^H diag(1 / ||G_j||^2); GS
(Gerchberg-Saxton between the array at unit amplitude and the foci); GS-PAT (Plasencia et
al., ACM TOG 2020) iterating on R = G B.

Emission constraints (AUTD3's names), amplitudes in [0, 1] of full emission:
``"normalize"`` |q| / max|q|; ``("multiply", v)`` v |q| / max|q|; ``("uniform", v)`` v;
``("clamp", lo, hi)`` clip(|q|, lo, hi). Phases are arg(q) in [0, 2 pi).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._core.concurrency import Exclusive
from .._core.result import Result, warn_not_converged
from .._core.validation import as_array, positive, rng_from
from . import certificate as _cert
from . import phase_only as _po
from ._kernels import acoustics as _k
from .hardware import Emission
from .maxcut import default_rank
from .transfer import (
    FREQUENCY,
    P0,
    SOUND_SPEED,
    as_foci,
    as_transducers,
    directivity_code,
    raise_status,
    wavenumber,
)

__all__ = ["HoloResult", "Workspace", "sdp", "naive", "gs", "gspat", "compute"]

METHODS = {
    "sdp": _k.SDP,
    "naive": _k.NAIVE,
    "gs": _k.GS,
    "gspat": _k.GSPAT,
    "lm": _po.LM,
    "greedy": _po.GREEDY,
}


class HoloResult(Result):
    """A hologram.

    Attributes
    ----------
    drive : ndarray (N,), complex
        ``q = amplitude exp(i phase)`` per transducer.
    amplitude : ndarray (N,)
        Emission amplitudes in [0, 1] of full emission.
    phase : ndarray (N,)
        Phases in rad, in [0, 2 pi).
    focal_pressure : ndarray (m,)
        ``abs(G @ drive)`` in Pa.
    focal_phase : ndarray (m,)
        ``arg u`` of the SDP rounding, else ``arg(G @ drive)``, in [0, 2 pi).
    objective : float
        The relaxed SDP objective ``Tr(M X)`` (SDP); LM: ``1/2 ||G q - P u||^2``;
        Greedy: ``sum_j abs(a_j - abs(p_j))``; else NaN.
    rounded_objective : float
        ``u^H M u`` for the hologram's focal phases u, M = alpha^2 P (G G^H +
        alpha^2 I)^-1 P (every method; :mod:`fastrpca.holography.certificate`).
    lower_bound : float
        A dual bound on ``u^H M u`` valid for all focal phases (NaN without a
        certificate).
    gap : float
        ``(rounded_objective - lower_bound) / lower_bound``: how far from optimal the
        focal phases can be, at most (NaN without a certificate).
    n_iter : int
        PhaseCut sweeps (SDP), GS / GS-PAT round trips (1 for naive), LM iterations,
        Greedy passes.
    converged : bool
        SDP: the last sweep changed the objective by at most ``tol``; GS / GS-PAT: the
        last round trip changed the focal amplitudes by at most ``tol`` (relative); LM:
        its gradient or step test; Greedy: a pass changed nothing (or one pass, AUTD3's
        algorithm); naive (closed form): True.
    rel_change : float
        Relative objective change of the last sweep (SDP), relative focal amplitude
        change of the last round trip (GS / GS-PAT); NaN for naive.
    history : dict of ndarray
        ``{"objective": ...}`` per sweep, the first 10 000 at most (SDP only, else
        empty).
    method : str
        ``"sdp"``, ``"naive"``, ``"gs"``, ``"gspat"``, ``"lm"`` or ``"greedy"``.
    message : str
        Why the solver stopped.
    """

    drive: np.ndarray
    amplitude: np.ndarray
    phase: np.ndarray
    focal_pressure: np.ndarray
    focal_phase: np.ndarray
    objective: float
    rounded_objective: float
    lower_bound: float
    gap: float
    rel_change: float
    method: str


def parse_constraint(constraint) -> tuple[int, float, float]:
    """``"normalize"``, ``("uniform", v)``, ``("multiply", v)``, ``("clamp", lo, hi)``."""
    if isinstance(constraint, str):
        constraint = (constraint,)
    try:
        name, *vals = constraint
        name = name.lower()
    except (TypeError, ValueError, AttributeError):
        raise ValueError(
            f"constraint must be 'normalize', ('uniform', v), ('multiply', v) "
            f"or ('clamp', lo, hi), got {constraint!r}"
        ) from None
    defaults = {"normalize": (), "uniform": (1.0,), "multiply": (1.0,), "clamp": (0.0, 1.0)}
    if name not in defaults or len(vals) not in (0, len(defaults[name])):
        raise ValueError(
            f"constraint must be 'normalize', ('uniform', v), ('multiply', v) "
            f"or ('clamp', lo, hi), got {constraint!r}"
        )
    vals = [
        positive(v, f"{name} value", allow_zero=True, upper=1.0) for v in (vals or defaults[name])
    ]
    code = {
        "normalize": _k.NORMALIZE,
        "uniform": _k.UNIFORM,
        "multiply": _k.MULTIPLY,
        "clamp": _k.CLAMP,
    }[name]
    a = vals[0] if vals else 0.0
    b = vals[1] if len(vals) > 1 else 0.0
    if name == "clamp" and a > b:
        raise ValueError(f"clamp needs lo <= hi, got ({a}, {b})")
    return code, a, b


class _Buffers:
    """Every array one hologram needs, for m foci and n transducers."""

    def __init__(self, m: int, n: int, k: int, max_iter: int):
        c = np.complex128
        self.G = np.empty((m, n), c)
        self.A = np.empty((m, m), c)
        self.L = np.empty((m, m), c)
        self.M = np.empty((m, m), c)
        self.X = np.empty((m, m), c)
        self.W = np.empty((k, m), c)
        self.vecs = np.empty((6, m), c)
        self.q = np.empty(n, c)
        self.state = np.zeros(1, np.uint64)
        # sweep history, bounded whatever max_iter (10**12 once reserved 8 TB)
        self.hist = np.zeros(max(min(max_iter, HISTORY_LENGTH), 1))
        self.amplitude = np.empty(n)
        self.phase = np.empty(n)
        self.drive = np.empty(n, c)
        self.focal_pressure = np.empty(m)
        self.info = np.zeros(5)
        self.target = np.empty(m)  # the amplitudes of the last solve (for certificates)
        self.extra: Any = None  # LM / Greedy arrays (phase_only.buffers)

    def attach(self, opts: _Options) -> _Buffers:
        """Arrays of the method's own (LM, Greedy), bound calibration offsets."""
        m, n = self.G.shape
        self.extra = _po.buffers(opts.method, opts.phase_only, m, n, opts.max_iter)
        opts.emission.bind(n)
        return self


#: Iteration limits when ``max_iter`` is None: PhaseCut sweeps for the SDP, round trips
#: for GS and GS-PAT (AUTD3's default of 100), LM iterations (AUTD3's k_max), Greedy passes.
DEFAULT_MAX_ITER = {"sdp": 1000, "gs": 100, "gspat": 100, "naive": 1, "lm": 5, "greedy": 1}
#: Tolerances when ``tol`` is None: relative objective change per PhaseCut sweep (SDP),
#: relative change of the focal amplitudes per round trip (GS, GS-PAT: after AUTD3's 100
#: round trips it is 1e-4..2e-3 on 2-32 foci), LM's gradient test (AUTD3's eps1, relative
#: to ||p||^2); Greedy stops when a pass changes nothing.
DEFAULT_TOL = {"sdp": 1e-6, "gs": 1e-3, "gspat": 1e-3, "naive": 0.0, "lm": 1e-8, "greedy": 0.0}
#: ``history`` keeps the objective of at most this many sweeps.
HISTORY_LENGTH = 10_000


class _Options:
    def __init__(
        self,
        method,
        alpha,
        constraint,
        max_iter,
        tol,
        omega,
        random_state,
        *,
        tau=1e-3,
        step_tol=1e-8,
        phase_div=16,
        initial=None,
        phase_levels=None,
        phase_offset=None,
    ):
        if method not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
        self.method = method
        self.code = METHODS[method]
        self.alpha = positive(alpha, "alpha")
        self.constraint = parse_constraint(constraint)
        if max_iter is None:
            max_iter = DEFAULT_MAX_ITER[method]
        self.max_iter = positive(max_iter, "max_iter", integer=True)
        # the kernel takes the sweep limit (SDP) and the GS iteration count separately
        self.max_sweeps = self.max_iter if method == "sdp" else 1
        self.iterations = self.max_iter if method in ("gs", "gspat") else 1
        self.tol = DEFAULT_TOL[method] if tol is None else positive(tol, "tol", allow_zero=True)
        self.omega = positive(omega, "omega", allow_zero=True)
        if self.omega >= 1:
            raise ValueError(f"omega must be in [0, 1), got {omega!r}")
        self.seed = int(rng_from(random_state).integers(0, 2**63 - 1))
        self.phase_only = _po.PhaseOnlyOptions(method, tau, step_tol, phase_div, initial)
        self.emission = Emission(phase_levels, phase_offset)
        _po.check_levels(method, self.phase_only, self.emission.levels)


def _run(opts: _Options, b: _Buffers, amps: np.ndarray, warm: bool = False) -> int:
    """Calibrate b.G, solve, quantise: every method goes through here."""
    b.target[...] = amps
    opts.emission.calibrate(b.G)
    if opts.code in (_po.LM, _po.GREEDY):
        status = _po.run(opts.code, opts, b, amps, warm)  # scaled in the kernels
    else:
        status = _holo_solve(opts, b, amps)
    if status == _k.OK:
        opts.emission.finish(b.G, b.amplitude, b.phase, b.drive, b.vecs[1], b.focal_pressure)
    return status


def _holo_solve(opts: _Options, b: _Buffers, amps: np.ndarray) -> int:
    code, ca, cb = opts.constraint
    return _k.holo_solve(
        opts.code,
        b.G,
        amps,
        opts.alpha,
        code,
        ca,
        cb,
        opts.max_sweeps,
        opts.tol,
        opts.omega,
        opts.iterations,
        opts.seed,
        b.A,
        b.L,
        b.M,
        b.X,
        b.W,
        b.vecs,
        b.q,
        b.state,
        b.hist,
        b.amplitude,
        b.phase,
        b.drive,
        b.focal_pressure,
        b.info,
    )


def _as_amplitudes(amplitudes, m: int, check_finite: bool = True) -> np.ndarray:
    a = as_array(
        amplitudes,
        "amplitudes",
        ndim=(0, 1),
        allow_complex=False,
        min_size=0,
        check_finite=check_finite,
    )
    a = np.ascontiguousarray(np.broadcast_to(a, (m,)) if a.ndim == 0 else a, dtype=np.float64)
    if a.shape != (m,):
        raise ValueError(
            f"amplitudes has {a.shape[0]} entries for {m} foci; pass one "
            f"(non-negative, Pa) per focus"
        )
    if (a < 0).any():
        raise ValueError(
            f"amplitudes must be >= 0 (pressure magnitudes in Pa); entries "
            f"{np.flatnonzero(a < 0).tolist()} are negative"
        )
    return a


def _converged(opts: _Options, b: _Buffers) -> tuple[bool, str]:
    if opts.code in (_po.LM, _po.GREEDY):
        return _po.outcome(opts.code, opts, b)[2:4]
    if opts.code == _k.NAIVE:
        return True, "naive: closed form"
    if opts.code != _k.SDP:
        done, change = int(b.info[0]), b.info[2]
        if change <= opts.tol:
            return True, (
                f"converged: the focal amplitudes changed by {change:.2e} (relative) in "
                f"round trip {done + 1}"
            )
        return False, (
            f"not converged: the focal amplitudes still change by {change:.2e} > tol = "
            f"{opts.tol:.1e} (relative) after max_iter = {opts.max_iter} round trips; "
            "raise max_iter or tol"
        )
    sweeps, rel = int(b.info[0]), b.info[2]
    if rel <= opts.tol:
        return True, f"converged: relative objective change {rel:.2e} after {sweeps} sweeps"
    return False, (
        f"not converged: relative objective change {rel:.2e} > tol = "
        f"{opts.tol:.1e} after max_iter = {opts.max_iter} sweeps; raise max_iter "
        f"or tol"
    )


def _warn_if_not_converged(opts: _Options, b: _Buffers) -> None:
    """Warn once per hologram; called by _from_G and Workspace._solve, whose public callers
    (sdp... / solve, compute) sit two frames up: the warning points at the user's line."""
    if opts.code == _po.LM:
        if b.extra.info[4] == 0:
            warn_not_converged(f"holography lm: {_converged(opts, b)[1]}", stacklevel=5)
    elif opts.code == _po.GREEDY:
        if opts.max_iter > 1 and b.extra.info[1] > 0:
            warn_not_converged(f"holography greedy: {_converged(opts, b)[1]}", stacklevel=5)
    elif opts.code != _k.NAIVE and not b.info[2] <= opts.tol:  # no strings in steady state
        warn_not_converged(f"holography {opts.method}: {_converged(opts, b)[1]}", stacklevel=5)


def _certificate(opts: _Options, b: _Buffers, sdp_: bool) -> tuple[float, float, float]:
    """(lower_bound, rounded_objective, gap) for the hologram in ``b``."""
    # M = 2**e2 a2 Ms: bound and gap from Ms (entries near 1 at any scale of the input)
    Ms, a2, e2 = _cert.scaled_sdp_matrix(b.G, b.target, opts.alpha)
    if sdp_:  # the relaxed X of the solve (it does not depend on M's scale)
        lower, _, _, _ = _cert.relaxation_bound(Ms, b.X)
        u = b.vecs[2]
    else:
        u = b.vecs[1]  # G drive: its phases
        lower, _, _, _ = _cert.relaxation_bound(Ms, random_state=opts.seed)
    rounded, _ = _cert.focal_objective(Ms, u)
    lower, gap = _cert.bound_and_gap(lower, rounded)
    with np.errstate(over="ignore", under="ignore"):  # inf / 0 beyond float64's range
        lower, rounded = (float(np.ldexp(a2 * v, e2)) for v in (lower, rounded))
    return lower, rounded, gap


def _result(opts: _Options, b: _Buffers, copy: bool = True, certificate: bool = True):
    cp = (lambda x: x.copy()) if copy else (lambda x: x)
    converged, message = _converged(opts, b)
    if opts.code == _k.SDP:
        focal_phase = np.angle(b.vecs[2]) % (2 * np.pi)
    else:
        focal_phase = np.angle(b.vecs[1]) % (2 * np.pi)
    sdp_ = opts.code == _k.SDP
    lower, rounded, gap = _certificate(opts, b, sdp_) if certificate else (np.nan,) * 3
    if sdp_:
        rounded = float(b.info[3])
    if opts.code in (_po.LM, _po.GREEDY):
        n_iter, objective, _, _, history = _po.outcome(opts.code, opts, b)
        return HoloResult(
            drive=cp(b.drive),
            amplitude=cp(b.amplitude),
            phase=cp(b.phase),
            focal_pressure=cp(b.focal_pressure),
            focal_phase=focal_phase,
            objective=float(objective),
            rounded_objective=rounded,
            lower_bound=lower,
            gap=gap,
            n_iter=n_iter,
            converged=converged,
            rel_change=np.nan,
            method=opts.method,
            message=message,
            history=history,
        )
    return HoloResult(
        drive=cp(b.drive),
        amplitude=cp(b.amplitude),
        phase=cp(b.phase),
        focal_pressure=cp(b.focal_pressure),
        focal_phase=focal_phase,
        objective=float(b.info[1]) if sdp_ else np.nan,
        rounded_objective=rounded,
        lower_bound=lower,
        gap=gap,
        n_iter=int(b.info[0]) if opts.code != _k.NAIVE else 1,
        converged=converged,
        rel_change=float(b.info[2]) if opts.code != _k.NAIVE else np.nan,
        method=opts.method,
        message=message,
        history={"objective": b.hist[: int(b.info[0])].copy()} if sdp_ else {},
    )


def _from_G(
    method,
    G,
    amplitudes,
    *,
    alpha=1e-3,
    constraint="normalize",
    max_iter=None,
    tol=None,
    omega=0.8,
    rank=None,
    random_state=None,
    check_finite=True,
    certificate=True,
    **extra,
) -> HoloResult:
    opts = _Options(method, alpha, constraint, max_iter, tol, omega, random_state, **extra)
    G = as_array(G, "G", ndim=2, min_size=0, check_finite=check_finite)
    m, n = G.shape
    if m == 0:
        raise ValueError("G has no rows (zero foci); pass at least one focus")
    if n == 0:
        raise ValueError("G has no columns (zero transducers)")
    amps = _as_amplitudes(amplitudes, m, check_finite)
    if method != "sdp" and np.abs(G).max(axis=1).min() == 0:
        raise ValueError("a row of G is zero: a focus no transducer reaches")
    k = default_rank(m) if rank is None else min(positive(rank, "rank", integer=True), m)
    b = _Buffers(m, n, k, opts.max_iter)
    b.G[...] = G  # a copy: the caller's G is never touched
    b.attach(opts)
    raise_status(_run(opts, b, amps))
    _warn_if_not_converged(opts, b)
    return _result(opts, b, copy=False, certificate=certificate)


def sdp(
    G,
    amplitudes,
    *,
    alpha: float = 1e-3,
    constraint="normalize",
    max_iter: int = 1000,
    tol: float = 1e-6,
    omega: float = 0.8,
    rank: int | None = None,
    random_state=None,
    phase_levels: int | None = None,
    phase_offset=None,
    certificate: bool = True,
    check_finite: bool = True,
) -> HoloResult:
    """Semidefinite-relaxation hologram (Inoue et al.) from a transfer matrix.

    Parameters
    ----------
    G : (m, N) array_like
        Transfer matrix, foci x transducers (see :func:`transfer_matrix`).
    amplitudes : (m,) array_like or scalar
        Target pressure magnitudes (Pa), >= 0.
    alpha : float
        Tikhonov parameter (AUTD3's default 1e-3).
    constraint : str or tuple
        Emission constraint, see the module docstring.
    max_iter, tol, omega, rank, random_state
        Passed to the PhaseCut solver (:func:`fastrpca.phasecut`, ``method="lowrank"``).
    phase_levels, phase_offset
        Phase quantisation and calibration (:mod:`fastrpca.holography.hardware`).
    certificate : bool
        Compute ``lower_bound`` and ``gap`` (:mod:`fastrpca.holography.certificate`).
    check_finite : bool
        Reject NaN / Inf in ``G`` and ``amplitudes``.

    Returns
    -------
    HoloResult
    """
    return _from_G(
        "sdp",
        G,
        amplitudes,
        alpha=alpha,
        constraint=constraint,
        max_iter=max_iter,
        tol=tol,
        omega=omega,
        rank=rank,
        random_state=random_state,
        check_finite=check_finite,
        phase_levels=phase_levels,
        phase_offset=phase_offset,
        certificate=certificate,
    )


def naive(
    G,
    amplitudes,
    *,
    constraint="normalize",
    phase_levels: int | None = None,
    phase_offset=None,
    certificate: bool = True,
    check_finite: bool = True,
) -> HoloResult:
    """Back-propagation: q = G^H diag(1 / ||G_j||^2) p, then the emission constraint.

    Parameters
    ----------
    G : (m, N) array_like
        Transfer matrix, foci x transducers (see :func:`transfer_matrix`).
    amplitudes : (m,) array_like or scalar
        Target pressure magnitudes (Pa), >= 0.
    constraint : str or tuple
        Emission constraint, see the module docstring.
    phase_levels : int, optional
        Round the phases to this many levels (:mod:`fastrpca.holography.hardware`).
    phase_offset : (N,) array_like or float, optional
        Per-transducer phase calibration, rad (:mod:`fastrpca.holography.hardware`).
    certificate : bool
        Compute ``lower_bound`` and ``gap`` (alpha = 1e-3).
    check_finite : bool
        Reject NaN / Inf in ``G`` and ``amplitudes``.

    Returns
    -------
    HoloResult
    """
    return _from_G(
        "naive",
        G,
        amplitudes,
        constraint=constraint,
        check_finite=check_finite,
        phase_levels=phase_levels,
        phase_offset=phase_offset,
        certificate=certificate,
    )


def gs(
    G,
    amplitudes,
    *,
    max_iter: int = 100,
    tol: float = 1e-3,
    constraint="normalize",
    phase_levels: int | None = None,
    phase_offset=None,
    certificate: bool = True,
    check_finite: bool = True,
) -> HoloResult:
    """Gerchberg-Saxton (``max_iter`` round trips), then the emission constraint.

    Parameters
    ----------
    G : (m, N) array_like
        Transfer matrix, foci x transducers (see :func:`transfer_matrix`).
    amplitudes : (m,) array_like or scalar
        Target pressure magnitudes (Pa), >= 0.
    max_iter : int
        Limit on the round trips between the array (unit amplitude) and the foci
        (AUTD3 always does 100).
    tol : float
        Stop when one round trip changes the focal amplitudes ``|G q|`` by at most
        ``tol`` times their largest (0: do all ``max_iter``). Stopping at ``max_iter``
        first says ``converged=False`` and warns.
    constraint : str or tuple
        Emission constraint, see the module docstring.
    phase_levels : int, optional
        Round the phases to this many levels (:mod:`fastrpca.holography.hardware`).
    phase_offset : (N,) array_like or float, optional
        Per-transducer phase calibration, rad (:mod:`fastrpca.holography.hardware`).
    certificate : bool
        Compute ``lower_bound`` and ``gap`` (alpha = 1e-3).
    check_finite : bool
        Reject NaN / Inf in ``G`` and ``amplitudes``.

    Returns
    -------
    HoloResult
    """
    return _from_G(
        "gs",
        G,
        amplitudes,
        max_iter=max_iter,
        tol=tol,
        constraint=constraint,
        check_finite=check_finite,
        phase_levels=phase_levels,
        phase_offset=phase_offset,
        certificate=certificate,
    )


def gspat(
    G,
    amplitudes,
    *,
    max_iter: int = 100,
    tol: float = 1e-3,
    constraint="normalize",
    phase_levels: int | None = None,
    phase_offset=None,
    certificate: bool = True,
    check_finite: bool = True,
) -> HoloResult:
    """GS-PAT (Plasencia et al. 2020) on R = G B, then the emission constraint.

    Parameters
    ----------
    G : (m, N) array_like
        Transfer matrix, foci x transducers (see :func:`transfer_matrix`).
    amplitudes : (m,) array_like or scalar
        Target pressure magnitudes (Pa), >= 0.
    max_iter : int
        Limit on the iterations on the m x m matrix ``R = G B`` (AUTD3 always does 100).
    tol : float
        Stop when one iteration changes the focal amplitudes by at most ``tol`` times
        their largest (0: do all ``max_iter``). Stopping at ``max_iter`` first says
        ``converged=False`` and warns.
    constraint : str or tuple
        Emission constraint, see the module docstring.
    phase_levels : int, optional
        Round the phases to this many levels (:mod:`fastrpca.holography.hardware`).
    phase_offset : (N,) array_like or float, optional
        Per-transducer phase calibration, rad (:mod:`fastrpca.holography.hardware`).
    certificate : bool
        Compute ``lower_bound`` and ``gap`` (alpha = 1e-3).
    check_finite : bool
        Reject NaN / Inf in ``G`` and ``amplitudes``.

    Returns
    -------
    HoloResult
    """
    return _from_G(
        "gspat",
        G,
        amplitudes,
        max_iter=max_iter,
        tol=tol,
        constraint=constraint,
        check_finite=check_finite,
        phase_levels=phase_levels,
        phase_offset=phase_offset,
        certificate=certificate,
    )


class Workspace:
    """Reusable buffers for real-time loops: foci + amplitudes -> drives.

    Every :meth:`solve` recomputes G for the new foci and writes into the same arrays
    (``amplitude``, ``phase``, ``drive``, ``focal_pressure``, ``G``): nothing is
    allocated in steady state when foci and amplitudes are float64 arrays of the right
    shape. Results depend only on the inputs and ``random_state`` (the solver restarts
    from the same seeded point every call).

    Threads: a workspace holds one hologram at a time and :meth:`solve` returns views of
    its buffers, so give each thread its own; a :meth:`solve` or :meth:`result` while
    another thread's call runs raises ``InUseError`` (a ``RuntimeError``) instead of
    mixing two holograms.

    Parameters
    ----------
    transducers : TransducerArray or (N, 3) array_like
        The array (a bare array of positions in mm points along +z).
    n_foci : int
        Number of foci of every :meth:`solve`.
    method : {"sdp", "naive", "gs", "gspat", "lm", "greedy"}
        The hologram method (see :func:`sdp`, :func:`naive`, :func:`gs`, :func:`gspat`,
        :func:`fastrpca.holography.lm`, :func:`fastrpca.holography.greedy`).
    alpha, constraint
        As in :func:`sdp` (alpha also sets the certificates' M for every method).
    max_iter : int, optional
        PhaseCut sweeps (SDP, default 1000), round trips (GS / GS-PAT, default 100),
        iterations (LM, default 5) or passes (Greedy, default 1).
    tol : float, optional
        As in :func:`sdp` (default 1e-6), :func:`gs` (default 1e-3) or
        :func:`fastrpca.holography.lm` (default 1e-8).
    omega, rank, random_state
        As in :func:`sdp` (``random_state`` also seeds Greedy's order).
    frequency, sound_speed, directivity
        As in :func:`transfer_matrix`.
    phase_levels, phase_offset
        Phase quantisation and calibration (:mod:`fastrpca.holography.hardware`).
    tau, step_tol
        LM's (:func:`fastrpca.holography.lm`).
    phase_div
        Greedy's (:func:`fastrpca.holography.greedy`).
    """

    def __init__(
        self,
        transducers,
        n_foci: int,
        *,
        method: str = "sdp",
        alpha: float = 1e-3,
        constraint="normalize",
        max_iter: int | None = None,
        tol: float | None = None,
        omega: float = 0.8,
        rank: int | None = None,
        random_state=None,
        frequency: float = FREQUENCY,
        sound_speed: float = SOUND_SPEED,
        directivity: str = "t4010a1",
        phase_levels: int | None = None,
        phase_offset=None,
        tau: float = 1e-3,
        step_tol: float = 1e-8,
        phase_div: int = 16,
    ):
        self.transducers = as_transducers(transducers)
        m = positive(n_foci, "n_foci", integer=True)
        self.options = _Options(
            method,
            alpha,
            constraint,
            max_iter,
            tol,
            omega,
            random_state,
            tau=tau,
            step_tol=step_tol,
            phase_div=phase_div,
            phase_levels=phase_levels,
            phase_offset=phase_offset,
        )
        self.k = wavenumber(positive(frequency, "frequency"), positive(sound_speed, "sound_speed"))
        self.directivity = directivity_code(directivity)
        k = default_rank(m) if rank is None else min(positive(rank, "rank", integer=True), m)
        self._b = _Buffers(m, len(self.transducers), k, self.options.max_iter)
        self._b.attach(self.options)
        self.n_foci = m
        self._in_use = Exclusive("this holography.Workspace", "give each thread its own Workspace")

    G = property(lambda self: self._b.G)
    amplitude = property(lambda self: self._b.amplitude)
    phase = property(lambda self: self._b.phase)
    drive = property(lambda self: self._b.drive)
    focal_pressure = property(lambda self: self._b.focal_pressure)

    @property
    def n_iter(self) -> int:
        """Iterations of the last solve (as ``HoloResult.n_iter``: 1 for naive)."""
        if self.options.code == _k.NAIVE:
            return 1
        return int((self._b.extra.info if self._b.extra is not None else self._b.info)[0])

    objective = property(lambda self: float(self._b.info[1]))

    def solve(self, foci, amplitudes) -> tuple[np.ndarray, np.ndarray]:
        """Drives for ``foci`` (m, 3) mm and ``amplitudes`` (m,) Pa.

        Parameters
        ----------
        foci : (n_foci, 3) array_like
            Focal points in mm (float64 C-ordered avoids a conversion).
        amplitudes : (n_foci,) array_like
            Target pressure magnitudes (Pa), >= 0.

        Returns
        -------
        amplitude, phase : ndarray (N,)
            The workspace's own arrays, overwritten by the next call (copy them to keep
            them); :meth:`result` has the whole hologram.

        Raises
        ------
        ValueError
            Foci or amplitudes of the wrong shape, non-finite, negative amplitudes, or a
            focus on a transducer.
        InUseError
            Another thread is solving with this workspace (give each its own).
        """
        with self._in_use:
            return self._solve(foci, amplitudes)

    def _solve(self, foci, amplitudes) -> tuple[np.ndarray, np.ndarray]:
        b, t = self._b, self.transducers
        f = np.ascontiguousarray(foci, dtype=np.float64)
        a = np.ascontiguousarray(amplitudes, dtype=np.float64)
        if f.shape != (self.n_foci, 3) or a.shape != (self.n_foci,):
            if f.shape == (0, 3) or f.size == 0:
                raise ValueError("no foci given; pass at least one focus")
            raise ValueError(
                f"this workspace takes foci of shape ({self.n_foci}, 3) and "
                f"amplitudes of shape ({self.n_foci},), got {f.shape} and "
                f"{a.shape}; make a Workspace for another number of foci"
            )
        status = _k.transfer(t.layout, f, self.k, P0, self.directivity, b.G)
        if status == _k.OK:
            status = _run(self.options, b, a)
        if status != _k.OK:
            raise_status(status, t, f)
        _warn_if_not_converged(self.options, b)
        return b.amplitude, b.phase

    def result(self, certificate: bool = True) -> HoloResult:
        """The last hologram as a HoloResult (copies).

        Parameters
        ----------
        certificate : bool
            Compute ``lower_bound`` and ``gap`` (a PhaseCut solve on the foci, about a
            millisecond; the SDP method reuses its own relaxed solution).

        Returns
        -------
        HoloResult
        """
        with self._in_use:
            return _result(self.options, self._b, certificate=certificate)


def compute(
    transducers, foci, amplitudes, *, method: str = "sdp", certificate: bool = True, **options
) -> HoloResult:
    """Geometry + foci + amplitudes -> hologram in one call (allocates a Workspace).

    For loops, keep a :class:`Workspace` instead.

    Parameters
    ----------
    transducers : TransducerArray or (N, 3) array_like
        The array (a bare array of positions in mm points along +z).
    foci : (m, 3) array_like
        Focal points in mm.
    amplitudes : (m,) array_like or scalar
        Target pressure magnitudes (Pa), >= 0.
    method : {"sdp", "naive", "gs", "gspat", "lm", "greedy"}
        The hologram method.
    certificate : bool
        As in :meth:`Workspace.result`.
    **options
        Further keywords of :class:`Workspace` (``alpha``, ``constraint``, ``max_iter``,
        ``tol``, ``omega``, ``rank``, ``random_state``, ``frequency``, ``sound_speed``,
        ``directivity``, ``phase_levels``, ``phase_offset``, ``tau``, ``step_tol``,
        ``phase_div``).

    Returns
    -------
    HoloResult
    """
    f = as_foci(foci)
    ws = Workspace(transducers, f.shape[0], method=method, **options)
    ws._solve(f, _as_amplitudes(amplitudes, f.shape[0]))
    return ws.result(certificate=certificate)
