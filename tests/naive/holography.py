"""Slow, obvious NumPy references for PhaseCut and acoustic holography.

Everything here follows the papers line by line: the block-coordinate descent of
Waldspurger, d'Aspremont & Mallat (2015, Algorithm 3) with explicit slicing of row and
column i, the Tikhonov pseudo-inverse by SVD, the transfer matrix by plain Python loops,
and the AUTD3 baselines (naive back-propagation, GS, GS-PAT) as written in their papers.
Sign convention (same as the library): G[j, i] = P0 / r * D(theta) * exp(-i k r).
"""

from __future__ import annotations

import math

import numpy as np

MASK64 = (1 << 64) - 1

# ---------------------------------------------------------------------------------------
# the order of coordinates: splitmix64 + Fisher-Yates, re-written with Python integers


class SplitMix64:
    """Python-int copy of the generator the kernel uses to shuffle coordinates."""

    def __init__(self, seed: int):
        self.state = seed & MASK64

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def shuffle(self, perm: list[int]) -> None:
        for i in range(len(perm) - 1, 0, -1):
            j = self.next() % (i + 1)
            perm[i], perm[j] = perm[j], perm[i]


# ---------------------------------------------------------------------------------------
# PhaseCut by block-coordinate descent


def bcd_update_slicing(M, X, i, nu):
    """One update of Algorithm 3: slice out row and column i (the paper's notation)."""
    n = M.shape[0]
    ic = np.array([j for j in range(n) if j != i], dtype=int)
    m = M[ic, i]
    x = X[np.ix_(ic, ic)] @ m
    gamma = np.real(np.vdot(x, m))
    if gamma > 0:
        col = -np.sqrt((1 - nu) / gamma) * x
    else:
        col = np.zeros(n - 1, dtype=X.dtype)
    X[ic, i] = col
    X[i, ic] = np.conj(col)


def bcd_update_zeroing(M, X, i, nu):
    """The same update with entry i of column i of M zeroed instead of slicing."""
    m = M[:, i].copy()
    m[i] = 0
    x = X @ m
    gamma = np.real(np.vdot(x, m))
    if gamma > 0:
        col = -np.sqrt((1 - nu) / gamma) * x
    else:
        col = np.zeros_like(x)
    d = X[i, i]
    X[:, i] = col
    X[i, :] = np.conj(col)
    X[i, i] = d


def phasecut_bcd(M, *, sweeps, nu, seed, X0=None, update=bcd_update_slicing):
    """Run ``sweeps`` sweeps, each a fresh random permutation of the coordinates."""
    n = M.shape[0]
    X = np.eye(n, dtype=complex) if X0 is None else np.array(X0, dtype=complex)
    gen = SplitMix64(seed)
    perm = list(range(n))
    for _ in range(sweeps):
        gen.shuffle(perm)
        for i in perm:
            update(M, X, i, nu)
    return X


def autd3_style_bcd(M, *, lam=0.9, repeat=100, seed=0):
    """AUTD3's SDP loop (pyautd3 <= 26): ``repeat`` single updates at random coordinates
    with nu = 1 - lambda, on the exact M (AUTD3 itself forms M in float32)."""
    rng = np.random.default_rng(seed)
    X = np.eye(M.shape[0], dtype=complex)
    for _ in range(repeat):
        bcd_update_zeroing(M, X, int(rng.integers(M.shape[0])), 1.0 - lam)
    return X


def phasecut_lowrank(M, V0, *, sweeps, omega):
    """The same coordinate update on X = V V^H, cyclic order, over-relaxed by omega."""
    V = np.array(V0, dtype=complex)
    n = M.shape[0]
    for _ in range(sweeps):
        for i in range(n):
            others = [j for j in range(n) if j != i]
            h = M[i, others] @ V[others]
            if np.linalg.norm(h) == 0:
                continue
            best = -h / np.linalg.norm(h)
            step = best + omega * (best - V[i])
            V[i] = step / np.linalg.norm(step)
    return V


