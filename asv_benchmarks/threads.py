"""Median time of ``fastrpca.rpca`` on the two problems of the one-pass issue, in one
process whose threads are set the way a user sets them (environment variables).

Run one process per setting, e.g.::

    NUMBA_NUM_THREADS=1 python asv_benchmarks/threads.py "1 thread"
    NUMBA_NUM_THREADS=2 FASTRPCA_BLAS_THREADS=2 python asv_benchmarks/threads.py "2 + BLAS 2"

Prints one line: the label, then the median of 5 solves (after a warm-up solve) and the
iteration count of each problem: video-like 20000 x 200 rank 2 with 3 % outliers and
1000 x 1000 rank 50 with 5 %.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import fastrpca


def planted(rng, m, n, rank, fraction):
    """Rank ``rank`` plus outliers of magnitude up to 500 on ``fraction`` of the entries."""
    L = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n))
    return L + np.where(rng.random((m, n)) < fraction, rng.uniform(-500, 500, (m, n)), 0.0)


def main(label: str) -> None:
    rng = np.random.default_rng(0)
    problems = {
        "video 20000x200 r2 3%": planted(rng, 20000, 200, 2, 0.03),
        "1000 r50 5%": planted(rng, 1000, 1000, 50, 0.05),
    }
    fastrpca.warmup()
    out = []
    for name, M in problems.items():
        fastrpca.rpca(M)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            res = fastrpca.rpca(M)
            times.append(time.perf_counter() - t)
        out.append(f"{name}: {np.median(times) * 1e3:.0f} ms ({res.n_iter} it)")
    print(label, "|", "; ".join(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
