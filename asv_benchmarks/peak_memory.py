"""Peak memory of one in-memory ``fastrpca.rpca`` solve, in copies of M beside M.

Run as ``python asv_benchmarks/peak_memory.py`` (``--help`` for options). For each
problem, dtype, path (separate passes or the tiled step) and variant (exact PCP, exact
with 10 % of the entries masked, stable PCP with ``delta="auto"``), one solve compiles the
kernels, then tracemalloc measures the peak of a second solve (numpy's allocations are
traced; M itself is not counted). The result alone holds L, S and Y: three copies.

The problems are the issue's: the video-like 20000 x 200 rank 2 with 3 % outliers and the
square 1000 x 1000 rank 50 with 5 % (rank 20 in float32, where rank 50 stalls above
tol), stable PCP on the same matrices plus Gaussian noise of deviation 0.01.
"""

from __future__ import annotations

import argparse
import tracemalloc

import numpy as np

import fastrpca
from fastrpca.robust_pca import ialm

PROBLEMS = {"video": (20000, 200, 2, 0.03), "square": (1000, 1000, 50, 0.05)}


def problem(m, n, rank, fraction, dtype, seed=0):
    """``(M, M + noise)``: a planted low-rank plus sparse matrix, with and without noise."""
    rng = np.random.default_rng(seed)
    L0 = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n))
    S0 = np.where(rng.random((m, n)) < fraction, rng.uniform(-10, 10, (m, n)), 0.0)
    noise = 0.01 * rng.standard_normal((m, n))
    return (L0 + S0).astype(dtype), (L0 + S0 + noise).astype(dtype)


def peak_copies(M, tiled: str, **kwargs):
    """Traced peak of one solve over ``M.nbytes``, and the result (after a compiling solve)."""
    saved, ialm.TILED = ialm.TILED, tiled
    try:
        fastrpca.rpca(M, **kwargs)
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        res = fastrpca.rpca(M, **kwargs)
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
    finally:
        ialm.TILED = saved
    return peak / M.nbytes, res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", nargs="+", choices=sorted(PROBLEMS), default=sorted(PROBLEMS))
    ap.add_argument("--dtypes", nargs="+", choices=("float64", "float32"), default=["float64"])
    args = ap.parse_args(argv)
    print("| problem | dtype | path | variant | copies of M | iterations | rank |")
    print("|---|---|---|---|---|---|---|")
    for name in args.problems:
        for dtype in map(np.dtype, args.dtypes):
            m, n, rank, fraction = PROBLEMS[name]
            if name == "square" and dtype == np.float32:
                rank = 20
            M, noisy = problem(m, n, rank, fraction, dtype)
            mask = np.random.default_rng(1).random(M.shape) > 0.1
            variants = (
                ("exact", M, {}),
                ("exact, masked", M, {"mask": mask}),
                ("stable", noisy, {"delta": "auto"}),
            )
            for tiled, path in (("0", "separate passes"), ("1", "tiled step")):
                for variant, A, kwargs in variants:
                    copies, res = peak_copies(A, tiled, **kwargs)
                    print(
                        f"| {name} {m} x {n} | {dtype.name} | {path} | {variant} | "
                        f"{copies:.2f} | {res.n_iter} | {res.rank} |",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