def round_unit(X):
    """Principal eigenvector of X (dense eigh) projected to unit modulus."""
    w, V = np.linalg.eigh(X)
    v = V[:, -1]
    a = np.abs(v)
    return np.where(a > 0, v / np.where(a > 0, a, 1), 1)


def sdp_cvxpy(M, solver="CLARABEL"):
    """Interior-point solution of min Tr(MX), diag X = 1, X >= 0 (complex Hermitian)."""
    import cvxpy as cp

    n = M.shape[0]
    X = cp.Variable((n, n), hermitian=True)
    cons = [X >> 0, cp.real(cp.diag(X)) == 1]
    prob = cp.Problem(cp.Minimize(cp.real(cp.trace(M @ X))), cons)
    kw = {"eps": 1e-10} if solver == "SCS" else {}
    prob.solve(solver=solver, **kw)
    return prob.value, X.value


# ---------------------------------------------------------------------------------------
# acoustics

PITCH = 10.16
NX, NY = 18, 14
MISSING = {(1, 1), (2, 1), (16, 1)}
P0 = 275.57425 * 200.0 / (4.0 * math.pi)
DIR_A = [
    1.0,
    1.0,
    1.0,
    0.891250938,
    0.707945784,
    0.501187234,
    0.354813389,
    0.251188643,
    0.199526231,
]
DIR_B = [
    0.0,
    0.0,
    -0.00459648054721,
    -0.0155520765675,
    -0.0208114779827,
    -0.0182211227016,
    -0.0122437497109,
    -0.00780345575475,
    -0.00312857467007,
]
DIR_C = [
    0.0,
    0.0,
    -7.87968093807e-4,
    -3.07591508224e-4,
    -2.18348633296e-4,
    4.7738416141e-4,
    1.20353137658e-4,
    3.23676257958e-4,
    1.43850511e-4,
]
DIR_D = [
    0.0,
    0.0,
    1.60125528528e-5,
    2.9747624976e-6,
    2.31910931569e-5,
    -1.1901034125e-5,
    6.77743734332e-6,
    -5.99548024824e-6,
    -4.79372835035e-6,
]


def autd3_local_positions():
    """The 249 transducer centres of one AUTD3 device, row-major in y then x."""
    return np.array(
        [[x * PITCH, y * PITCH, 0.0] for y in range(NY) for x in range(NX) if (x, y) not in MISSING]
    )


def t4010a1(theta_deg):
    """Directivity of the T4010A1 transducer from the table (ANCHORS section 2)."""
    t = abs(theta_deg) % 180.0
    if t > 90.0:
        t = 180.0 - t
    i = math.ceil(t / 10.0)
    if i == 0:
        return 1.0
    b = i - 1
    x = t - 10.0 * (i - 1)
    return ((DIR_D[b] * x + DIR_C[b]) * x + DIR_B[b]) * x + DIR_A[b]


def transfer_matrix_loops(
    positions, directions, foci, *, frequency=40e3, sound_speed=340e3, directivity="t4010a1"
):
    """G[j, i] = P0 / r D(theta) exp(-i k r), one entry at a time."""
    k = 2 * math.pi * frequency / sound_speed
    m, n = len(foci), len(positions)
    G = np.zeros((m, n), dtype=complex)
    for j in range(m):
        for i in range(n):
            d = [foci[j][a] - positions[i][a] for a in range(3)]
            r = math.sqrt(sum(v * v for v in d))
            if directivity == "sphere":
                D = 1.0
            else:
                c = sum(d[a] * directions[i][a] for a in range(3)) / r
                c = max(-1.0, min(1.0, c))
                D = t4010a1(math.degrees(math.acos(c)))
            G[j, i] = P0 / r * D * complex(math.cos(k * r), -math.sin(k * r))
    return G


def tikhonov_pinv_svd(G, alpha):
    """G+ = V diag(s / (s^2 + alpha^2)) U^H, the route of the AUTD3 implementation."""
    U, s, Vh = np.linalg.svd(G, full_matrices=False)
    return Vh.conj().T @ np.diag(s / (s * s + alpha * alpha)) @ U.conj().T


