"""LearnedRPCA: unrolled Robust PCA with trained layers and a safeguard.

Small models trained in a second or two each (module fixtures, trained once); the accuracy
goals at realistic sizes are the asv benchmark's business (``benchmarks/learned.py``).
"""

import copy
import tracemalloc
import warnings

import numba
import numpy as np
import pytest
from naive import learned as naive
from numba.core.runtime import _nrt_python as nrt
from numba.core.runtime import rtsys

import fastrpca
from fastrpca import ConvergenceWarning, rpca
from fastrpca.robust_pca import LearnedRPCA, RPCAWorkspace, planted_problems
from fastrpca.robust_pca import learned as learned_module
from fastrpca.robust_pca._kernels import learned as k

SHAPE, RANK = (60, 50), 3


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def pcp_objective(res, lam):
    """``||L||_* + lam ||S||_1``, the objective IALM minimises subject to M = L + S."""
    return np.linalg.svd(res.L, compute_uv=False).sum() + lam * np.abs(res.S).sum()


def assert_as_good_as_rpca(res, M):
    """The safeguard's answer is feasible and at least as good as rpca's own (two IALM
    runs that both meet IALM's stopping rule can differ by a percent in L on problems
    near the edge of recovery; their objectives agree, or the warm-started one is lower)."""
    ref = rpca(M)
    lam = 1 / np.sqrt(max(M.shape))
    assert res.converged == ref.converged
    assert np.linalg.norm(M - res.L - res.S) < 1e-6 * np.linalg.norm(M)
    assert pcp_objective(res, lam) <= pcp_objective(ref, lam) * (1 + 1e-5)


@pytest.fixture(scope="module")
def data():
    train = planted_problems(8, SHAPE, RANK, random_state=3)
    test = planted_problems(6, SHAPE, RANK, random_state=4)
    return train, test


@pytest.fixture(scope="module")
def factor_model(data):
    (M, L0, _), _ = data
    return LearnedRPCA(n_layers=6, tol=2e-2).fit(M, L0, max_iter=20)


@pytest.fixture(scope="module")
def ialm_model(data):
    (M, L0, _), _ = data
    return LearnedRPCA(n_layers=5, variant="ialm", tol=2e-2).fit(M, L0, max_iter=20)


# ---------------------------------------------------------------- gradients
def _finite_differences(model, M, L0, names, eps=1e-6):
    loss, grads = model.loss_and_grads(M, L0)
    assert np.isfinite(loss) and loss > 0
    checked = 0
    for name in names:
        values = model.params[name]
        for i in range(values.size):
            old = values[i]
            h = eps * max(abs(old), 1e-3)
            values[i] = old + h
            up = model.loss_and_grads(M, L0)[0]
            values[i] = old - h
            down = model.loss_and_grads(M, L0)[0]
            values[i] = old
            assert grads[name][i] == pytest.approx((up - down) / (2 * h), rel=1e-4, abs=1e-9)
            checked += grads[name][i] != 0
    return checked


def test_factor_gradients_match_finite_differences_through_the_rank_r_start():
    M, L0, _ = planted_problems(3, (30, 24), 2, random_state=0)
    model = LearnedRPCA(n_layers=4).fit(M, L0, max_iter=0)  # the untrained schedule
    model.params["thresholds"][0] = 0.5  # a start threshold that clips some entries
    # every parameter, the start's threshold (gradient through the truncated SVD) included
    assert _finite_differences(model, M, L0, ("thresholds", "steps")) == 9


def test_ialm_gradients_match_finite_differences_through_the_svt():
    M, L0, _ = planted_problems(3, (24, 30), 2, random_state=1)  # wide: SVDs transposed
    model = LearnedRPCA(n_layers=4, variant="ialm").fit(M, L0, max_iter=0)
    model.params["mu"][:] = [30.0, 60.0, 120.0, 300.0]  # every layer keeps singular values
    model.params["lam"][:] = [1.0, 1.3, 0.9, 1.1]
    assert _finite_differences(model, M, L0, ("mu", "lam")) == 8


