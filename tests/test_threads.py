"""Solvers running in several Python threads at once give exactly their serial results,
and every kernel is compiled to release the GIL (so such threads run in parallel)."""

import importlib
import pkgutil
import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from naive.rpca import planted
from naive.stream import drifting
from numba.core.dispatcher import Dispatcher

import fastrpca
from fastrpca import holography as H
from fastrpca import rpca
from fastrpca.robust_pca.stream import StreamingRPCA
from fastrpca.sparse import LassoSolver, lasso


def all_kernels():
    for info in pkgutil.walk_packages(fastrpca.__path__, "fastrpca."):
        if "._kernels." not in info.name:
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if isinstance(obj, Dispatcher) and obj.__module__ == module.__name__:
                yield f"{info.name.rsplit('.', 1)[1]}.{name}", obj


@pytest.mark.requires_jit
def test_every_kernel_releases_the_gil():
    kernels = dict(all_kernels())
    assert len(kernels) >= 20 and "stream.process_frames" in kernels
    assert "ialm.fused_pass" in kernels and any(k.startswith("lasso.") for k in kernels)
    holding = sorted(name for name, k in kernels.items() if not k.targetoptions.get("nogil"))
    assert holding == []


# ---------------------------------------------------------------- one task per solver
# Each returns copies of its outputs; a seed picks the problem.


def rpca_task(seed):
    M, _, _ = planted(90, 70, rank=4, fraction=0.05, seed=seed)
    res = rpca(M, svd="randomized", random_state=seed)
    return res.L.copy(), res.S.copy(), np.array([res.n_iter])


def stream_task(seed):
    M, _, _ = drifting((24, 24), 60, 3, drift=0.3, seed=seed)
    stream = StreamingRPCA(rank=3).fit(M[:20], random_state=seed)
    B, S = stream.process(M[20:])
    return B.copy(), S.copy(), stream.components