def sdp_matrix_exact(G, amplitudes, alpha):
    """M = alpha^2 P (G G^H + alpha^2 I)^-1 P by dense inversion (no cancellation)."""
    m = G.shape[0]
    Ainv = np.linalg.inv(G @ G.conj().T + alpha * alpha * np.eye(m))
    P = np.diag(amplitudes)
    return alpha * alpha * P @ Ainv @ P


def constrain(q, constraint="normalize", value=1.0, lo=0.0, hi=1.0):
    """Emission constraints, AUTD3's names, amplitude in [0, 1]; returns (amp, phase)."""
    a = np.abs(q)
    phase = np.angle(q)
    amax = a.max()
    if constraint == "normalize":
        amp = a / amax if amax > 0 else np.zeros_like(a)
    elif constraint == "multiply":
        amp = value * a / amax if amax > 0 else np.zeros_like(a)
    elif constraint == "uniform":
        amp = np.full_like(a, value)
    elif constraint == "clamp":
        amp = np.clip(a, lo, hi)
    else:
        raise ValueError(constraint)
    return amp, phase


def backprop(G):
    """B[:, j] = conj(G[j, :]) / ||G[j, :]||^2 (AUTD3's back-propagation)."""
    return G.conj().T / np.sum(np.abs(G) ** 2, axis=1)


def naive_drive(G, amplitudes):
    """q = B p with p the target amplitudes at phase 0."""
    return backprop(G) @ amplitudes.astype(complex)


def gs_drive(G, amplitudes, iterations=100):
    """Gerchberg-Saxton between the array (unit amplitude) and the foci (targets)."""
    q = np.ones(G.shape[1], dtype=complex)
    for _ in range(iterations):
        g = G @ q
        p = amplitudes * g / np.abs(g)
        x = G.conj().T @ p
        q = x / np.abs(x)
    return q


def gspat_drive(G, amplitudes, iterations=100):
    """GS-PAT (Plasencia et al. 2020): iterate on R = G B, then q = B p."""
    B = backprop(G)
    R = G @ B
    p = amplitudes.astype(complex)
    g = R @ p
    for _ in range(iterations):
        p = amplitudes * g / np.abs(g)
        g = R @ p
    p = amplitudes**2 * g / np.abs(g) ** 2
    return B @ p


# ---------------------------------------------------------------------------------------
# phase-only methods: Levenberg-Marquardt and Greedy


def lm_textbook(G, amplitudes, *, max_iter=5, tol_g=0.0, tol_h=0.0, tau=1e-3, x0=None):
    """Madsen, Nielsen & Tingleff (2004), Algorithm 3.16, with the dense (n + m) system.

    x = (transducer phases, focal phases), r = G e^{i theta} - P e^{i phi},
    F = 1/2 ||r||^2, J = dr/dx (complex), g = Re(J^H r), A = Re(J^H J).
    Returns (x, iterations, F after each iteration).
    """
    m, n = G.shape
    B = np.hstack([G, -np.diag(np.asarray(amplitudes, float)).astype(complex)])
    N = n + m
    x = np.zeros(N) if x0 is None else np.array(x0, float)

    def F(x):
        r = B @ np.exp(1j * x)
        return 0.5 * np.real(np.vdot(r, r))

    def jac(x):
        J = B * (1j * np.exp(1j * x))[None, :]
        r = B @ np.exp(1j * x)
        return np.real(J.conj().T @ J), np.real(J.conj().T @ r)

    A, g = jac(x)
    mu = tau * A.diagonal().max()
    nu = 2.0
    fx = F(x)
    hist = []
    found = np.abs(g).max() <= tol_g
    k = 0
    while not found and k < max_iter:
        k += 1
        h = np.linalg.solve(A + mu * np.eye(N), -g)
        if np.linalg.norm(h) <= tol_h * (np.linalg.norm(x) + tol_h):
            hist.append(fx)
            break
        xn = x + h
        fn = F(xn)
        rho = (fx - fn) / (0.5 * h @ (mu * h - g))
        if rho > 0:
            x, fx = xn, fn
            A, g = jac(x)
            found = np.abs(g).max() <= tol_g
            mu *= max(1 / 3, 1 - (2 * rho - 1) ** 3)
            nu = 2.0
        else:
            mu *= nu
            nu *= 2
        hist.append(fx)
    return x, k, np.array(hist)