# ---------------------------------------------------------------- against the references
def test_factor_layers_equal_the_naive_reference(factor_model, data):
    _, (Mt, _, _) = data
    exact = copy.deepcopy(factor_model)
    exact.power_iter = 12  # an exact rank-r start
    p = exact.params
    for M in Mt[:3]:
        res = exact.solve(M, safeguard=False)
        want = naive.factor_layers(M, exact.rank, p["thresholds"], p["steps"])
        assert rel(res.L, want) < 1e-9


def test_ialm_layers_equal_the_naive_reference_and_the_untrained_ones_equal_rpca():
    small = planted_problems(2, (30, 25), 2, random_state=5)  # full SVDs below 32
    untrained = LearnedRPCA(n_layers=6, variant="ialm").fit(small[0], small[1], max_iter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = untrained.solve(small[0][0], safeguard=False)
        ref = rpca(small[0][0], max_iter=6)  # the plain IALM schedule, same 6 iterations
    np.testing.assert_allclose(res.L, ref.L, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.Y, ref.Y, rtol=0, atol=1e-12)
    untrained.params["mu"][:] = [3.0, 9.0, 20.0, 60.0, 200.0, 900.0]
    untrained.params["lam"][:] = [1.2, 1.0, 1.4, 1.1, 1.0, 1.3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = untrained.solve(small[0][1], safeguard=False)
    L, _, Y = naive.ialm_layers(
        small[0][1], untrained.params["mu"], untrained.params["lam"], 1 / np.sqrt(30)
    )
    np.testing.assert_allclose(res.L, L, rtol=0, atol=1e-10 * np.abs(L).max())
    np.testing.assert_allclose(res.Y, Y, rtol=0, atol=1e-10)


def test_outlier_split_equals_the_naive_reference():
    rng = np.random.default_rng(7)
    for shape, stride in (((7, 5), 1), ((6, 6), 1), ((40, 31), 1), ((40, 31), 3), ((50, 64), 7)):
        M = rng.standard_normal(shape) + np.where(rng.random(shape) < 0.1, 50.0, 0.0)
        L = M + 0.01 * rng.standard_normal(shape)
        L[rng.random(shape) < 0.1] = 0.0
        for floor in (0.0, 1e-3, 0.05):  # the median's threshold, or the floor's
            S, rows, cols = np.empty(shape), np.empty(shape[0]), np.empty(shape[1])
            res_sq, clean_sq, count = k.outlier_split(
                M, L, S, np.empty(M.size), 10.0, floor, stride, rows, cols
            )
            want_S, want_err, want_rows, want_cols = naive.outlier_split(M, L, 10.0, floor, stride)
            np.testing.assert_array_equal(S, want_S)
            assert np.sqrt(res_sq / clean_sq) == pytest.approx(want_err, rel=1e-12)
            np.testing.assert_array_equal(rows, want_rows)
            np.testing.assert_array_equal(cols, want_cols)
            assert count == np.count_nonzero(want_S)


def test_the_median_sample_visits_every_column():
    for m, n in ((64, 64), (200, 200), (128, 128), (1000, 64), (20000, 200), (3, 5)):
        stride = learned_module._sample_stride(m, n)
        cols = (np.arange(0, m * n, stride) % n) if stride > 1 else np.arange(n)
        assert np.unique(cols).size == n
        assert (m * n) / stride <= 2 * learned_module.MEDIAN_SAMPLE or stride == 1


def test_an_error_gathered_on_one_row_is_found_by_the_line_refit(factor_model, data):
    # L0 plus an error on one row of the left factor: its entries are large enough to be
    # taken for outliers, so the plain estimate misses it; the refit of that row does not.
    _, (Mt, Lt, _) = data
    model = copy.deepcopy(factor_model)
    model.solve(Mt[0], safeguard=False)
    L_f, R_f = model._small["L"], model._small["R"]  # the factors of the answer
    row_space = R_f
    error = np.zeros(SHAPE)
    error[7] = (
        0.05
        * np.linalg.norm(Lt[0])
        * (R_f @ [1.0, -0.5, 0.3])
        / np.linalg.norm(R_f @ [1.0, -0.5, 0.3])
    )  # relative error 0.05, all on row 7, inside the row space
    L = Lt[0] + error
    S, plain, rows, cols = naive.outlier_split(Mt[0], L, 10.0, model.tol / np.sqrt(50))
    assert plain < 0.01 and rows[7] > 0.5 * SHAPE[1]  # missed by the plain estimate
    refit, unresolved = naive.checked_estimate(Mt[0], L, S, row_space, L_f, 4.0)
    assert unresolved == 0 and 0.5 * 0.05 < refit < 2 * 0.05
    # and the model's own check, on the same L, says the same (its kernel and its refit)
    X = np.ascontiguousarray(L)
    S2, rows2, cols2 = np.empty(SHAPE), model._small["rows"], model._small["cols"]
    res_sq, clean_sq, count = k.outlier_split(
        Mt[0], X, S2, np.empty(X.size), 10.0, model.tol / np.sqrt(50), 1, rows2, cols2
    )
    hidden, unres = model._refit_lines(Mt[0], X, S2, count, (row_space, L_f))
    assert unres == 0
    assert np.sqrt((res_sq + hidden) / clean_sq) == pytest.approx(refit, rel=1e-9)


def test_select_finds_the_kth_smallest_with_ties():
    rng = np.random.default_rng(8)
    for a in (rng.random(101), rng.integers(0, 4, 64).astype(float), np.zeros(9), np.ones(1)):
        for kth in {0, a.size // 2, a.size - 1}:
            assert k.select(a.copy(), kth) == np.sort(a)[kth]


def test_jacobi_eigh_and_orthonormalize_are_exact():
    rng = np.random.default_rng(9)
    G = rng.standard_normal((7, 7))
    A = G @ G.T
    W, w = np.empty((7, 7)), np.empty(7)
    k.jacobi_eigh(A.copy(), W, w)
    np.testing.assert_allclose(w, np.linalg.eigvalsh(A)[::-1], rtol=1e-12)
    np.testing.assert_allclose(W @ np.diag(w) @ W.T, A, atol=1e-12 * np.abs(A).max())
    Y = rng.standard_normal((30, 6))
    Q = Y.copy()
    k.orthonormalize(Q)
    np.testing.assert_allclose(Q.T @ Q, np.eye(6), atol=1e-14)
    np.testing.assert_allclose(Q @ (Q.T @ Y), Y, atol=1e-12)  # same column space


# ---------------------------------------------------------------- what training buys
@pytest.mark.parametrize("variant", ["factor", "ialm"])
def test_trained_beats_untrained_at_equal_layers(variant, factor_model, ialm_model, data):
    (M, L0, _), (Mt, Lt, _) = data
    model = factor_model if variant == "factor" else ialm_model
    untrained = LearnedRPCA(n_layers=model.n_layers, variant=variant).fit(M, L0, max_iter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for i in range(len(Mt)):
            trained = rel(model.solve(Mt[i], safeguard=False).L, Lt[i])
            plain = rel(untrained.solve(Mt[i], safeguard=False).L, Lt[i])
            assert trained < 0.02 and trained < 0.05 * plain


def test_in_distribution_the_layers_answer_without_the_safeguard(factor_model, data):
    _, (Mt, Lt, St) = data
    for i in range(len(Mt)):
        res = factor_model.solve(Mt[i])
        assert res.safeguard_iter == 0 and res.n_iter == res.n_layers == 6 and res.converged
        error = rel(res.L, Lt[i])
        assert error < factor_model.tol
        # the check estimates the relative error of L (on the entries outliers miss)
        assert 0.3 * error < res.error_estimate < 1.5 * error
        assert res.rank == RANK and "no safeguard iteration" in res.message
        floor = factor_model.tol / np.sqrt(min(SHAPE))
        S, _, _, _ = naive.outlier_split(Mt[i], res.L, 10.0, floor)  # 3000 entries: stride 1
        np.testing.assert_array_equal(res.S, S)
        L_f, R_f = factor_model._small["L"], factor_model._small["R"]
        estimate, unresolved = naive.checked_estimate(Mt[i], res.L, S, R_f, L_f, 4.0)
        assert unresolved == 0
        assert res.error_estimate == pytest.approx(estimate, rel=1e-9)
        # the outliers found are the planted ones, but for a few too small to tell apart
        assert np.count_nonzero((res.S != 0) != (St[i] != 0)) <= 0.005 * Mt[i].size


OUTSIDE = {  # planted problems unlike the training ones (rank 3, 5% outliers up to 500)
    "rank 8": {"rank": 8},
    "25% outliers": {"fraction": 0.25},
    "outliers up to 2": {"magnitude": 2.0},
}


@pytest.mark.parametrize("change", sorted(OUTSIDE))
def test_safeguard_catches_a_model_used_outside_its_distribution(factor_model, change):
    kwargs = {"rank": RANK, "fraction": 0.05, "magnitude": 500.0, **OUTSIDE[change]}
    M, L0, _ = planted_problems(1, SHAPE, random_state=11, **kwargs)
    M, L0 = M[0], L0[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        layers_only = factor_model.solve(M, safeguard=False)
    assert not layers_only.converged and layers_only.error_estimate > factor_model.tol
    assert rel(layers_only.L, L0) > 0.1  # the check was right to refuse it
    res = factor_model.solve(M)
    assert res.safeguard_iter > 0 and res.n_iter == 6 + res.safeguard_iter
    assert "continued with IALM" in res.message
    assert_as_good_as_rpca(res, M)  # IALM's answer, whatever the layers gave


def test_without_the_safeguard_a_failed_check_warns(factor_model):
    M, _, _ = planted_problems(1, SHAPE, 8, random_state=12)
    with pytest.warns(ConvergenceWarning, match="safeguard off"):
        res = factor_model.solve(M[0], safeguard=False)
    assert not res.converged and res.safeguard_iter == 0


def test_ialm_variant_continues_from_its_own_dual(ialm_model):
    M, L0, _ = planted_problems(1, SHAPE, RANK, fraction=0.15, random_state=13)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        layers_only = ialm_model.solve(M[0], safeguard=False)
    assert layers_only.error_estimate > ialm_model.tol and rel(layers_only.L, L0[0]) > 0.1
    res = ialm_model.solve(M[0])
    assert res.safeguard_iter > 0 and res.converged and res.Y is not None
    assert_as_good_as_rpca(res, M[0])


# ---------------------------------------------------------------- interface
def test_predict_on_a_batch_equals_solve_one_by_one(factor_model, data):
    _, (Mt, _, _) = data
    L, S = factor_model.predict(Mt[:3])
    assert L.shape == S.shape == (3,) + SHAPE
    for i in range(3):
        res = factor_model.solve(Mt[i])
        np.testing.assert_array_equal(L[i], res.L)
        np.testing.assert_array_equal(S[i], res.S)


@pytest.mark.parametrize("variant", ["factor", "ialm"])
def test_save_load_round_trip_gives_identical_answers(
    variant, factor_model, ialm_model, data, tmp_path
):
    model = factor_model if variant == "factor" else ialm_model
    _, (Mt, _, _) = data
    path = tmp_path / "model.npz"
    model.save(path)
    again = LearnedRPCA.load(path)
    assert again.variant == variant and again.shape == model.shape and again.tol == model.tol
    for name, value in model.params.items():
        np.testing.assert_array_equal(again.params[name], value)
    for M in Mt[:2]:
        np.testing.assert_array_equal(again.solve(M).L, model.solve(M).L)


def test_load_refuses_other_files(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.ones(3))
    with pytest.raises(ValueError, match="not a LearnedRPCA file"):
        LearnedRPCA.load(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="cannot read a LearnedRPCA"):
        LearnedRPCA.load(tmp_path / "text.npz")


@pytest.mark.filterwarnings("ignore:after training:UserWarning")
def test_fit_defaults_to_rpca_targets_and_the_targets_rank():
    M, L0, _ = planted_problems(3, (30, 24), 2, random_state=14)
    model = LearnedRPCA(n_layers=3).fit(M, max_iter=3)
    assert model.rank == 2 and model.shape == (30, 24)
    assert model.fit_history["stage_loss"].shape == (3,)
    assert model.fit_history["train_error"].shape == (3,)


def test_zero_matrix_gives_zero_parts(factor_model):
    res = factor_model.solve(np.zeros(SHAPE))
    assert res.converged and not res.L.any() and not res.S.any() and res.n_iter == 6


@pytest.mark.filterwarnings("ignore:after training:UserWarning")
def test_inputs_are_never_modified(data):
    (M, L0, _), (Mt, _, _) = data
    M_copy, L_copy, one = M.copy(), L0.copy(), Mt[0].copy()
    model = LearnedRPCA(n_layers=2).fit(M, L0, max_iter=2)
    model.solve(Mt[0])
    model.predict(Mt[:2])
    np.testing.assert_array_equal(M, M_copy)
    np.testing.assert_array_equal(L0, L_copy)
    np.testing.assert_array_equal(Mt[0], one)


def test_bad_input_is_refused_by_name(factor_model, data):
    (M, L0, _), _ = data
    with pytest.raises(ValueError, match="variant must be one of"):
        LearnedRPCA(variant="deep")
    with pytest.raises(ValueError, match="n_layers must be > 0"):
        LearnedRPCA(n_layers=0)
    with pytest.raises(TypeError, match="random_state"):
        LearnedRPCA(random_state="seed")
    with pytest.raises(RuntimeError, match="not trained: call fit"):
        LearnedRPCA().solve(M[0])
    with pytest.raises(ValueError, match="one matrix of shape .* pass a stack"):
        LearnedRPCA().fit(M[0])
    with pytest.raises(ValueError, match="mixes shapes"):
        LearnedRPCA().fit([M[0], M[0][:, :10]])
    with pytest.raises(ValueError, match="L holds 2 matrices"):
        LearnedRPCA().fit(M, L0[:2])
    with pytest.raises(ValueError, match="rank=50 must be below min"):
        LearnedRPCA(rank=50).fit(M, L0, max_iter=0)
    with pytest.raises(ValueError, match="max_iter must be >= 0"):
        LearnedRPCA().fit(M, L0, max_iter=-1)
    with pytest.raises(ValueError, match=r"M has shape \(50, 60\) but the model was trained"):
        factor_model.solve(M[0].T)
    with pytest.raises(ValueError, match="M contains 1 NaN"):
        bad = M[0].copy()
        bad[3, 4] = np.nan
        factor_model.solve(bad)
    with pytest.raises(TypeError, match="real data"):
        factor_model.solve(M[0] + 0j)
    with pytest.raises(ValueError, match="trained on"):
        factor_model.predict(M[:, :, :10])


@pytest.mark.requires_jit
def test_steady_state_with_a_workspace_allocates_no_array(factor_model, data):
    _, (Mt, _, _) = data
    ws = RPCAWorkspace()
    first = factor_model.solve(Mt[0], workspace=ws)
    second = factor_model.solve(Mt[1], workspace=ws)
    assert np.shares_memory(first.L, second.L) and np.shares_memory(first.S, second.S)
    for _ in range(20):  # threadpoolctl caches its ctypes symbols over the first calls
        factor_model.solve(Mt[2], workspace=ws, check_finite=False)
    was_on = nrt.memsys_stats_enabled()
    nrt.memsys_enable_stats()
    try:
        creates_one = numba.njit(lambda a: np.empty(a.size).size)
        creates_one(Mt[0])
        start = rtsys.get_allocation_stats().alloc
        creates_one(Mt[0])
        assert rtsys.get_allocation_stats().alloc - start == 2  # argument + created array
        before = rtsys.get_allocation_stats().alloc
        tracemalloc.start()
        for M in Mt:
            factor_model.solve(M, workspace=ws, check_finite=False)  # a trusted loop
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        per_call = (rtsys.get_allocation_stats().alloc - before) / len(Mt)
    finally:
        if not was_on:
            nrt.memsys_disable_stats()
    # one MemInfo per array argument of the five kernel calls (sum_squares 1,
    # factor_start 11, factor_layers 11, low_rank_into 3, outlier_split 6); none created
    assert per_call == 32
    assert peak < 8192  # a matrix is 24 KiB: only small Python objects are created


def test_warmup_compiles_without_error():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        learned_module._warmup()
    assert "LearnedRPCA" in fastrpca.__all__
