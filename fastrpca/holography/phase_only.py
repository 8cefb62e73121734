"""Phase-only holograms of AUTD3: Levenberg-Marquardt (``lm``) and Greedy (``greedy``).

Both drive every transducer at full amplitude and choose only phases, as AUTD3 does.

**LM** (pyautd3 <= 26, removed afterwards): the damped Gauss-Newton method of Madsen,
Nielsen & Tingleff (2004, Algorithm 3.16) on x = (transducer phases, focal phases),
minimising 1/2 ||G e^{i theta} - P e^{i phi}||^2 from x = 0, with AUTD3's parameters
(``max_iter`` = k_max = 5, eps1 = eps2 = 1e-8, tau = 1e-3). The step is solved through
an identity that needs a Cholesky factorisation of order 2 x foci instead of AUTD3's dense
solve of order transducers + foci (see ``_kernels/lm.py``); the iterates are the same.
pyautd3 26.0.0.1's LM differs from the textbook algorithm in three places (measured by a
NumPy transcription that reproduces its phases to within one of its 256 levels): its
objective lacks the 1/2 that its gradient and Gauss-Newton matrix carry (the gain ratio
is doubled), it keeps the objective of a rejected step, and it updates the damping by
max(1/3, (2 - 2 rho)^3) instead of max(1/3, 1 - (2 rho - 1)^3). The textbook version
here reaches higher and more even focal pressures in the same 5 iterations
(``asv_benchmarks/compare/holography.py``).

**Greedy** (pyautd3 26 and later; Suzuki et al., IEEE Trans. Haptics 2021): transducers
in a random order, each set to the best of ``phase_div`` (16) phase levels for
sum_j | a_j - |p_j| | given the field of those set before it. One pass is AUTD3's
algorithm; ``max_iter`` > 1 adds coordinate-descent passes over the quantised phases
(each never worse, stopping when a pass changes nothing).
"""

from __future__ import annotations

import math

import numpy as np

from .._core.validation import as_array, positive
from ._kernels import greedy as _g
from ._kernels import lm as _l

__all__ = ["lm", "greedy"]

LM, GREEDY = 4, 5  # method codes next to acoustics.SDP ... GSPAT
HISTORY_LENGTH = 10_000  # objectives kept in ``history`` (as methods.HISTORY_LENGTH)


class PhaseOnlyOptions:
    """LM's tau and step tolerance, Greedy's number of phase levels."""

    def __init__(self, method: str, tau=1e-3, step_tol=1e-8, phase_div=16, initial=None):
        self.tau = positive(tau, "tau")
        self.step_tol = positive(step_tol, "step_tol", allow_zero=True)
        self.phase_div = positive(phase_div, "phase_div", integer=True)
        if self.phase_div < 2:
            raise ValueError(f"phase_div must be >= 2 phase levels, got {phase_div!r}")
        self.initial = None
        if initial is not None:
            if method != "lm":
                raise ValueError("initial phases are taken by method='lm' only")
            self.initial = as_array(initial, "initial", ndim=1, allow_complex=False).astype(
                np.float64
            )
        self.table: tuple[np.ndarray, np.ndarray] | None = None
        if method == "greedy":
            ph = 2.0 * np.pi * np.arange(self.phase_div) / self.phase_div
            self.table = (np.cos(ph), np.sin(ph))


class LMBuffers:
    """Arrays of :func:`_kernels.lm.lm_hologram` for m foci, n transducers."""

    def __init__(self, m: int, n: int, max_iter: int):
        N = n + m
        self.x = np.zeros(N)
        self.bufs = np.zeros((3, N))
        self.ybuf = np.zeros((3, 2 * m))  # the step's right side, its solve, amplitudes
        self.cbufs = np.zeros((4, max(n, m)), np.complex128)
        self.K = np.zeros((2 * m, 2 * m))
        self.Lc = np.zeros((2 * m, 2 * m))
        self.C = np.zeros((m, m), np.complex128)
        self.Gt = np.zeros((m, n), np.complex128)
        self.hist = np.zeros(max(min(max_iter, HISTORY_LENGTH), 1))  # the first 10 000
        # iterations, objective, ||g||_inf / ||p||^2, damping mu, stop code, the power
        # of two of the problem mu belongs to (_kernels.lm.lm_hologram)
        self.info = np.zeros(6)


class GreedyBuffers:
    """Arrays of :func:`_kernels.greedy.greedy_hologram` for m foci, n transducers."""

    def __init__(self, m: int, n: int, max_iter: int, levels: int):
        self.order = np.zeros(n, np.int64)
        self.state = np.zeros(1, np.uint64)
        self.level = np.zeros(n, np.int64)
        self.cache = np.zeros(m, np.complex128)
        self.val = np.zeros(levels)
        self.hist = np.zeros(max(min(max_iter, HISTORY_LENGTH), 1))
        self.info = np.zeros(3)
        self.q = np.zeros(n, np.complex128)
        self.p = np.zeros(m)  # the amplitudes as solved (scaled by a power of two)


