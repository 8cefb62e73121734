"""Robust dictionary learning: the coding step's KKT conditions and naive references, the
statistics and atom update against their formulas, planted dictionaries and anomalies,
scikit-learn's objective, a real texture, and the patch helpers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from naive import dictionary as naive

import fastrpca
from fastrpca import RobustDictionaryLearning, extract_patches, patches_to_image
from fastrpca._core.result import ConvergenceWarning
from fastrpca.sparse._kernels import dictionary as kd


def planted(m, n, k, nnz=3, seed=0, noise=0.01, anomalies=0.0):
    """Unit atoms D0, codes with nnz entries of magnitude 1-2, anomalies of 3-6 on a
    fraction ``anomalies`` of the entries, and Y = D0 X0 + S0 + noise."""
    rng = np.random.default_rng(seed)
    D0 = rng.standard_normal((m, n))
    D0 /= np.linalg.norm(D0, axis=0)
    X0 = np.zeros((n, k))
    for c in range(k):
        X0[rng.choice(n, nnz, replace=False), c] = rng.choice([-1, 1], nnz) * rng.uniform(1, 2, nnz)
    S0 = np.zeros((m, k))
    on = rng.random((m, k)) < anomalies
    S0[on] = rng.choice([-1, 1], on.sum()) * rng.uniform(3, 6, on.sum())
    return D0, X0, S0, D0 @ X0 + S0 + noise * rng.standard_normal((m, k))


def matched(D, D0):
    """|<d, d0>| of the best one-to-one matching of learned to true atoms."""
    from scipy.optimize import linear_sum_assignment

    C = np.abs(D.T @ D0)
    r, c = linear_sum_assignment(-C)
    return C[r, c]


def with_dictionary(D, lam, lam_s=np.inf):
    """A model holding the given atoms (normalised), as if fitted."""
    model = RobustDictionaryLearning(D.shape[1], lam, lam_s)
    Dt = np.ascontiguousarray((D / np.linalg.norm(D, axis=0)).T)
    model._start(D.shape[0], Dt, np.random.default_rng(0))
    return model


# ---------------------------------------------------------------- the coding step
def coding_problem(seed=0, m=24, n=40, k=6):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((m, n))
    D /= np.linalg.norm(D, axis=0)
    X = np.where(rng.random((n, k)) < 0.1, 2 * rng.standard_normal((n, k)), 0.0)
    S = np.where(rng.random((m, k)) < 0.08, 5 * rng.standard_normal((m, k)), 0.0)
    return D, D @ X + S + 0.05 * rng.standard_normal((m, k))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("lam, lam_s", [(0.3, 0.2), (0.5, 0.3), (0.2, 1.0)])
def test_coding_step_kkt(seed, lam, lam_s):
    """Optimality of the lasso on [D, I]: |D^T r| <= lam with equality and sign on the
    support of x, |r| <= lam_s with r_i = lam_s sign(s_i) where s_i != 0."""
    D, Y = coding_problem(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        res = with_dictionary(D, lam, lam_s).decompose(Y, tol=1e-12, max_iter=100_000)
    assert res.converged.all()
    R = Y - D @ res.x - res.s
    Q = D.T @ R
    tol = 1e-6
    assert np.all(np.abs(Q) <= lam * (1 + tol))
    assert np.all(np.abs(R) <= lam_s * (1 + tol))
    on_x = res.x != 0
    np.testing.assert_allclose(Q[on_x], lam * np.sign(res.x[on_x]), rtol=tol, atol=tol * lam)
    on_s = res.s != 0
    assert on_s.any()
    np.testing.assert_allclose(R[on_s], lam_s * np.sign(res.s[on_s]), rtol=tol, atol=tol * lam_s)
    # the reported objective and gap
    np.testing.assert_allclose(res.objective, naive.objective(D, Y, res.x, res.s, lam, lam_s))
    assert np.all(res.dual_gap <= 1e-12 * res.objective + 1e-14)


def test_coding_step_matches_naive_fista():
    D, Y = coding_problem(3, m=10, n=16, k=2)
    lam, lam_s = 0.3, 0.4
    res = with_dictionary(D, lam, lam_s).decompose(Y, tol=1e-13, max_iter=100_000)
    for c in range(Y.shape[1]):
        x, s = naive.robust_code(D, Y[:, c], lam, lam_s)
        ref = naive.objective(D, Y[:, [c]], x[:, None], s[:, None], lam, lam_s)[0]
        assert res.objective[c] <= ref * (1 + 1e-10)
        np.testing.assert_allclose(res.objective[c], ref, rtol=1e-8)
        np.testing.assert_allclose(res.x[:, c], x, atol=1e-5)
        np.testing.assert_allclose(res.s[:, c], s, atol=1e-5)


def test_infinite_lam_s_is_the_lasso_and_a_huge_one_agrees():
    D, Y = coding_problem(4)
    lam = 0.4
    model = with_dictionary(D, lam)
    plain = model.decompose(Y, tol=1e-12)
    ref = fastrpca.lasso(D, Y, lam, tol=1e-12)
    np.testing.assert_allclose(plain.x, ref.x, atol=1e-9)
    assert not plain.s.any()
    huge = model.decompose(Y, lam_s=1e9, tol=1e-12)
    assert not huge.s.any()
    np.testing.assert_allclose(huge.x, ref.x, atol=1e-7)
    np.testing.assert_allclose(huge.objective, ref.objective, rtol=1e-9)


def test_decompose_warm_state_is_not_shared_between_calls():
    D, Y = coding_problem(5)
    model = with_dictionary(D, 0.3, 0.4)
    a = model.decompose(Y)
    b = model.decompose(Y)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.s, b.s)


# ---------------------------------------------------------------- statistics and atoms
def test_statistics_kernels_match_dense_products():
    rng = np.random.default_rng(0)
    m, n, k = 7, 11, 30
    Y = rng.standard_normal((m, k))
    X = np.where(rng.random((n, k)) < 0.3, rng.standard_normal((n, k)), 0.0)
    S = np.where(rng.random((m, k)) < 0.2, rng.standard_normal((m, k)), 0.0)
    A, Bt, acc = np.zeros((n, n)), np.zeros((n, m)), np.zeros(3)
    Yt, Xt, St = (np.ascontiguousarray(v.T) for v in (Y, X, S))
    kd.rebuild(A, Bt, acc, Yt, Xt, St, True, np.zeros(n, np.int64))
    A0, B0, acc0 = naive.statistics(Y, X, S)
    np.testing.assert_allclose(A, A0, atol=1e-12)
    np.testing.assert_allclose(Bt.T, B0, atol=1e-12)
    np.testing.assert_allclose(acc, acc0)
    # removing a sample's share and adding it back is exact bookkeeping
    sup = np.zeros(n, np.int64)
    kd._accumulate(A, Bt, acc, Yt[3], Xt[3], St[3], -1.0, sup)
    A1, B1, acc1 = naive.statistics(np.delete(Y, 3, 1), np.delete(X, 3, 1), np.delete(S, 3, 1))
    np.testing.assert_allclose(A, A1, atol=1e-12)
    np.testing.assert_allclose(Bt.T, B1, atol=1e-12)
    np.testing.assert_allclose(acc, acc1, atol=1e-12)
    # the surrogate is the objective of the stored codes with any dictionary
    D = rng.standard_normal((m, n))
    D /= np.linalg.norm(D, axis=0)
    Dt = np.ascontiguousarray(D.T)
    G = Dt @ Dt.T
    kd.rebuild(A, Bt, acc, Yt, Xt, St, True, sup)
    val = kd.surrogate(Dt, G, A, Bt, acc, 0.3, 0.2, True)
    np.testing.assert_allclose(val, naive.objective(D, Y, X, S, 0.3, 0.2).sum())


def test_atom_update_is_mairal_block_coordinate_descent():
    rng = np.random.default_rng(1)
    m, n, k = 9, 14, 60
    Y = rng.standard_normal((m, k))
    X = np.where(rng.random((n, k)) < 0.3, rng.standard_normal((n, k)), 0.0)
    X[5] = 0.0  # atom 5 unused
    A, B, (c, l1x, l1s) = naive.statistics(Y, X, np.zeros_like(Y))
    D = rng.standard_normal((m, n))
    D /= np.linalg.norm(D, axis=0)
    Dt = np.ascontiguousarray(D.T)
    Dc = D.copy()
    Bt = np.ascontiguousarray(B.T)
    fresh = np.array([7])
    used = kd.update_atoms(
        Dt, Dc, A, Bt, 1, np.zeros(m), fresh, np.ascontiguousarray(Y.T), np.zeros((1, m)), False
    )
    assert used == 1
    ref = naive.atom_pass(D, A, B)
    keep = np.arange(n) != 5
    np.testing.assert_allclose(Dt.T[:, keep], ref[:, keep], atol=1e-12)
    np.testing.assert_allclose(Dt.T[:, 5], Y[:, 7] / np.linalg.norm(Y[:, 7]))
    np.testing.assert_array_equal(Dc, Dt.T)
    # each pass can only lower the surrogate (exact block minimisation on the sphere)
    before = naive.surrogate(ref, A, B, c, l1x, l1s, 0.1, np.inf)
    after = naive.surrogate(naive.atom_pass(ref, A, B), A, B, c, l1x, l1s, 0.1, np.inf)
    assert after <= before + 1e-12
    assert before <= naive.surrogate(D, A, B, c, l1x, l1s, 0.1, np.inf) + 1e-12


# ---------------------------------------------------------------- learning
def test_planted_dictionary_is_recovered():
    D0, X0, _, Y = planted(16, 24, 1500, seed=0)
    model = RobustDictionaryLearning(24, lam=0.05).fit(Y, max_iter=300, tol=1e-6)
    assert model.result.converged
    assert matched(model.dictionary, D0).min() > 0.999
    np.testing.assert_allclose(np.linalg.norm(model.dictionary, axis=0), 1.0, rtol=1e-12)


def test_planted_dictionary_and_anomalies_are_recovered_where_plain_learning_fails():
    D0, X0, S0, Y = planted(64, 96, 2000, seed=1, anomalies=0.01)
    model = RobustDictionaryLearning(96, lam=0.3, lam_s=0.15).fit(Y, max_iter=100, tol=1e-5)
    assert model.result.converged
    scores = matched(model.dictionary, D0)
    assert np.mean(scores > 0.99) >= 0.85
    found = np.abs(model.decompose(Y).s) > 1.0  # planted anomalies are 3 to 6
    truth = S0 != 0
    assert (found & truth).sum() / truth.sum() > 0.99
    assert (found & truth).sum() / found.sum() > 0.99
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = RobustDictionaryLearning(96, lam=0.3).fit(Y, max_iter=20)
    assert np.mean(matched(plain.dictionary, D0) > 0.99) < 0.2


def test_stored_code_objective_only_decreases_and_bounds_the_true_one():
    D0, X0, S0, Y = planted(16, 24, 600, seed=2, anomalies=0.02)
    for lam_s in (np.inf, 0.3):
        model = RobustDictionaryLearning(24, 0.2, lam_s, batch_size=100)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(Y, max_iter=15, tol=0.0)
        hist = model.result.history["objective"]
        assert np.all(np.diff(hist[1:]) <= 1e-9 * hist[1:-1])  # from epoch 2 on
        true = model.decompose(Y, tol=1e-9, max_iter=100_000).objective.sum()
        assert true <= model.result.objective * (1 + 1e-9)
        assert model.result.objective <= true * 1.05


def test_online_modes_lower_the_objective():
    """Without stored codes (keep_codes=False, partial_fit) every batch is coded from zero
    and folded into rescaled statistics: slower than the stored-code epochs (on this
    planted problem scikit-learn's MiniBatchDictionaryLearning ends at 1.5 x the planted
    objective after 20 epochs), but the objective must fall steadily."""
    D0, X0, _, Y = planted(16, 8, 4000, nnz=2, seed=3)
    lam = 0.05

    def F(D):
        return fastrpca.lasso(D, Y, lam, tol=1e-8).objective.sum()

    f0 = F(D0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = RobustDictionaryLearning(8, lam).fit(Y, max_iter=1, keep_codes=False)
        offline = RobustDictionaryLearning(8, lam).fit(Y, max_iter=20, keep_codes=False)
    hist = offline.result.history["objective"]
    assert hist[-1] < 0.8 * hist[0]
    assert F(offline.dictionary) < F(one.dictionary) < 2.5 * f0
    assert F(offline.dictionary) < 1.4 * f0
    online = RobustDictionaryLearning(8, lam, batch_size=200)
    values = []
    for _ in range(5):
        for start in range(0, 4000, 1000):
            online.partial_fit(Y[:, start : start + 1000])
        values.append(F(online.dictionary))
    assert values[-1] < values[0] and values[-1] < 1.6 * f0
    # after fit, partial_fit continues from the fitted statistics without losing ground
    fitted = RobustDictionaryLearning(8, lam).fit(Y, max_iter=100)
    before = F(fitted.dictionary)
    fitted.partial_fit(Y[:, :1000])
    assert F(fitted.dictionary) <= before * 1.05


def test_sklearn_objective_and_alpha_convention():
    """scikit-learn's DictionaryLearning minimises 1/2||X - UV||^2 + alpha ||U||_1: our
    objective of its dictionary equals its own reported error, so alpha = lam (no 1/m
    scaling); from the same start we reach at least its objective."""
    decomposition = pytest.importorskip("sklearn.decomposition")
    D0, X0, _, Y = planted(12, 16, 200, nnz=2, seed=4, noise=0.05)
    lam = 0.2
    rng = np.random.default_rng(0)
    init = rng.standard_normal((12, 16))
    init /= np.linalg.norm(init, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = decomposition.DictionaryLearning(
            16,
            alpha=lam,
            fit_algorithm="cd",
            dict_init=init.T.copy(),
            code_init=np.zeros((200, 16)),
            max_iter=300,
            tol=1e-9,
            random_state=0,
        ).fit(Y.T)
    theirs = with_dictionary(sk.components_.T, lam).decompose(Y, tol=1e-12).objective.sum()
    np.testing.assert_allclose(theirs, sk.error_[-1], rtol=1e-6)
    code = decomposition.sparse_encode(Y.T, sk.components_, algorithm="lasso_cd", alpha=lam)
    sk_formula = 0.5 * np.sum((Y.T - code @ sk.components_) ** 2) + lam * np.abs(code).sum()
    np.testing.assert_allclose(theirs, sk_formula, rtol=1e-6)
    model = RobustDictionaryLearning(16, lam).fit(Y, dict_init=init, max_iter=500, tol=1e-7)
    ours = model.decompose(Y, tol=1e-12).objective.sum()
    assert ours <= theirs * 1.001


def test_anomalies_planted_on_a_real_texture_are_found():
    data = pytest.importorskip("skimage.data")
    from fastrpca.app.demo import plant_defects

    img = data.brick().astype(float) / 255
    train, test = img[:160, :160], img[256:416, 256:416]
    test, truth = plant_defects(test, n_scratches=3, n_spots=4, contrast=0.25, random_state=1)
    P = extract_patches(train, 8, 2)
    P = P - P.mean(axis=0)
    scale = P.std()
    model = RobustDictionaryLearning(64, lam=1.0, lam_s=0.5).fit(P / scale, max_iter=20)
    Q = extract_patches(test, 8, 2)
    Q = (Q - Q.mean(axis=0)) / scale
    codes = model.decompose(Q, tol=1e-4)
    score = patches_to_image(np.abs(codes.s), test.shape, 8, 2)
    assert fastrpca.roc_auc(truth, score) > 0.9
    best_f1 = 0.0
    for tau in np.quantile(score, [0.9, 0.95, 0.97, 0.98, 0.99]):
        p, r = fastrpca.precision_recall(truth, score > tau)
        best_f1 = max(best_f1, 2 * p * r / (p + r) if p + r > 0 else 0.0)
    assert best_f1 > 0.5


def test_patches_mostly_anomaly_converge_in_few_sweeps():
    """The joint Newton step: at the README's settings (lam = 1, lam_s = 0.25) every patch
    a defect covers converges to tol 1e-6 within max_iter = 1000 (the slowest here: about
    600 sweeps). Coordinate descent alone zig-zags between x and s: without the step, 5 of
    these 117 patches (and 1,368 of the README's 31,625) stopped at max_iter."""
    data = pytest.importorskip("skimage.data")
    from fastrpca.app.demo import plant_defects

    img = data.brick().astype(float) / 255
    P = extract_patches(img[:128, :128], 8, 4)
    P = P - P.mean(axis=0)
    scale = P.std()
    model = RobustDictionaryLearning(64, lam=1.0, lam_s=0.25).fit(P / scale, max_iter=10)
    test, truth = plant_defects(img[256:384, 256:384], contrast=0.25, random_state=0)
    Q = extract_patches(test, 8, 2)
    covered = extract_patches(truth.astype(float), 8, 2).mean(axis=0) > 0.25
    assert covered.sum() >= 20
    Q = (Q[:, covered] - Q[:, covered].mean(axis=0)) / scale
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        codes = model.decompose(Q, max_iter=1000)
    assert codes.converged.all()
    assert np.percentile(codes.n_iter, 90) <= 100


# ---------------------------------------------------------------- conventions and errors
def test_random_state_convention_and_callback_stop():
    _, _, _, Y = planted(10, 12, 300, seed=5)
    a = RobustDictionaryLearning(12, 0.1).fit(Y, max_iter=5, tol=0.1)
    b = RobustDictionaryLearning(12, 0.1).fit(Y, max_iter=5, tol=0.1, random_state=0)
    np.testing.assert_array_equal(a.dictionary, b.dictionary)
    gen = np.random.default_rng(7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        c = RobustDictionaryLearning(12, 0.1).fit(Y, max_iter=2, random_state=gen)
        d = RobustDictionaryLearning(12, 0.1).fit(Y, max_iter=2, random_state=gen)
    assert not np.array_equal(c.dictionary, d.dictionary)
    seen = []

    def stop(info):
        seen.append((info.n_iter, info.objective, info.dictionary.shape))
        return True

    model = RobustDictionaryLearning(12, 0.1).fit(Y, callback=stop)
    assert seen == [(1, model.result.objective, (10, 12))]
    assert model.result.n_iter == 1 and not model.result.converged
    assert "callback" in model.result.message


def test_max_iter_warns_and_says_not_converged():
    _, _, _, Y = planted(10, 12, 300, seed=6)
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        model = RobustDictionaryLearning(12, 0.1).fit(Y, max_iter=2, tol=1e-12)
    assert not model.result.converged and model.result.n_iter == 2
    assert len(model.result.history["objective"]) == 2


def test_inputs_are_not_modified_and_the_dictionary_is_read_only():
    _, _, _, Y = planted(10, 12, 200, seed=7)
    Y_copy = Y.copy()
    init = np.random.default_rng(0).standard_normal((10, 12))
    init_copy = init.copy()
    model = RobustDictionaryLearning(12, 0.1, 0.5).fit(Y, dict_init=init, max_iter=30, tol=0.1)
    model.partial_fit(Y)
    model.decompose(Y)
    np.testing.assert_array_equal(Y, Y_copy)
    np.testing.assert_array_equal(init, init_copy)
    with pytest.raises(ValueError):
        model.dictionary[0, 0] = 1.0


def test_more_atoms_than_samples_and_zero_samples():
    Y = np.zeros((6, 5))
    Y[:, 0] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = RobustDictionaryLearning(8, 0.1).fit(Y, max_iter=3)
    np.testing.assert_allclose(np.linalg.norm(model.dictionary, axis=0), 1.0)
    assert np.isfinite(model.result.objective)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_components": 0}, "n_components"),
        ({"n_components": 2.5}, "n_components"),
        ({"lam": 0.0}, "lam"),
        ({"lam": -1.0}, "lam"),
        ({"lam_s": 0.0}, "lam_s"),
        ({"lam_s": np.nan}, "lam_s"),
        ({"batch_size": 0}, "batch_size"),
        ({"code_tol": 0.0}, "code_tol"),
        ({"forget": -1.0}, "forget"),
    ],
)
def test_bad_parameters_are_named(kwargs, match):
    args = {"n_components": 4, "lam": 0.1, **kwargs}
    with pytest.raises((TypeError, ValueError), match=match):
        RobustDictionaryLearning(**args)


