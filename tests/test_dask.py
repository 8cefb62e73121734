"""Robust PCA on Dask arrays: the same iterations as the in-memory solver, on any chunking."""

import numpy as np
import pytest

da = pytest.importorskip(
    "dask.array", reason="dask is not installed (pip install 'fastrpca[dask]')"
)

import fastrpca  # noqa: E402
from fastrpca.robust_pca import _blocks  # noqa: E402
from fastrpca.robust_pca import dask as fdask  # noqa: E402


def _problem(m, n, r, dtype=np.float64, fraction=0.05, seed=1):
    rng = np.random.default_rng(seed)
    L = rng.standard_normal((m, r)) @ rng.standard_normal((r, n))
    if np.dtype(dtype).kind == "c":
        L = L + 1j * (rng.standard_normal((m, r)) @ rng.standard_normal((r, n)))
    S = np.where(rng.random((m, n)) < fraction, 10.0, 0.0)
    return (L + S).astype(dtype)


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    c = np.abs(b).max() or 1.0  # norms of 1e200-sized entries overflow
    return np.linalg.norm((a - b) / c) / np.linalg.norm(b / c)


def _same_run(res, ref, rtol=1e-10):
    """Iteration for iteration: count, rank path, residual path; L, S and Y to rtol."""
    assert res.n_iter == ref.n_iter
    assert res.converged == ref.converged
    np.testing.assert_array_equal(res.history["rank"], ref.history["rank"])
    np.testing.assert_allclose(res.history["mu"], ref.history["mu"], rtol=1e-13)
    # residuals equal to rounding of ||Z|| (absolute: they shrink to ~tol)
    np.testing.assert_allclose(res.history["residual"], ref.history["residual"], rtol=0, atol=1e-12)
    assert _rel(res.L.compute(), ref.L) < rtol
    assert _rel(res.S.compute(), ref.S) < rtol
    assert _rel(res.Y.compute(), ref.Y) < 1e3 * rtol  # Y = mu * (sum of residuals): mu ~ 1e7
    assert res.rank == ref.rank


@pytest.fixture(scope="module")
def tall():
    # 4200 rows: past GRAM_ORTH_MIN_ROWS, the engine's Gram route for tall matrices
    M = _problem(4200, 150, 5)
    return M, fastrpca.rpca(M, svd="randomized")


@pytest.mark.parametrize("rows", [4200, 1050, 977, 97])
def test_equals_in_memory_rpca_on_any_row_chunking(tall, rows):
    M, ref = tall
    res = fastrpca.rpca(da.from_array(M, chunks=(rows, 150)), svd="randomized")
    assert isinstance(res, fdask.DaskRPCAResult) and res.scheduler == "threads"
    _same_run(res, ref)
    # steady state: one pass over the blocks per iteration (the warm step's products
    # ride along); the cold start's power iterations take about 6 more
    assert res.passes <= res.n_iter + 8


def test_small_matrices_follow_the_householder_route(tmp_path):
    M = _problem(600, 150, 5)  # under GRAM_ORTH_MIN_ROWS: TSQR of P = X V, Q = P R^-1
    ref = fastrpca.rpca(M, svd="randomized")
    res = fastrpca.rpca(da.from_array(M, chunks=(97, 150)), svd="randomized")
    _same_run(res, ref)
    assert res.passes <= res.n_iter + 8  # Q = P R^-1 from the step pass: no extra pass


def test_split_columns_are_rechunked_once_and_give_the_same_answer(tall):
    M, ref = tall
    X = da.from_array(M, chunks=(1400, 40))
    res = fastrpca.rpca(X, svd="randomized")
    _same_run(res, ref)
    assert all(len(c) == 1 for c in (res.S.chunks[1], res.L.chunks[1]))
    assert X.chunks[1] == (40, 40, 40, 30)  # the caller's array is untouched


def test_factors_reconstruct_L_and_are_orthonormal(tall):
    M, ref = tall
    res = fastrpca.rpca(da.from_array(M, chunks=(1280, 150)), svd="randomized")
    U = res.U.compute()
    np.testing.assert_allclose(U.T @ U, np.eye(res.rank), atol=1e-10)
    np.testing.assert_allclose(res.Vh @ res.Vh.T, np.eye(res.rank), atol=1e-10)
    assert np.all(np.diff(res.s) <= 0) and np.all(res.s > 0)
    np.testing.assert_allclose((U * res.s) @ res.Vh, ref.L, atol=1e-9 * np.abs(ref.L).max())
    L, S = res
    assert isinstance(L, da.Array) and isinstance(S, da.Array)


