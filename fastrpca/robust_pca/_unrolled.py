"""Forward passes with a tape, and hand-written backward passes, of the unrolled RPCA layers.

Training code for :class:`fastrpca.robust_pca.learned.LearnedRPCA` (NumPy, full SVDs where
a gradient needs them); the fixed-latency inference runs in
:mod:`fastrpca.robust_pca._kernels.learned` and :mod:`fastrpca.robust_pca.ialm`.

Two networks, both scale-equivariant (their parameters are relative to a norm of M):

``"factor"`` (Cai, Liu & Yin 2021, learned ScaledGD)
    ``X0 = P_r(clip(M, z_0))`` (best rank-r approximation, balanced factors ``L, R``),
    then per layer k ``E = -clip(M - L R^T, z_k)`` and
    ``L <- L - eta_k E R (R^T R)^-1``, ``R <- R - eta_k E^T L (L^T L)^-1``;
    ``z_k = t_k rms(M)`` with ``rms(M) = ||M||_F / sqrt(mn)``. Output ``L R^T``.
``"ialm"`` (Lin, Chen & Ma 2010, unrolled)
    ``S_k = shrink(M - L_{k-1} + Y_{k-1}/mu_k, lam_k/mu_k)``,
    ``L_k = SVT(M - S_k + Y_{k-1}/mu_k, 1/mu_k)``, ``Y_k = Y_{k-1} + mu_k (M - L_k - S_k)``,
    ``mu_k = c_k / ||M||_2``, ``lam_k = l_k lam``, ``Y_0 = M / max(||M||_2, |M|_max / lam)``.

The gradient through an SVD-based map ``X -> U f(s) V^T`` (the SVT, the rank-r
truncation) uses the Jacobian of a spectral function (Candes, Sing-Long & Trzasko 2013),
which is self-adjoint, so the backward pass applies the same formula.
"""

from __future__ import annotations

import numpy as np


def _svd(X):
    """Full thin SVD of ``X`` as ``(transposed, U, s, V)`` with ``U`` the taller side."""
    transposed = X.shape[0] < X.shape[1]
    U, s, Vh = np.linalg.svd(X.T if transposed else X, full_matrices=False)
    return transposed, U, s, Vh.T


def spectral_adjoint(svd, f, fprime, G):
    """Adjoint (equal to the map) of the Jacobian of ``X -> U diag(f(s)) V^T`` applied to G.

    ``svd`` from :func:`_svd` at X; ``f``, ``fprime`` the values ``f(s_i)``, ``f'(s_i)``.
    """
    transposed, U, s, V = svd
    G = G.T if transposed else G
    K = U.T @ G @ V
    si, sj = s[:, None], s[None, :]
    fi, fj = f[:, None], f[None, :]
    gap = si - sj
    distinct = np.abs(gap) > 1e-12 * (si + sj)
    with np.errstate(divide="ignore", invalid="ignore"):
        sym = np.where(distinct, (fi - fj) / np.where(distinct, gap, 1.0), 0.0)
        skew = np.where(si + sj > 0, (fi + fj) / np.where(si + sj > 0, si + sj, 1.0), 0.0)
        ratio = np.where(s > 0, f / np.where(s > 0, s, 1.0), 0.0)
    sym = np.where(distinct, sym, 0.5 * (fprime[:, None] + fprime[None, :]))
    inner = sym * (0.5 * (K + K.T)) + skew * (0.5 * (K - K.T))
    np.fill_diagonal(inner, fprime * np.diag(K))
    out = U @ inner @ V.T + ((G @ V - U @ K) * ratio) @ V.T
    return out.T if transposed else out


# ---------------------------------------------------------------- factor layers
def factor_start(M, rank, threshold):
    """The start of the factor layers: ``(svd, L, R)``, the SVD of ``clip(M, z0)`` (for
    the gradient) and the balanced factors of its rank-r truncation."""
    m, n = M.shape
    z0 = threshold * np.sqrt(np.sum(M * M) / (m * n))
    svd = _svd(np.clip(M, -z0, z0))
    transposed, U, s, V = svd
    Ur, Vr = (V, U) if transposed else (U, V)
    root = np.sqrt(s[:rank])
    return svd, Ur[:, :rank] * root, Vr[:, :rank] * root


def factor_forward(M, rank, thresholds, steps, layers, start=None):
    """Run ``layers`` factor layers; return ``(L R^T, tape)``. ``start`` from
    :func:`factor_start` (computed here when None)."""
    m, n = M.shape
    scale = np.sqrt(np.sum(M * M) / (m * n))
    zeta = np.asarray(thresholds) * scale
    svd, L, R = factor_start(M, rank, thresholds[0]) if start is None else start
    tape = []
    for k in range(layers):
        T = M - L @ R.T
        E = -np.clip(T, -zeta[k + 1], zeta[k + 1])
        PR = np.linalg.inv(R.T @ R)
        PL = np.linalg.inv(L.T @ L)
        FL, FR = E @ R, E.T @ L
        tape.append((L, R, T, E, PR, PL, FL, FR))
        L, R = L - steps[k] * FL @ PR, R - steps[k] * FR @ PL
    return L @ R.T, (M, rank, zeta, scale, svd, tape, L, R)


