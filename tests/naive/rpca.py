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


def svt(X, tau, k=None):
    """Singular value thresholding; returns (L, rank, singular values computed).

    Full SVD, or with ``k`` the k leading triplets by PROPACK (full SVD if it fails).
    """
    U = None
    if k is not None:
        from scipy.sparse.linalg import svds

        try:
            U, s, Vh = svds(X, k=k, solver="propack", random_state=0)
            order = np.argsort(s)[::-1]
            U, s, Vh = U[:, order], s[order], Vh[order]
        except Exception:
            U = None
    if U is None:
        U, s, Vh = np.linalg.svd(X, full_matrices=False)
    keep = s > tau
    return (U[:, keep] * (s[keep] - tau)) @ Vh[keep], int(keep.sum())


def svt_input(D, S, Y, mu, mask, L):
    """Exact PCP's SVT input: M - S + Y / mu where observed, L elsewhere."""
    X = D - S + Y / mu
    return X if mask is None else np.where(mask, X, L)


def predicted_rank_rule(sv, svp, n):
    """The original's next prediction, and whether it asks for a partial SVD."""
    sv = min(svp + 1, n) if svp < sv else min(svp + round(0.05 * n), n)
    limit = next(
        (r for b, r in ((100, 0.02), (200, 0.06), (300, 0.26), (400, 0.28), (500, 0.34)) if n <= b),
        0.38,
    )
    return sv, sv / n <= limit


def ialm(M, lam=None, tol=1e-7, max_iter=1000, rho=1.5, mask=None, partial=False):
    """The reference loop: S first, then L, then the dual and penalty updates.

    ``partial=True`` uses the original's rank prediction with PROPACK partial SVDs.

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
    sv, use_partial = min(10, n), partial and 10 / n <= 0.38
    for it in range(1, max_iter + 1):
        T = D - L + Y / mu
        S = np.where(obs, soft_threshold(T, lam / mu), 0)
        X = np.where(obs, D - S + Y / mu, L)
        L, rank = svt(X, 1 / mu, k=sv if use_partial and sv < min(m, n) - 1 else None)
        sv, use_partial = predicted_rank_rule(sv, rank, n)
        use_partial = use_partial and partial
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


def stable_pcp(M, delta, lam=None, tol=1e-7, max_iter=1000, rho=1.5, mask=None, rank=None):
    """Stable PCP (Zhou et al. 2010), ``M = L + S + E`` with ``||E||_F <= delta``, by the
    same inexact ALM, one block after the other, in the reference's order:

        S = shrink(M - L - E + Y/mu, lam/mu)
        E = W * min(1, delta / ||W||_F),  W = M - L - S + Y/mu   (projection on the ball)
        L = SVT(M - S - E + Y/mu, 1/mu)   (full SVD; at most ``rank`` values kept)
        Y = Y + mu (M - L - S - E);  mu = min(rho mu, 1e7 mu0)

    Unobserved entries (``mask`` False) carry no constraint: S = E = 0 there and the SVT
    input keeps L. Returns L, S, E, Y, n_iter and the per-iteration (residual, rank, mu,
    ||E||_F) history.
    """
    M = np.asarray(M)
    m, n = M.shape
    obs = np.ones(M.shape, bool) if mask is None else np.asarray(mask, bool)
    D = np.where(obs, M, 0)
    lam = 1 / np.sqrt(max(m, n)) if lam is None else lam
    norm_two = np.linalg.norm(D, 2)
    Y = D / max(norm_two, np.abs(D).max() / lam)
    mu = 1.25 / norm_two
    mu_bar = mu * 1e7
    d_norm = np.linalg.norm(D)
    L = np.zeros_like(D)
    S = np.zeros_like(D)
    E = np.zeros_like(D)
    history = []
    for it in range(1, max_iter + 1):
        S = np.where(obs, soft_threshold(D - L - E + Y / mu, lam / mu), 0)
        W = np.where(obs, D - L - S + Y / mu, 0)
        w = np.linalg.norm(W)
        E = W * (min(1.0, delta / w) if w > 0 else 1.0)
        X = np.where(obs, D - S - E + Y / mu, L)
        U, s, Vh = np.linalg.svd(X, full_matrices=False)
        keep = int(np.count_nonzero(s > 1 / mu))
        if rank is not None:
            keep = min(keep, rank)
        L = (U[:, :keep] * (s[:keep] - 1 / mu)) @ Vh[:keep]
        Z = np.where(obs, D - L - S - E, 0)
        Y = Y + mu * Z
        residual = np.linalg.norm(Z) / d_norm
        history.append((residual, keep, mu, np.linalg.norm(E)))
        mu = min(mu * rho, mu_bar)
        if residual < tol:
            break
    return L, S, E, Y, it, history
