"""asv benchmarks for fastrpca.LearnedRPCA (trained layers with a safeguard) against rpca.

Per problem class (the planted problems of ``rpca.py``): a model of K = 8 or 10 factor
layers (and, for the small class, the unrolled-IALM variant) is trained on 16 or 32
problems; 20
held-out problems of the same class are solved by the model and by ``fastrpca.rpca`` at
the largest tolerance of a grid whose worst relative error of L is no worse than the
model's (or 1e-3): the time per call compares the two at equal accuracy, which the
``track_`` benchmarks show next to it, with the training time and how often the safeguard
had to continue with IALM.
"""

import time
import warnings

import numpy as np

import fastrpca
from fastrpca.robust_pca import LearnedRPCA, RPCAWorkspace, planted_problems
from fastrpca.robust_pca import learned as flearned

# name: (shape, rank, layers, training problems, variants); 5% of entries corrupted,
# uniform in [-500, 500]
PROBLEMS = {
    "64x64 r3 5%": ((64, 64), 3, 10, 32, ("factor", "ialm")),
    "200 r10 5%": ((200, 200), 10, 8, 16, ("factor",)),
}
CASES = [f"{p} {v}" for p, (*_, vs) in PROBLEMS.items() for v in vs]
N_TEST = 20
RPCA_TOLS = (1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6, 1e-7)


def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _case(name):
    problem, variant = name.rsplit(" ", 1)
    shape, rank, layers, n_train, _ = PROBLEMS[problem]
    return shape, rank, layers, n_train, variant


def _build(name):
    """Train a model, find rpca's tolerance at equal accuracy; everything track_ needs."""
    shape, rank, layers, n_train, variant = _case(name)
    M, L0, _ = planted_problems(n_train, shape, rank, random_state=1)
    start = time.process_time()  # CPU time: the training's own cost on a shared machine
    model = LearnedRPCA(n_layers=layers, variant=variant).fit(M, L0)
    fit_time = time.process_time() - start
    Mt, Lt, _ = planted_problems(N_TEST, shape, rank, random_state=2)
    results = [model.solve(Mi) for Mi in Mt]
    errors = [_rel(r.L, Li) for r, Li in zip(results, Lt)]
    target = max(1e-3, max(errors))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for tol in RPCA_TOLS:
            ref = [_rel(fastrpca.rpca(Mi, tol=tol).L, Li) for Mi, Li in zip(Mt, Lt)]
            if max(ref) <= target:
                break
    return {
        "model": model,
        "fit_time": fit_time,
        "errors": errors,
        "safeguard_calls": sum(r.safeguard_iter > 0 for r in results),
        "rpca_tol": tol,
        "rpca_errors": ref,
    }


class LearnedVsRPCA:
    """Time per call on the held-out problems: the model, and rpca at equal accuracy."""

    params = [CASES]
    param_names = ["case"]
    timeout = 1800

    def setup_cache(self):
        flearned._warmup()
        return {name: _build(name) for name in CASES}

    def setup(self, cache, case):
        shape, rank, *_ = _case(case)
        self.model = cache[case]["model"]
        self.tol = cache[case]["rpca_tol"]
        self.Mt, _, _ = planted_problems(N_TEST, shape, rank, random_state=2)
        self.ws = RPCAWorkspace()
        self.rws = RPCAWorkspace()
        for M in self.Mt[:2]:  # warm: buffers, numba dispatch, threadpoolctl
            self.model.solve(M, workspace=self.ws)
            fastrpca.rpca(M, tol=self.tol, workspace=self.rws)

    def time_learned_20_calls(self, cache, case):
        for M in self.Mt:
            self.model.solve(M, workspace=self.ws, check_finite=False)

    def time_rpca_equal_accuracy_20_calls(self, cache, case):
        for M in self.Mt:
            fastrpca.rpca(M, tol=self.tol, workspace=self.rws, check_finite=False)

    def peakmem_learned_solve(self, cache, case):
        self.model.solve(self.Mt[0])

    def track_training_cpu_seconds(self, cache, case):
        return cache[case]["fit_time"]

    track_training_cpu_seconds.unit = "seconds"

    def track_learned_median_error_L(self, cache, case):
        return float(np.median(cache[case]["errors"]))

    def track_learned_max_error_L(self, cache, case):
        return float(np.max(cache[case]["errors"]))

    def track_safeguard_calls_of_20(self, cache, case):
        return cache[case]["safeguard_calls"]

    def track_rpca_tol_at_equal_accuracy(self, cache, case):
        return cache[case]["rpca_tol"]

    def track_rpca_max_error_L(self, cache, case):
        return float(np.max(cache[case]["rpca_errors"]))
