"""The tiled IALM step (one pass over row tiles per iteration) against the separate passes
and the NumPy reference, for every variant: real and complex, single and double
precision, masks, stable PCP, rank caps, row ranges on several threads, and the engine's
growth, refinement and full-SVD fallback."""

import numpy as np
import pytest
from naive.rpca import ialm, planted, stable_pcp
from naive.rpca import svt_input as naive_svt_input

from fastrpca import rpca
from fastrpca._core.concurrency import RowSplit
from fastrpca.robust_pca import ialm as ialm_module
from fastrpca.robust_pca import svd as svd_module
from fastrpca.robust_pca._kernels.ialm import (
    fused_pass,
    project_pass,
    svt_input,
    tiled_pass,
    tiled_project,
)


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.fixture
def tiles(monkeypatch):
    """``tiles(on, threads=1, tile_bytes=None)`` sets the solver's path and its row ranges
    (threads), whatever the machine's cores."""

    def set_(on, threads=1, tile_bytes=None):
        monkeypatch.setattr(ialm_module, "TILED", "1" if on else "0")
        monkeypatch.setattr(ialm_module, "PARALLEL_MIN_SIZE", 0 if threads > 1 else 10**12)
        monkeypatch.setattr(ialm_module, "kernel_threads", lambda: threads)
        if tile_bytes is not None:  # small tiles: many of them, and a ragged last one
            monkeypatch.setattr(ialm_module, "TILE_BYTES", tile_bytes)
            monkeypatch.setattr(ialm_module, "TILE_MIN_ROWS", 8)

    return set_


def count_tiled_steps(monkeypatch):
    """Count tiled steps and those that handed the engine its products."""
    counts = {"steps": 0, "prefetched": 0}
    step = ialm_module._Tiles.step

    def counting(self, *args):
        out = step(self, *args)
        counts["steps"] += 1
        counts["prefetched"] += bool(out[2])
        return out

    monkeypatch.setattr(ialm_module._Tiles, "step", counting)
    return counts


def count_prefetch_hits(monkeypatch):
    """Collect the PrefetchedOperators the engine was handed."""
    ops = []
    init = svd_module.PrefetchedOperator.__init__

    def spy(self, *args, **kw):
        init(self, *args, **kw)
        ops.append(self)

    monkeypatch.setattr(svd_module.PrefetchedOperator, "__init__", spy)
    return ops


def both(tiles, M, threads=1, tile_bytes=2048, **kw):
    """The separate passes on one thread, and the tiled step on ``threads`` row ranges."""
    tiles(False)
    ref = rpca(M, **kw)
    tiles(True, threads, tile_bytes)
    return ref, rpca(M, **kw)


def assert_same_iterates(ref, got, rtol):
    assert got.n_iter == ref.n_iter and got.rank == ref.rank
    np.testing.assert_array_equal(got.history["rank"], ref.history["rank"])
    # single precision: residuals near 1e-6 are mostly rounding noise of ||Z||
    atol = 1e-8 if got.L.dtype in (np.float32, np.complex64) else 0
    np.testing.assert_allclose(
        got.history["residual"], ref.history["residual"], rtol=rtol, atol=atol
    )
    assert rel(got.L, ref.L) < rtol and rel(got.S, ref.S) < rtol


# ------------------------------------------------------------ the kernels on their own


