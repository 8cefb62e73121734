"""asv benchmarks for fastrpca.rpca (Robust PCA by IALM) and the kernels under it.

Problems are the planted ones of Lin, Chen & Ma (2010): L0 = A B^T with Gaussian factors,
S0 on a uniformly random support with values uniform in [-500, 500]; a tall rank-2
"video"-shaped matrix, 20000 x 200. Accuracy is tracked against the planted truth, so a
change that speeds a solve up by stopping early, or that splits M wrongly, shows up in
``track_`` as well as in ``time_``.

Every kernel is compiled (or loaded from numba's cache) in ``setup()``.
"""

import warnings
from functools import partial

import numpy as np

import fastrpca
from fastrpca._core.config import kernel_threads
from fastrpca.robust_pca import ialm as frpca
from fastrpca.robust_pca import svd as fsvd
from fastrpca.robust_pca._kernels import ialm as kialm
from fastrpca.sparse import prox as fprox

# name: (m, n, rank, fraction of entries corrupted)
PROBLEMS = {
    "64x64 r3 5%": (64, 64, 3, 0.05),
    "200 r10 5%": (200, 200, 10, 0.05),
    "500 r25 5%": (500, 500, 25, 0.05),
    "1000 r50 5%": (1000, 1000, 50, 0.05),
    "video 20000x200 r2 3%": (20000, 200, 2, 0.03),
}


def planted(m, n, rank, fraction, magnitude=500.0, dtype=np.float64, seed=0):
    """Lin et al. (2010) test problem (the same generator as ``tests/naive/rpca.py``)."""
    rng = np.random.default_rng(seed)
    L0 = rng.standard_normal((m, rank)) @ rng.standard_normal((n, rank)).T
    S0 = np.zeros((m, n))
    support = rng.random((m, n)) < fraction
    S0[support] = rng.uniform(-magnitude, magnitude, support.sum())
    return (L0 + S0).astype(dtype), L0.astype(dtype), S0.astype(dtype)


def _problem(name, dtype=np.float64):
    return planted(*PROBLEMS[name], dtype=dtype, seed=0)