def test_default_arguments_dispatch_like_in_memory():
    M = _problem(300, 120, 4, seed=3)
    ref = fastrpca.rpca(M)  # auto -> randomized here
    _same_run(fastrpca.rpca(da.from_array(M, chunks=(70, 120))), ref)


def test_growth_refinement_and_full_svd_fallback_follow_the_engine():
    M = _problem(400, 120, 30, seed=2)  # rank past 0.4 n: the engine grows, then goes full
    ref = fastrpca.rpca(M, svd="randomized")
    res = fastrpca.rpca(da.from_array(M, chunks=(100, 120)), svd="randomized")
    _same_run(res, ref)
    assert res.history["rank"].max() > 0.4 * 120


@pytest.mark.parametrize("svd", ["full", "auto"])
def test_full_svd_engine_on_a_narrow_matrix(svd):
    M = _problem(300, 20, 3)  # smaller side <= 32: "auto" is the full SVD
    ref = fastrpca.rpca(M, svd="full")
    res = fastrpca.rpca(da.from_array(M, chunks=(64, 20)), svd=svd)
    assert res.svd == "full"
    _same_run(res, ref)


@pytest.mark.parametrize("as_dask", [False, True])
def test_mask_equals_in_memory(as_dask):
    M = _problem(500, 130, 4, seed=4)
    mask = np.random.default_rng(9).random(M.shape) > 0.15
    ref = fastrpca.rpca(M, svd="randomized", mask=mask)
    holes = np.where(mask, M, np.nan)  # unobserved entries may hold anything
    m = da.from_array(mask, chunks=(50, 130)) if as_dask else mask
    res = fastrpca.rpca(da.from_array(holes, chunks=(120, 130)), svd="randomized", mask=m)
    _same_run(res, ref)
    assert np.all(res.S.compute()[~mask] == 0)


def test_complex128_equals_in_memory():
    M = _problem(300, 110, 3, dtype=np.complex128, seed=6)
    ref = fastrpca.rpca(M, svd="randomized")
    _same_run(fastrpca.rpca(da.from_array(M, chunks=(64, 110)), svd="randomized"), ref)


def test_float32_follows_in_memory_to_its_precision():
    # float32's rounding (6e-8 per entry) moves residuals near 1e-6 by tens of percent
    # between summation orders, so compare at a tolerance above that floor.
    M = _problem(600, 150, 5, dtype=np.float32)
    ref = fastrpca.rpca(M, svd="randomized", tol=1e-5)
    for rows in (150, 97):
        res = fastrpca.rpca(da.from_array(M, chunks=(rows, 150)), svd="randomized", tol=1e-5)
        assert res.S.dtype == np.float32 and res.L.dtype == np.float32 and res.converged
        assert res.n_iter == ref.n_iter
        np.testing.assert_array_equal(res.history["rank"], ref.history["rank"])
        np.testing.assert_allclose(res.history["residual"], ref.history["residual"], rtol=0.05)
        assert _rel(res.L.compute(), ref.L) < 1e-5 and _rel(res.S.compute(), ref.S) < 1e-5


@pytest.mark.parametrize("factor", [1e-160, 1e200])
def test_extreme_magnitudes_are_rescaled_like_in_memory(factor, tmp_path):
    M = _problem(300, 120, 4, seed=18) * factor
    ref = fastrpca.rpca(M, svd="randomized")
    X = da.from_array(M, chunks=(70, 120))
    res = fastrpca.rpca(X, svd="randomized")
    _same_run(res, ref)
    assert res.mu == pytest.approx(ref.mu, rel=1e-12)
    np.testing.assert_allclose(res.s, np.linalg.svd(ref.L, compute_uv=False)[: res.rank], rtol=1e-9)
    out = fdask.rpca_dask(X, svd="randomized", state_dir=tmp_path)  # S scaled back on read
    assert _rel(out.S.compute(), ref.S) < 1e-10


