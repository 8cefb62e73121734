"""A certificate for any hologram: how far its focal phases are from the best possible.

For focal phases u (|u_j| = 1) the best drive in the Tikhonov sense leaves the residual
min_q ||G q - P u||^2 + alpha^2 ||q||^2 = u^H M u, M = alpha^2 P (G G^H + alpha^2 I)^-1 P
(Inoue et al.'s SDP objective). Every hologram has focal phases, u = arg(G q) for its
drive q, so every hologram has an objective ``rounded_objective = u^H M u``. The
semidefinite relaxation min Tr(M X), diag X = 1, X PSD is a lower bound on that objective
for *every* u, and any dual-feasible point bounds the relaxation from below: with
y_i = Re (M X)_ii for a near-optimal X (from :func:`fastrpca.phasecut`),
sum(y) + m lambda_min(M - Diag(y)) <= min_X Tr(M X) <= u^H M u. Since M is positive
semidefinite, 0 is a bound too; ``lower_bound`` is the larger of the two. Then

    gap = (rounded_objective - lower_bound) / lower_bound

is a guaranteed upper bound on how far (relatively) the hologram's phases are from the
optimal ones, whatever method produced them, and it is tight when the relaxation is
(measured within 1e-6 of the SDP optimum found by an interior-point solver).
"""

from __future__ import annotations

import warnings

import numpy as np

from .._core.result import Result
from .._core.validation import as_array, ldexp, positive, scale_exponent
from ._kernels import acoustics as _k
from .maxcut import dual_bound, phasecut

__all__ = ["certify", "Certificate", "sdp_matrix"]


class Certificate(Result):
    """Result of :func:`certify`.

    Attributes
    ----------
    lower_bound : float
        A lower bound on u^H M u valid for every unit-modulus u.
    rounded_objective : float
        u^H M u for the drive's focal phases u = arg(G q).
    gap : float
        (rounded_objective - lower_bound) / lower_bound (inf when the bound is 0).
    focal_phase : ndarray (m,)
        arg(G q) in [0, 2 pi).
    objective : float
        Tr(M X) of the relaxed solution that gave the bound.
    n_iter : int
        PhaseCut sweeps of that solution.
    converged : bool
        Whether that PhaseCut solve met its tolerance (the bound is valid either way).
    history : dict of ndarray
        Empty.
    message : str
        The gap in words.
    """

    lower_bound: float
    rounded_objective: float
    gap: float
    focal_phase: np.ndarray
    objective: float


def sdp_matrix(G: np.ndarray, amplitudes: np.ndarray, alpha: float) -> np.ndarray:
    """M = alpha^2 P (G G^H + alpha^2 I)^-1 P (Gram and Cholesky kernels, no cancellation)."""
    Ms, a2, e2 = scaled_sdp_matrix(G, amplitudes, alpha)
    return np.ldexp(a2 * Ms.real, e2) + 1j * np.ldexp(a2 * Ms.imag, e2)


def scaled_sdp_matrix(G, amplitudes, alpha) -> tuple[np.ndarray, float, int]:
    """(Ms, a2, e2) with M = 2**e2 a2 Ms, Ms of entries near 1 whatever the scale of G,
    alpha and the amplitudes (powers of two, exact): with G' = G 2**-eg, alpha' = alpha
    2**-eg and P' = P 2**-ea, M = alpha'^2 2**(2 ea) P' (G' G'^H + alpha'^2 I)^-1 P'.
    eg brings the larger of G and alpha near 1, so neither alpha'^2 nor G' G'^H
    overflows; alpha'^2 enters a2 and e2 as mantissa and exponent (it may underflow)."""
    G = np.ascontiguousarray(G, dtype=np.complex128)
    a = np.asarray(amplitudes, dtype=np.float64)
    eg = scale_exponent(max(_k.max_component(G), alpha), G.dtype, force=True)
    ea = scale_exponent(float(a.max()), a.dtype, force=True)
    Gs = ldexp(G, -eg)
    As = np.ldexp(a, -ea)
    als = float(np.ldexp(alpha, -eg))
    m = G.shape[0]
    A = np.empty((m, m), np.complex128)
    L = np.empty((m, m), np.complex128)
    Ainv = np.empty((m, m), np.complex128)
    _k.gram(Gs, als * als, A)
    if not _k.cholesky_inverse(A, L, Ainv):
        raise ValueError(
            "G G^H + alpha^2 I is not positive definite in floating point; increase alpha"
        )
    Ms = As[:, None] * Ainv * As[None, :]
    mant, ex = np.frexp(als)  # alpha'^2 = mant^2 2**(2 ex), mant in [0.5, 1)
    return (Ms + Ms.conj().T) * 0.5, float(mant * mant), 2 * ea + 2 * int(ex)


