"""Per-call latency of fastrpca in a real-time loop: p50, p99 and max, plus cold start.

Run as ``python asv_benchmarks/latency.py`` (``--help`` for options). Prints Markdown:

1. Latency per call after warm-up (default 3000 timed calls each, BLAS at one thread,
   every call on fresh data, outputs into preallocated buffers):
   streaming RPCA on 64 x 64 and 256 x 256 frames, learned RPCA (trained factor layers)
   on 64 x 64 matrices, one 64 x 256 lasso, one holography
   update (new foci -> drives) at 1 device x 16 foci and 4 devices x 64 foci.
2. Streaming RPCA against batch IALM on the same planted drifting sequence: per-frame
   cost, and how close the streaming S is to the batch S and to the truth.
3. Cold start, each in a fresh process: ``import fastrpca`` + first ``process()`` with
   numba's on-disk cache warm, and ``fastrpca.warmup()`` (and each family's
   ``_warmup``) with an empty cache (``NUMBA_CACHE_DIR`` set to a new temporary
   directory), i.e. right after a fresh install.

Timings on a shared machine are noisy: compare figures from one run, not across runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # planted sequences (tests/naive/stream.py)

from naive.stream import drifting  # noqa: E402

import fastrpca  # noqa: E402
from fastrpca.robust_pca.stream import StreamingRPCA  # noqa: E402

# ---------------------------------------------------------------- measurement


def percentiles(fn, calls: int, warmup: int) -> tuple[float, float, float, int]:
    """(p50, p99, max) in microseconds of ``fn(i)`` over ``calls`` timed calls."""
    for i in range(warmup):
        fn(i)
    t = np.empty(calls)
    clock = time.perf_counter_ns
    for i in range(calls):
        start = clock()
        fn(warmup + i)
        t[i] = clock() - start
    t /= 1e3
    return float(np.percentile(t, 50)), float(np.percentile(t, 99)), float(t.max()), calls


def stream_case(side: int, n_frames: int = 120, rank: int = 3):
    """A fitted stream and planted frames of side x side pixels, played forwards then
    backwards (so that consecutive frames are always neighbours: no scene jump)."""
    M, _, _ = drifting((side, side), n_frames, rank, drift=0.3, seed=0)
    # noise-free planted frames: the exact PCP fit is their model (delta=0)
    stream = StreamingRPCA(rank=rank, delta=0).fit(M[:30], random_state=0)
    frames = np.concatenate([M[30:], M[-2:30:-1]])
    return stream, frames


def latency_cases(calls: int, warmup: int):
    rows = []
    for side in (64, 256):
        stream, frames = stream_case(side)
        rows.append(
            (
                f"streaming RPCA, {side} x {side} frame, rank 3, `process(frame)`",
                percentiles(lambda i: stream.process(frames[i % len(frames)]), calls, warmup),
            )
        )
        rows.append(
            (
                f"streaming RPCA, {side} x {side}, `check_finite=False`",
                percentiles(
                    lambda i: stream.process(frames[i % len(frames)], check_finite=False),
                    calls,
                    warmup,
                ),
            )
        )
    try:
        from fastrpca.robust_pca import LearnedRPCA, RPCAWorkspace, planted_problems
    except ImportError:
        rows.append(("learned RPCA: skipped (fastrpca.LearnedRPCA not present)", None))
    else:
        M, L0, _ = planted_problems(32, (64, 64), 3, random_state=1)
        model = LearnedRPCA(n_layers=10).fit(M, L0)  # about 12 s of training
        held_out = planted_problems(64, (64, 64), 3, random_state=2)[0]
        # the problems its layers answer alone (the rest continue with IALM: rpca's latency)
        alone = [A for A in held_out if model.solve(A).safeguard_iter == 0]
        ws = RPCAWorkspace()
        rows.append(
            (
                f"learned RPCA, 10 factor layers, 64 x 64 rank 3 ({len(alone)} of 64 held-out "
                "problems without safeguard), `solve(M, workspace=ws, check_finite=False)`",
                percentiles(
                    lambda i: model.solve(alone[i % len(alone)], workspace=ws, check_finite=False),
                    calls,
                    warmup,
                ),
            )
        )
    try:
        from fastrpca.sparse import LassoSolver, lam_max
    except ImportError:
        rows.append(("lasso 64 x 256: skipped (fastrpca.sparse.LassoSolver not present)", None))
    else:
        rng = np.random.default_rng(0)
        A = rng.standard_normal((64, 256))
        A /= np.linalg.norm(A, axis=0)
        X = np.zeros((256, 64))
        for c in range(64):
            X[rng.choice(256, 8, replace=False), c] = rng.standard_normal(8)
        Y = np.ascontiguousarray((A @ X + 0.01 * rng.standard_normal((64, 64))).T)
        lam = 0.1 * float(np.median([lam_max(A, y) for y in Y]))
        solver = LassoSolver(A)
        out = np.empty(256)
        rows.append(
            (
                "lasso 64 x 256, one signal, `LassoSolver.solve(y, lam, out=out)`",
                percentiles(
                    lambda i: solver.solve(Y[i % 64], lam, out=out, check_finite=False),
                    calls,
                    warmup,
                ),
            )
        )
    try:
        from fastrpca import holography as H
    except ImportError:
        rows.append(("holography: skipped (fastrpca.holography not present)", None))
    else:
        origins = [[0.0, 0.0, 0.0], [192.0, 0.0, 0.0], [0.0, 151.4, 0.0], [192.0, 151.4, 0.0]]
        for ndev, m in ((1, 16), (4, 64)):
            arr = H.autd3(origins[:ndev])
            w, h = (384.0, 302.8) if ndev == 4 else (192.0, 151.4)
            rng = np.random.default_rng(m)
            base = np.c_[rng.uniform(10, w - 10, m), rng.uniform(10, h - 10, m), np.full(m, 150.0)]
            # foci moving along small circles: a new target every call
            phase = np.linspace(0, 2 * np.pi, 64, endpoint=False)
            path = (
                base[None]
                + 2.0 * np.stack([np.cos(phase), np.sin(phase), 0 * phase], 1)[:, None, :]
            )
            path = np.ascontiguousarray(path)
            amps = np.full(m, 5e3)
            ws = H.Workspace(arr, m, method="sdp", random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rows.append(
                    (
                        f"holography update, {ndev} device(s) x {m} foci, "
                        "`Workspace.solve(foci, amps)` (SDP)",
                        percentiles(
                            lambda i: ws.solve(path[i % 64], amps),
                            max(calls // (10 if m > 16 else 1), 200),
                            warmup,
                        ),
                    )
                )
    return rows


# ---------------------------------------------------------------- stream vs batch


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def stream_vs_batch(side: int, n_frames: int, n0: int = 30, window: int = 30):
    M, _, S0 = drifting((side, side), n_frames, 3, drift=0.3, seed=1)
    flat = M.reshape(n_frames, -1)
    start = time.perf_counter()
    batch = fastrpca.rpca(flat.T, random_state=0)
    t_batch = (time.perf_counter() - start) / n_frames
    S_batch = batch.S.T.reshape(M.shape)[n0:]
    stream = StreamingRPCA(rank=3, delta=0).fit(M[:n0], random_state=0)
    S = np.empty_like(M[n0:])
    times = []
    for t, frame in enumerate(M[n0:]):
        start = time.perf_counter()
        _, s = stream.process(frame)
        times.append(time.perf_counter() - start)
        S[t] = s
    t_stream = float(np.median(times))
    # windowed IALM: rpca on the last `window` frames per new frame, warm-started from the
    # previous window shifted by one frame (the causal batch alternative).
    prev, w_times, S_win = None, [], []
    for t in range(n0, min(n0 + 20, n_frames)):
        W = flat[t - window + 1 : t + 1].T
        init = (
            None
            if prev is None
            else (np.c_[prev.L[:, 1:], prev.L[:, -1:]], np.c_[prev.S[:, 1:], np.zeros(W.shape[0])])
        )
        start = time.perf_counter()
        prev = fastrpca.rpca(W, init=init, random_state=0)
        w_times.append(time.perf_counter() - start)
        S_win.append(prev.S[:, -1].copy())
    S_win = np.array(S_win)
    k = len(S_win)
    return {
        "size": f"{side} x {side}, {n_frames} frames",
        "batch_rank": batch.rank,
        "t_stream": t_stream,
        "t_batch": t_batch,
        "t_window": float(np.median(w_times)),
        "S_stream_batch": rel(S, S_batch),
        "S_stream_truth": rel(S, S0[n0:]),
        "S_batch_truth": rel(S_batch, S0[n0:]),
        "S_window_truth": rel(S_win, S0[n0 : n0 + k].reshape(k, -1)),
    }


# ---------------------------------------------------------------- cold start

_FIRST_CALL = """
import time, numpy as np
frames = np.random.default_rng(0).standard_normal((31, 64 * 64))
frames[:, :] += np.outer(np.linspace(1, 2, 31), np.linspace(-1, 1, 64 * 64)) * 10
frame = frames[-1].copy()
start = time.perf_counter()
import fastrpca
from fastrpca.robust_pca.stream import StreamingRPCA
t_import = time.perf_counter() - start
stream = StreamingRPCA(rank=1).fit(frames[:30], random_state=0)
t_fit = time.perf_counter() - start
stream.process(frame)
t_first = time.perf_counter() - start
stream.process(frame)
print(t_import, t_fit, t_first)
"""

_WARMUP = """
import time, importlib
import numpy as np
start = time.perf_counter()
import fastrpca
t_import = time.perf_counter() - start
fastrpca.warmup()
t_warmup = time.perf_counter() - start
dtypes = (np.float32, np.float64, np.complex64, np.complex128)
out = [t_import, t_warmup]
for name in ("stream", "sparse", "holography"):
    t0 = time.perf_counter()
    try:
        module = importlib.import_module("fastrpca." + name)
        fn = module._warmup
        fn(dtypes) if name == "stream" else fn()
        out.append(time.perf_counter() - t0)
    except (ImportError, AttributeError):
        out.append(float("nan"))
