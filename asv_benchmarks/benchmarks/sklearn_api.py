"""asv benchmarks for fastrpca.sklearn (paths, cross-validation, estimators) and the
weighted / complex lasso kernels (JIT warmed in setup).

The side-by-side against scikit-learn, skglm and celer is in
``compare/sparse.py --sections sklearn``; here fastrpca's own times, memory and accuracy
are tracked commit to commit.
"""

import warnings

import numpy as np

import fastrpca.sparse as sp

try:
    import fastrpca.sklearn as fsk
except ImportError:  # scikit-learn missing: the estimator benchmarks are skipped
    fsk = None


def _need_sklearn():
    if fsk is None:
        raise NotImplementedError("scikit-learn is not installed")


def _gaussian(m, n, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    x = np.zeros(n)
    k = max(n // 100, 1)
    x[rng.choice(n, k, replace=False)] = rng.standard_normal(k)
    return A, A @ x + 0.5 * rng.standard_normal(m) + offset


def _dictionary(seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((64, 256))
    A /= np.linalg.norm(A, axis=0)
    x = np.zeros(256)
    x[rng.choice(256, 8, replace=False)] = rng.standard_normal(8)
    return A, A @ x + 0.01 * rng.standard_normal(64) + 1.0


class LassoPath:
    """A 100-value lasso path (scikit-learn's default grid, eps = 1e-3)."""

    params = [[(200, 800), (1000, 5000)]]
    param_names = ["shape"]
    timeout = 600

    def setup(self, shape):
        _need_sklearn()
        sp._warmup()
        self.A, self.y = _gaussian(*shape)
        fsk.lasso_path(self.A[:20, :40], self.y[:20], alphas=3)  # the wrappers, warm
        self.result = sp.LassoSolver(self.A, tol=1e-4).path(self.y, self._lams())

    def _lams(self):
        lmax = sp.lam_max(self.A, self.y)
        return lmax * np.geomspace(1.0, 1e-3, 100)

    def time_lasso_path(self, shape):
        fsk.lasso_path(self.A, self.y, alphas=100)

    def time_solver_path(self, shape):
        sp.LassoSolver(self.A, tol=1e-4).path(self.y, self._lams())

    def peakmem_lasso_path(self, shape):
        fsk.lasso_path(self.A, self.y, alphas=100)

    def track_largest_relative_gap(self, shape):
        r = self.result
        return float(np.max(r.dual_gap / r.objective))

    def track_total_sweeps(self, shape):
        return int(self.result.n_iter.sum())


class LassoCrossValidation:
    """LassoCV: 5 folds x 100 alphas, then the refit."""

    params = [[(100, 300), (500, 2000)], [1, 2]]
    param_names = ["shape", "n_jobs"]
    timeout = 600

    def setup(self, shape, n_jobs):
        _need_sklearn()
        sp._warmup()
        self.X, self.y = _gaussian(*shape, seed=1, offset=3.0)
        fsk.LassoCV(cv=2, alphas=3).fit(self.X[:20, :30], self.y[:20])

    def time_lasso_cv(self, shape, n_jobs):
        fsk.LassoCV(n_jobs=n_jobs).fit(self.X, self.y)

    def track_refit_relative_gap(self, shape, n_jobs):
        est = fsk.LassoCV(n_jobs=n_jobs).fit(self.X, self.y)
        obj = np.sum((self.y - self.X @ est.coef_ - est.intercept_) ** 2) / (2 * len(self.y))
        return float(est.dual_gap_ / (obj + est.alpha_ * np.abs(est.coef_).sum()))


class Estimators:
    """One fit (intercept included) on the 64 x 256 dictionary, and a prediction."""

    params = [["Lasso", "ElasticNet"], [True, False]]
    param_names = ["estimator", "same_X"]

    def setup(self, estimator, same_X):
        _need_sklearn()
        sp._warmup()
        self.X, self.y = _dictionary()
        Xc, yc = self.X - self.X.mean(axis=0), self.y - self.y.mean()
        alpha = 0.1 * float(np.abs(Xc.T @ yc).max()) / 64
        cls = getattr(fsk, estimator)
        self.est = cls(alpha=alpha) if estimator == "Lasso" else cls(alpha=alpha, l1_ratio=0.7)
        self.est.fit(self.X, self.y)

    def time_fit(self, estimator, same_X):
        if not same_X:  # a dictionary never seen before: centring and solver built here
            sp.clear_cache()
        self.est.fit(self.X, self.y)

    def time_predict(self, estimator, same_X):
        self.est.predict(self.X)

    def track_n_iter(self, estimator, same_X):
        return int(self.est.fit(self.X, self.y).n_iter_)


class WeightedAndComplex:
    """The lasso kernels with penalty weights, sample weights and complex data."""

    params = [["weights", "sample_weight", "complex"]]
    param_names = ["case"]

    def setup(self, case):
        sp._warmup()
        rng = np.random.default_rng(2)
        A = rng.standard_normal((64, 256))
        x = np.zeros(256)
        x[rng.choice(256, 8, replace=False)] = rng.standard_normal(8)
        self.w = rng.uniform(0.5, 2.0, 256) if case == "weights" else None
        sw = rng.uniform(0.5, 2.0, 64) if case == "sample_weight" else None
        if case == "complex":
            A = A + 1j * rng.standard_normal((64, 256))
            x = x * np.exp(2j * np.pi * rng.random(256))
        self.y = A @ x + 0.01 * rng.standard_normal(64)
        self.solver = sp.LassoSolver(A, sample_weight=sw)
        self.lam = 0.1 * float(np.abs(A.conj().T @ self.y).max())
        self.out = np.empty(256, dtype=A.dtype)
        self.solver.solve(self.y, self.lam, penalty_weights=self.w, out=self.out)

    def time_solve(self, case):
        self.solver.solve(
            self.y, self.lam, penalty_weights=self.w, out=self.out, check_finite=False
        )

    def track_n_iter(self, case):
        return int(self.solver.solve(self.y, self.lam, penalty_weights=self.w).n_iter)

    def track_relative_gap(self, case):
        res = self.solver.solve(self.y, self.lam, penalty_weights=self.w)
        return float(res.dual_gap / res.objective)


class RobustPCATransformer:
    """RobustPCA: fit on 400 rows of 200 features (rank 5, 5 % corrupted), transform."""

    timeout = 300

    def setup(self):
        _need_sklearn()
        rng = np.random.default_rng(3)
        L = rng.standard_normal((500, 5)) @ rng.standard_normal((5, 200))
        S = np.where(rng.random(L.shape) < 0.05, 20.0 * rng.standard_normal(L.shape), 0.0)
        self.train, self.test = (L + S)[:400], (L + S)[400:]
        self.model = fsk.RobustPCA().fit(self.train)

    def time_fit(self):
        fsk.RobustPCA().fit(self.train)

    def time_transform(self):
        self.model.transform(self.test)

    def track_n_components(self):
        return int(self.model.n_components_)


warnings.filterwarnings("ignore", module="fastrpca")
