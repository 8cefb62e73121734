"""Side by side: fastrpca.rpca against the reference IALM and the peer libraries.

Contenders, on the same matrices, BLAS held at one thread for all, timed in interleaved
rounds (A B C A B C ...):

* ``numpy IALM (full SVD)``: a plain NumPy transcription of Lin, Chen & Ma's
  ``inexact_alm_rpca.m`` (``tests/naive/rpca.py``), the 1.0 of every ratio;
* ``numpy IALM (partial SVD)``: the same with the original's rank-prediction rule and
  PROPACK partial SVDs;
* pyrpca ``rpca_pcp_ialm``, tensorly ``robust_pca``, sporco ``RobustPCA`` (ADMM) and
  AccAltProj's ``rpca.RobustPCA``, each at the tolerance that gives the others' accuracy
  where it has one; peers that are not installed are skipped with a note.

Problems (Lin et al. 2010): square n = 500 and 1000 with rank 0.05 n and 5% / 10% of the
entries corrupted uniformly in [-500, 500]; a 20000 x 200 rank-2 "video" with 3%; 64 x 64
rank 3; n = 3000 with ``--large``. Accuracy: relative error of L and S against the planted
truth. The floor column is the time of the SVDs no IALM can avoid: one truncated SVD of
the final rank per iteration (a two-product range finder, QR, small SVD), times the
iteration count.

Run: ``python -m asv_benchmarks.compare.rpca [--rounds 3] [--quick] [--large]``.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from statistics import median  # noqa: E402

import numpy as np  # noqa: E402
import scipy.linalg as sla  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from naive.rpca import ialm, planted  # noqa: E402

import fastrpca  # noqa: E402

try:
    from ._timing import fmt_seconds, interleaved, markdown_table  # noqa: E402
except ImportError:  # run as a script
    from _timing import fmt_seconds, interleaved, markdown_table  # noqa: E402

PROBLEMS = {  # name: (m, n, rank, fraction corrupted)
    "64x64 r3 5%": (64, 64, 3, 0.05),
    "500 r25 5%": (500, 500, 25, 0.05),
    "500 r25 10%": (500, 500, 25, 0.10),
    "1000 r50 5%": (1000, 1000, 50, 0.05),
    "1000 r50 10%": (1000, 1000, 50, 0.10),
    "video 20000x200 r2 3%": (20000, 200, 2, 0.03),
    "3000 r150 5%": (3000, 3000, 150, 0.05),
}
QUICK = ("64x64 r3 5%", "500 r25 5%")
# Peers that are slow or inaccurate are run only where ANCHORS measured them.
SMALL_ONLY = {"tensorly", "sporco"}


def _quiet(fn):
    """Run a peer with its prints swallowed."""

    def run():
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()

    return run


def contenders(M, rank):
    """name -> zero-argument callable returning (L, S, n_iter or None)."""
    m, n = M.shape
    lam = 1 / np.sqrt(max(m, n))
    out = {
        "fastrpca": lambda: (lambda r: (r.L, r.S, r.n_iter))(fastrpca.rpca(M, random_state=0)),
        "numpy IALM (full SVD)": lambda: ialm(M)[:3],
        "numpy IALM (partial SVD)": lambda: ialm(M, partial=True)[:3],
    }
    try:
        from pyrpca import rpca_pcp_ialm

        out["pyrpca"] = _quiet(lambda: (*rpca_pcp_ialm(M, lam, tol=1e-7, verbose=False), None))
    except ImportError:
        pass
    if max(m, n) <= 500:
        try:
            from tensorly.decomposition import robust_pca

            out["tensorly"] = _quiet(
                lambda: (*robust_pca(M, reg_E=lam, tol=1e-7, n_iter_max=1000), None)
            )
        except ImportError:
            pass
        try:
            from sporco.admm.rpca import RobustPCA

            def sporco_run():
                opt = RobustPCA.Options(
                    {"Verbose": False, "MaxMainIter": 2000, "RelStopTol": 1e-7, "AbsStopTol": 0}
                )
                solver = RobustPCA(M, lam, opt)
                L, S = solver.solve()
                return L, S, solver.k

            out["sporco"] = _quiet(sporco_run)
        except ImportError:
            pass
    try:
        from rpca import RobustPCA as AccAltProj

        def accaltproj():
            est = AccAltProj(n_components=rank, max_iter=200, tol=1e-7, verbose=False)
            L = est.fit(M).low_rank_
            return L, M - L, None

        out["rpca (AccAltProj)"] = _quiet(accaltproj)
    except ImportError:
        pass
    return out


def svd_floor(M, rank, n_iter, repeats=3):
    """Seconds of ``n_iter`` unavoidable truncated SVDs of rank ``rank`` on M."""
    rng = np.random.default_rng(0)
    Omega = rng.standard_normal((M.shape[1], rank))
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        Q = sla.qr(M @ Omega, mode="economic", check_finite=False)[0]
        sla.svd(Q.T @ M, full_matrices=False, check_finite=False)
        best = min(best, time.perf_counter() - t)
    return best * n_iter


def run_problem(name, rounds):
    m, n, rank, fraction = PROBLEMS[name]
    M, L0, S0 = planted(m, n, rank, fraction, seed=0)
    runs = contenders(M, rank)
    answers = {k: fn() for k, fn in runs.items()}  # also the untimed warm-up
    times = interleaved(runs, rounds=rounds)
    ref = median(times["numpy IALM (full SVD)"])
    it = answers["fastrpca"][2]
    floor = svd_floor(M, rank, it)
    rows = []
    for k in runs:
        L, S, n_iter = answers[k]
        t = median(times[k])
        rows.append(
            [
                name if not rows else "",
                k,
                fmt_seconds(t),
                f"{t / ref:.3g}",
                f"{ref / t:.3g}x",
                n_iter if n_iter is not None else "-",
                f"{np.linalg.norm(L - L0) / np.linalg.norm(L0):.1e}",
                f"{np.linalg.norm(S - S0) / np.linalg.norm(S0):.1e}",
                np.linalg.matrix_rank(L) if min(m, n) <= 1000 else "-",
                f"{fmt_seconds(floor)} ({floor / t:.2f})" if k == "fastrpca" else "",
            ]
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="two small problems only")
    parser.add_argument("--large", action="store_true", help="add n = 3000")
    parser.add_argument("--problems", nargs="*", help="names from PROBLEMS")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    names = args.problems or (
        QUICK if args.quick else [p for p in PROBLEMS if args.large or not p.startswith("3000")]
    )
    missing = [
        p
        for p in ("pyrpca", "tensorly", "sporco", "rpca")
        if __import__("importlib").util.find_spec(p) is None
    ]
    fastrpca.warmup()
    rows = []
    with threadpool_limits(1):
        for name in names:
            rows += run_problem(name, args.rounds)
            print(f"done {name}", file=sys.stderr, flush=True)
    header = [
        "problem",
        "contender",
        "median",
        "time ratio",
        "speed-up",
        "iters",
        "rel err L",
        "rel err S",
        "rank L",
        "SVD floor (floor / time)",
    ]
    print(
        f"Robust PCA, median of {args.rounds} interleaved rounds, one BLAS thread, "
        f"{time.strftime('%Y-%m-%d')}; ratios are to the NumPy IALM with full SVD.\n"
    )
    print(markdown_table(header, rows))
    if missing:
        print(f"\nNot installed, skipped: {', '.join(missing)}.")


if __name__ == "__main__":
    main()