def factor_backward(tape, gX, steps, start=True):
    """Gradients of a scalar loss w.r.t. the relative thresholds and the steps, given its
    gradient ``gX`` w.r.t. the output of :func:`factor_forward` (that w.r.t. the start's
    threshold left 0 unless ``start``)."""
    M, rank, zeta, scale, svd, layers, L, R = tape
    gL, gR = gX @ R, gX.T @ L
    g_zeta = np.zeros(zeta.size)
    g_steps = np.zeros(len(steps))
    for k in range(len(layers) - 1, -1, -1):
        L, R, T, E, PR, PL, FL, FR = layers[k]
        eta = steps[k]
        A, B = gL, gR
        g_steps[k] = -np.sum(A * (FL @ PR)) - np.sum(B * (FR @ PL))
        gFL, gPR = -eta * A @ PR, -eta * FL.T @ A
        gFR, gPL = -eta * B @ PL, -eta * FR.T @ B
        gE = gFL @ R.T + L @ gFR.T
        gL_new = A + E @ gFR
        gR_new = B + E.T @ gFL
        H = PR @ gPR @ PR
        gR_new -= R @ (H + H.T)
        H = PL @ gPL @ PL
        gL_new -= L @ (H + H.T)
        # E = -clip(T, z): dE/dT = -1 inside, dE/dz = -sign(T) outside
        inside = np.abs(T) < zeta[k + 1]
        gT = -gE * inside
        g_zeta[k + 1] = -np.sum(gE * np.sign(T) * ~inside)
        gL = gL_new - gT @ R
        gR = gR_new - gT.T @ L
    if not start:
        return g_zeta * scale, g_steps
    # Start: the layers are invariant under (L, R) -> (L Q, R Q^-T), so only X0 = L R^T
    # matters; for the balanced factors L = U S^1/2, R = V S^1/2 a tangent dX0 moves them
    # by dL = (I - UU^T/2) dX0 V S^-1/2, dR = (I - VV^T/2) dX0^T U S^-1/2.
    transposed, U, s, V = svd
    Ur, Vr = (V[:, :rank], U[:, :rank]) if transposed else (U[:, :rank], V[:, :rank])
    inv_root = 1.0 / np.sqrt(s[:rank])
    a, b = gL * inv_root, gR * inv_root
    gX0 = a @ Vr.T + Ur @ b.T - Ur @ (0.5 * (Ur.T @ a + b.T @ Vr)) @ Vr.T
    keep = np.arange(s.size) < rank
    gZ0 = spectral_adjoint(svd, np.where(keep, s, 0.0), keep.astype(float), gX0)
    outside = np.abs(M) > zeta[0]  # Z0 = clip(M, z0)
    g_zeta[0] = np.sum(gZ0 * np.sign(M) * outside)
    return g_zeta * scale, g_steps  # z_k = t_k rms(M)


# ---------------------------------------------------------------- IALM layers
def _shrink(x, t):
    return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)


def ialm_forward(M, mu, lam, lam0, layers):
    """Run ``layers`` IALM layers (relative ``mu``, ``lam``); return ``(L, S, Y, tape)``."""
    norm_two = float(np.linalg.norm(M, 2))
    Y = M / max(norm_two, np.abs(M).max() / lam0)
    L = np.zeros_like(M)
    S = L
    tape = []
    for k in range(layers):
        mu_k, lam_k = mu[k] / norm_two, lam[k] * lam0
        A = M - L + Y / mu_k
        S = _shrink(A, lam_k / mu_k)
        svd = _svd(M - S + Y / mu_k)
        s = svd[2]
        f = np.maximum(s - 1.0 / mu_k, 0.0)
        transposed, U, _, V = svd
        keep = s > 1.0 / mu_k
        L = (U[:, keep] * f[keep]) @ V[:, keep].T
        L = L.T if transposed else L
        Z = M - L - S
        tape.append((mu_k, lam_k, Y, A, svd, f, keep, Z))
        Y = Y + mu_k * Z
    return L, S, Y, (norm_two, lam0, tape)


def ialm_backward(tape, gL, mu, lam):
    """Gradients of a scalar loss w.r.t. the relative ``mu`` and ``lam``, given its
    gradient ``gL`` w.r.t. the ``L`` of :func:`ialm_forward`."""
    norm_two, lam0, layers = tape
    gY = np.zeros_like(gL)
    g_mu = np.zeros(len(mu))
    g_lam = np.zeros(len(lam))
    for k in range(len(layers) - 1, -1, -1):
        mu_k, lam_k, Yp, A, svd, f, keep, Z = layers[k]
        # Y_k = Yp + mu Z, Z = M - L_k - S_k
        g_muk = np.sum(gY * Z)
        gLk = gL - mu_k * gY
        gS = -mu_k * gY
        gYp = gY.copy()
        # L_k = SVT(B, 1/mu): the Jacobian w.r.t. B, and dL/dtau = -U_+ V_+^T
        gB = spectral_adjoint(svd, f, keep.astype(float), gLk)
        transposed, U, _, V = svd
        UVt = U[:, keep] @ V[:, keep].T
        g_tau = -np.sum(gLk * (UVt.T if transposed else UVt))
        g_muk -= g_tau / mu_k**2
        # B = M - S + Yp / mu
        gS -= gB
        gYp += gB / mu_k
        g_muk -= np.sum(gB * Yp) / mu_k**2
        # S = shrink(A, lam / mu)
        active = np.abs(A) > lam_k / mu_k
        gA = gS * active
        g_theta = -np.sum(gS * np.sign(A) * active)
        g_lam[k] = g_theta / mu_k * lam0
        g_muk -= g_theta * lam_k / mu_k**2
        # A = M - L_{k-1} + Yp / mu
        gL = -gA
        gYp += gA / mu_k
        g_muk -= np.sum(gA * Yp) / mu_k**2
        g_mu[k] = g_muk / norm_two
        gY = gYp
    return g_mu, g_lam
