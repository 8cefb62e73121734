"""Slow NumPy references for the lasso / elastic-net / ridge solvers.

Objective: 1/2 ||Ax - y||^2 + l1 ||x||_1 + l2/2 ||x||^2 (x >= 0 if positive). Written
from the papers' update rules, with no active sets, caching or fused loops.
"""

from __future__ import annotations

import numpy as np


def soft(v, tau, positive=False):
    if positive:
        return np.maximum(v - tau, 0.0)
    return np.sign(v) * np.maximum(np.abs(v) - tau, 0.0)


def objective(A, y, x, l1, l2=0.0):
    r = A @ x - y
    return 0.5 * r @ r + l1 * np.abs(x).sum() + 0.5 * l2 * x @ x


def dual_gap(A, y, x, l1, l2=0.0, positive=False):
    """Gap at x for the dual point theta = s r (rescaled residual of [A; sqrt(l2) I])."""
    r = y - A @ x
    rr = np.concatenate([r, -np.sqrt(l2) * x])
    c = A.T @ r - l2 * x
    cmax = c.max() if positive else np.abs(c).max()
    s = 1.0 if cmax <= l1 else l1 / cmax
    theta = s * rr
    yy = np.concatenate([y, np.zeros_like(x)])
    dual = yy @ theta - 0.5 * theta @ theta
    return objective(A, y, x, l1, l2) - dual


def ista(A, y, l1, l2=0.0, n_iter=5000, positive=False):
    """Proximal gradient with step 1/L (Beck & Teboulle 2009, ISTA)."""
    L = np.linalg.norm(A, 2) ** 2 + l2
    x = np.zeros(A.shape[1])
    for _ in range(n_iter):
        g = A.T @ (A @ x - y) + l2 * x
        x = soft(x - g / L, l1 / L, positive)
    return x


def fista(A, y, l1, l2=0.0, n_iter=3000, positive=False):
    """FISTA (Beck & Teboulle 2009), no restart."""
    L = np.linalg.norm(A, 2) ** 2 + l2
    x = z = np.zeros(A.shape[1])
    t = 1.0
    for _ in range(n_iter):
        g = A.T @ (A @ z - y) + l2 * z
        x_new = soft(z - g / L, l1 / L, positive)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = x_new + (t - 1) / t_new * (x_new - x)
        x, t = x_new, t_new
    return x


def admm(A, y, l1, l2=0.0, rho=1.0, n_iter=5000, positive=False):
    """Scaled ADMM for the lasso (Boyd et al. 2011, section 6.4)."""
    n = A.shape[1]
    M = A.T @ A + (rho + l2) * np.eye(n)
    Aty = A.T @ y
    z = u = np.zeros(n)
    for _ in range(n_iter):
        x = np.linalg.solve(M, Aty + rho * (z - u))
        z = soft(x + u, l1 / rho, positive)
        u = u + x - z
    return z


def cd(A, y, l1, l2=0.0, n_sweeps=2000, positive=False):
    """Cyclic coordinate descent (Friedman et al. 2010), full sweeps only."""
    m, n = A.shape
    x = np.zeros(n)
    r = y.astype(float).copy()
    norms = (A * A).sum(axis=0)
    for _ in range(n_sweeps):
        for j in range(n):
            if norms[j] == 0:
                continue
            rho_j = A[:, j] @ r + norms[j] * x[j]
            new = soft(rho_j, l1, positive) / (norms[j] + l2)
            r -= (new - x[j]) * A[:, j]
            x[j] = new
    return x


def ridge(A, y, alpha):
    """argmin ||Ax - y||^2 + alpha ||x||^2 by the normal equations."""
    n = A.shape[1]
    return np.linalg.solve(A.T @ A + alpha * np.eye(n), A.T @ y)


# ---------------------------------------------------------------- weights, complex data
def soft_complex(v, tau):
    """Modulus soft threshold: v (1 - tau/|v|)_+ (the sign for real v)."""
    a = np.abs(v)
    return np.where(a > tau, v * (1 - tau / np.where(a > 0, a, 1)), 0 * v)


def weighted_objective(A, y, x, l1, l2=0.0, weights=None, sample_weight=None):
    """1/2 sum_i s_i |(Ax - y)_i|^2 + l1 sum_j w_j |x_j| + l2/2 ||x||^2 (real or complex)."""
    w = np.ones(A.shape[1]) if weights is None else weights
    s = np.ones(A.shape[0]) if sample_weight is None else sample_weight
    r = A @ x - y
    return (
        0.5 * np.sum(s * np.abs(r) ** 2)
        + l1 * np.sum(w * np.abs(x))
        + 0.5 * l2 * np.sum(np.abs(x) ** 2)
    )


def weighted_cd(A, y, l1, l2=0.0, weights=None, sample_weight=None, n_sweeps=2000):
    """Cyclic coordinate descent with sample weights s and penalty weights w, real or
    complex, written from the coordinate-wise optimality condition: for coordinate j,
    x_j = soft(sum_i s_i conj(A_ij) r_i + d_j x_j, l1 w_j) / (d_j + l2) with
    d_j = sum_i s_i |A_ij|^2 and r the weighted-problem residual (no row scaling)."""
    m, n = A.shape
    w = np.ones(n) if weights is None else weights
    s = np.ones(m) if sample_weight is None else sample_weight
    x = np.zeros(n, dtype=np.result_type(A, y))
    r = y.astype(x.dtype).copy()
    d = (s[:, None] * np.abs(A) ** 2).sum(axis=0)
    for _ in range(n_sweeps):
        for j in range(n):
            if d[j] == 0:
                continue
            rho = np.sum(s * np.conj(A[:, j]) * r) + d[j] * x[j]
            new = soft_complex(rho, l1 * w[j]) / (d[j] + l2)
            r -= (new - x[j]) * A[:, j]
            x[j] = new
    return x


def complex_lasso_embedded(A, y, l1, n_iter=20000):
    """The complex lasso as a real group lasso: x = u + iv, unknowns z = [u; v] (2n),
    design [[Re A, -Im A], [Im A, Re A]], groups {u_j, v_j} with penalty
    l1 sqrt(u_j^2 + v_j^2). Solved by FISTA with group soft thresholding, in real
    arithmetic only (independent of any complex code path)."""
    m, n = A.shape
    Ar, Ai = A.real, A.imag
    B = np.block([[Ar, -Ai], [Ai, Ar]])
    b = np.concatenate([y.real, y.imag])
    L = np.linalg.norm(B, 2) ** 2
    z = x = np.zeros(2 * n)
    t = 1.0
    for _ in range(n_iter):
        g = z - B.T @ (B @ z - b) / L
        u, v = g[:n], g[n:]
        norm = np.hypot(u, v)
        scale = np.maximum(1 - (l1 / L) / np.where(norm > 0, norm, 1), 0)
        x_new = np.concatenate([u * scale, v * scale])
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = x_new + (t - 1) / t_new * (x_new - x)
        x, t = x_new, t_new
    return x[:n] + 1j * x[n:]