def test_rank_cap_equals_in_memory():
    M = _problem(400, 120, 8, seed=19)
    ref = fastrpca.rpca(M, svd="randomized", rank=3, max_iter=60)
    res = fastrpca.rpca(da.from_array(M, chunks=(100, 120)), svd="randomized", rank=3, max_iter=60)
    assert res.max_rank == 3 and res.history["rank"].max() == 3
    _same_run(res, ref)


def test_deterministic_for_a_seed_and_seed_matters():
    M = _problem(300, 120, 4, seed=8)
    X = da.from_array(M, chunks=(80, 120))
    a = fastrpca.rpca(X, svd="randomized", random_state=5)
    b = fastrpca.rpca(X, svd="randomized", random_state=5)
    np.testing.assert_array_equal(a.S.compute(), b.S.compute())
    np.testing.assert_array_equal(a.history["residual"], b.history["residual"])
    _same_run(a, fastrpca.rpca(M, svd="randomized", random_state=5))


def test_gram_and_lanczos_spectral_norms_agree(monkeypatch):
    M = _problem(300, 120, 4, seed=10)
    ref = fastrpca.rpca(M, svd="randomized")
    monkeypatch.setattr(fdask, "GRAM_MAX_COLUMNS", 50)  # force the Lanczos route
    _same_run(fastrpca.rpca(da.from_array(M, chunks=(100, 120)), svd="randomized"), ref)


def test_callback_sees_progress_and_can_stop():
    M = _problem(300, 120, 4, seed=11)
    seen = []

    def cb(info):
        seen.append((info.n_iter, info.residual, info.rank, info.mu))
        return info.n_iter == 4

    res = fastrpca.rpca(da.from_array(M, chunks=(100, 120)), callback=cb)
    assert [s[0] for s in seen] == [1, 2, 3, 4]
    assert res.n_iter == 4 and not res.converged and "stopped by callback" in res.message
    np.testing.assert_array_equal([s[1] for s in seen], res.history["residual"])


def test_not_converged_warns():
    M = _problem(300, 120, 4, seed=11)
    with pytest.warns(fastrpca.ConvergenceWarning):
        res = fastrpca.rpca(da.from_array(M, chunks=(100, 120)), max_iter=3)
    assert res.n_iter == 3 and not res.converged


def test_zero_matrix():
    res = fastrpca.rpca(da.zeros((50, 40), chunks=(20, 40)))
    assert res.converged and res.rank == 0 and res.n_iter == 0
    assert not res.L.compute().any() and not res.S.compute().any()


def test_checkpoint_then_resume_ends_as_the_uninterrupted_run(tmp_path):
    M = _problem(4200, 100, 5, seed=12)  # tall: the Gram route, one pass an iteration
    mask = np.random.default_rng(3).random(M.shape) > 0.1
    ref = fastrpca.rpca(M, svd="randomized", mask=mask)
    X = da.from_array(M, chunks=(1050, 100))
    path = str(tmp_path / "ckpt.zarr")
    # "crash" after 8 iterations (the callback stops the run), checkpoints every 3
    part = fdask.rpca_dask(
        X,
        svd="randomized",
        mask=mask,
        checkpoint=path,
        checkpoint_every=3,
        callback=lambda info: info.n_iter == 8,
    )
    assert part.n_iter == 8
    import zarr

    assert zarr.open_group(path, mode="r").attrs["n_iter"] == 6
    # resume on another chunking
    res = fdask.rpca_dask(
        da.from_array(M, chunks=(900, 100)), svd="randomized", mask=mask, resume=path
    )
    _same_run(res, ref)
    # it went on from iteration 7: a step pass per iteration, plus X V and V^H X^H X for
    # the first warm step (not prefetched: the checkpoint keeps the planned block V)
    assert res.passes == ref.n_iter - 6 + 2


def test_resume_refuses_another_problem(tmp_path):
    M = _problem(300, 120, 4, seed=13)
    path = str(tmp_path / "c.zarr")
    fdask.rpca_dask(
        da.from_array(M, chunks=(100, 120)),
        checkpoint=path,
        checkpoint_every=2,
        max_iter=5,
        callback=lambda info: info.n_iter == 4,
    )
    with pytest.raises(ValueError, match="another problem"):
        fdask.rpca_dask(da.from_array(2 * M, chunks=(100, 120)), resume=path)
    with pytest.raises(ValueError, match="lam"):
        fdask.rpca_dask(da.from_array(M, chunks=(100, 120)), lam=0.5, resume=path)


