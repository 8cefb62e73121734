"""Slow NumPy streaming Robust PCA and planted drifting sequences.

The reference for :mod:`fastrpca.robust_pca.stream`: the same per-frame algorithm written with
whole-array NumPy operations, LAPACK SVD / QR and least squares instead of fused row
passes, Jacobi rotations and Cholesky QR.
"""

import numpy as np


def clip(d, t):
    return np.clip(d, -t, t)


def split(U, z, t, tol, max_inner):
    """Robust projection + least-squares refit; returns (r, n_inner)."""
    r = U.T @ z
    for n_inner in range(1, max_inner + 1):
        step = U.T @ clip(z - U @ r, t)  # r_new = U^T (z - shrink(z - U r, t))
        r = r + step
        if np.linalg.norm(step) <= tol * np.linalg.norm(z):
            break
    inside = np.abs(z - U @ r) <= t
    Ui = U[inside]
    if np.linalg.eigvalsh(Ui.T @ Ui).min() > 1e-9:
        r = np.linalg.lstsq(Ui, z[inside], rcond=None)[0]
    return r, n_inner


def clean(d, cut):
    """Residuals beyond ``cut`` are treated as missing (contribute 0)."""
    return np.where(np.abs(d) <= cut, d, 0.0)


def update(U, sv, x, forget):
    """Top-k SVD of [sqrt(forget) U diag(sv), x] (Brand 2002), orthonormalised."""
    k = U.shape[1]
    X = np.column_stack([np.sqrt(forget) * U * sv, x])
    Q, s, _ = np.linalg.svd(X, full_matrices=False)
    Q, R = np.linalg.qr(Q[:, :k])
    return Q * np.sign(np.diag(R)), s[:k]


class NaiveStream:
    """Fit by a given batch background L (m, n); then step(z) -> (B, S, n_inner, n_sparse)."""

    def __init__(self, L, rank, threshold, forget, reject=4.0, tol=1e-6, max_inner=50):
        n = L.shape[1]
        weights = forget ** ((n - 1 - np.arange(n)) / 2.0)
        U, s, _ = np.linalg.svd(L * weights, full_matrices=False)
        self.U, self.sv = U[:, :rank], s[:rank]
        self.t, self.forget, self.reject = threshold, forget, reject
        self.tol, self.max_inner = tol, max_inner

    def step(self, z, update_basis=True):
        r, n_inner = split(self.U, z, self.t, self.tol, self.max_inner)
        B = self.U @ r
        S = np.where(np.abs(z - B) > self.t, z - B, 0.0)
        if update_basis:
            self.U, self.sv = update(
                self.U, self.sv, B + clean(z - B, self.reject * self.t), self.forget
            )
        return B, S, n_inner, int(np.count_nonzero(S))


def drifting(
    shape, n_frames, rank, *, fraction=0.05, magnitude=10.0, low=0.0, drift=0.3, noise=0.0, seed=0
):
    """A planted video: slowly rotating rank-``rank`` background plus sparse anomalies.

    Background frame t is ``U(t) c_t`` with ``U(t)`` the orthonormalised
    ``U0 + drift * t / n_frames * W`` (the subspace turns by about ``drift`` radians over
    the sequence) and coefficients ``c_t`` varying around a fixed mean with a slow
    illumination gain ``1 + 0.2 sin(2 pi t / n_frames)``. Anomalies: ``fraction`` of the
    entries of each frame, random sign, modulus uniform in [low, magnitude]. Returns
    ``(frames, background, sparse)``, each of shape (n_frames, *shape).
    """
    rng = np.random.default_rng(seed)
    m = int(np.prod(shape))
    U0 = np.linalg.qr(rng.standard_normal((m, rank)))[0]
    W = rng.standard_normal((m, rank)) / np.sqrt(m)
    mean = rng.standard_normal(rank) + 2.0
    B = np.empty((n_frames, m))
    S = np.zeros((n_frames, m))
    for t in range(n_frames):
        U = np.linalg.qr(U0 + drift * t / n_frames * W)[0]
        gain = 1 + 0.2 * np.sin(2 * np.pi * t / n_frames)
        B[t] = U @ (np.sqrt(m) * gain * (mean + 0.3 * rng.standard_normal(rank)))
        support = rng.random(m) < fraction
        size = int(support.sum())
        S[t, support] = rng.choice([-1.0, 1.0], size) * rng.uniform(low, magnitude, size)
    M = B + S + noise * rng.standard_normal(B.shape)
    shape = (n_frames,) + tuple(shape)
    return M.reshape(shape), B.reshape(shape), S.reshape(shape)