def _lasso_problem(seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((64, 256))
    x0 = np.zeros(256)
    x0[rng.choice(256, 8, replace=False)] = rng.standard_normal(8)
    return A, A @ x0 + 0.01 * rng.standard_normal(64)


def lasso_solver_task(seed):
    A, y = _lasso_problem(seed)
    out = np.empty(256)
    res = LassoSolver(A).solve(y, 0.1, out=out)
    return out.copy(), np.array([res.n_iter])


def lasso_function_task(seed):  # shares the module's solver cache between threads
    A, y = _lasso_problem(seed)
    return (lasso(A, y, 0.1).x.copy(),)


def holography_task(seed):
    rng = np.random.default_rng(seed)
    foci = np.c_[rng.uniform(10, 182, 16), rng.uniform(10, 141, 16), np.full(16, 150.0)]
    ws = H.Workspace(H.autd3(), 16, method="sdp", random_state=seed)
    amplitude, phase = ws.solve(foci, np.full(16, 5e3))
    return amplitude.copy(), phase.copy()


TASKS = [rpca_task, stream_task, lasso_solver_task, lasso_function_task, holography_task]


@pytest.mark.parametrize("workers", [2, 4])
def test_concurrent_solvers_match_serial(workers):
    jobs = [(task, seed) for task in TASKS for seed in (1, 2)]
    serial = {(t.__name__, s): t(s) for t, s in jobs}
    order = jobs * 2  # every job twice, interleaved across kinds
    random.Random(workers).shuffle(order)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [(t.__name__, s, pool.submit(t, s)) for t, s in order]
        for name, seed, future in futures:
            for got, want in zip(future.result(), serial[(name, seed)]):
                np.testing.assert_array_equal(got, want, err_msg=f"{name}({seed})")


# ---------------------------------------------------------------- row ranges side by side


@pytest.mark.parametrize(
    "m, threads, align", [(1000, 2, 1), (1000, 3, 64), (100, 4, 64), (5, 8, 1)]
)
def test_row_split_covers_the_rows_once_in_aligned_ranges(m, threads, align):
    from fastrpca._core.concurrency import RowSplit

    split = RowSplit(m, threads, align)
    ranges = split.ranges()
    assert split.count == len(ranges) == min(threads, m)  # a range per thread when rows allow
    assert ranges[0][0] == 0 and ranges[-1][1] == m
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    step = align if m >= threads * align else -(-m // threads)  # whole tiles when they fit
    assert all(r0 % step == 0 and r1 > r0 for r0, r1 in ranges)
    assert [split.part(r0) for r0, _ in ranges] == list(range(split.count))
    assert split.sum(lambda r0, r1: r1 - r0) == m


def test_row_split_runs_its_ranges_at_the_same_time():
    import threading

    from fastrpca._core.concurrency import RowSplit

    split = RowSplit(300, 3)
    barrier = threading.Barrier(3, timeout=30)  # broken unless all three wait at once
    names = split.map(lambda r0, r1: (barrier.wait(), threading.current_thread().name)[1])
    assert len(set(names)) == 3


def test_row_split_waits_for_every_range_before_raising():
    import time

    from fastrpca._core.concurrency import RowSplit

    done = []

    def work(r0, r1):
        if r0 == 0:
            raise ValueError("first range failed")
        time.sleep(0.2)
        done.append(r0)

    with pytest.raises(ValueError, match="first range"):
        RowSplit(30, 3).map(work)
    assert sorted(done) == [10, 20]  # the others finished before the error came out


def _split_in_child(queue):
    from fastrpca._core.concurrency import RowSplit

    queue.put(RowSplit(100, 2).sum(lambda r0, r1: r1 - r0))


def test_row_split_works_in_a_forked_child():
    # The parent's pool threads do not exist in a child made by fork: the child must
    # start a pool of its own instead of waiting forever for work nobody runs.
    import multiprocessing as mp
    import sys

    from fastrpca._core.concurrency import RowSplit

    if sys.platform == "win32":
        pytest.skip("no fork on Windows")
    assert RowSplit(100, 2).sum(lambda r0, r1: r1 - r0) == 100  # the parent's pool exists
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_split_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung in RowSplit.map")
    assert child.exitcode == 0 and queue.get(timeout=5) == 100


def test_row_split_of_a_wide_matrix_uses_every_thread(monkeypatch):
    # ranges hold whole tiles when there are enough rows; 50 frames as rows still split
    from fastrpca.robust_pca import ialm

    monkeypatch.setattr(ialm, "kernel_threads", lambda: 2)
    assert ialm.row_split((50, 300000), np.float64).ranges() == [(0, 25), (25, 50)]
    assert ialm.row_split((20000, 200), np.float64).count == 2
    assert ialm.row_split((100, 100), np.float64).count == 1  # under PARALLEL_MIN_SIZE


def test_concurrent_solves_share_one_blas_limit_and_restore_it():
    # BLAS's thread count is one setting of the process: a solve ending must not give
    # BLAS its threads back while another solve, in another thread, still runs.
    import threading

    from threadpoolctl import threadpool_info, threadpool_limits

    from fastrpca._core.config import blas_threads

    def counts():  # numpy's and scipy's BLAS, the ones a solve calls (OpenCV has its own)
        libs = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
        ours = [lib for lib in libs if "numpy" in lib["filepath"] or "scipy" in lib["filepath"]]
        return sorted({lib["num_threads"] for lib in ours})

    with threadpool_limits(2, user_api="blas"):
        with blas_threads(1):
            assert counts() == [1]
        assert counts() == [2]  # one solve: the caller's setting is back
        entered, release, seen = threading.Event(), threading.Event(), []

        def second():
            with blas_threads(1):
                entered.set()
                release.wait(30)
                seen.append(counts())

        with blas_threads(1):
            t = threading.Thread(target=second)
            t.start()
            assert entered.wait(30)
        # the first solve is out, the second still in: BLAS stays at 1 for it
        assert counts() == [1]
        release.set()
        t.join(30)
        assert seen == [[1]]
        # (the second, last out, restores 2 from its own thread: OpenBLAS ignores a rise
        # of its thread count asked from a thread other than the main one)
