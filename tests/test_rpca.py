"""Robust PCA: the reference loop, planted recovery, every engine and dtype, bad input."""

import warnings

import numpy as np
import pytest
from naive.rpca import ialm, planted

import fastrpca
from fastrpca import ConvergenceWarning, rpca

ENGINES = ["full", "partial", "randomized", "auto"]


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


# ---------------------------------------------------------------- the reference loop


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("shape", [(64, 64), (90, 40), (30, 70)])
def test_follows_reference_iteration_for_iteration(shape, dtype):
    M, _, _ = planted(*shape, rank=3, fraction=0.05, dtype=dtype, seed=1)
    L_ref, S_ref, it_ref, hist_ref = ialm(M)
    res = rpca(M, svd="full")
    assert res.n_iter == it_ref
    np.testing.assert_allclose(res.history["residual"], [h[0] for h in hist_ref], rtol=1e-5)
    np.testing.assert_array_equal(res.history["rank"], [h[1] for h in hist_ref])
    np.testing.assert_allclose(res.history["mu"], [h[2] for h in hist_ref], rtol=1e-12)
    assert rel(res.L, L_ref) < 1e-10 and rel(res.S, S_ref) < 1e-10


def test_follows_reference_with_mask():
    M, _, _ = planted(60, 50, rank=3, fraction=0.05, seed=2)
    mask = np.random.default_rng(3).random(M.shape) > 0.15
    L_ref, S_ref, it_ref, _ = ialm(M, mask=mask)
    res = rpca(M, svd="full", mask=mask)
    assert res.n_iter == it_ref
    assert rel(res.L, L_ref) < 1e-10 and rel(res.S, S_ref) < 1e-10
    assert not res.S[~mask].any()


def test_residual_and_result_fields():
    M, L0, S0 = planted(80, 60, rank=4, fraction=0.05, seed=4)
    res = rpca(M)
    assert res.converged and res.residual < 1e-7
    assert res.residual == pytest.approx(rel(res.L + res.S, M), rel=1e-3, abs=1e-12)
    assert res.rank == np.linalg.matrix_rank(res.L) == 4
    assert res.lam == pytest.approx(1 / np.sqrt(80))
    assert len(res.history["residual"]) == res.n_iter
    L, S = res
    assert L is res.L and S is res.S
    assert "converged" in res.message


# ---------------------------------------------------------------- planted recovery


