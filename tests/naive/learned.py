"""Plain NumPy learned Robust PCA layers: full SVDs, explicit inverses, fresh temporaries.

The references the kernels of ``fastrpca.robust_pca._kernels.learned`` and the layer loop
of ``LearnedRPCA`` are checked against, written from the formulas of Cai, Liu & Yin
(2021) and Lin, Chen & Ma (2010) with nothing shared with the package.
"""

import numpy as np


def factor_layers(M, rank, thresholds, steps):
    """Learned ScaledGD: start ``P_r(clip(M, t0 rms))``, then one scaled step per layer.

    ``thresholds`` (K + 1,) relative to ``rms(M) = ||M||_F / sqrt(mn)``; returns L R^T.
    """
    m, n = M.shape
    rms = np.sqrt(np.sum(M**2) / (m * n))
    z0 = thresholds[0] * rms
    U, s, Vt = np.linalg.svd(np.clip(M, -z0, z0), full_matrices=False)
    L = U[:, :rank] * np.sqrt(s[:rank])
    R = Vt[:rank].T * np.sqrt(s[:rank])
    for k, eta in enumerate(steps):
        z = thresholds[k + 1] * rms
        S = M - L @ R.T
        S = np.sign(S) * np.maximum(np.abs(S) - z, 0)  # S_k = soft(M - L R^T, z)
        E = L @ R.T + S - M  # residual of the data fit
        L_new = L - eta * E @ R @ np.linalg.inv(R.T @ R)
        R_new = R - eta * E.T @ L @ np.linalg.inv(L.T @ L)
        L, R = L_new, R_new
    return L @ R.T


def ialm_layers(M, mu, lam, lam0):
    """IALM with penalty ``mu[k] / ||M||_2`` and weight ``lam[k] lam0`` at iteration k.

    Returns L, S, Y after ``len(mu)`` iterations (the order of Lin, Chen & Ma: S, then L,
    then the dual).
    """
    norm_two = np.linalg.norm(M, 2)
    Y = M / max(norm_two, np.abs(M).max() / lam0)
    L = np.zeros_like(M)
    S = np.zeros_like(M)
    for mu_k, lam_k in zip(np.asarray(mu) / norm_two, np.asarray(lam) * lam0):
        T = M - L + Y / mu_k
        S = np.sign(T) * np.maximum(np.abs(T) - lam_k / mu_k, 0)
        U, s, Vt = np.linalg.svd(M - S + Y / mu_k, full_matrices=False)
        keep = s > 1 / mu_k
        L = (U[:, keep] * (s[keep] - 1 / mu_k)) @ Vt[keep]
        Y = Y + mu_k * (M - L - S)
    return L, S, Y


def outlier_split(M, L, factor, floor, stride=1):
    """``S`` = entries of ``M - L`` above ``factor`` times the median of ``|M - L|`` (the
    entry of rank k/2 of the k entries of flat index 0, stride, 2 stride, ..., sorted
    ascending) and above ``floor ||L||_F``; returns S, the error
    estimate ``||M - L - S||_F / ||M||_F`` over the entries where S is 0, and the number
    of entries of S per row and per column."""
    R = M - L
    sample = np.sort(np.abs(R).ravel()[::stride])
    tau = max(factor * sample[sample.size // 2], floor * np.linalg.norm(L))
    clean = np.abs(R) <= tau
    S = np.where(clean, 0.0, R)
    estimate = np.linalg.norm(R[clean]) / np.linalg.norm(M[clean])
    return S, estimate, (~clean).sum(axis=1), (~clean).sum(axis=0)


def checked_estimate(M, L, S, row_basis, col_basis, sigmas):
    """The error estimate with the line refit: for each row (column) holding more than
    ``(p + sigmas sqrt(p (1 - p) / length)) length + 1`` entries of S (p the overall
    fraction), fit ``M - L`` on its entries outside S by least squares in the row (column)
    space, and count the fit on its entries in S as error too. Returns the estimate and
    the number of lines with too few entries outside S to fit (None for those)."""
    m, n = M.shape
    R = M - L
    flagged = S != 0
    p = flagged.mean()
    hidden, unresolved = 0.0, 0
    for lines, flags, basis, length in ((R, flagged, row_basis, n), (R.T, flagged.T, col_basis, m)):
        bound = (p + sigmas * np.sqrt(p * (1 - p) / length)) * length + 1
        for line, flag in zip(lines, flags):
            if flag.sum() <= bound:
                continue
            if (~flag).sum() < 2 * basis.shape[1] + 2:
                unresolved += 1
                continue
            coef = np.linalg.solve(basis[~flag].T @ basis[~flag], basis[~flag].T @ line[~flag])
            hidden += np.sum((basis[flag] @ coef) ** 2)
    clean = ~flagged
    estimate = np.sqrt((np.sum(R[clean] ** 2) + hidden) / np.sum(M[clean] ** 2))
    return estimate, unresolved