def focal_objective(M: np.ndarray, field: np.ndarray) -> tuple[float, np.ndarray]:
    """(u^H M u, u) for u = field / |field| (u_j = 1 where the field vanishes)."""
    a = np.abs(field)
    u = np.where(a > 0, field / np.where(a > 0, a, 1.0), 1.0 + 0j)
    return float(np.real(np.vdot(u, M @ u))), u


def bound_and_gap(lower: float, rounded: float) -> tuple[float, float]:
    """The bound clipped at 0 (M is PSD) and the relative gap it certifies."""
    lower = max(float(lower), 0.0)
    if rounded <= lower:
        return lower, 0.0
    return lower, (rounded - lower) / lower if lower > 0 else np.inf


def relaxation_bound(M, X=None, *, tol=1e-8, max_iter=5000, random_state=None):
    """(lower bound, Tr(M X), sweeps, converged) from X, or from a PhaseCut solve."""
    if X is not None:
        lower, _ = dual_bound(M, X)
        return lower, float(np.real(np.einsum("ij,ji->", M, X))), 0, True
    with warnings.catch_warnings():  # a looser X still gives a valid (looser) bound
        warnings.simplefilter("ignore")
        pc = phasecut(M, tol=tol, max_iter=max_iter, random_state=random_state)
    return pc.lower_bound, pc.objective, pc.n_iter, pc.converged


def certify(
    G,
    amplitudes,
    drive,
    *,
    alpha: float = 1e-3,
    tol: float = 1e-8,
    max_iter: int = 5000,
    random_state=None,
) -> Certificate:
    """Certify any drive: its focal-phase objective and a lower bound valid for all phases.

    Parameters
    ----------
    G : (m, N) array_like
        Transfer matrix (calibrated, if the array has phase offsets).
    amplitudes : (m,) array_like or scalar
        Target pressure magnitudes (Pa).
    drive : (N,) array_like
        Complex drive q (amplitude exp(i phase)) from any method, or the user's own.
    alpha : float
        Tikhonov parameter of M.
    tol, max_iter, random_state
        Of the PhaseCut solve that produces the dual point.

    Returns
    -------
    Certificate

    Examples
    --------
    >>> import numpy as np
    >>> from fastrpca import holography as H
    >>> G = H.transfer_matrix(H.autd3(), [[60.0, 70.0, 150.0], [120.0, 70.0, 150.0]])
    >>> c = H.certify(G, [5e3, 5e3], H.naive(G, [5e3, 5e3]).drive)
    >>> bool(c.lower_bound <= c.rounded_objective)
    True
    """
    G = as_array(G, "G", ndim=2).astype(np.complex128, copy=False)
    m, n = G.shape
    a = as_array(amplitudes, "amplitudes", ndim=(0, 1), allow_complex=False)
    a = np.broadcast_to(a, (m,)).astype(np.float64) if a.ndim == 0 else a.astype(np.float64)
    if a.shape != (m,):
        raise ValueError(f"amplitudes has {a.shape[0]} entries for {m} foci; pass one per focus")
    if (a < 0).any():
        raise ValueError("amplitudes must be >= 0 (pressure magnitudes in Pa)")
    q = as_array(drive, "drive", ndim=1).astype(np.complex128, copy=False)
    if q.shape != (n,):
        raise ValueError(f"drive has {q.shape[0]} entries for {n} transducers; pass one each")
    alpha = positive(alpha, "alpha")
    Ms, a2, e2 = scaled_sdp_matrix(G, a, alpha)  # bound and gap in units free of overflow
    rounded, u = focal_objective(Ms, G @ q)
    lower, relaxed, sweeps, converged = relaxation_bound(
        Ms, tol=tol, max_iter=max_iter, random_state=random_state
    )
    lower, gap = bound_and_gap(lower, rounded)
    with np.errstate(over="ignore", under="ignore"):  # inf / 0 beyond float64's range
        lower, rounded, relaxed = (float(np.ldexp(a2 * v, e2)) for v in (lower, rounded, relaxed))
    return Certificate(
        lower_bound=lower,
        rounded_objective=rounded,
        gap=gap,
        focal_phase=np.angle(u) % (2 * np.pi),
        objective=relaxed,
        n_iter=sweeps,
        converged=converged,
        message=f"relative gap to the SDP lower bound: {gap:.3e}",
        history={},
    )