def _warm():
    """Compile / load every rpca kernel and run the Python path once."""
    frpca._warmup()
    fprox._warmup()
    M, _, _ = planted(40, 40, 2, 0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for engine in ("full", "partial", "randomized"):
            fastrpca.rpca(M, svd=engine, random_state=0)


def _accuracy(res, L0, S0):
    return {
        "err_L": float(np.linalg.norm(res.L - L0) / np.linalg.norm(L0)),
        "err_S": float(np.linalg.norm(res.S - S0) / np.linalg.norm(S0)),
        "n_iter": int(res.n_iter),
        "rank": int(res.rank),
        "converged": bool(res.converged),
    }


class RPCA:
    """``fastrpca.rpca(M)`` with its defaults (``svd="auto"``) at several sizes."""

    params = [list(PROBLEMS)]
    param_names = ["problem"]
    timeout = 600

    def setup_cache(self):
        # One solve per problem for the accuracy tracks (shared by all benchmarks here).
        _warm()
        out = {}
        for name in PROBLEMS:
            M, L0, S0 = _problem(name)
            out[name] = _accuracy(fastrpca.rpca(M, random_state=0), L0, S0)
        return out

    def setup(self, cache, problem):
        _warm()
        self.M = _problem(problem)[0]

    def time_rpca(self, cache, problem):
        fastrpca.rpca(self.M, random_state=0)

    def peakmem_rpca(self, cache, problem):
        fastrpca.rpca(self.M, random_state=0)

    def track_rel_error_L(self, cache, problem):
        return cache[problem]["err_L"]

    def track_rel_error_S(self, cache, problem):
        return cache[problem]["err_S"]

    def track_n_iter(self, cache, problem):
        return cache[problem]["n_iter"]

    def track_rank(self, cache, problem):
        return cache[problem]["rank"]

    track_rel_error_L.unit = "||L - L0|| / ||L0||"
    track_rel_error_S.unit = "||S - S0|| / ||S0||"
    track_n_iter.unit = "iterations"
    track_rank.unit = "rank"


class RPCAEngines:
    """Each SVD engine on the same matrix (``full`` = the reference's full SVD,
    ``partial`` = its PROPACK rank-prediction rule, ``randomized`` = warm-started
    subspace iteration)."""

    params = (["200 r10 5%", "500 r25 5%"], ["full", "partial", "randomized"])
    param_names = ["problem", "svd"]
    timeout = 600

    def setup(self, problem, svd):
        _warm()
        self.M, self.L0, self.S0 = _problem(problem)

    def time_rpca(self, problem, svd):
        fastrpca.rpca(self.M, svd=svd, random_state=0)

    def track_rel_error_L(self, problem, svd):
        res = fastrpca.rpca(self.M, svd=svd, random_state=0)
        return _accuracy(res, self.L0, self.S0)["err_L"]

    def track_n_iter(self, problem, svd):
        return fastrpca.rpca(self.M, svd=svd, random_state=0).n_iter

    track_rel_error_L.unit = "||L - L0|| / ||L0||"
    track_n_iter.unit = "iterations"


class RPCAVariants:
    """500 x 500: float32, missing entries (mask), and the real-time path (reused
    workspace, no finiteness check, warm start from the previous solution)."""

    timeout = 300

    def setup(self):
        _warm()
        self.M, self.L0, self.S0 = _problem("500 r25 5%")
        self.M32 = self.M.astype(np.float32)
        rng = np.random.default_rng(1)
        self.mask = rng.random(self.M.shape) >= 0.1  # 10% missing
        self.ws = fastrpca.RPCAWorkspace()
        fastrpca.rpca(self.M, workspace=self.ws, random_state=0)
        # The next "frame": the same scene with fresh sparse noise.
        M2, _, _ = planted(500, 500, 25, 0.05, seed=0)
        self.M_next = M2 + np.where(rng.random(M2.shape) < 0.01, 100.0, 0.0)
        self.init = fastrpca.rpca(self.M, random_state=0)

    def time_float32(self):
        fastrpca.rpca(self.M32, random_state=0)

    def time_masked(self):
        fastrpca.rpca(self.M, mask=self.mask, random_state=0)

    def time_workspace(self):
        fastrpca.rpca(self.M, workspace=self.ws, check_finite=False, random_state=0)

    def time_warm_start(self):
        fastrpca.rpca(self.M_next, init=self.init, random_state=0)

    def peakmem_workspace(self):
        fastrpca.rpca(self.M, workspace=self.ws, check_finite=False, random_state=0)

    def track_rel_error_L_float32(self):
        res = fastrpca.rpca(self.M32, random_state=0)
        return _accuracy(res, self.L0, self.S0)["err_L"]

    def track_rel_error_L_masked(self):
        res = fastrpca.rpca(self.M, mask=self.mask, random_state=0)
        return _accuracy(res, self.L0, self.S0)["err_L"]

    def track_n_iter_warm_start(self):
        return fastrpca.rpca(self.M_next, init=self.init, random_state=0).n_iter

    track_rel_error_L_float32.unit = "||L - L0|| / ||L0||"
    track_rel_error_L_masked.unit = "||L - L0|| / ||L0|| (all entries)"
    track_n_iter_warm_start.unit = "iterations"


class FusedPass:
    """The fused elementwise IALM pass (residual, dual, shrink, next SVT input): one
    sweep over memory per iteration, on one thread or on row ranges side by side (one per
    numba thread, split as the solver splits a matrix of at least ``PARALLEL_MIN_SIZE``
    entries); with the noise term of stable PCP (``E``), the same pass plus the
    projection pass."""

    params = ([(500, 500), (1000, 1000), (20000, 200)], ["serial", "threads"])
    param_names = ["shape", "variant"]

    def setup(self, shape, variant):
        frpca._warmup()
        threads = 1 if variant == "serial" else kernel_threads()
        split = frpca.row_split(shape, np.float64, threads)
        self.kernel = partial(frpca.fused_pass_rows, split)
        self.project = partial(frpca.project_pass_rows, split)
        rng = np.random.default_rng(0)
        self.D = rng.standard_normal(shape)
        self.X = np.zeros(shape)
        self.S0 = np.zeros(shape)
        self.S1 = np.empty(shape)
        self.Y = self.D / 10.0
        self.E = np.zeros(shape)
        self.lam = 1.0 / np.sqrt(max(shape))
        self.kernel(self.D, self.X, self.S0, self.S1, self.Y, 1.0, 1.0, self.lam, None, None)
        self.kernel(self.D, self.X, self.S0, self.S1, self.Y, 1.0, 1.0, self.lam, None, self.E)
        self.project(self.D, self.X, self.S1, self.Y, self.E, 1.0, 0.5, None)

    def time_fused_pass(self, shape, variant):
        self.kernel(self.D, self.X, self.S0, self.S1, self.Y, 1.0, 1.0, self.lam, None, None)

    def time_stable_passes(self, shape, variant):
        self.kernel(self.D, self.X, self.S0, self.S1, self.Y, 1.0, 1.0, self.lam, None, self.E)
        self.project(self.D, self.X, self.S1, self.Y, self.E, 1.0, 0.5, None)

    def time_norm_and_max(self, shape, variant):
        kialm.norm_and_max(self.D)


class RPCATiled:
    """The whole solve with its iterations as tiled steps (one pass over row tiles: L's
    tile, the fused pass, the next warm SVD products) against the separate passes, on
    the square and the video problem; ``auto`` is the solver's own measured rule."""

    params = (["1000 r50 5%", "video 20000x200 r2 3%"], ["auto", "tiled", "separate"])
    param_names = ["problem", "path"]
    _MODES = {"auto": "auto", "tiled": "1", "separate": "0"}

    def setup(self, problem, path):
        frpca._warmup()
        self.M, self.L0, _ = planted(*PROBLEMS[problem])
        self._saved = frpca.TILED
        frpca.TILED = self._MODES[path]
        self.result = fastrpca.rpca(self.M)

    def teardown(self, problem, path):
        frpca.TILED = self._saved

    def time_rpca(self, problem, path):
        fastrpca.rpca(self.M)

    def peakmem_rpca(self, problem, path):
        fastrpca.rpca(self.M)

    def track_rel_error_L(self, problem, path):
        return float(np.linalg.norm(self.result.L - self.L0) / np.linalg.norm(self.L0))

    def track_n_iter(self, problem, path):
        return self.result.n_iter

    track_n_iter.unit = "iterations"


class TiledStep:
    """One tiled step on its own (L from rank-r factors, the fused pass, ``X W``,
    ``W^H X^H X`` for a k-column block W), against the same work as separate calls (L by
    one GEMM, the fused pass, two GEMMs over X), on one thread or on row ranges side by
    side (one per numba thread, as the solver runs them)."""

    params = (["1000x1000 r50 k60", "20000x200 r2 k10"], ["serial", "threads"])
    param_names = ["case", "variant"]

    def setup(self, case, variant):
        frpca._warmup()
        shape, r, k = {"1000x1000 r50 k60": ((1000, 1000), 50, 60)}.get(case, ((20000, 200), 2, 10))
        m, n = shape
        rng = np.random.default_rng(0)
        self.rows = frpca.tile_rows(n, np.float64)
        threads = 1 if variant == "serial" else kernel_threads()
        self.split = frpca.row_split(shape, np.float64, threads)
        self.D = rng.standard_normal(shape)
        self.A, self.B = rng.standard_normal((m, r)), rng.standard_normal((r, n))
        self.W = rng.standard_normal((n, k))
        self.X, self.S0, self.S1 = np.empty(shape), np.zeros(shape), np.empty(shape)
        self.Y = self.D / 10.0
        self.gram = m >= fsvd.GRAM_ORTH_MIN_ROWS
        self.lam = 1.0 / np.sqrt(max(shape))
        self.time_tiled_step(case, variant)
        self.time_separate_passes(case, variant)

    def time_tiled_step(self, case, variant):
        frpca.tiled_step(
            kialm.tiled_pass, self.D, self.X, self.S0, self.S1, self.Y, 1.0, 1.0, self.lam,
            None, None, (self.A, self.B), self.W, self.gram, self.rows, self.split,
        )  # fmt: skip

    def time_separate_passes(self, case, variant):
        split = self.split
        frpca._low_rank_into((self.A, self.B), self.X, split)
        frpca.fused_pass_rows(
            split, self.D, self.X, self.S0, self.S1, self.Y, 1.0, 1.0, self.lam, None, None
        )
        op = fsvd.DenseOperator(self.X, split)
        P = op.matmat(self.W)
        op.project(P)
        if self.gram:
            P.T @ P


class ProxOps:
    """``soft_threshold`` (the elementwise kernel, real and complex, through the public
    wrapper with ``out=``) and ``svt`` (full SVD + shrink)."""

    params = ([10_000, 1_000_000], ["float64", "complex128"])
    param_names = ["size", "dtype"]

    def setup(self, size, dtype):
        fprox._warmup()
        rng = np.random.default_rng(0)
        x = rng.standard_normal(size)
        if dtype == "complex128":
            x = x + 1j * rng.standard_normal(size)
        self.x = x
        self.out = np.empty_like(x)
        fastrpca.soft_threshold(self.x, 0.5, out=self.out)

    def time_soft_threshold(self, size, dtype):
        fastrpca.soft_threshold(self.x, 0.5, out=self.out, check_finite=False)

    def time_soft_threshold_alloc(self, size, dtype):
        fastrpca.soft_threshold(self.x, 0.5)


class SVT:
    """Singular value thresholding (public ``svt``, full SVD) and the truncated SVD
    engines rpca uses instead, on a rank-r matrix plus small noise."""

    params = [["200 r10", "500 r25", "1000 r50"]]
    param_names = ["n_rank"]
    timeout = 300

    def setup(self, n_rank):
        n, r = (int(v) for v in n_rank.replace("r", "").split())
        rng = np.random.default_rng(0)
        self.X = rng.standard_normal((n, r)) @ rng.standard_normal(
            (r, n)
        ) + 1e-3 * rng.standard_normal((n, n))
        self.tau = 1.0  # between the noise (~0.06) and the signal (~n) singular values
        self.engine = fsvd.RandomizedSVD(self.X.shape, self.X.dtype, random_state=0)
        self.engine(self.X.copy(), self.tau)  # cold start: the next calls are warm steps
        fastrpca.svt(self.X[:10, :10], self.tau)

    def time_svt_full(self, n_rank):
        fastrpca.svt(self.X, self.tau, check_finite=False)

    def time_randomized_engine_step(self, n_rank):
        self.engine(self.X, self.tau)

    def track_randomized_rank(self, n_rank):
        return int(self.engine(self.X, self.tau)[1].size)

    track_randomized_rank.unit = "rank"


def _video(n_frames, h, w, rank=3, seed=0):
    """Frames of a rank-``rank`` background with a moving bright square (the truth)."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((rank, h, w))
    background = np.einsum("tk,khw->thw", 3 + rng.standard_normal((n_frames, rank)), basis)
    sparse = np.zeros_like(background)
    for t in range(n_frames):
        r, c = (3 * t) % (h - 8), (5 * t) % (w - 8)
        sparse[t, r : r + 8, c : c + 8] = 20.0
    return background + sparse, background, sparse


class Streaming:
    """``StreamingRPCA``: per-frame latency after ``fit`` on 30 frames (the real-time
    path), and the background error against the planted truth."""

    params = [["60x80", "120x160"]]
    param_names = ["frame"]
    timeout = 300

    def setup(self, frame):
        fastrpca.warmup()
        h, w = map(int, frame.split("x"))
        self.frames, self.bg, _ = _video(130, h, w)
        # noise-free planted frames: the exact PCP fit is their model (delta=0)
        self.stream = fastrpca.StreamingRPCA(rank=3, delta=0).fit(self.frames[:30], random_state=0)
        self.i = 30
        self.stream.process(self.frames[30])

    def time_process_frame(self, frame):
        self.i = 30 + (self.i - 29) % 100
        self.stream.process(self.frames[self.i])

    def track_background_rel_error(self, frame):
        stream = fastrpca.StreamingRPCA(rank=3, delta=0).fit(self.frames[:30], random_state=0)
        err = []
        for t in range(30, 130):
            background, _ = stream.process(self.frames[t])
            err.append(np.linalg.norm(background - self.bg[t]) / np.linalg.norm(self.bg[t]))
        return float(np.median(err))

    def track_mean_inner_iterations(self, frame):
        stream = fastrpca.StreamingRPCA(rank=3, delta=0).fit(self.frames[:30], random_state=0)
        stream.process(self.frames[30:130])
        return float(np.mean(stream.n_inner))

    track_background_rel_error.unit = "median ||B - B0|| / ||B0|| per frame"
    track_mean_inner_iterations.unit = "inner iterations per frame"


def _noisy_planted(m, n, rank, fraction, sigma, seed=0, dtype=np.float32):
    """A planted problem plus Gaussian noise of deviation ``sigma``, and its delta."""
    M, L0, S0 = planted(m, n, rank, fraction, magnitude=5.0, seed=seed)
    M = M + sigma * np.random.default_rng(seed + 1).standard_normal(M.shape)
    delta = float(np.sqrt(M.size + np.sqrt(8 * M.size)) * sigma)
    return M.astype(dtype), L0, S0, delta


def _static_frames(m=20000, n=60, sigma=0.01, seed=0):
    """Frames of a static scene under 3 % flicker (rank 1), Gaussian noise and 5 % of
    entries hit by +0.5: where ``delta="auto"`` (noise between frames) applies."""
    rng = np.random.default_rng(seed)
    L0 = np.outer(rng.uniform(0.2, 0.8, m), 1 + 0.03 * rng.standard_normal(n))
    M = L0 + sigma * rng.standard_normal((m, n)) + 0.5 * (rng.random((m, n)) < 0.05)
    return M.astype(np.float32), L0


def _photo_scene():
    """A real photograph through a camera model with 3 % flicker (needs scikit-image)."""
    from fastrpca.app import scenes

    return scenes.photo_scene(60, (96, 128), seed=1, noise=0.005, drift=0.04, flicker=0.03)


class RPCAStable:
    """Stable PCP, ``rpca(M, delta=...)`` (``M = L + S + E``, ``||E||_F <= delta``): a noisy
    planted video-shaped matrix (20000 x 60, rank 2, float32, delta known) with and without
    a rank cap, ``delta="auto"`` on a static scene's frames (20000 x 60, rank 1 under
    flicker, noise 0.01), and ``decompose_frames`` with its defaults on
    a real photograph through a camera model (96 x 128, 60 frames, 3 % flicker). Tracked:
    the rank, the iterations, the error against the planted L0 and the F-measure of the
    automatic threshold against the scene's masks."""

    params = [["planted 20000x60 r2", "planted 20000x60 r2 rank<=2", "static auto", "photo"]]
    param_names = ["problem"]
    timeout = 300

    def setup_cache(self):
        _warm()
        out = {}
        M, L0, _, delta = _noisy_planted(20000, 60, 2, 0.05, 0.05)
        static, static_L0 = _static_frames()
        for name, kw in (
            ("planted 20000x60 r2", {"delta": delta}),
            ("planted 20000x60 r2 rank<=2", {"delta": delta, "rank": 2}),
            ("static auto", {"delta": "auto"}),
        ):
            if name == "static auto":
                M, L0 = static, static_L0
            res = fastrpca.rpca(M, tol=1e-4, random_state=0, **kw)
            out[name] = {
                "rank": res.rank,
                "n_iter": res.n_iter,
                "err_L": float(np.linalg.norm(res.L - L0) / np.linalg.norm(L0)),
                "f": float("nan"),
            }
        try:
            sc = _photo_scene()
        except ImportError:
            return out
        dec = fastrpca.decompose_frames(sc.frames, random_state=0)
        out["photo"] = {
            "rank": dec.result.rank,
            "n_iter": dec.result.n_iter,
            "err_L": float("nan"),
            "f": fastrpca.cdnet_metrics(sc.masks, dec.mask)["f_measure"],
        }
        return out

    def setup(self, cache, problem):
        _warm()
        if problem == "photo":
            try:
                self.frames = _photo_scene().frames
            except ImportError:
                raise NotImplementedError("needs scikit-image") from None
            fastrpca.decompose_frames(self.frames[:4, :16, :16])
            self.run = lambda: fastrpca.decompose_frames(self.frames, random_state=0)
            return
        M, _, _, delta = _noisy_planted(20000, 60, 2, 0.05, 0.05)
        kw = {"delta": delta}
        if problem == "static auto":
            M, kw = _static_frames()[0], {"delta": "auto"}
        if problem.endswith("rank<=2"):
            kw["rank"] = 2
        self.run = lambda: fastrpca.rpca(M, tol=1e-4, random_state=0, **kw)
        fastrpca.rpca(M[:100], delta=1.0, tol=1e-4)  # the stable kernels, compiled

    def time_stable(self, cache, problem):
        self.run()

    def peakmem_stable(self, cache, problem):
        self.run()

    def track_rank(self, cache, problem):
        return cache[problem]["rank"]

    def track_n_iter(self, cache, problem):
        return cache[problem]["n_iter"]

    def track_rel_error_L(self, cache, problem):
        return cache[problem]["err_L"]

    def track_f_measure(self, cache, problem):
        return cache[problem]["f"]

    track_rank.unit = "rank"
    track_n_iter.unit = "iterations"
    track_rel_error_L.unit = "||L - L0|| / ||L0|| (NaN for the photo)"
    track_f_measure.unit = "F-measure of the auto threshold (NaN for planted)"
