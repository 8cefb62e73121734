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


def main(label: str, reference: bool = False) -> None:
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
        line = f"{name}: {np.median(times) * 1e3:.0f} ms ({res.n_iter} it)"
        if reference:
            ref = reference_seconds(M)
            line += f", NumPy IALM {ref:.2f} s ({ref / np.median(times):.1f}x)"
        out.append(line)
    print(label, "|", "; ".join(out), flush=True)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--reference"]
    main(args[0] if args else "", reference="--reference" in sys.argv[1:])
