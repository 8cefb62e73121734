"""Median time of ``fastrpca.rpca`` on the two problems of the one-pass issue, in one
process whose threads are set the way a user sets them (environment variables).

Run one process per setting, e.g.::

    NUMBA_NUM_THREADS=1 python asv_benchmarks/threads.py "1 thread"
    NUMBA_NUM_THREADS=2 FASTRPCA_BLAS_THREADS=2 python asv_benchmarks/threads.py "2 + BLAS 2"

Prints one line: the label, then the median of 5 solves (after a warm-up solve) and the
iteration count of each problem: video-like 20000 x 200 rank 2 with 3 % outliers and
1000 x 1000 rank 50 with 5 %. With ``--reference`` it also times one solve of the NumPy
IALM (``tests/naive/rpca.py``, full SVD) with BLAS at the threads the environment gives it
(``OPENBLAS_NUM_THREADS``), and prints the speed-up, e.g.::

    NUMBA_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 python asv_benchmarks/threads.py "2" --reference

With ``--interleave`` (and ``NUMBA_NUM_THREADS`` > 1) the process alternates one thread and
all of them solve by solve (``numba.set_num_threads``; 9 rounds), so that both settings see
the same machine load, and prints each setting's median and the speed-up.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import fastrpca


def planted(rng, m, n, rank, fraction):
    """Rank ``rank`` plus outliers of magnitude up to 500 on ``fraction`` of the entries."""
    L = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n))
    return L + np.where(rng.random((m, n)) < fraction, rng.uniform(-500, 500, (m, n)), 0.0)


def reference_seconds(M) -> float:
    """Seconds of one solve by the NumPy transcription of ``inexact_alm_rpca.m``."""
    tests = str(Path(__file__).resolve().parents[1] / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from naive.rpca import ialm

    t = time.perf_counter()
    ialm(M)
    return time.perf_counter() - t


def _problems() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "video 20000x200 r2 3%": planted(rng, 20000, 200, 2, 0.03),
        "1000 r50 5%": planted(rng, 1000, 1000, 50, 0.05),
    }


def main(label: str, reference: bool = False) -> None:
    problems = _problems()
    fastrpca.warmup()
    out = []
    for name, M in problems.items():
        fastrpca.rpca(M)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            res = fastrpca.rpca(M)
            times.append(time.perf_counter() - t)
        line = f"{name}: {np.median(times) * 1e3:.0f} ms ({res.n_iter} it)"
        if reference:
            ref = reference_seconds(M)
            line += f", NumPy IALM {ref:.2f} s ({ref / np.median(times):.1f}x)"
        out.append(line)
    print(label, "|", "; ".join(out), flush=True)


def interleaved(label: str, rounds: int = 9) -> None:
    """One thread against numba's full count, alternating solve by solve."""
    import numba

    most = numba.config.NUMBA_NUM_THREADS
    if most < 2:
        sys.exit("--interleave compares 1 thread with more: set NUMBA_NUM_THREADS to 2 or more")
    problems = _problems()
    fastrpca.warmup()
    out = []
    for name, M in problems.items():
        times: dict[int, list[float]] = {1: [], most: []}
        for r in range(rounds + 1):
            for t in (1, most) if r % 2 else (most, 1):
                numba.set_num_threads(t)
                start = time.perf_counter()
                fastrpca.rpca(M)
                if r:  # the first round warms up
                    times[t].append(time.perf_counter() - start)
        one, many = np.median(times[1]), np.median(times[most])
        out.append(
            f"{name}: {one * 1e3:.0f} ms at 1 thread, {many * 1e3:.0f} ms at {most} "
            f"({one / many:.2f}x)"
        )
    print(label, "|", "; ".join(out), flush=True)


if __name__ == "__main__":
    flags = {"--reference", "--interleave"}
    args = [a for a in sys.argv[1:] if a not in flags]
    if "--interleave" in sys.argv[1:]:
        if "--reference" in sys.argv[1:]:
            sys.exit("--reference times one setting: run it without --interleave")
        interleaved(args[0] if args else "")
    else:
        main(args[0] if args else "", reference="--reference" in sys.argv[1:])
