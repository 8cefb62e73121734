"""Out-of-core Robust PCA: a float32 matrix larger than memory, solved to tol from disk.

Not an asv benchmark (a full run takes hours and tens of GiB of disk): a script that
builds a planted problem of the requested size as a Dask array that is never held in
memory, solves it with ``fastrpca.rpca`` on row blocks whose state lives in files
(``state_dir``), and reports the time per pass, the process's peak memory and the error
against the planted truth (computed block by block). Issue 12's goal, on a 24 GiB machine::

    python asv_benchmarks/out_of_core.py --gib 36 --dir /big/scratch --json ooc-36g.json

The matrix is m x n float32 (n = ``--columns``, m from ``--gib``), ``M = L0 + S0`` with
rank-``--rank`` Gaussian L0 and ``--fraction`` of entries corrupted by uniform
[-``--magnitude``, ``--magnitude``] spikes. Each row block is generated from its own seed
whenever a pass needs it (``--source generated``, nothing stored but the solver's state)
or written once to a ``.npy`` file that every pass reads (``--source npy``).

Disk: the solver keeps Y (4 bytes an entry) and the compressed S pair (S is mostly
zeros); with ``--source npy`` add the input (4 bytes an entry). Memory: about six block
sizes per worker thread (``--rows`` rows of n float32 per block) plus the page cache,
which the operating system trims as needed. A quick check at a small size::

    python asv_benchmarks/out_of_core.py --gib 0.25 --dir /tmp/ooc
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time

import numpy as np


def block_rows(seed, start, stop, n, rank, fraction, magnitude, parts=("M",), dtype=np.float32):
    """Rows ``start:stop`` of the planted problem (deterministic in the seed and rows)."""
    B = np.random.default_rng([seed, 0]).standard_normal((n, rank)).astype(dtype)
    rng = np.random.default_rng([seed, 1, start])
    A = rng.standard_normal((stop - start, rank)).astype(dtype)
    L0 = A @ B.T
    S0 = np.zeros_like(L0)
    count = rng.binomial(S0.size, fraction)  # positions drawn with repeats: cheap
    S0.ravel()[rng.integers(0, S0.size, count)] = rng.uniform(-magnitude, magnitude, count)
    out = {"L0": L0, "S0": S0, "M": L0 + S0}
    return out[parts[0]] if len(parts) == 1 else tuple(out[p] for p in parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gib", type=float, required=True, help="size of M in GiB")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--dir", required=True, help="scratch folder for the solver's state")
    ap.add_argument("--columns", type=int, default=1000, help="n (frames of a video)")
    ap.add_argument("--rows", type=int, default=16384, help="rows per block")
    ap.add_argument("--rank", type=int, default=5)
    ap.add_argument("--fraction", type=float, default=0.05)
    ap.add_argument("--magnitude", type=float, default=50.0)
    ap.add_argument("--source", choices=("generated", "npy", "zarr"), default="generated")
    ap.add_argument("--threads", type=int, default=None, help="Dask worker threads")
    ap.add_argument(
        "--cluster",
        type=int,
        default=0,
        help="LocalCluster of this many "
        "single-threaded worker processes (default: threaded scheduler)",
    )
    ap.add_argument("--memory-limit", default="4GiB", help="per worker, with --cluster")
    ap.add_argument("--max-iter", type=int, default=200)
    ap.add_argument("--json", help="write the summary here too")
    ap.add_argument("--keep", action="store_true", help="keep the state folder afterwards")
    args = ap.parse_args(argv)

    import dask
    import dask.array as da

    from fastrpca.robust_pca import dask as fdask

    n = args.columns
    dtype = np.dtype(args.dtype)
    m = int(args.gib * 2**30 / (dtype.itemsize * n))
    rows = min(args.rows, m)
    params = (n, args.rank, args.fraction, args.magnitude)
    kw = {"dtype": dtype}
    os.makedirs(args.dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="ooc-", dir=args.dir)
    spans = [(a, min(a + rows, m)) for a in range(0, m, rows)]
    gen = dask.delayed(block_rows, pure=True)
    t_input = time.perf_counter()
    if args.source == "npy":
        path = os.path.join(work, "M.npy")
        out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(m, n))
        for a, b in spans:
            out[a:b] = block_rows(0, a, b, *params, **kw)
        out.flush()
        del out
        M = fdask.from_npy(path, rows=rows)
    elif args.source == "zarr":
        import zarr

        path = os.path.join(work, "M.zarr")
        out = zarr.open_array(path, mode="w", shape=(m, n), chunks=(rows, n), dtype=dtype)
        for a, b in spans:
            out[a:b] = block_rows(0, a, b, *params, **kw)
        del out
        M = fdask.from_zarr(path, rows=rows)
    else:
        M = da.concatenate(
            [da.from_delayed(gen(0, a, b, *params, **kw), (b - a, n), dtype) for a, b in spans]
        )
    t_input = time.perf_counter() - t_input
    print(
        f"M: {m} x {n} {dtype} = {m * n * dtype.itemsize / 2**30:.2f} GiB in {len(spans)} "
        f"blocks of {rows} rows ({rows * n * dtype.itemsize / 2**20:.0f} MiB); state in {work}"
        f" (input written in {t_input:.0f} s)",
        flush=True,
    )

    stamps = []

    def progress(info):
        stamps.append(time.perf_counter())
        print(
            f"  iter {info.n_iter:3d}  residual {info.residual:.2e}  rank {info.rank:3d}  "
            f"{stamps[-1] - stamps[max(0, len(stamps) - 2)]:.1f} s",
            flush=True,
        )

    cluster = client = None
    if args.cluster:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=args.cluster,
            threads_per_worker=1,
            memory_limit=args.memory_limit,
            dashboard_address=":0",
        )
        client = Client(cluster)
    t0 = time.perf_counter()
    config = {} if args.threads is None else {"num_workers": args.threads}
    with dask.config.set(**config):
        res = fdask.rpca_dask(
            M,
            max_iter=args.max_iter,
            callback=progress,
            client=client or False,
            state_dir=work,
            reread=True,
        )
    solve = time.perf_counter() - t0
    worker_rss = None
    if client is not None:
        usage = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        worker_rss = max(usage.values()) / 2**20

    # error against the truth, block by block (nothing m x n in memory)
    num_l = den_l = num_s = den_s = 0.0
    U = res.U
    for (a, b), Ub, Sb in zip(spans, U.to_delayed().ravel(), res.S.to_delayed().ravel()):
        L0, S0 = block_rows(0, a, b, *params, parts=("L0", "S0"), **kw)
        Lb = (Ub.compute() * res.s) @ res.Vh
        num_l += float(np.sum((Lb - L0) ** 2.0, dtype=np.float64))
        den_l += float(np.sum(L0.astype(np.float64) ** 2))
        num_s += float(np.sum((Sb.compute() - S0) ** 2.0, dtype=np.float64))
        den_s += float(np.sum(S0.astype(np.float64) ** 2))
    disk = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(work) for f in fs)
    summary = {
        "shape": [m, n],
        "gib": m * n * dtype.itemsize / 2**30,
        "dtype": str(dtype),
        "input_write_s": t_input,
        "iteration_s": [float(t) for t in np.diff(stamps)],
        "blocks": len(spans),
        "rows_per_block": rows,
        "source": args.source,
        "converged": bool(res.converged),
        "n_iter": int(res.n_iter),
        "passes": int(res.passes),
        "rank": int(res.rank),
        "residual": float(res.residual),
        "err_L": (num_l / den_l) ** 0.5,
        "err_S": (num_s / den_s) ** 0.5,
        "solve_s": solve,
        "median_pass_s": float(np.median(np.diff(stamps))) if len(stamps) > 1 else None,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "worker_peak_rss_gib": worker_rss,
        "disk_after_gib": disk / 2**30,
        "ram_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
    }
    print(json.dumps(summary, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    if client is not None:
        client.close()
        cluster.close()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if res.converged else 1


if __name__ == "__main__":
    sys.exit(main())
