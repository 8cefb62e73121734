"""fastrpca.sklearn: scikit-learn's own estimator checks, agreement with scikit-learn's
estimators and paths, weights, and Robust PCA as a transformer."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn", minversion="1.6")

import sklearn.linear_model as lm  # noqa: E402
from naive import sparse as naive  # noqa: E402
from naive.rpca import planted  # noqa: E402
from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastrpca  # noqa: E402
from fastrpca import sklearn as fsk  # noqa: E402

# Tight tolerances: the checks compare fits that should be equal (sample weights against
# repeated rows, fits on permuted or sliced data) to rtol 1e-7.
CHECKED = [
    fsk.Lasso(alpha=0.01, tol=1e-10),
    fsk.ElasticNet(alpha=0.01, l1_ratio=0.3, tol=1e-10),
    fsk.LassoCV(tol=1e-10),
    fsk.ElasticNetCV(l1_ratio=[0.5, 1.0], tol=1e-10),
    fsk.RobustPCA(),
]


@parametrize_with_checks(CHECKED)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def diabetes():
    return load_diabetes(return_X_y=True)


def kkt(X, y, coef, intercept, alpha, l1_ratio=1.0, sw=None, weights=None, fit_intercept=True):
    """Largest KKT violation of scikit-learn's elastic-net objective, relative to
    alpha * l1_ratio (coefficients, and the intercept if fitted; sample and penalty
    weights)."""
    n, p = X.shape
    sw = np.ones(n) if sw is None else sw
    w = np.ones(p) if weights is None else weights
    r = y - X @ coef - intercept
    grad = X.T @ (sw * r) / sw.sum() - alpha * (1 - l1_ratio) * coef
    lam = alpha * l1_ratio * w
    on = coef != 0
    viol = np.maximum(np.abs(grad) - lam, 0)
    viol[on] = np.abs(grad[on] - lam[on] * np.sign(coef[on]))
    icpt = abs(np.sum(sw * r)) / sw.sum() if fit_intercept else 0.0
    return max(viol.max(), icpt) / (alpha * l1_ratio)


# ---------------------------------------------------------------- against scikit-learn
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.4])
def test_estimators_match_sklearn(diabetes, fit_intercept, l1_ratio):
    X, y = diabetes
    sw = np.random.default_rng(0).uniform(0.2, 3.0, len(y))
    for alpha in (0.003, 0.1):
        for weights in (None, sw):
            ours = fsk.ElasticNet(
                alpha=alpha, l1_ratio=l1_ratio, fit_intercept=fit_intercept, tol=1e-12
            ).fit(X, y, sample_weight=weights)
            ref = lm.ElasticNet(
                alpha=alpha, l1_ratio=l1_ratio, fit_intercept=fit_intercept, tol=1e-14,
                max_iter=1_000_000,
            ).fit(X, y, sample_weight=weights)  # fmt: skip
            scale = np.abs(ref.coef_).max()
            np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6 * scale)
            assert ours.intercept_ == pytest.approx(ref.intercept_, abs=1e-6 * scale)
            viol = kkt(
                X, y, ours.coef_, ours.intercept_, alpha, l1_ratio, weights, None, fit_intercept
            )
            assert viol < 1e-6
            assert 0 <= ours.n_iter_ and abs(ours.dual_gap_) <= 1e-10 * np.mean(y**2)


def test_lasso_is_elastic_net_with_l1_ratio_one_and_matches_naive(diabetes):
    X, y = diabetes
    X, y = X[:80], y[:80]
    ours = fsk.Lasso(alpha=0.05, fit_intercept=False, tol=1e-12).fit(X, y)
    enet = fsk.ElasticNet(alpha=0.05, l1_ratio=1.0, fit_intercept=False, tol=1e-12).fit(X, y)
    np.testing.assert_array_equal(ours.coef_, enet.coef_)
    x_ref = naive.weighted_cd(X, y, 0.05 * len(y), n_sweeps=3000)
    np.testing.assert_allclose(ours.coef_, x_ref, atol=1e-6 * np.abs(x_ref).max())


def test_multi_output_positive_and_float32(diabetes):
    X, y = diabetes
    Y = np.column_stack([y, -y, 0.5 * y])
    ours = fsk.Lasso(alpha=0.05, tol=1e-12).fit(X, Y)
    ref = lm.Lasso(alpha=0.05, tol=1e-14, max_iter=1_000_000).fit(X, Y)
    assert ours.coef_.shape == (3, 10) and ours.intercept_.shape == (3,)
    assert len(ours.n_iter_) == 3 and ours.dual_gap_.shape == (3,)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6 * np.abs(ref.coef_).max())
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-7, atol=1e-6)
    pos = fsk.Lasso(alpha=0.05, positive=True, tol=1e-12).fit(X, y)
    ref = lm.Lasso(alpha=0.05, positive=True, tol=1e-14, max_iter=1_000_000).fit(X, y)
    assert np.all(pos.coef_ >= 0)
    np.testing.assert_allclose(pos.coef_, ref.coef_, atol=1e-6 * np.abs(ref.coef_).max())
    f32 = fsk.Lasso(alpha=0.05).fit(X.astype(np.float32), y.astype(np.float32))
    assert f32.coef_.dtype == np.float32
    f64 = fsk.Lasso(alpha=0.05).fit(X, y)
    np.testing.assert_allclose(f32.coef_, f64.coef_, atol=1e-2 * np.abs(f64.coef_).max())


def test_penalty_weights_equal_rescaled_columns(diabetes):
    X, y = diabetes
    w = np.random.default_rng(1).uniform(0.3, 3.0, X.shape[1])
    ours = fsk.Lasso(alpha=0.05, penalty_weights=w, tol=1e-12).fit(X, y)
    scaled = fsk.Lasso(alpha=0.05, tol=1e-12).fit(X / w, y)
    np.testing.assert_allclose(ours.coef_, scaled.coef_ / w, atol=1e-8 * np.abs(ours.coef_).max())
    assert ours.intercept_ == pytest.approx(scaled.intercept_, rel=1e-10)
    assert kkt(X, y, ours.coef_, ours.intercept_, 0.05, weights=w) < 1e-6
    with pytest.raises(ValueError, match="penalty_weights has shape"):
        fsk.Lasso(penalty_weights=np.ones(3)).fit(X, y)


def test_sample_weights_equal_repeated_rows(diabetes):
    X, y = diabetes
    counts = np.random.default_rng(2).integers(0, 4, len(y))
    rep = np.repeat(np.arange(len(y)), counts)
    a = fsk.ElasticNet(alpha=0.01, l1_ratio=0.7, tol=1e-12).fit(X, y, sample_weight=counts)
    b = fsk.ElasticNet(alpha=0.01, l1_ratio=0.7, tol=1e-12).fit(X[rep], y[rep])
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-8 * np.abs(b.coef_).max())
    assert a.intercept_ == pytest.approx(b.intercept_, rel=1e-10)


def test_warm_start_and_alpha_zero(diabetes):
    X, y = diabetes
    est = fsk.Lasso(alpha=0.05, warm_start=True, tol=1e-10).fit(X, y)
    first = est.n_iter_
    est.fit(X, y)
    assert est.n_iter_ == 0 < first
    ls = fsk.Lasso(alpha=0.0).fit(X, y)
    ref = lm.LinearRegression().fit(X, y)
    np.testing.assert_allclose(ls.coef_, ref.coef_, rtol=1e-8)


def test_refit_on_the_same_or_an_edited_x(diabetes):
    # refits on the same X reuse its means and solver; an X edited in place is seen
    X, y = diabetes
    X = X.copy()
    est = fsk.Lasso(alpha=0.05, tol=1e-12)
    first = est.fit(X, y).coef_.copy()
    np.testing.assert_array_equal(est.fit(X, y).coef_, first)
    np.testing.assert_array_equal(est.fit(np.asfortranarray(X), y).coef_, first)
    X[5, 3] += 1.0
    edited = est.fit(X, y).coef_
    fresh = fsk.Lasso(alpha=0.05, tol=1e-12).fit(X.copy(), y).coef_
    np.testing.assert_array_equal(edited, fresh)
    assert not np.array_equal(edited, first)
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(X, y)


def test_convergence_warning_is_both_classes(diabetes):
    X, y = diabetes
    for category in (SklearnConvergenceWarning, fastrpca.ConvergenceWarning):
        with pytest.warns(category, match="max_iter=1"):
            fsk.Lasso(alpha=1e-4, max_iter=1, tol=1e-14).fit(X, y)


def test_in_pipeline_and_grid_search(diabetes):
    X, y = diabetes
    pipe = make_pipeline(StandardScaler(), fsk.Lasso(tol=1e-8))
    search = GridSearchCV(pipe, {"lasso__alpha": [0.01, 0.1, 1.0]}, cv=3).fit(X, y)
    ref = GridSearchCV(
        make_pipeline(StandardScaler(), lm.Lasso(tol=1e-12, max_iter=100_000)),
        {"lasso__alpha": [0.01, 0.1, 1.0]},
        cv=3,
    ).fit(X, y)
    assert search.best_params_ == ref.best_params_
    scores = search.cv_results_["mean_test_score"]
    np.testing.assert_allclose(scores, ref.cv_results_["mean_test_score"], rtol=1e-6)


# ---------------------------------------------------------------- paths
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_paths_match_sklearn(diabetes, l1_ratio):
    X, y = diabetes
    if l1_ratio == 1.0:
        ours = fsk.lasso_path(X, y, alphas=30, tol=1e-12, return_n_iter=True)
        ref = lm.lasso_path(X, y, alphas=30, tol=1e-15, max_iter=1_000_000)
    else:
        ours = fsk.enet_path(X, y, l1_ratio=0.5, alphas=30, tol=1e-12, return_n_iter=True)
        ref = lm.enet_path(X, y, l1_ratio=0.5, alphas=30, tol=1e-15, max_iter=1_000_000)
    alphas, coefs, gaps, n_iters = ours
    np.testing.assert_allclose(alphas, ref[0], rtol=1e-12)
    assert coefs.shape == (10, 30) and gaps.shape == (30,) and len(n_iters) == 30
    assert np.all(np.diff(alphas) < 0)
    n = len(y)
    for t in range(30):
        obj = lambda c: (
            np.sum((y - X @ c) ** 2) / (2 * n)
            + alphas[t] * l1_ratio * np.abs(c).sum()
            + alphas[t] * (1 - l1_ratio) / 2 * c @ c
        )
        assert obj(coefs[:, t]) <= obj(ref[1][:, t]) * (1 + 1e-10)
        assert kkt(X, y, coefs[:, t], 0.0, alphas[t], l1_ratio, fit_intercept=False) < 1e-3
    assert np.all(np.abs(gaps) <= 1e-11 * np.abs(y @ y) / n)


def test_path_given_alphas_are_sorted_and_signature_options(diabetes):
    X, y = diabetes
    alphas, coefs, _ = fsk.lasso_path(X, y, alphas=[0.1, 1.0, 0.01])
    np.testing.assert_array_equal(alphas, [1.0, 0.1, 0.01])
    single = fsk.Lasso(alpha=0.1, fit_intercept=False, tol=1e-4).fit(X, y)
    np.testing.assert_allclose(coefs[:, 1], single.coef_, atol=1e-3 * np.abs(coefs).max())
    a1, _, _ = fsk.lasso_path(X, y, n_alphas=7, eps=1e-2)
    a2, _, _ = fsk.lasso_path(X, y, alphas=7, eps=1e-2, Xy=X.T @ y)
    np.testing.assert_array_equal(a1, a2)
    assert a1[-1] == pytest.approx(1e-2 * a1[0])
    _, pos, _ = fsk.lasso_path(X, y, alphas=5, positive=True)
    assert np.all(pos >= 0)
    with pytest.raises(ValueError, match="multi-task"):
        fsk.lasso_path(X, np.column_stack([y, y]))
    with pytest.raises(ValueError, match="precompute"):
        fsk.lasso_path(X, y, precompute=X.T @ X)


# ---------------------------------------------------------------- cross-validation
def test_lasso_cv_matches_sklearn(diabetes):
    X, y = diabetes
    cv = KFold(5, shuffle=True, random_state=0)
    ours = fsk.LassoCV(cv=cv, tol=1e-12).fit(X, y)
    ref = lm.LassoCV(cv=cv, tol=1e-14, max_iter=1_000_000).fit(X, y)
    np.testing.assert_allclose(ours.alphas_, ref.alphas_, rtol=1e-12)
    np.testing.assert_allclose(ours.mse_path_, ref.mse_path_, rtol=1e-6)
    assert ours.alpha_ == pytest.approx(ref.alpha_, rel=1e-12)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6 * np.abs(ref.coef_).max())
    threaded = fsk.LassoCV(cv=cv, tol=1e-12, n_jobs=2).fit(X, y)
    np.testing.assert_array_equal(threaded.mse_path_, ours.mse_path_)


def test_elastic_net_cv_l1_ratios_and_sample_weights(diabetes):
    X, y = diabetes
    sw = np.random.default_rng(3).uniform(0.5, 2.0, len(y))
    cv = KFold(4, shuffle=True, random_state=1)
    ours = fsk.ElasticNetCV(l1_ratio=[0.2, 0.9], cv=cv, alphas=20, tol=1e-12)
    ours.fit(X, y, sample_weight=sw)
    ref = lm.ElasticNetCV(l1_ratio=[0.2, 0.9], cv=cv, alphas=20, tol=1e-14, max_iter=10**6)
    ref.fit(X, y, sample_weight=sw)
    assert ours.mse_path_.shape == (2, 20, 4) and ours.alphas_.shape == (2, 20)
    np.testing.assert_allclose(ours.alphas_, ref.alphas_, rtol=1e-12)
    np.testing.assert_allclose(ours.mse_path_, ref.mse_path_, rtol=1e-6)
    assert ours.alpha_ == pytest.approx(ref.alpha_, rel=1e-12)
    assert ours.l1_ratio_ == ref.l1_ratio_


# ---------------------------------------------------------------- Robust PCA
def test_robust_pca_recovers_the_low_rank_rows_and_scores_anomalies():
    M, L0, S0 = planted(120, 60, rank=3, fraction=0.0, seed=4)
    train = L0[:80]
    model = fsk.RobustPCA().fit(train)
    assert model.n_components_ == 3 and model.components_.shape == (3, 60)
    np.testing.assert_allclose(model.components_ @ model.components_.T, np.eye(3), atol=1e-10)
    # new rows: the low-rank rows plus a few large spikes on some rows
    test = L0[80:].copy()
    rng = np.random.default_rng(5)
    bad = rng.choice(40, 10, replace=False)
    spikes = np.zeros_like(test)
    for i in bad:
        spikes[i, rng.choice(60, 4, replace=False)] = 10 * np.abs(L0).max()
    low = model.transform(test + spikes)
    np.testing.assert_allclose(low, test, atol=1e-6 * np.abs(test).max())
    score = model.anomaly_score(test + spikes)
    assert score[bad].min() > 0 and np.all(score[np.setdiff1d(np.arange(40), bad)] == 0)
    np.testing.assert_array_equal(model.score_samples(test + spikes), -score)
    # rows are solved independently: a subset gives the same rows
    np.testing.assert_array_equal(model.transform(test[bad] + spikes[bad]), low[bad])


def test_robust_pca_float32_and_training_split():
    M, L0, S0 = planted(100, 40, rank=2, fraction=0.05, seed=6)
    model = fsk.RobustPCA().fit(M)
    assert model.n_components_ == 2
    res = fastrpca.rpca(M)
    np.testing.assert_allclose(
        model.components_.T @ model.components_ @ res.L.T, res.L.T, atol=1e-8 * np.abs(M).max()
    )
    f32 = fsk.RobustPCA().fit(M.astype(np.float32))
    assert f32.transform(M.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="threshold"):
        fsk.RobustPCA(threshold=-1.0).fit(M)


def test_only_fastrpca_sklearn_imports_scikit_learn():
    import pathlib
    import re

    root = pathlib.Path(fastrpca.__file__).parent
    pattern = re.compile(r"^\s*(from|import)\s+sklearn\b", re.M)
    users = sorted(
        str(p.relative_to(root)) for p in root.rglob("*.py") if pattern.search(p.read_text())
    )
    assert users == ["sklearn.py"]