print(*out)
"""


def fresh(code: str, cache_dir: str | None = None) -> list[float]:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return [float(x) for x in run.stdout.split()]


def cold_start(samples: int, cold: bool):
    fresh(_FIRST_CALL)  # prime the on-disk cache for the warm measurement
    warm = np.array([fresh(_FIRST_CALL) for _ in range(samples)])
    rows = [
        ("`import fastrpca` (warm cache)", np.median(warm[:, 0])),
        ("import + `StreamingRPCA.fit` on 30 frames 64 x 64 (warm cache)", np.median(warm[:, 1])),
        ("import + fit + first `process(frame)` (warm cache)", np.median(warm[:, 2])),
    ]
    warm_w = np.array([fresh(_WARMUP) for _ in range(samples)])
    rows.append(("import + `fastrpca.warmup()` (warm cache)", np.median(warm_w[:, 1])))
    if cold:
        with tempfile.TemporaryDirectory() as tmp:
            c = fresh(_WARMUP, cache_dir=tmp)
        rows.append(("import + `fastrpca.warmup()`, empty cache (fresh install)", c[1]))
        for name, t in zip(("stream", "sparse", "holography"), c[2:]):
            rows.append((f"then `fastrpca.{name}._warmup`, empty cache", t))
    return rows


# ---------------------------------------------------------------- report


def fmt_us(us: float) -> str:
    return f"{us:,.0f} us" if us >= 100 else f"{us:.1f} us"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=3000, help="timed calls per case")
    p.add_argument("--warmup", type=int, default=200, help="untimed calls first")
    p.add_argument("--samples", type=int, default=3, help="fresh processes per cold figure")
    p.add_argument("--no-cold", action="store_true", help="skip the empty-cache warmup")
    p.add_argument("--no-batch", action="store_true", help="skip stream vs batch IALM")
    args = p.parse_args(argv)

    print(
        f"# fastrpca {fastrpca.__version__} latency ({platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, BLAS 1 thread)\n"
    )
    with threadpool_limits(1):
        fastrpca.warmup()
        from fastrpca.robust_pca.stream import _warmup

        _warmup()
        print("## Latency per call after warm-up\n")
        print("| case | p50 | p99 | max | calls |\n|---|---:|---:|---:|---:|")
        for name, r in latency_cases(args.calls, args.warmup):
            if r is None:
                print(f"| {name} | - | - | - | - |")
            else:
                print(f"| {name} | {fmt_us(r[0])} | {fmt_us(r[1])} | {fmt_us(r[2])} | {r[3]} |")
        sys.stdout.flush()
        if not args.no_batch:
            print("\n## Streaming RPCA vs batch IALM on the same planted drifting sequence\n")
            print(
                "Rank-3 background turning by 0.3 rad over the sequence, 5% sparse "
                "anomalies; stream fitted on the first 30 frames, defaults otherwise. "
                "Batch IALM: one `rpca` on all frames (not causal; time / frames). "
                "Windowed IALM: `rpca` on the last 30 frames for each new frame, "
                "warm-started from the previous window (20 frames timed).\n"
            )
            print(
                "| sequence | stream per frame (p50) | batch IALM per frame | windowed IALM "
                "per frame | rel. diff. S stream vs batch | S stream vs truth | S batch vs "
                "truth | S windowed vs truth |\n|---|---:|---:|---:|---:|---:|---:|---:|"
            )
            for side, n in ((64, 200), (256, 100)):
                r = stream_vs_batch(side, n)
                print(
                    f"| {r['size']} | {fmt_us(r['t_stream'] * 1e6)} | "
                    f"{fmt_us(r['t_batch'] * 1e6)} ({r['t_batch'] / r['t_stream']:.0f}x) | "
                    f"{fmt_us(r['t_window'] * 1e6)} ({r['t_window'] / r['t_stream']:.0f}x) | "
                    f"{r['S_stream_batch']:.1e} | {r['S_stream_truth']:.1e} | "
                    f"{r['S_batch_truth']:.1e} | {r['S_window_truth']:.1e} |"
                )
                sys.stdout.flush()
    print(f"\n## Cold start (fresh processes, median of {args.samples}; empty-cache run once)\n")
    print("| what | seconds |\n|---|---:|")
    for name, t in cold_start(args.samples, not args.no_cold):
        print(f"| {name} | {t:.2f} |")


if __name__ == "__main__":
    main()