@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.float32, np.complex64])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("stable", [False, True])
def test_tiled_pass_is_the_fused_pass_plus_the_products(dtype, masked, stable):
    rng = np.random.default_rng(0)
    m, n, r, k, rows = 37, 23, 3, 5, 4
    cplx = np.dtype(dtype).kind == "c"

    def arr(*shape):
        a = rng.standard_normal(shape)
        return (a + 1j * rng.standard_normal(shape) if cplx else a).astype(dtype)

    D, S_old, Y = arr(m, n), arr(m, n), arr(m, n)
    A, B, W = arr(m, r), arr(r, n), arr(n, k)
    E = arr(m, n) if stable else None
    mask = rng.random((m, n)) > 0.2 if masked else None
    # separate: L = A B, the fused pass, then the products
    X1, S1, Y1 = A @ B, np.zeros_like(D), Y.copy()
    z1, w1 = fused_pass(D, X1, S_old, S1, Y1, 0.7, 1.1, 0.3, mask, E)
    X2, S2, Y2 = np.full_like(D, np.nan), np.zeros_like(D), Y.copy()
    P = np.empty((m, k), dtype)
    H = np.zeros((k, n), dtype)
    G = np.zeros((k, k), dtype)
    z2, w2 = tiled_pass(D, X2, S_old, S2, Y2, 0.7, 1.1, 0.3, mask, E, A, B, W, P, H, G, rows, True)
    tol = 1e-4 if dtype in (np.float32, np.complex64) else 1e-12
    for a, b in ((X1, X2), (S1, S2), (Y1, Y2)):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    assert z2 == pytest.approx(z1, rel=tol) and w2 == pytest.approx(w1, rel=tol)
    if stable:  # X holds L: the products wait for the projection pass
        assert not H.any() and not G.any()
        return
    Pref = X1 @ W
    np.testing.assert_allclose(P, Pref, rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(H, Pref.conj().T @ X1, rtol=tol, atol=tol * 100)
    np.testing.assert_allclose(G, Pref.conj().T @ Pref, rtol=tol, atol=tol * 100)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_tiled_project_is_the_projection_plus_the_products(dtype):
    rng = np.random.default_rng(1)
    m, n, k, rows = 29, 17, 4, 5
    cplx = np.dtype(dtype).kind == "c"

    def arr(*shape):
        a = rng.standard_normal(shape)
        return (a + 1j * rng.standard_normal(shape) if cplx else a).astype(dtype)

    D, L, S, Y, W = arr(m, n), arr(m, n), arr(m, n), arr(m, n), arr(n, k)
    mask = rng.random((m, n)) > 0.2
    X1, E1 = L.copy(), np.empty_like(D)
    project_pass(D, X1, S, Y, E1, 1.3, 0.4, mask)
    X2, E2 = L.copy(), np.empty_like(D)
    P = np.empty((m, k), dtype)
    H = np.zeros((k, n), dtype)
    G = np.zeros((0, 0), dtype)  # Householder route: no Gram matrix
    tiled_project(D, X2, S, Y, E2, 1.3, 0.4, mask, W, P, H, G, rows)
    np.testing.assert_allclose(X2, X1, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(E2, E1, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(H, (X1 @ W).conj().T @ X1, rtol=1e-12, atol=1e-12)


def test_rank_zero_factors_give_l_zero():
    D = np.arange(12.0).reshape(4, 3)
    X = np.full_like(D, np.nan)
    z = np.zeros_like(D)
    empty = np.empty((4, 0))
    tiled_pass(
        D, X, z, z.copy(), z.copy(), 0.0, 1.0, 100.0, None, None,
        empty, np.empty((0, 3)), np.empty((3, 0)), np.empty((0, 0)),
        np.zeros((0, 3)), np.zeros((0, 0)), 2, True,
    )  # fmt: skip
    np.testing.assert_allclose(X, D)  # L = 0, Y stays 0 (mu = 0), S = 0 (lam large)


# ------------------------------------------------------------ the solver, both paths


@pytest.mark.parametrize(
    "shape, rank, dtype, rtol",
    [
        ((300, 120), 5, np.float64, 1e-9),  # Householder route (short matrix)
        ((5000, 60), 3, np.float64, 1e-9),  # Gram route (tall matrix)
        ((300, 120), 5, np.complex128, 1e-9),
        ((5000, 60), 3, np.complex128, 1e-9),
        ((300, 120), 5, np.float32, 1e-4),
        ((5000, 60), 3, np.complex64, 1e-4),
    ],
)
def test_same_iterates_as_the_separate_passes(tiles, monkeypatch, shape, rank, dtype, rtol):
    M, L0, _ = planted(*shape, rank=rank, fraction=0.05, dtype=dtype, seed=3)
    counts = count_tiled_steps(monkeypatch)
    ops = count_prefetch_hits(monkeypatch)
    ref, got = both(tiles, M, svd="randomized")
    assert counts["steps"] == got.n_iter and counts["prefetched"] >= got.n_iter // 2
    # most warm steps took both products (X W and Q^H X) from the pass, not from X
    assert sum(op.hits == 2 for op in ops) >= got.n_iter // 2
    assert_same_iterates(ref, got, rtol)
    assert abs(rel(got.L, L0) - rel(ref.L, L0)) < rtol


@pytest.mark.parametrize(
    "threads, tiled", [(1, True), (2, False), (2, True), (3, False), (3, True)]
)
@pytest.mark.parametrize("kind", ["exact", "masked", "stable", "complex", "float32", "wide"])
def test_row_ranges_on_several_threads(tiles, monkeypatch, threads, tiled, kind):
    """Every pass and m x n product on 1-3 row ranges side by side: the iterates of one
    (a wide matrix: its SVD works on the adjoint, whose products are split too)."""
    counts = []
    split_map = RowSplit.map

    def counting(self, fn):
        counts.append(self.count)
        return split_map(self, fn)

    monkeypatch.setattr(RowSplit, "map", counting)
    dtype = {"complex": np.complex128, "float32": np.float32}.get(kind, np.float64)
    shape = (150, 5000) if kind == "wide" else (2000, 80)
    M, _, _ = planted(*shape, rank=4, fraction=0.05, dtype=dtype, seed=4)
    kw = {"svd": "randomized"}
    if kind == "masked":
        kw["mask"] = np.random.default_rng(5).random(M.shape) > 0.1
    if kind == "stable":
        M = M + 0.01 * np.random.default_rng(6).standard_normal(M.shape)
        kw["delta"] = "auto"
    tiles(False)
    ref = rpca(M, **kw)
    counts.clear()
    tiles(tiled, threads, tile_bytes=2048)
    got = rpca(M, **kw)
    assert counts and max(counts) == threads  # the ranges did run side by side
    assert_same_iterates(ref, got, 1e-4 if kind == "float32" else 1e-9)


def count_spare_x(monkeypatch):
    """Count the SVT inputs the tiled step wrote to memory for the SVD (it keeps none)."""
    calls = {"n": 0}
    write = ialm_module.svt_input

    def counting(*args):
        calls["n"] += 1
        return write(*args)

    monkeypatch.setattr(ialm_module, "svt_input", counting)
    return calls


def test_mask(tiles, monkeypatch):
    M, L0, _ = planted(400, 90, rank=3, fraction=0.05, seed=5)
    mask = np.random.default_rng(6).random(M.shape) > 0.2
    spare = count_spare_x(monkeypatch)
    ref, got = both(tiles, M, mask=mask, svd="randomized")
    assert spare["n"] > 0  # refinement read X: written with L on the unobserved entries
    assert_same_iterates(ref, got, 1e-9)
    assert not got.S[~mask].any() and rel(got.L, L0) < 1e-5


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_svt_input_matches_the_numpy_formula(masked, dtype):
    rng = np.random.default_rng(11)
    D, S, Y = (rng.standard_normal((37, 9)).astype(dtype) for _ in range(3))
    A, B = rng.standard_normal((37, 2)).astype(dtype), rng.standard_normal((2, 9)).astype(dtype)
    mask = rng.random(D.shape) > 0.3 if masked else None
    X = np.full(D.shape, np.nan, dtype)
    svt_input(D, S, Y, 0.7, mask, A, B, X, 8)  # tiles of 8 rows, a ragged last one
    want = naive_svt_input(D, S, Y, 0.7, mask, A @ B)
    np.testing.assert_allclose(X, want, rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("shape, rank", [((6000, 100), 2), ((4000, 200), 10)])
def test_the_tiled_step_keeps_the_svt_input_in_cache(tiles, monkeypatch, shape, rank):
    """X is written to memory only while the rank moves (the SVD refines its block then);
    once it settles every product the SVD needs comes from the tiles."""
    M, L0, _ = planted(*shape, rank=rank, fraction=0.03, seed=12)
    tiles(True)
    spare = count_spare_x(monkeypatch)
    res = rpca(M)
    assert res.converged and res.rank == rank and rel(res.L, L0) < 1e-5
    ranks = res.history["rank"]
    settled = 1 + int(np.flatnonzero(np.diff(ranks))[-1]) + 1  # iterations until then
    assert spare["n"] <= settled < res.n_iter


@pytest.mark.parametrize("mask", [False, True])
@pytest.mark.parametrize("rank", [None, 2])
def test_stable_pcp_and_rank_cap(tiles, mask, rank):
    M, L0, _ = planted(600, 70, rank=3, fraction=0.05, seed=7)
    M = M + 0.01 * np.random.default_rng(8).standard_normal(M.shape)
    m = np.random.default_rng(9).random(M.shape) > 0.1 if mask else None
    ref, got = both(tiles, M, delta=0.01 * np.sqrt(M.size), rank=rank, mask=m)
    assert_same_iterates(ref, got, 1e-8)
    assert got.e_norm == pytest.approx(ref.e_norm, rel=1e-8)
    assert rel(got.E, ref.E) < 1e-8
    assert got.rank <= (rank or 3)


def test_follows_the_numpy_reference(tiles):
    M, _, _ = planted(240, 50, rank=3, fraction=0.05, seed=10)
    L_ref, S_ref, it_ref, hist = ialm(M)
    tiles(True, tile_bytes=1024)
    got = rpca(M, svd="randomized")
    assert abs(got.n_iter - it_ref) <= 1
    n = min(got.n_iter, it_ref) - 1
    np.testing.assert_array_equal(got.history["rank"][:n], [h[1] for h in hist][:n])
    assert rel(got.L, L_ref) < 1e-6 and rel(got.S, S_ref) < 1e-6


def test_stable_pcp_follows_the_numpy_reference(tiles):
    M, _, _ = planted(240, 50, rank=3, fraction=0.05, seed=11)
    M = M + 0.01 * np.random.default_rng(12).standard_normal(M.shape)
    delta = 0.01 * np.sqrt(M.size)
    L_ref, S_ref, E_ref, _, it_ref, _ = stable_pcp(M, delta, rank=3)
    tiles(False)
    ref = rpca(M, delta=delta, rank=3, svd="randomized")
    tiles(True, tile_bytes=1024)
    got = rpca(M, delta=delta, rank=3, svd="randomized")
    assert got.n_iter == it_ref == ref.n_iter
    # as close to the reference as the separate passes are (the randomized engine's own
    # distance from the full SVD's answer), and to it within rounding
    for ours, separate, naive in (
        (got.L, ref.L, L_ref),
        (got.S, ref.S, S_ref),
        (got.E, ref.E, E_ref),
    ):
        assert rel(ours, naive) < 1e-3 and abs(rel(ours, naive) - rel(separate, naive)) < 1e-9


def test_block_growth_and_refinement(tiles, monkeypatch):
    # Rank 40 > the first block (18 columns): the engine grows (and refines) on the way,
    # reading the SVT input the tiled step writes into the spare S buffer for it.
    M, L0, _ = planted(400, 400, rank=40, fraction=0.03, seed=13)
    grown = {}
    init = svd_module.RandomizedSVD.__init__

    def spy(self, *a, **k):
        init(self, *a, **k)
        grown["engine"] = self

    tiles(True, tile_bytes=1 << 15)
    spare = count_spare_x(monkeypatch)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(svd_module.RandomizedSVD, "__init__", spy)
        got = rpca(M, svd="randomized")
    assert grown["engine"].grown > 0 and spare["n"] > 0
    assert got.rank == 40 and rel(got.L, L0) < 1e-6
    tiles(False)
    ref = rpca(M, svd="randomized")
    assert_same_iterates(ref, got, 1e-9)


def test_full_svd_fallback(tiles, monkeypatch):
    # A rank near min(m, n): the engine's block passes its limit and it takes the full SVD.
    rng = np.random.default_rng(14)
    M = rng.standard_normal((200, 40)) @ rng.standard_normal((40, 45))
    M += np.where(rng.random(M.shape) < 0.02, 5.0, 0.0)
    calls = {}
    full = svd_module.RandomizedSVD._full

    def spy(self, op, tau):
        calls["full"] = calls.get("full", 0) + 1
        return full(self, op, tau)

    monkeypatch.setattr(svd_module.RandomizedSVD, "_full", spy)
    ref, got = both(tiles, M, svd="randomized")
    assert calls["full"] > 0
    assert_same_iterates(ref, got, 1e-9)


def test_default_rule_takes_the_tiled_step_for_tall_or_large_matrices(monkeypatch):
    monkeypatch.setattr(ialm_module, "TILED", "auto")
    engine = svd_module.make_engine("randomized", (4000, 100), np.float64)
    use = ialm_module._use_tiles
    assert use(engine, (4000, 100), np.float64)
    assert not use(engine, (1000, 1000), np.float64)  # 8 MB: in cache, the passes win
    assert use(engine, (1000, 1000), np.complex128)  # 16 MB
    assert use(engine, (1500, 1500), np.float64)
    assert not use(engine, (1500, 1500), np.float32)
    assert not use(engine, (300, 8000), np.float64)  # wide: solved on its adjoint, keeps X
    # the Dask row blocks follow the same rule, block by block
    from fastrpca.robust_pca import _blocks

    assert _blocks._tiled((1500, 1500), np.float64) and _blocks._tiled((4000, 100), np.float32)
    assert not _blocks._tiled((1000, 1000), np.float64)
    assert not use(svd_module.make_engine("full", (40, 10), float), (40, 10), np.float64)
    monkeypatch.setattr(ialm_module, "TILED", "1")
    assert use(engine, (1000, 1000), np.float64)
    monkeypatch.setattr(ialm_module, "TILED", "0")
    assert not use(engine, (4000, 100), np.float64)


def test_workspace_and_warm_start(tiles):
    M, _, _ = planted(900, 60, rank=3, fraction=0.05, seed=15)
    tiles(True, tile_bytes=4096)
    ws = ialm_module.RPCAWorkspace()
    first = rpca(M, workspace=ws)
    L, S = first.L.copy(), first.S.copy()
    again = rpca(M, init=(L, S), workspace=ws)
    tiles(False)
    ref = rpca(M, init=(L, S))
    assert_same_iterates(ref, again, 1e-9)


def test_wide_matrix_forced_tiled_takes_no_products(tiles, monkeypatch):
    # A wide matrix's engine works on the adjoint and plans no block: the tiled step then
    # forms L and runs the fused pass only, and the answer is the separate passes'.
    M, _, _ = planted(40, 4200, rank=2, fraction=0.05, seed=16)
    counts = count_tiled_steps(monkeypatch)
    ref, got = both(tiles, M)
    assert counts["steps"] == got.n_iter and counts["prefetched"] == 0
    assert_same_iterates(ref, got, 1e-9)


# ------------------------------------------------------------ memory (issue 17)


def _peak_copies(M, **kw):
    """Peak traced memory of a solve, in copies of M (M itself not counted)."""
    import tracemalloc

    rpca(M, **kw)  # compile outside tracemalloc (it slows numba's compiler down)
    tracemalloc.start()
    try:
        res = rpca(M, **kw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.converged
    return peak / M.nbytes


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("shape, rank, on", [((10000, 200), 2, None), ((600, 600), 20, True)])
def test_peak_memory_of_the_tiled_step_is_at_most_four_copies_of_m(
    tiles, shape, rank, on, dtype, masked
):
    # The result's L, S and Y are three of them; the tiled step of exact PCP keeps no m x n
    # SVT input and a masked M is not copied (4.36 and 5.49 copies before, on a tall M).
    if on is not None:
        tiles(on)
    M, _, _ = planted(*shape, rank=rank, fraction=0.03, dtype=dtype, seed=5)
    mask = np.random.default_rng(6).random(M.shape) > 0.1 if masked else None
    assert _peak_copies(M, mask=mask) <= 4.0


@pytest.mark.parametrize("masked", [False, True])
def test_default_path_of_a_large_square_matrix_keeps_four_copies(monkeypatch, masked):
    # 18 MB: past TILED_MIN_BYTES, the default rule takes the tiled step (4.45 copies on
    # the separate passes).
    monkeypatch.setattr(ialm_module, "TILED", "auto")
    M, _, _ = planted(1500, 1500, rank=20, fraction=0.03, seed=5)
    assert ialm_module.tiled_rule(M.shape, M.itemsize)
    mask = np.random.default_rng(6).random(M.shape) > 0.1 if masked else None
    assert _peak_copies(M, mask=mask) <= 4.0
