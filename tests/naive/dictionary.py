"""Slow NumPy references for robust dictionary learning and the patch helpers.

Objective: 1/2 ||Y - D X - S||_F^2 + lam ||X||_1 + lam_s ||S||_1 over unit-norm atoms.
Written from the definitions: FISTA on the stacked variable [x; s] with the matrix
[D, I] formed, the statistics as dense products, Mairal et al.'s atom update as a loop
of its formula, and patches cut and pasted pixel by pixel.
"""

from __future__ import annotations

import numpy as np


def soft(v, tau):
    return np.sign(v) * np.maximum(np.abs(v) - tau, 0.0)


def objective(D, Y, X, S, lam, lam_s):
    """The objective per column (S = 0 and no S term when lam_s is infinite)."""
    R = Y - D @ X - S
    val = 0.5 * np.sum(R * R, axis=0) + lam * np.abs(X).sum(axis=0)
    if np.isfinite(lam_s):
        val = val + lam_s * np.abs(S).sum(axis=0)
    return val


def robust_code(D, y, lam, lam_s, n_iter=20000):
    """FISTA (Beck & Teboulle 2009) on min over z = [x; s] of 1/2||[D I] z - y||^2 +
    lam ||x||_1 + lam_s ||s||_1, step 1 / ||[D I]||^2."""
    m, n = D.shape
    M = np.hstack([D, np.eye(m)])
    weights = np.concatenate([np.full(n, lam), np.full(m, lam_s)])
    L = np.linalg.norm(M, 2) ** 2
    z = w = np.zeros(n + m)
    t = 1.0
    for _ in range(n_iter):
        g = M.T @ (M @ w - y)
        z_new = soft(w - g / L, weights / L)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        w = z_new + (t - 1) / t_new * (z_new - z)
        z, t = z_new, t_new
    return z[:n], z[n:]


def statistics(Y, X, S):
    """A = X X^T, B = (Y - S) X^T, and (||Y - S||^2, ||X||_1, ||S||_1)."""
    T = Y - S
    return X @ X.T, T @ X.T, (np.sum(T * T), np.abs(X).sum(), np.abs(S).sum())


def atom_pass(D, A, B):
    """One pass of Mairal et al.'s block-coordinate update (Algorithm 2), each atom
    projected on the unit sphere; atoms with A_jj = 0 are left alone."""
    D = D.copy()
    for j in range(D.shape[1]):
        if A[j, j] <= 0:
            continue
        u = D[:, j] + (B[:, j] - D @ A[:, j]) / A[j, j]
        D[:, j] = u / np.linalg.norm(u)
    return D


def surrogate(D, A, B, c, l1x, l1s, lam, lam_s):
    """1/2 (c - 2 tr(D^T B) + tr(D^T D A)) + lam l1x + lam_s l1s."""
    val = 0.5 * (c - 2 * np.sum(D * B) + np.sum((D.T @ D) * A)) + lam * l1x
    return val + (lam_s * l1s if np.isfinite(lam_s) else 0.0)


def extract_patches(image, size, step):
    """Patches as columns, corners every step pixels plus the last one flush with the
    border, row-major corners, each patch flattened row by row (channels last)."""
    h, w = image.shape[:2]

    def starts(length):
        s = list(range(0, length - size + 1, step))
        if s[-1] != length - size:
            s.append(length - size)
        return s

    cols = []
    for i in starts(h):
        for j in starts(w):
            cols.append(image[i : i + size, j : j + size].reshape(-1))
    return np.array(cols).T


def patches_to_image(P, shape, size, step):
    """Average of the patch values covering each pixel."""
    h, w = shape[:2]
    out = np.zeros(shape)
    count = np.zeros(shape[:2])

    def starts(length):
        s = list(range(0, length - size + 1, step))
        if s[-1] != length - size:
            s.append(length - size)
        return s

    c = 0
    for i in starts(h):
        for j in starts(w):
            patch = P[:, c].reshape((size, size) + tuple(shape[2:]))
            for a in range(size):
                for b in range(size):
                    out[i + a, j + b] += patch[a, b]
                    count[i + a, j + b] += 1
            c += 1
    return out / (count if len(shape) == 2 else count[:, :, None])