def lm_autd3_style(G, amplitudes, *, max_iter=5, tau=1e-3):
    """LM as pyautd3 26.0.0.1 runs it (a transcription of its behaviour, measured: it
    reproduces pyautd3's phases to within one of 256 levels on one AUTD3 device):
    the objective without the 1/2 that g and A carry, the objective of a rejected step
    kept, and the damping update max(1/3, (1 - (2 rho - 1))^3). Returns x."""
    m, n = G.shape
    B = np.hstack([G, -np.diag(np.asarray(amplitudes, float)).astype(complex)])
    BhB = B.conj().T @ B
    x = np.zeros(n + m)

    def F(x):
        t = np.exp(1j * x)
        return np.real(t.conj() @ BhB @ t)

    def jac(x):
        t = np.exp(1j * x)
        return np.real(np.diag(t.conj()) @ BhB @ np.diag(t)), np.imag(t.conj() * (BhB @ t))

    A, g = jac(x)
    mu = tau * A.diagonal().max()
    nu = 2.0
    fx = F(x)
    for _ in range(max_iter):
        h = np.linalg.solve(A + mu * np.eye(n + m), -g)
        fn = F(x + h)
        rho = (fx - fn) / (0.5 * h @ (mu * h - g))
        fx = fn
        if rho > 0:
            x = x + h
            A, g = jac(x)
            mu *= max(1 / 3, (1 - (2 * rho - 1)) ** 3)
            nu = 2.0
        else:
            mu *= nu
            nu *= 2
    return x


def greedy_reference(G, amplitudes, *, levels=16, seed=0, passes=1, start=None, rtol=1e-12):
    """Greedy phase search: each pass visits the transducers in a splitmix64 order; each
    takes the level minimising sum_j | a_j - |c_j + G_ji w| |, computed directly.
    Ties within rtol go to the current level, else the lowest. Returns the levels."""
    m, n = G.shape
    a = np.asarray(amplitudes, float)
    w = np.exp(2j * np.pi * np.arange(levels) / levels)
    gen = SplitMix64(seed)
    level = np.zeros(n, int) if start is None else np.array(start)
    for s in range(passes):
        order = list(range(n))
        gen.shuffle(order)
        build = s == 0 and start is None
        c = np.zeros(m, complex) if build else G @ w[level]
        changed = 0
        for i in order:
            cur = -1 if build else level[i]
            if not build:
                c = c - G[:, i] * w[cur]
            vals = np.abs(a[:, None] - np.abs(c[:, None] + G[:, i : i + 1] * w[None, :])).sum(0)
            cut = vals.min() + rtol * abs(vals.min())
            d = cur if cur >= 0 and vals[cur] <= cut else int(np.flatnonzero(vals <= cut)[0])
            changed += d != cur
            level[i] = d
            c = c + G[:, i] * w[d]
        if changed == 0:
            break
    return level


def greedy_objective(G, amplitudes, q):
    """sum_j | a_j - |(G q)_j| |."""
    return float(np.abs(np.asarray(amplitudes) - np.abs(G @ q)).sum())


def quantize_phases(phase, levels):
    """Nearest of ``levels`` levels 2 pi k / L, in [0, 2 pi)."""
    k = np.floor(np.asarray(phase) * levels / (2 * np.pi) + 0.5) % levels
    return k * 2 * np.pi / levels


def wrapped(d):
    """Angles wrapped to [-pi, pi)."""
    return (np.asarray(d) + np.pi) % (2 * np.pi) - np.pi