def test_tall_files_membership_and_clear_read_no_file(tmp_path, monkeypatch):
    tall = _blocks.TallFiles(str(tmp_path))
    tall["U"], tall["P"] = np.ones((5, 2)), np.zeros((5, 3))
    tall.forget()
    np.testing.assert_array_equal(tall["U"], np.ones((5, 2)))  # read back from its file
    tall.forget()

    def no_read(*args, **kwargs):
        raise AssertionError("a tall file was read")

    monkeypatch.setattr(_blocks, "read_state", no_read)
    assert "U" in tall and "X" not in tall and list(tall) == ["P", "U"]
    tall.clear()
    assert len(tall) == 0 and not list(tmp_path.iterdir())


def test_out_of_core_state_in_files_gives_the_same_answer(tmp_path):
    M = _problem(500, 130, 4, seed=4)
    mask = np.random.default_rng(9).random(M.shape) > 0.15
    ref = fastrpca.rpca(M, svd="randomized", mask=mask)
    res = fdask.rpca_dask(
        da.from_array(M, chunks=(120, 130)), svd="randomized", mask=mask, state_dir=tmp_path
    )
    _same_run(res, ref)
    (run,) = tmp_path.iterdir()
    left = sorted(p.name for p in (run / "block-0").iterdir())
    # the result's S, Y and U (the left factor); the rest deleted
    assert len(left) == 3 and "Y.npy" in left and "tall-U.npy" in left
    # the result reads the files: dropping the folder is the caller's business
    assert res.S.npartitions == 5


@pytest.mark.parametrize("masked", [False, True])
def test_out_of_core_rereading_the_input_file(tmp_path, masked):
    M = _problem(400, 120, 4, seed=17)
    mask = np.random.default_rng(2).random(M.shape) > 0.1 if masked else None
    ref = fastrpca.rpca(M, svd="randomized", mask=mask)
    np.save(tmp_path / "m.npy", M)
    X = fdask.from_npy(tmp_path / "m.npy", rows=90)
    res = fdask.rpca_dask(X, svd="randomized", mask=mask, state_dir=tmp_path / "s", reread=True)
    _same_run(res, ref)
    (run,) = (tmp_path / "s").iterdir()
    assert not list(run.glob("block-*/D.*"))  # no copy of M was stored


def test_out_of_core_checkpoint_and_resume(tmp_path):
    M = _problem(400, 120, 4, seed=16)
    ref = fastrpca.rpca(M, svd="randomized")
    X = da.from_array(M, chunks=(100, 120))
    ck = str(tmp_path / "ck.zarr")
    fdask.rpca_dask(
        X,
        svd="randomized",
        state_dir=tmp_path / "a",
        checkpoint=ck,
        checkpoint_every=4,
        callback=lambda info: info.n_iter == 5,
    )
    res = fdask.rpca_dask(X, svd="randomized", state_dir=tmp_path / "b", resume=ck)
    _same_run(res, ref)


def test_npy_and_zarr_inputs(tmp_path):
    M = _problem(300, 120, 4, seed=14)
    ref = fastrpca.rpca(M, svd="randomized")
    np.save(tmp_path / "m.npy", M)
    X = fdask.from_npy(tmp_path / "m.npy", rows=70)
    assert X.chunks == ((70, 70, 70, 70, 20), (120,))
    _same_run(fastrpca.rpca(X, svd="randomized"), ref)
    da.from_array(M, chunks=(50, 30)).to_zarr(str(tmp_path / "m.zarr"))
    Z = fdask.from_zarr(str(tmp_path / "m.zarr"))
    assert len(Z.chunks[1]) == 1
    _same_run(fastrpca.rpca(Z, svd="randomized"), ref)


# ---- stable PCP (delta > 0 / "auto"): M = L + S + E, two passes an iteration ----------------