def buffers(method: str, po: PhaseOnlyOptions, m: int, n: int, max_iter: int):
    """The method's own arrays (None for the methods of ``acoustics.holo_solve``)."""
    if method == "lm":
        return LMBuffers(m, n, max_iter)
    if method == "greedy":
        return GreedyBuffers(m, n, max_iter, po.phase_div)
    return None


def set_initial(po: PhaseOnlyOptions, lb: LMBuffers, G: np.ndarray) -> None:
    """Start LM from ``initial``: n transducer phases (focal phases then arg(G q)) or
    n + m phases."""
    m, n = G.shape
    x0 = po.initial
    assert x0 is not None  # run() calls this only with initial phases
    if x0.shape[0] not in (n, n + m):
        raise ValueError(
            f"initial has {x0.shape[0]} phases; pass {n} (one per transducer) or "
            f"{n + m} (transducers, then foci)"
        )
    lb.x[:n] = x0[:n]
    lb.x[n:] = x0[n:] if x0.shape[0] == n + m else np.angle(G @ np.exp(1j * x0))


def run(code, opts, b, amps, warm: bool) -> int:
    """Solve with LM or Greedy into the workspace buffers ``b``; returns a status code."""
    po, e = opts.phase_only, b.extra
    ccode, ca, cb = opts.constraint
    if code == LM:
        if not warm and po.initial is not None:
            set_initial(po, e, b.G)
            warm = True
        return _l.lm_hologram(
            b.G, amps, e.x, warm, opts.max_iter, opts.tol, po.step_tol, po.tau, e.bufs,
            e.ybuf, e.cbufs, e.K, e.Lc, e.C, e.Gt, e.hist, e.info, ccode, ca, cb,
            b.amplitude, b.phase, b.drive, b.vecs[1], b.focal_pressure,
        )  # fmt: skip
    assert po.table is not None
    cosd, sind = po.table
    return _g.greedy_hologram(
        b.G, amps, opts.max_iter, warm, 1e-12, opts.seed, e.order, e.state, e.level, cosd,
        sind, e.cache, e.val, e.hist, e.info, ccode, ca, cb, e.q, e.p, b.amplitude, b.phase,
        b.drive, b.vecs[1], b.focal_pressure,
    )  # fmt: skip


def outcome(code, opts, b) -> tuple[int, float, bool, str, dict]:
    """(n_iter, objective, converged, message, history) of the last LM / Greedy run."""
    e = b.extra
    if code == LM:
        k, f, grel, _, stop, _ = e.info
        k = int(k)
        hist = {"objective": e.hist[:k].copy()}
        if stop == 1:
            msg = f"converged: gradient {grel:.2e} ||p||^2 <= tol ||p||^2 after {k} it"
            return k, f, True, msg, hist
        if stop == 2:
            return k, f, True, f"converged: step below step_tol after {k} iterations", hist
        return (
            k,
            f,
            False,
            (
                f"not converged: gradient {grel:.2e} ||p||^2 > tol = {opts.tol:.1e} times "
                f"||p||^2 after max_iter = {opts.max_iter} iterations (AUTD3's default is "
                "5); raise max_iter"
            ),
            hist,
        )
    passes, changes, f = e.info
    passes = int(passes)
    hist = {"objective": e.hist[:passes].copy()}
    if changes == 0:
        return passes, f, True, f"converged: pass {passes} changed no phase", hist
    if opts.max_iter == 1:
        return 1, f, True, "greedy: one pass (AUTD3's algorithm); max_iter > 1 refines", hist
    return (
        passes,
        f,
        False,
        (f"not converged: pass {passes} still changed {int(changes)} phases; raise max_iter"),
        hist,
    )