def test_bad_data_is_refused_with_a_hint():
    model = RobustDictionaryLearning(4, 0.1)
    with pytest.raises(RuntimeError, match="fit"):
        model.decompose(np.ones((5, 3)))
    with pytest.raises(RuntimeError, match="fit"):
        model.dictionary  # noqa: B018
    with pytest.raises(ValueError, match="Y must be 2-D"):
        model.fit(np.ones(5))
    with pytest.raises(ValueError, match="no columns"):
        model.fit(np.ones((5, 0)))
    bad = np.ones((5, 3))
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(bad)
    with pytest.raises(ValueError, match="dict_init has shape"):
        model.fit(np.ones((5, 3)), dict_init=np.ones((4, 4)))
    with pytest.raises(ValueError, match="zero column"):
        model.fit(np.ones((5, 3)), dict_init=np.zeros((5, 4)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(np.random.default_rng(0).standard_normal((5, 20)), max_iter=2)
    with pytest.raises(ValueError, match=r"shape \(5, k\)"):
        model.decompose(np.ones((6, 3)))
    with pytest.raises(ValueError, match="max_iter"):
        model.fit(np.ones((5, 3)), max_iter=0)
    with pytest.raises(ValueError, match="tol"):
        model.decompose(np.ones((5, 3)), tol=0.0)


# ---------------------------------------------------------------- patches
@pytest.mark.parametrize("shape", [(20, 23), (17, 30, 3), (8, 8)])
@pytest.mark.parametrize("step", [1, 3, 5])
def test_patches_match_the_naive_loops_and_round_trip(shape, step):
    img = np.random.default_rng(0).random(shape)
    P = extract_patches(img, 8, step)
    np.testing.assert_array_equal(P, naive.extract_patches(img, 8, step))
    assert P.flags.f_contiguous
    np.testing.assert_allclose(patches_to_image(P, shape, 8, step), img, atol=1e-14)
    Q = np.random.default_rng(1).random(P.shape)
    np.testing.assert_allclose(
        patches_to_image(Q, shape, 8, step), naive.patches_to_image(Q, shape, 8, step)
    )


def test_patch_errors_are_named():
    with pytest.raises(ValueError, match="size=9"):
        extract_patches(np.ones((8, 12)), 9)
    with pytest.raises(ValueError, match="step"):
        extract_patches(np.ones((8, 12)), 4, 0)
    with pytest.raises(ValueError, match="image must be"):
        extract_patches(np.ones(12), 4)
    with pytest.raises(ValueError, match="give"):
        patches_to_image(np.ones((16, 3)), (8, 12), 4, 4)