def _frames(m, n, sigma=0.05, seed=21, dtype=np.float64):
    """Frames as columns: a static scene under a drifting gain, moving spikes, noise."""
    rng = np.random.default_rng(seed)
    background = rng.uniform(1.0, 3.0, m)
    gain = 1.0 + 0.1 * np.sin(np.linspace(0, 3, n))
    S = np.where(rng.random((m, n)) < 0.005, rng.uniform(3.0, 6.0, (m, n)), 0.0)
    return (np.outer(background, gain) + S + sigma * rng.standard_normal((m, n))).astype(dtype)


def _same_stable_run(res, ref, rtol=1e-10):
    _same_run(res, ref, rtol)
    assert res.delta == ref.delta and res.sigma == ref.sigma
    np.testing.assert_allclose(res.history["e_norm"], ref.history["e_norm"], rtol=1e-10)
    assert res.e_norm == pytest.approx(ref.e_norm, rel=1e-10)
    assert isinstance(res.E, da.Array)
    assert _rel(res.E.compute(), ref.E) < 1e3 * rtol  # E = c W: W ~ noise, c near 1


@pytest.fixture(scope="module")
def noisy():
    # 4200 x 150: the Gram route of the warm steps (products ride on the second pass),
    # and m (n - 1) > 2**18, so delta="auto" estimates sigma from a row sample
    return _frames(4200, 150)


@pytest.mark.parametrize("rows", [4200, 1050, 977, 97])
def test_stable_auto_equals_in_memory_on_any_row_chunking(noisy, rows):
    ref = fastrpca.rpca(noisy, svd="randomized", delta="auto")
    assert 0.04 < ref.sigma < 0.08 and ref.e_norm > 0  # really stable (noise 0.05)
    res = fastrpca.rpca(da.from_array(noisy, chunks=(rows, 150)), svd="randomized", delta="auto")
    _same_stable_run(res, ref)
    # the sample and the estimate are the in-memory ones, bit for bit
    assert res.sigma == ref.sigma and res.delta == ref.delta
    # two passes an iteration (fused, then project), plus the cold start's
    assert 2 * res.n_iter <= res.passes <= 2 * res.n_iter + 8
    L, S, E = res.L.compute(), res.S.compute(), res.E.compute()
    assert np.linalg.norm(E) <= res.delta * (1 + 1e-12)  # the constraint ||E||_F <= delta
    np.testing.assert_allclose(
        np.linalg.norm(noisy - L - S - E) / np.linalg.norm(noisy), res.residual, rtol=1e-6
    )


@pytest.mark.parametrize("delta", [2.0, 20.0])  # the ball's boundary; c = 1 late (E = W)
def test_stable_fixed_delta_equals_in_memory(delta):
    M = _frames(600, 130, seed=22)  # Householder route of the warm steps
    ref = fastrpca.rpca(M, svd="randomized", delta=delta)
    for rows in (600, 97):
        _same_stable_run(
            fastrpca.rpca(da.from_array(M, chunks=(rows, 130)), svd="randomized", delta=delta), ref
        )


@pytest.mark.parametrize("as_dask", [False, True])
def test_stable_masked_equals_in_memory(as_dask):
    M = _frames(700, 120, seed=23)
    mask = np.random.default_rng(5).random(M.shape) > 0.2
    mask[:100] = True  # some blocks fully observed
    ref = fastrpca.rpca(M, svd="randomized", delta="auto", mask=mask)
    holes = np.where(mask, M, np.nan)
    m = da.from_array(mask, chunks=(100, 120)) if as_dask else mask
    res = fastrpca.rpca(
        da.from_array(holes, chunks=(100, 120)), svd="randomized", delta="auto", mask=m
    )
    _same_stable_run(res, ref)
    assert not res.E.compute()[~mask].any() and not res.S.compute()[~mask].any()


def test_stable_sigma_sample_follows_a_generator_and_the_full_engine():
    M = _frames(3000, 100, seed=24)  # sampled rows: the Generator's first draw
    ref = fastrpca.rpca(M, delta="auto", random_state=np.random.default_rng(7))
    res = fastrpca.rpca(
        da.from_array(M, chunks=(700, 100)), delta="auto", random_state=np.random.default_rng(7)
    )
    _same_stable_run(res, ref)
    narrow = _frames(300, 20, seed=25)  # "auto" is the full SVD (TSQR) on <= 32 columns
    ref = fastrpca.rpca(narrow, delta="auto")
    res = fastrpca.rpca(da.from_array(narrow, chunks=(64, 20)), delta="auto")
    assert res.svd == "full"
    _same_stable_run(res, ref)