def lm(
    G,
    amplitudes,
    *,
    max_iter: int = 5,
    tol: float = 1e-8,
    step_tol: float = 1e-8,
    tau: float = 1e-3,
    initial=None,
    constraint="normalize",
    phase_levels: int | None = None,
    phase_offset=None,
    certificate: bool = True,
    check_finite: bool = True,
):
    """Levenberg-Marquardt hologram on the phases (AUTD3's LM) from a transfer matrix.

    Parameters
    ----------
    G : (m, N) array_like
        Transfer matrix, foci x transducers.
    amplitudes : (m,) array_like or scalar
        Target pressure magnitudes (Pa), >= 0.
    max_iter : int
        Iterations (AUTD3's k_max = 5); one iteration is one damped Gauss-Newton step,
        taken or rejected.
    tol : float
        Stop when ||gradient||_inf <= tol * ||amplitudes||^2 (AUTD3's eps1, made
        scale-free).
    step_tol : float
        Stop when ||h|| <= step_tol (||x|| + step_tol) (AUTD3's eps2).
    tau : float
        Initial damping mu = tau * max diag(J^T J) (AUTD3's tau).
    initial : (N,) or (N + m,) array_like, optional
        Start phases (rad): transducers, optionally followed by foci; default zeros.
    constraint : str or tuple
        Emission constraint (see :mod:`fastrpca.holography.methods`); every transducer
        leaves LM at amplitude 1, so ``"normalize"`` and AUTD3's default ``("clamp", 0,
        1)`` both give full amplitude.
    phase_levels, phase_offset
        Phase quantisation and calibration (:mod:`fastrpca.holography.hardware`).
    certificate : bool
        Compute ``lower_bound`` (an SDP dual bound, alpha = 1e-3) for
        ``rounded_objective``.
    check_finite : bool
        Reject NaN / Inf in ``G`` and ``amplitudes``.

    Returns
    -------
    HoloResult
        ``n_iter`` iterations; ``objective`` is 1/2 ||G q - P u||^2 at the end,
        ``history["objective"]`` after each iteration.

    Examples
    --------
    >>> from fastrpca import holography as H
    >>> G = H.transfer_matrix(H.autd3(), [[60.0, 70.0, 150.0], [120.0, 70.0, 150.0]])
    >>> r = H.lm(G, [5e3, 5e3], max_iter=20)
    >>> bool(r.focal_pressure.min() > 2e3)
    True
    """
    from .methods import _from_G

    return _from_G(
        "lm",
        G,
        amplitudes,
        constraint=constraint,
        max_iter=max_iter,
        tol=tol,
        check_finite=check_finite,
        tau=tau,
        step_tol=step_tol,
        initial=initial,
        phase_levels=phase_levels,
        phase_offset=phase_offset,
        certificate=certificate,
    )


def greedy(
    G,
    amplitudes,
    *,
    phase_div: int = 16,
    max_iter: int = 1,
    random_state=None,
    constraint="normalize",
    phase_levels: int | None = None,
    phase_offset=None,
    certificate: bool = True,
    check_finite: bool = True,
):
    """Greedy phase search over quantised phases (AUTD3's Greedy) from a transfer matrix.

    Parameters
    ----------
    G : (m, N) array_like
        Transfer matrix, foci x transducers.
    amplitudes : (m,) array_like or scalar
        Target pressure magnitudes (Pa), >= 0.
    phase_div : int
        Phase levels searched (AUTD3's 16); output phases are multiples of 2 pi / phase_div.
    max_iter : int
        Passes over the transducers: 1 is AUTD3's algorithm, more refine by coordinate
        descent until a pass changes nothing.
    random_state : None, int or numpy Generator
        Seeds the order in which transducers are visited (AUTD3 draws it unseeded).
    constraint : str or tuple
        Emission constraint; every transducer leaves Greedy at amplitude 1, so
        ``"normalize"`` and AUTD3's default ``("uniform", 1)`` agree.
    phase_levels, phase_offset
        Phase quantisation and calibration (:mod:`fastrpca.holography.hardware`);
        ``phase_levels`` must be a multiple of ``phase_div``.
    certificate : bool
        Compute ``lower_bound`` (an SDP dual bound, alpha = 1e-3) for
        ``rounded_objective``.
    check_finite : bool
        Reject NaN / Inf in ``G`` and ``amplitudes``.

    Returns
    -------
    HoloResult
        ``n_iter`` passes; ``objective`` is ``sum_j abs(a_j - abs(p_j))``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrpca import holography as H
    >>> G = H.transfer_matrix(H.autd3(), [[60.0, 70.0, 150.0], [120.0, 70.0, 150.0]])
    >>> r = H.greedy(G, [5e3, 5e3], random_state=0)
    >>> levels = r.phase * 16 / (2 * np.pi)
    >>> bool(np.allclose(levels, levels.round()))
    True
    """
    from .methods import _from_G

    return _from_G(
        "greedy",
        G,
        amplitudes,
        constraint=constraint,
        max_iter=max_iter,
        random_state=random_state,
        check_finite=check_finite,
        phase_div=phase_div,
        phase_levels=phase_levels,
        phase_offset=phase_offset,
        certificate=certificate,
    )


def check_levels(method: str, po: PhaseOnlyOptions, levels: int) -> None:
    """Greedy's search levels must be emitted exactly by the device's levels."""
    if method == "greedy" and levels and levels % po.phase_div:
        raise ValueError(
            f"phase_levels = {levels} cannot emit Greedy's {po.phase_div} phase levels "
            f"exactly; pass a phase_div that divides phase_levels (e.g. "
            f"{math.gcd(levels, po.phase_div)})"
        )
