"""Plain NumPy Robust PCA by IALM, following Lin, Chen & Ma (2010) line by line.

Full SVD every iteration, fresh temporaries everywhere, no fusion: the reference the
kernels are checked against, iteration for iteration.
"""
import numpy as np


def soft_threshold(x, tau):
    """Shrink the modulus of every entry by ``tau`` (real or complex)."""
    mag = np.abs(x)
    scale = np.maximum(mag - tau, 0) / np.where(mag > 0, mag, 1)
    return x * scale


def svt(X, tau):
    """Singular value thresholding by a full SVD; returns (L, rank)."""
    U, s, Vh = np.linalg.svd(X, full_matrices=False)
    keep = s > tau
    return (U[:, keep] * (s[keep] - tau)) @ Vh[keep], int(keep.sum())


def ialm(M, lam=None, tol=1e-7, max_iter=1000, rho=1.5, mask=None):
    """The reference loop: S first, then L, then the dual and penalty updates.

    With ``mask`` (True = observed) the constraint holds on observed entries only:
    unobserved entries of S are free (reported as 0) and those of L are imputed.
    Returns L, S, n_iter and the per-iteration (residual, rank, mu) history.
    """
    M = np.asarray(M)
    m, n = M.shape
    obs = np.ones(M.shape, bool) if mask is None else np.asarray(mask, bool)
    D = np.where(obs, M, 0)
    lam = 1 / np.sqrt(max(m, n)) if lam is None else lam
    norm_two = np.linalg.norm(D, 2)
    norm_inf = np.abs(D).max() / lam
    Y = D / max(norm_two, norm_inf)
    mu = 1.25 / norm_two
    mu_bar = mu * 1e7
    d_norm = np.linalg.norm(D)
    L = np.zeros_like(D)
    S = np.zeros_like(D)
    history = []
    for it in range(1, max_iter + 1):
        T = D - L + Y / mu
        S = np.where(obs, soft_threshold(T, lam / mu), 0)
        X = np.where(obs, D - S + Y / mu, L)
        L, rank = svt(X, 1 / mu)
        Z = np.where(obs, D - L - S, 0)
        Y = Y + mu * Z
        residual = np.linalg.norm(Z) / d_norm
        history.append((residual, rank, mu))
        mu = min(mu * rho, mu_bar)
        if residual < tol:
            break
    return L, S, it, history


def planted(m, n, rank, fraction, magnitude=500.0, dtype=np.float64, seed=0):
    """Lin et al. (2010) test problem: Gaussian L0 = A B^T plus uniform sparse S0.

    S0 has ``fraction`` of its entries, on a uniformly random support, uniform in
    [-magnitude, magnitude] (for complex dtypes: modulus up to ``magnitude``, random phase).
    """
    rng = np.random.default_rng(seed)
    complex_ = np.dtype(dtype).kind == "c"

    def gauss(*shape):
        g = rng.standard_normal(shape)
        return g + 1j * rng.standard_normal(shape) if complex_ else g

    L0 = gauss(m, rank) @ gauss(n, rank).conj().T
    S0 = np.zeros((m, n), dtype=L0.dtype)
    support = rng.random((m, n)) < fraction
    values = rng.uniform(-magnitude, magnitude, support.sum())
    if complex_:
        values = np.abs(values) * np.exp(2j * np.pi * rng.random(values.size))
    S0[support] = values
    return (L0 + S0).astype(dtype), L0.astype(dtype), S0.astype(dtype)