def test_stable_noise_free_data_is_exact_pcp():
    M = np.repeat(np.arange(1.0, 201.0)[:, None], 40, axis=1)  # identical frames: sigma 0
    res = fastrpca.rpca(da.from_array(M, chunks=(50, 40)), delta="auto")
    assert res.sigma == 0 and res.delta == 0 and res.E is None and "e_norm" not in res.history


def test_stable_float32_and_extreme_scale(tmp_path):
    M = _frames(500, 120, seed=26)
    ref = fastrpca.rpca(M * 1e-160, svd="randomized", delta="auto")
    res = fastrpca.rpca(da.from_array(M * 1e-160, chunks=(90, 120)), svd="randomized", delta="auto")
    _same_stable_run(res, ref)
    M32 = M.astype(np.float32)
    ref = fastrpca.rpca(M32, svd="randomized", delta="auto", tol=1e-5)
    res = fastrpca.rpca(
        da.from_array(M32, chunks=(90, 120)), svd="randomized", delta="auto", tol=1e-5
    )
    assert res.E.dtype == np.float32 and res.n_iter == ref.n_iter
    assert res.sigma == ref.sigma
    assert _rel(res.E.compute(), ref.E) < 1e-4 and _rel(res.S.compute(), ref.S) < 1e-5


@pytest.mark.parametrize("reread", [False, True])
def test_stable_out_of_core(tmp_path, reread):
    M = _frames(500, 130, seed=27)
    mask = np.random.default_rng(8).random(M.shape) > 0.1
    ref = fastrpca.rpca(M, svd="randomized", delta="auto", mask=mask)
    np.save(tmp_path / "m.npy", M)
    X = fdask.from_npy(tmp_path / "m.npy", rows=120)
    res = fdask.rpca_dask(
        X, svd="randomized", delta="auto", mask=mask, state_dir=tmp_path / "s", reread=reread
    )
    _same_stable_run(res, ref)
    (run,) = (tmp_path / "s").iterdir()
    assert sorted(p.name for p in (run / "block-0").iterdir())[0] == "E.npy"


@pytest.mark.parametrize("state", [False, True])
def test_stable_checkpoint_then_resume(tmp_path, state):
    M = _frames(4200, 100, seed=28)
    ref = fastrpca.rpca(M, svd="randomized", delta="auto")
    path = str(tmp_path / "ck.zarr")
    where = {"state_dir": tmp_path / "a"} if state else {}
    part = fdask.rpca_dask(
        da.from_array(M, chunks=(1050, 100)),
        svd="randomized",
        delta="auto",
        checkpoint=path,
        checkpoint_every=3,
        callback=lambda info: info.n_iter == 7,
        **where,
    )
    assert part.n_iter == 7
    where = {"state_dir": tmp_path / "b"} if state else {}
    res = fdask.rpca_dask(
        da.from_array(M, chunks=(900, 100)), svd="randomized", delta="auto", resume=path, **where
    )
    _same_stable_run(res, ref)
    with pytest.raises(ValueError, match="delta"):
        fdask.rpca_dask(da.from_array(M, chunks=(900, 100)), delta=1.0, resume=path)


def test_stable_on_a_distributed_client(threads_cluster, noisy):
    ref = fastrpca.rpca(noisy, svd="randomized", delta="auto")
    res = fastrpca.rpca(da.from_array(noisy, chunks=(700, 150)), svd="randomized", delta="auto")
    assert res.scheduler == "distributed"
    _same_stable_run(res, ref)


