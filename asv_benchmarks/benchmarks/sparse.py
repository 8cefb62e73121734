"""asv benchmarks for fastrpca.sparse (JIT warmed in setup)."""

import warnings

import numpy as np

import fastrpca.sparse as sp


def _dictionary(k, n=256, m=64, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    A /= np.linalg.norm(A, axis=0)
    X = np.zeros((n, k))
    for c in range(k):
        X[rng.choice(n, 8, replace=False), c] = rng.standard_normal(8)
    Y = A @ X + 0.01 * rng.standard_normal((m, k))
    return A, (Y[:, 0].copy() if k == 1 else np.asfortranarray(Y))


def _gaussian(m, n, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    x = np.zeros(n)
    x[rng.choice(n, max(n // 100, 1), replace=False)] = rng.standard_normal(max(n // 100, 1))
    return A, A @ x + 0.5 * rng.standard_normal(m)


class LassoSingle:
    """One signal, dictionary m x n (the real-time case), each method."""

    params = ([(64, 256), (128, 512)], ["cd", "fista", "admm"])
    param_names = ["shape", "method"]

    def setup(self, shape, method):
        sp._warmup()
        self.A, self.y = _dictionary(1, n=shape[1], m=shape[0])
        self.lam = 0.1 * sp.lam_max(self.A, self.y)
        self.solver = sp.LassoSolver(self.A, method=method)
        self.out = np.empty(shape[1])
        self.solver.solve(self.y, self.lam, out=self.out)

    def time_solver(self, shape, method):
        self.solver.solve(self.y, self.lam, out=self.out, check_finite=False)

    def time_lasso_function(self, shape, method):
        sp.lasso(self.A, self.y, self.lam, method=method)

    def track_dual_gap(self, shape, method):
        return self.solver.solve(self.y, self.lam).dual_gap

    def track_n_iter(self, shape, method):
        return self.solver.solve(self.y, self.lam).n_iter


class LassoBatch:
    """k signals, one 64 x 256 dictionary."""

    params = [100, 1000]
    param_names = ["k"]

    def setup(self, k):
        sp._warmup()
        self.A, self.Y = _dictionary(k, seed=1)
        self.lam = 0.1 * float(np.median(sp.lam_max(self.A, self.Y)))
        self.solver = sp.LassoSolver(self.A)
        self.out = np.empty((self.A.shape[1], k), order="F")
        self.solver.solve(self.Y, self.lam, out=self.out)

    def time_batch(self, k):
        self.solver.solve(self.Y, self.lam, out=self.out, check_finite=False)

    def peakmem_batch(self, k):
        sp.lasso(self.A, self.Y, self.lam)

    def track_mean_n_iter(self, k):
        return float(np.mean(self.solver.solve(self.Y, self.lam).n_iter))


class LassoGaussian:
    """Gaussian design at lam = 0.05 lam_max (coordinate descent, working sets)."""

    params = [[(500, 2000), (1000, 5000)]]
    param_names = ["shape"]
    timeout = 300

    def setup(self, shape):
        sp._warmup()
        self.A, self.y = _gaussian(*shape)
        self.lam = 0.05 * sp.lam_max(self.A, self.y)
        self.solver = sp.LassoSolver(self.A)
        self.solver.solve(self.y, self.lam)

    def time_solver(self, shape):
        self.solver.solve(self.y, self.lam, check_finite=False)

    def time_lasso_function(self, shape):
        sp.lasso(self.A, self.y, self.lam)

    def peakmem_lasso_function(self, shape):
        sp.lasso(self.A, self.y, self.lam)

    def track_dual_gap(self, shape):
        return self.solver.solve(self.y, self.lam).dual_gap

    def track_n_iter(self, shape):
        return self.solver.solve(self.y, self.lam).n_iter


class Ridge:
    params = [[(64, 256), (1000, 200)]]
    param_names = ["shape"]

    def setup(self, shape):
        rng = np.random.default_rng(0)
        self.A = rng.standard_normal(shape)
        self.y = rng.standard_normal(shape[0])

    def time_ridge(self, shape):
        sp.ridge(self.A, self.y, 1.0)


class ColdStart:
    """Kernel loading from the on-disk cache in a fresh process is what asv's
    timeraw measures."""

    def timeraw_import_and_warmup(self):
        return "import fastrpca.sparse as sp; sp._warmup()"


warnings.filterwarnings("ignore", module="fastrpca")
