"""PhaseCut / complex MaxCut kernels: min Tr(M X) s.t. diag(X) = 1, X Hermitian PSD.

* ``bcd_sweeps``: Waldspurger, d'Aspremont & Mallat (Math. Prog. 2015), Algorithm 3, in
  place on the full X. Column i of M is copied with its i-th entry zeroed instead of
  slicing row and column i out of X (the product then skips index i exactly).
* Both stop when a sweep changes the objective by at most ``tol * max(|f|, floor)``;
  ``floor`` (a small multiple of n ||M||_F) keeps the test meaningful when f -> 0.
* ``lowrank_sweeps``: the same coordinate update on a factor X = V V^H (V stored as
  W = V^T, k x n), O(n k) per coordinate, with over-relaxation ``omega`` in [0, 1): each
  update still lowers the objective, and the fixed points are those of Algorithm 3.
* A splitmix64 generator gives seeded, allocation-free coordinate orders and starts.
"""

from __future__ import annotations

import math

import numpy as np

from ..._core.config import kernel

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


@kernel
def rng_next(state):
    """splitmix64 step on ``state[0]`` (uint64); returns 64 random bits."""
    s = state[0] + _GOLDEN
    state[0] = s
    z = (s ^ (s >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@kernel
def rng_uniform(state):
    """Uniform double in (0, 1]."""
    return (float(rng_next(state) >> _S11) + 1.0) * (1.0 / 9007199254740992.0)


@kernel
def shuffle(perm, state):
    """Fisher-Yates shuffle of ``perm`` in place."""
    for i in range(perm.size - 1, 0, -1):
        j = int(rng_next(state) % np.uint64(i + 1))
        t = perm[i]
        perm[i] = perm[j]
        perm[j] = t


@kernel
def trace_real(M, X):
    """Re Tr(M X) for Hermitian M and X (row-major, no temporaries)."""
    n = M.shape[0]
    acc = 0.0
    for j in range(n):
        for l in range(n):
            a = M[j, l]
            b = X[j, l]
            acc += a.real * b.real + a.imag * b.imag
    return acc


@kernel
def bcd_sweeps(M, X, nu, max_sweeps, tol, floor, perm, m, x, state, hist):
    """Algorithm 3 on X in place; returns (sweeps, Tr(MX), last relative change)."""
    n = M.shape[0]
    scale = math.sqrt(1.0 - nu)
    f = trace_real(M, X)
    rel = np.inf
    for s in range(max_sweeps):
        shuffle(perm, state)
        for t in range(n):
            i = perm[t]
            for j in range(n):
                m[j] = M[j, i]
            m[i] = 0.0
            gamma = 0.0
            for j in range(n):
                acc = 0j
                for l in range(n):
                    acc += X[j, l] * m[l]
                x[j] = acc
                gamma += acc.real * m[j].real + acc.imag * m[j].imag
            c = -scale / math.sqrt(gamma) if gamma > 0.0 else 0.0
            for j in range(n):
                if j != i:
                    v = c * x[j]
                    X[j, i] = v
                    X[i, j] = v.conjugate()
        f_new = trace_real(M, X)
        if s < hist.size:  # the history may be shorter than max_sweeps
            hist[s] = f_new
        rel = abs(f - f_new) / max(abs(f_new), floor)
        f = f_new
        if rel <= tol:
            return s + 1, f, rel
    return max_sweeps, f, rel


@kernel
def random_rows(W, state):
    """Fill W (k x n) with complex Gaussian entries; each column (row of V) unit norm."""
    k, n = W.shape
    for j in range(n):
        nrm = 0.0
        for c in range(k):
            r = math.sqrt(-2.0 * math.log(rng_uniform(state)))
            a = 2.0 * math.pi * rng_uniform(state)
            v = complex(r * math.cos(a), r * math.sin(a))
            W[c, j] = v
            nrm += v.real * v.real + v.imag * v.imag
        nrm = 1.0 / math.sqrt(nrm)
        for c in range(k):
            W[c, j] *= nrm


@kernel
def lowrank_objective(M, W):
    """Re Tr(M V V^H) = sum_c Re(W_c^* M W_c) for W = V^T."""
    k, n = W.shape
    acc = 0.0
    for c in range(k):
        for i in range(n):
            s = 0j
            for j in range(n):
                s += M[i, j] * W[c, j]
            w = W[c, i]
            acc += w.real * s.real + w.imag * s.imag
    return acc


@kernel
def lowrank_sweeps(M, W, omega, max_sweeps, tol, floor, m, h, g, hist):
    """Cyclic coordinate sweeps on W = V^T; returns (sweeps, objective, rel change)."""
    k, n = W.shape
    f = lowrank_objective(M, W)
    rel = np.inf
    for s in range(max_sweeps):
        df = 0.0
        for i in range(n):
            for j in range(n):
                m[j] = M[i, j]
            m[i] = 0.0
            hn = 0.0
            for c in range(k):
                ar = 0.0
                ai = 0.0
                for j in range(n):
                    w = W[c, j]
                    z = m[j]
                    ar += w.real * z.real - w.imag * z.imag
                    ai += w.real * z.imag + w.imag * z.real
                h[c] = complex(ar, ai)
                hn += ar * ar + ai * ai
            if hn <= 0.0:
                continue
            hn = 1.0 / math.sqrt(hn)
            nrm = 0.0
            for c in range(k):
                v = -(1.0 + omega) * hn * h[c] - omega * W[c, i]
                g[c] = v
                nrm += v.real * v.real + v.imag * v.imag
            nrm = 1.0 / math.sqrt(nrm)
            for c in range(k):
                v = g[c] * nrm
                d = v - W[c, i]
                df += 2.0 * (d.real * h[c].real + d.imag * h[c].imag)
                W[c, i] = v
        f += df
        if s < hist.size:  # the history may be shorter than max_sweeps
            hist[s] = f
        rel = abs(df) / max(abs(f), floor)
        if rel <= tol:
            return s + 1, lowrank_objective(M, W), rel
    return max_sweeps, lowrank_objective(M, W), rel


@kernel
def gram_of_rows(W, X):
    """X = V V^H for W = V^T, i.e. X[j, i] = sum_c W[c, j] conj(W[c, i])."""
    k, n = W.shape
    for j in range(n):
        for i in range(j + 1):
            acc = 0j
            for c in range(k):
                acc += W[c, j] * W[c, i].conjugate()
            X[j, i] = acc
            X[i, j] = acc.conjugate()


@kernel
def round_unit(X, M, v, y, u, max_iter, tol):
    """Principal eigenvector of PSD X by power iteration (start: column 0), projected
    to unit modulus into u. Returns (iterations, u^H M u)."""
    n = X.shape[0]
    nrm = 0.0
    for j in range(n):
        v[j] = X[j, 0]
        nrm += v[j].real * v[j].real + v[j].imag * v[j].imag
    if nrm <= 0.0:
        for j in range(n):
            v[j] = 1.0
        nrm = n
    nrm = 1.0 / math.sqrt(nrm)
    for j in range(n):
        v[j] *= nrm
    it = 0
    while it < max_iter:
        it += 1
        nrm = 0.0
        for j in range(n):
            acc = 0j
            for l in range(n):
                acc += X[j, l] * v[l]
            y[j] = acc
            nrm += acc.real * acc.real + acc.imag * acc.imag
        if nrm <= 0.0:
            break
        nrm = 1.0 / math.sqrt(nrm)
        diff = 0.0
        for j in range(n):
            w = y[j] * nrm
            diff = max(diff, abs(w - v[j]))
            v[j] = w
        if diff <= tol:
            break
    for j in range(n):
        a = abs(v[j])
        u[j] = v[j] / a if a > 0.0 else 1.0
    f = 0.0
    for j in range(n):
        acc = 0j
        for l in range(n):
            acc += M[j, l] * u[l]
        f += u[j].real * acc.real + u[j].imag * acc.imag
    return it, f