def test_input_is_never_modified():
    M = _problem(200, 60, 3, seed=15)
    keep = M.copy()
    fastrpca.rpca(da.from_array(M, chunks=(50, 60)))
    np.testing.assert_array_equal(M, keep)


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"svd": "partial"}, ValueError, "'partial' needs the whole matrix"),
        ({"init": (1, 2)}, TypeError, "resume=checkpoint_path"),
        ({"mask": np.ones((60, 40))}, TypeError, "mask must be a boolean"),
        ({"mask": np.ones((6, 4), bool)}, ValueError, "mask has shape"),
        ({"rho": 0.5}, ValueError, "rho must be >= 1"),
        ({"delta": "noise"}, ValueError, "delta must be a number >= 0 or 'auto'"),
        ({"delta": -1.0}, ValueError, "delta"),
        ({"rank": 0}, ValueError, "rank must be > 0"),
    ],
)
def test_bad_arguments_are_named(kwargs, err, match):
    with pytest.raises(err, match=match):
        fastrpca.rpca(da.ones((60, 40), chunks=(20, 40)), **kwargs)


def test_non_finite_entries_get_the_mask_hint():
    M = np.ones((60, 40))
    M[3, 4] = np.nan
    with pytest.raises(ValueError, match="mask=da.isfinite"):
        fastrpca.rpca(da.from_array(M, chunks=(20, 40)))


def _interrupt(info):
    raise RuntimeError("interrupted by the callback")


@pytest.mark.parametrize("failure", ["nan", "callback"])
def test_out_of_core_failure_removes_its_folder_not_state_dir(failure, tmp_path):
    M = _problem(300, 40, 3)
    if failure == "nan":
        M[7, 3] = np.nan
    err, match = (ValueError, "NaN") if failure == "nan" else (RuntimeError, "interrupted")
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "mine.txt").write_text("the caller's")
    with pytest.raises(err, match=match):
        fdask.rpca_dask(
            da.from_array(M, chunks=(100, 40)), svd="randomized", client=False,
            state_dir=state_dir, callback=_interrupt,
        )  # fmt: skip
    assert [p.name for p in state_dir.iterdir()] == ["mine.txt"]  # its rpca-xxxx folder gone


def test_a_block_at_the_wrong_iteration_is_refused():
    block = _blocks.Block(np.ones((4, 3)), None, 0)
    with pytest.raises(_blocks.StaleBlockError, match="resume from the last checkpoint"):
        _blocks.matmat(block, 5, np.ones((3, 1)), "t")


@pytest.fixture(scope="module")
def threads_cluster():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_distributed_client_in_process(threads_cluster, tall):
    M, ref = tall
    res = fastrpca.rpca(da.from_array(M, chunks=(700, 150)), svd="randomized")
    assert res.scheduler == "distributed"
    _same_run(res, ref)
    assert len(threads_cluster.who_has(res.S)) == 6  # S stays on the workers


def test_distributed_out_of_core(threads_cluster, tall, tmp_path):
    M, ref = tall
    res = fdask.rpca_dask(da.from_array(M, chunks=(100, 150)), svd="randomized", state_dir=tmp_path)
    assert res.scheduler == "distributed"
    _same_run(res, ref)


@pytest.mark.slow
def test_two_process_local_cluster(tall):
    distributed = pytest.importorskip("distributed")
    M, ref = tall
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        res = fastrpca.rpca(da.from_array(M, chunks=(700, 150)), svd="randomized")
        assert res.scheduler == "distributed"
        _same_run(res, ref)
        workers = {w for ws in client.who_has(res.S).values() for w in ws}
        assert len(workers) == 2  # the blocks were spread over both processes


# ---- frames streamed into a zarr store -------------------------------------------------------


def test_frames_to_zarr_streams_batches_and_equals_frames_to_matrix(tmp_path):
    import gc
    import weakref

    from fastrpca.robust_pca.frames import frames_to_matrix

    rng = np.random.default_rng(0)
    stack = rng.random((23, 6, 5, 3)).astype(np.float32)
    live, peak = [0], [0]

    def frames():  # counts the frames alive: the writer may hold one batch, no more
        for f in stack:
            frame = f.copy()
            live[0] += 1
            peak[0] = max(peak[0], live[0])
            weakref.finalize(frame, lambda: live.__setitem__(0, live[0] - 1))
            yield frame
            del frame
            gc.collect()

    M = fdask.frames_to_zarr(frames(), tmp_path / "m.zarr", dtype=np.float64, batch=4, rows=30)
    assert peak[0] <= 4 + 1
    assert M.shape == (90, 23) and M.dtype == np.float64 and M.chunks[0] == (30, 30, 30)
    assert len(M.chunks[1]) == 1  # row blocks holding every frame
    np.testing.assert_array_equal(M.compute(), frames_to_matrix(stack, dtype=np.float64))
    import zarr

    z = zarr.open_array(str(tmp_path / "m.zarr"), mode="r")
    assert z.chunks[1] == 4 and list(z.attrs["frame_shape"]) == [6, 5, 3]