@pytest.mark.parametrize("svd", ENGINES)
@pytest.mark.parametrize("fraction", [0.05, 0.10])
def test_planted_recovery_papers_problem(svd, fraction):
    # Lin et al. (2010): rank 5% of n, corruption uniform in [-500, 500].
    n = 300
    M, L0, S0 = planted(n, n, rank=n // 20, fraction=fraction, seed=5)
    res = rpca(M, svd=svd, random_state=0)
    assert res.converged
    assert res.rank == n // 20
    assert rel(res.L, L0) < 1e-6 and rel(res.S, S0) < 1e-6


def test_planted_recovery_n500():
    M, L0, S0 = planted(500, 500, rank=25, fraction=0.05, seed=6)
    res = rpca(M, random_state=0)
    assert res.rank == 25 and rel(res.L, L0) < 1e-6 and rel(res.S, S0) < 1e-6
    assert 15 <= res.n_iter <= 30  # the papers report 20-25 SVDs


def test_planted_recovery_tall_video_like():
    M, L0, S0 = planted(3000, 60, rank=2, fraction=0.03, seed=7)
    res = rpca(M, random_state=0)
    assert res.rank == 2 and rel(res.L, L0) < 1e-6 and rel(res.S, S0) < 1e-6


@pytest.mark.parametrize("svd", ["full", "randomized"])
def test_planted_recovery_complex128(svd):
    M, L0, S0 = planted(200, 160, rank=8, fraction=0.05, dtype=np.complex128, seed=8)
    res = rpca(M, svd=svd, random_state=0)
    assert res.L.dtype == np.complex128 and res.rank == 8
    assert rel(res.L, L0) < 1e-6 and rel(res.S, S0) < 1e-6


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_single_precision_computed_in_single(dtype):
    M, L0, S0 = planted(200, 200, rank=10, fraction=0.05, dtype=dtype, seed=9)
    res = rpca(M, random_state=0)
    assert res.converged and res.L.dtype == dtype and res.S.dtype == dtype
    assert res.rank == 10
    assert rel(res.L.astype(L0.dtype), L0) < 1e-4 and rel(res.S.astype(S0.dtype), S0) < 1e-4


@pytest.mark.parametrize("missing", [0.10, 0.20])
@pytest.mark.parametrize("svd", ["full", "randomized"])
def test_missing_entries_are_imputed(missing, svd):
    M, L0, S0 = planted(300, 300, rank=10, fraction=0.05, seed=10)
    mask = np.random.default_rng(11).random(M.shape) >= missing
    M_holes = M.copy()
    M_holes[~mask] = np.nan
    # Imputed entries lag one iteration behind the observed ones, so ask for 1e-8
    # to get 1e-6 on them.
    res = rpca(M_holes, mask=mask, svd=svd, random_state=0, tol=1e-8)
    assert res.converged and res.rank == 10
    assert rel(res.L, L0) < 1e-6  # on every entry, the missing ones included
    assert rel(res.S[mask], S0[mask]) < 1e-6
    assert not res.S[~mask].any()


def test_engines_agree():
    M, _, _ = planted(150, 120, rank=6, fraction=0.08, seed=12)
    results = [rpca(M, svd=e, random_state=0) for e in ENGINES]
    for r in results[1:]:
        assert rel(r.L, results[0].L) < 1e-6


def test_randomized_engine_grows_its_block_when_rank_exceeds_prediction():
    # Rank 40 > the first block (18 columns): the engine must grow, not truncate.
    M, L0, S0 = planted(400, 400, rank=40, fraction=0.03, seed=13)
    res = rpca(M, svd="randomized", random_state=0)
    assert res.rank == 40 and rel(res.L, L0) < 1e-6


# ---------------------------------------------------------------- memory layouts


def test_layouts_and_read_only_input_give_the_same_answer():
    M, _, _ = planted(70, 50, rank=3, fraction=0.05, seed=14)
    base = rpca(M, svd="full")
    F = np.asfortranarray(M)
    strided = np.zeros((140, 100))
    strided[::2, ::2] = M
    ro = M.copy()
    ro.flags.writeable = False
    for variant in (F, strided[::2, ::2], ro, M.tolist()):
        r = rpca(variant, svd="full")
        assert rel(r.L, base.L) < 1e-12 and rel(r.S, base.S) < 1e-12


def test_caller_arrays_are_not_modified():
    M, _, _ = planted(60, 40, rank=3, fraction=0.05, seed=15)
    mask = np.random.default_rng(0).random(M.shape) > 0.1
    M0, mask0 = M.copy(), mask.copy()
    rpca(M, mask=mask)
    rpca(np.asfortranarray(M))
    np.testing.assert_array_equal(M, M0)
    np.testing.assert_array_equal(mask, mask0)


def test_integer_input_is_promoted():
    M = np.arange(48).reshape(8, 6) % 7
    assert rpca(M).L.dtype == np.float64


def test_deterministic_for_a_seed():
    M, _, _ = planted(200, 150, rank=8, fraction=0.05, seed=16)
    a = rpca(M, svd="randomized", random_state=42)
    b = rpca(M, svd="randomized", random_state=42)
    np.testing.assert_array_equal(a.L, b.L)
    np.testing.assert_array_equal(a.S, b.S)


# ---------------------------------------------------------------- control and edge cases


def test_zero_matrix_returns_zeros_at_once():
    res = rpca(np.zeros((5, 4)))
    assert res.converged and res.n_iter == 0 and res.rank == 0
    assert not res.L.any() and not res.S.any()


def test_max_iter_warns_and_reports():
    M, _, _ = planted(50, 50, rank=3, fraction=0.05, seed=17)
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        res = rpca(M, max_iter=3)
    assert not res.converged and res.n_iter == 3 and "not converged" in res.message


def test_callback_sees_every_iteration_and_can_stop():
    M, _, _ = planted(50, 50, rank=3, fraction=0.05, seed=18)
    seen = []

    def cb(info):
        seen.append((info.n_iter, info.residual))
        assert info.rank >= 0 and info.mu > 0
        return info.n_iter == 4

    res = rpca(M, callback=cb)
    assert res.n_iter == 4 and not res.converged and "callback" in res.message
    assert [s[0] for s in seen] == [1, 2, 3, 4]


def test_lam_large_gives_all_low_rank_and_small_gives_sparse():
    M, _, _ = planted(40, 40, rank=2, fraction=0.05, seed=19)
    assert not rpca(M, lam=1e3).S.any()  # S costs too much: L = M
    assert rpca(M, lam=1e-4).rank == 0  # L costs too much: S = M


@pytest.mark.parametrize(
    "bad, kwargs, error, match",
    [
        (np.ones(5), {}, ValueError, "2-D"),
        (np.ones((2, 2, 2)), {}, ValueError, "2-D"),
        (np.ones((0, 4)), {}, ValueError, "at least 2"),
        (np.ones((1, 1)), {}, ValueError, "at least 2"),
        (np.array([["a", "b"], ["c", "d"]]), {}, TypeError, "numeric"),
        (np.ones((3, 3)), {"lam": 0}, ValueError, "lam must be > 0"),
        (np.ones((3, 3)), {"lam": -1}, ValueError, "lam"),
        (np.ones((3, 3)), {"tol": 0}, ValueError, "tol"),
        (np.ones((3, 3)), {"max_iter": 0}, ValueError, "max_iter"),
        (np.ones((3, 3)), {"max_iter": 2.5}, TypeError, "integer"),
        (np.ones((3, 3)), {"rho": 0.5}, ValueError, "rho"),
        (np.ones((3, 3)), {"mu": float("nan")}, ValueError, "finite"),
        (np.ones((3, 3)), {"svd": "lanczos"}, ValueError, "svd must be one of"),
        (np.ones((3, 3)), {"mask": np.ones((3, 3))}, TypeError, "boolean"),
        (np.ones((3, 3)), {"mask": np.ones((2, 3), bool)}, ValueError, "shape"),
        (np.ones((3, 3)), {"mask": np.zeros((3, 3), bool)}, ValueError, "no observed"),
    ],
)
def test_bad_input_is_explained(bad, kwargs, error, match):
    with pytest.raises(error, match=match):
        rpca(bad, **kwargs)


def test_nan_and_inf_are_reported_with_the_fix():
    M = np.ones((4, 4))
    M[0, 0], M[1, 1], M[2, 2] = np.nan, np.nan, np.inf
    with pytest.raises(ValueError, match=r"2 NaN and 1 infinite.*mask=np.isfinite\(M\)"):
        rpca(M)
    mask = np.isfinite(M)
    res = rpca(M, mask=mask)
    assert np.isfinite(res.L).all() and np.isfinite(res.S).all()


@pytest.mark.requires_jit
def test_warmup_compiles_without_error():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fastrpca.warmup()


# ---------------------------------------------------------------- warm starts and workspaces


def test_warm_start_from_the_solution_saves_iterations():
    # The penalty schedule restarts from mu0, so IALM still walks it, but from the answer.
    # Seeded, and tol 1e-8 for a margin: at the default 1e-7 the error of L sits at
    # 1e-6 itself, and unseeded about one run in eight failed (rel(warm.L, L0) 1.0007e-6).
    M, L0, S0 = planted(120, 100, rank=5, fraction=0.05, seed=20)
    cold = rpca(M, random_state=0, tol=1e-8)
    warm = rpca(M, init=cold, random_state=0, tol=1e-8)
    assert warm.converged and warm.n_iter <= 0.75 * cold.n_iter
    assert rel(warm.L, L0) < 1e-6
    warm2 = rpca(M, init=(cold.L, cold.S), random_state=0, tol=1e-8)
    assert warm2.converged and rel(warm2.L, L0) < 2e-6


def test_warm_start_on_a_shifted_window_matches_cold_answer():
    M, _, _ = planted(100, 130, rank=4, fraction=0.05, seed=21)
    first = rpca(M[:, :100])
    # slide by 30 columns: keep the overlapping part of the previous answer
    L_init = np.hstack([first.L[:, 30:], first.L[:, -30:]])
    S_init = np.hstack([first.S[:, 30:], np.zeros((100, 30))])
    warm = rpca(M[:, 30:], init=(L_init, S_init))
    cold = rpca(M[:, 30:])
    assert warm.converged and rel(warm.L, cold.L) < 1e-6


def test_bad_warm_start_is_explained():
    M = np.random.default_rng(0).standard_normal((6, 5))
    with pytest.raises(ValueError, match=r"init's L has shape \(5, 5\)"):
        rpca(M, init=(np.zeros((5, 5)), np.zeros((6, 5))))
    with pytest.raises(TypeError, match="init must be"):
        rpca(M, init="previous")


def test_workspace_buffers_are_reused_across_calls():
    ws = fastrpca.RPCAWorkspace()
    frames = [planted(80, 60, rank=3, fraction=0.05, seed=s)[0] for s in (22, 23, 24)]
    ids = None
    for M in frames:
        res = rpca(M, workspace=ws, random_state=0)
        expected = rpca(M, random_state=0)
        assert rel(res.L, expected.L) < 1e-12 and rel(res.S, expected.S) < 1e-12
        now = {k: id(v) for k, v in ws._buffers.items()}
        assert ids is None or now == ids
        ids = now
        assert any(np.shares_memory(res.L, b) for b in ws._buffers.values())


@pytest.mark.parametrize("shape, rank", [((300, 300), 15), ((3000, 80), 2)])
def test_peak_memory_is_a_few_copies_of_the_input(shape, rank):
    import tracemalloc

    M, _, _ = planted(*shape, rank=rank, fraction=0.05, seed=25)
    rpca(M)  # compile and warm caches first
    tracemalloc.start()
    try:
        rpca(M)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # X, two S buffers, Y and the engine's thin factors: under 5 more copies of M.
    assert peak < 5 * M.nbytes


@pytest.mark.parametrize(
    "dtype, scale",
    [
        (np.float64, 1e160),
        (np.float64, 1e300),
        (np.float32, 1e20),
        (np.complex64, 1e20),
        (np.float64, 1e-160),
        (np.float64, 1e-170),
        (np.float64, 1e-300),
        (np.float32, 1e-20),
        (np.float32, 1e-30),
        (np.complex128, 1e-200),
    ],
)
def test_any_finite_scale_is_solved_in_a_rescaled_copy(dtype, scale):
    # Before: ||M||_F = inf gave residual 0 and "converged" with a wrong L; M * 1e-160
    # (squares subnormal) said converged with residual 0 and L 1e-2 off; float32 broke
    # near 1e-20; beyond that a "too large / too small, rescale M" error.
    M, L0, _ = planted(30, 20, rank=2, fraction=0.05, magnitude=10.0, seed=26)
    if np.dtype(dtype).kind == "c":
        M = M + 0.5j * M[::-1]
    ref = rpca(M.astype(dtype))
    got = rpca((M * scale).astype(dtype))
    assert got.converged and 0 < got.residual < got.tol
    assert got.L.dtype == np.dtype(dtype)
    bound = 1e-4 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-8
    assert rel(got.L / scale, ref.L) < bound and rel(got.S / scale, ref.S) < bound
    if bound == 1e-8:  # float32 rounding may add a tiny singular value or an iteration
        assert got.rank == ref.rank and got.n_iter == ref.n_iter
        np.testing.assert_allclose(got.mu * scale, ref.mu, rtol=1e-6)


def test_a_power_of_two_rescale_is_exact():
    # the rescaling is by a power of two: M * 2**-600 and M * 2**600 are both brought to
    # the same working matrix, so their answers agree bit for bit after scaling back
    M, _, _ = planted(30, 20, rank=2, fraction=0.05, magnitude=10.0, seed=26)
    small, large = rpca(np.ldexp(M, -600)), rpca(np.ldexp(M, 600))
    np.testing.assert_array_equal(np.ldexp(large.L, -1200), small.L)
    np.testing.assert_array_equal(np.ldexp(large.S, -1200), small.S)
    np.testing.assert_array_equal(large.Y, small.Y)


def test_one_huge_entry_is_not_refused():
    # Before: "M's entries are too large" for one 1e200 entry among O(1) values. The
    # tolerance is relative to ||M||_F (the reference's rule), so such an outlier takes
    # all of S's budget: the same answer as for a 1e10 outlier, not an error.
    M, _, _ = planted(30, 20, rank=2, fraction=0.05, magnitude=10.0, seed=26)
    for big in (1e10, 1e200, 1e300):
        M2 = M.copy()
        M2[3, 4] = big
        r = rpca(M2)
        assert r.converged and np.isfinite(r.L).all() and np.isfinite(r.S).all()
        assert r.S[3, 4] == pytest.approx(big, rel=1e-12)
        assert np.abs(r.L + r.S - M2).max() <= 1e-7 * big  # residual relative to ||M||


def test_an_input_that_is_a_workspace_result_is_not_overwritten_mid_solve():
    # Before: M was a view of the buffers the solve writes into, so the answer was wrong.
    ws = fastrpca.RPCAWorkspace()
    M, _, _ = planted(60, 50, rank=3, fraction=0.05, seed=27)
    first = rpca(M, workspace=ws, random_state=0)
    expected = rpca(first.L.copy(), random_state=0)
    again = rpca(first.L, workspace=ws, random_state=0)
    assert rel(again.L, expected.L) < 1e-12 and np.abs(again.S - expected.S).max() < 1e-12


@pytest.mark.parametrize("max_iter", [6, 7])  # the result's L ends in either S buffer
def test_a_warm_start_from_a_result_in_the_same_workspace(max_iter):
    M, _, _ = planted(4000, 60, rank=3, fraction=0.05, seed=28)  # tall: the tiled step
    ws = fastrpca.RPCAWorkspace()
    with pytest.warns(fastrpca.ConvergenceWarning):
        first = rpca(M, workspace=ws, random_state=0, max_iter=max_iter)
    init = (first.L.copy(), first.S.copy(), first.Y.copy())
    expected = rpca(M, init=init, random_state=0)
    again = rpca(M, init=first, workspace=ws, random_state=0)
    assert again.n_iter == expected.n_iter
    np.testing.assert_allclose(again.L, expected.L, rtol=0, atol=1e-12 * np.abs(M).max())
    np.testing.assert_allclose(again.S, expected.S, rtol=0, atol=1e-12 * np.abs(M).max())


def test_default_seed_makes_repeated_calls_identical():
    M, _, _ = planted(150, 120, rank=6, fraction=0.05, seed=26)
    a, b = rpca(M), rpca(M)
    np.testing.assert_array_equal(a.L, b.L)
    np.testing.assert_array_equal(a.S, b.S)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_data_behind_check_finite_false_is_still_caught(bad):
    M, _, _ = planted(40, 30, rank=2, fraction=0.05, seed=27)
    M[3, 4] = bad
    with pytest.raises(ValueError, match="NaN or Inf.*mask=np.isfinite"):
        rpca(M, check_finite=False)


@pytest.mark.parametrize("shape", [(2000, 100), (100, 2000), (300, 1300), (900, 800), (6000, 40)])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.float32])
def test_spectral_norm_every_route_matches_the_full_svd(shape, dtype):
    from fastrpca.robust_pca.svd import spectral_norm

    rng = np.random.default_rng(3)
    X = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        X = X + 1j * rng.standard_normal(shape)
    X = X.astype(dtype)
    exact = np.linalg.svd(X.astype(np.complex128), compute_uv=False)[0]
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert spectral_norm(X) == pytest.approx(exact, rel=rtol)
