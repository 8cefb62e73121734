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