def test_frames_to_zarr_then_stable_rpca_equals_in_memory(tmp_path):
    M = _frames(600, 40, seed=29)
    frames = (M[:, t].reshape(20, 30) for t in range(M.shape[1]))
    X = fdask.frames_to_zarr(frames, tmp_path / "v.zarr", dtype=np.float64, batch=7)
    ref = fastrpca.rpca(M, svd="randomized", delta="auto")
    _same_stable_run(fastrpca.rpca(X, svd="randomized", delta="auto"), ref)


def test_frames_to_zarr_refuses_mixed_shapes_and_single_frames(tmp_path):
    with pytest.raises(ValueError, match="frame 2 has shape"):
        fdask.frames_to_zarr([np.ones((3, 4))] * 2 + [np.ones((4, 3))], tmp_path / "a.zarr")
    with pytest.raises(ValueError, match="at least 2"):
        fdask.frames_to_zarr([np.ones((3, 4))], tmp_path / "b.zarr")
    with pytest.raises(TypeError, match="floating dtype"):
        fdask.frames_to_zarr([np.ones((3, 4))] * 2, tmp_path / "c.zarr", dtype=int)


def _held_between_tasks(monkeypatch):
    """Record, after every map over the blocks, the bytes the blocks keep in memory."""
    held: list[int] = []
    orig = _blocks.ThreadRunner.map

    def spy(self, fn, *args, **kwargs):
        out = orig(self, fn, *args, **kwargs)
        held.append(sum(_blocks.nbytes_of(b) for b in self.blocks))
        return out

    monkeypatch.setattr(_blocks.ThreadRunner, "map", spy)
    return held


@pytest.mark.parametrize("reread", [False, True])
def test_out_of_core_keeps_no_row_sized_arrays_in_memory(tmp_path, monkeypatch, reread):
    # Over 4096 rows (the Gram route), so the warm steps keep sketches P = X W per block.
    M = _problem(4400, 60, 4, seed=21)
    X = da.from_array(M, chunks=(550, 60))
    ref = fdask.rpca_dask(X, svd="randomized", client=False)
    held = _held_between_tasks(monkeypatch)
    res = fdask.rpca_dask(X, svd="randomized", client=False, state_dir=tmp_path, reread=reread)
    assert len(held) > res.n_iter  # a map per pass at least
    # the factors U, the sketches and local Q's are files between tasks, like S and Y
    assert max(held) == 0
    _same_run(res, ref, rtol=1e-12)
    np.testing.assert_allclose(res.s, ref.s, rtol=1e-13)
    # the result's U is read from the block's file, and reconstructs L
    assert any("read_scaled" in str(v) for v in dict(res.U.dask).values())
    np.testing.assert_allclose(res.U.compute(), ref.U.compute(), rtol=0, atol=1e-12)


def test_out_of_core_peak_memory_follows_the_block_not_the_height(tmp_path):
    """Traced peak allocation of an out-of-core solve at m and 8 m rows (same blocks): the
    thin arrays kept for every row used to add 2.6 times the added rows of M (k = rank +
    10 columns each, several at once during the cold start); now what grows is the
    client's per-block bookkeeping (small results, the graph), well under half of it."""
    import tracemalloc

    rows, n = 512, 48
    peaks = {}
    for i, m in enumerate((2048, 2048, 16384)):  # the first run loads the kernels
        X = da.from_array(_problem(m, n, 3, seed=5), chunks=(rows, n))
        tracemalloc.start()
        with pytest.warns(fastrpca.ConvergenceWarning):  # six iterations: not to tol
            res = fdask.rpca_dask(
                X, svd="randomized", max_iter=6, client=False, state_dir=tmp_path / str(i)
            )
        peaks[m] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert res.n_iter == 6 and not res.converged
    added = (16384 - 2048) * n * 8  # bytes of the added rows of M
    assert peaks[16384] - peaks[2048] < added / 2, (peaks, added)
