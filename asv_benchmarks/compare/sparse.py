"""Side by side: fastrpca's lasso against scikit-learn, skglm, celer, SPAMS, pyproximal.

Three problems (ANCHORS section 3): one signal with a 64 x 256 dictionary, 1000 signals
with that dictionary, and a Gaussian 1000 x 5000 design at lam = 0.05 lam_max. Everyone
solves 1/2||Ax - y||^2 + lam ||x||_1 (penalties converted), BLAS held at one thread via
threadpoolctl. Each peer's tolerance is calibrated first: the loosest setting whose
relative objective gap (P(x) - P*) / P* is below 1e-6, P* from fastrpca at tol=1e-12
(its duality gap certifies it). Timing is interleaved (see ``_timing``). Peers that are
not installed are skipped with a note.

Run: ``python -m asv_benchmarks.compare.sparse [--quick]``.
"""

from __future__ import annotations

import argparse
import importlib
import warnings
from statistics import median

import numpy as np
from threadpoolctl import threadpool_limits

try:
    from ._timing import fmt_seconds, interleaved, markdown_table
except ImportError:  # run as a script
    from _timing import fmt_seconds, interleaved, markdown_table

import fastrpca.sparse as sp

TARGET = 1e-6
TOLS = [10.0**-e for e in range(3, 15)]


def dictionary_problem(k, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((64, 256))
    A /= np.linalg.norm(A, axis=0)
    X = np.zeros((256, k))
    for c in range(k):
        X[rng.choice(256, 8, replace=False), c] = rng.standard_normal(8)
    Y = A @ X + 0.01 * rng.standard_normal((64, k))
    return A, (Y[:, 0].copy() if k == 1 else np.asfortranarray(Y))


def gaussian_problem(seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((1000, 5000))
    x = np.zeros(5000)
    x[rng.choice(5000, 50, replace=False)] = rng.standard_normal(50)
    return A, A @ x + 0.5 * rng.standard_normal(1000)


def objective(A, Y, X, lam):
    R = A @ X - Y
    return 0.5 * np.sum(R * R, axis=0) + lam * np.abs(X).sum(axis=0)


# ---------------------------------------------------------------- peers
def peer_makers(A, Y, lam):
    """name -> (make(tol) -> callable returning X, or None if missing, note)."""
    m = A.shape[0]
    batch = Y.ndim == 2
    makers, notes = {}, []

    def have(mod):
        try:
            return importlib.import_module(mod)
        except Exception:  # noqa: BLE001
            notes.append(f"{mod} not installed: skipped")
            return None

    Af = np.asfortranarray(A)
    lm = have("sklearn.linear_model")
    if lm is not None:

        def sk(tol):
            est = lm.Lasso(
                alpha=lam / m, fit_intercept=False, tol=tol, max_iter=100_000, precompute=False
            )
            return lambda: est.fit(Af, Y).coef_.T

        makers["scikit-learn Lasso"] = sk
    for mod, cls, label in (("skglm", "Lasso", "skglm"), ("celer", "Lasso", "celer")):
        lib = have(mod)
        if lib is None:
            continue

        def make(tol, lib=lib, cls=cls):
            est = getattr(lib, cls)(alpha=lam / m, fit_intercept=False, tol=tol, max_iter=1000)

            def run():
                if not batch:
                    return est.fit(Af, Y).coef_
                return np.column_stack(
                    [est.fit(Af, Y[:, c]).coef_.copy() for c in range(Y.shape[1])]
                )

            return run

        makers[label] = make
    spams = have("spams")
    if spams is not None:
        Yf = np.asfortranarray(Y.reshape(m, -1))

        def sp_lars(tol):
            # LARS is exact up to rounding: tol is not used
            return lambda: (
                spams.lasso(Yf, D=Af, lambda1=lam, mode=2, numThreads=1)
                .toarray()
                .reshape(A.shape[1], -1)
                .squeeze()
            )

        makers["SPAMS LARS"] = sp_lars
    if not batch and A.shape[1] <= 256:
        pyprox = have("pyproximal")
        pylops = have("pylops")
        if pyprox is not None and pylops is not None:

            def pp(tol):
                op = pylops.MatrixMult(A)
                l2 = pyprox.L2(Op=op, b=Y)
                l1 = pyprox.L1(sigma=lam)
                step = 1.0 / np.linalg.norm(A, 2) ** 2
                n = int(np.ceil(1 / tol))
                return lambda: pyprox.optimization.primal.ProximalGradient(
                    l2,
                    l1,
                    x0=np.zeros(A.shape[1]),
                    tau=step,
                    niter=n,
                    acceleration="fista",
                    show=False,
                )

            makers["pyproximal FISTA"] = pp
    return makers, notes


def calibrate(make, A, Y, lam, p_star, tols):
    """The loosest tol reaching the target relative objective gap (None if none do)."""
    for tol in tols:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn = make(tol)
            X = np.asarray(fn())
        X = X.reshape(A.shape[1], -1)
        rel = np.max((objective(A, Y.reshape(A.shape[0], -1), X, lam) - p_star) / p_star)
        if rel < TARGET:
            return fn, rel, tol
    return None, rel, tols[-1]


def run_problem(name, A, Y, lam, rounds, per_signal, notes_out, quick):
    ref = sp.lasso(A, Y, lam, tol=1e-12, max_iter=100_000)
    p_star = np.atleast_1d(ref.objective)
    k = 1 if Y.ndim == 1 else Y.shape[1]
    contenders, acc = {}, {}
    solver1 = sp.LassoSolver(A, n_jobs=1)
    ours = {"fastrpca.lasso": lambda: sp.lasso(A, Y, lam).x}  # batches: threads on
    if k == 1:
        out = np.empty(A.shape[1])
        ours["fastrpca LassoSolver (out=, check_finite=False)"] = lambda: (
            solver1.solve(Y, lam, out=out, check_finite=False).x
        )

        def cold():  # a dictionary never seen before: the solver is built in the call
            sp.clear_cache()
            return sp.lasso(A, Y, lam).x

        ours["fastrpca.lasso, cache cleared each call"] = cold
    else:
        out = np.empty((A.shape[1], k), order="F")
        solver2 = sp.LassoSolver(A, n_jobs=2)
        ours["fastrpca LassoSolver, 1 thread"] = lambda: solver1.solve(Y, lam, out=out).x
        ours["fastrpca LassoSolver, 2 threads"] = lambda: solver2.solve(Y, lam, out=out).x
    for label, fn in ours.items():
        X = np.asarray(fn()).reshape(A.shape[1], -1)
        acc[label] = np.max((objective(A, Y.reshape(A.shape[0], -1), X, lam) - p_star) / p_star)
        contenders[label] = fn
    makers, notes = peer_makers(A, Y, lam)
    notes_out += [f"{name}: {n}" for n in notes]
    for label, make in makers.items():
        if quick and label.startswith(("skglm", "celer")) and k > 1:
            notes_out.append(f"{name}: {label} skipped in --quick")
            continue
        tols = (
            [1e-3]
            if label == "SPAMS LARS"
            else ([1e-2, 1e-3] if label.startswith("pyproximal") else TOLS)
        )
        fn, rel, tol = calibrate(make, A, Y, lam, p_star, tols)
        if fn is None:
            notes_out.append(
                f"{name}: {label} did not reach relative gap {TARGET:g} (best {rel:.1e}); left out"
            )
            continue
        contenders[label] = fn
        acc[label] = (rel, tol)
    times = interleaved(contenders, rounds=rounds, min_time=0.05)
    med = {n: median(t) / (k if per_signal else 1) for n, t in times.items()}
    base = med["fastrpca.lasso"]
    rows = []
    for label in contenders:
        a = acc[label]
        rel, tol = (a, "-") if not isinstance(a, tuple) else a
        rows.append(
            [
                label,
                fmt_seconds(med[label]),
                f"{med[label] / base:.2f}",
                f"{max(rel, 0):.1e}",
                tol if tol == "-" else f"{tol:g}",
            ]
        )
    unit = "per signal" if per_signal else "per call"
    return f"### {name}\n\n" + markdown_table(
        [
            "solver",
            f"median time {unit}",
            "time / fastrpca.lasso",
            "rel. objective gap",
            "peer tol",
        ],
        rows,
    )


def methods_table(problems):
    """Iterations and time of each fastrpca method on each problem."""
    rows = []
    for name, A, Y, lam in problems:
        for method in ("cd", "fista", "ista", "admm"):
            solver = sp.LassoSolver(A, method=method, n_jobs=1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = solver.solve(Y, lam)
                times = interleaved({"m": lambda: solver.solve(Y, lam)}, rounds=3, min_time=0.02)[
                    "m"
                ]
            k = 1 if Y.ndim == 1 else Y.shape[1]
            rows.append(
                [
                    name,
                    res.method,
                    f"{np.mean(res.n_iter):.1f}",
                    fmt_seconds(median(times) / k) + (" / signal" if k > 1 else ""),
                    "yes" if np.all(res.converged) else "no",
                ]
            )
    return markdown_table(["problem", "method", "iterations (mean)", "time", "converged"], rows)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, 100 signals")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    rounds = 3 if args.quick else args.rounds
    notes: list[str] = []
    with threadpool_limits(1):
        A1, y1 = dictionary_problem(1)
        lam1 = 0.1 * sp.lam_max(A1, y1)
        Ab, Yb = dictionary_problem(100 if args.quick else 1000, seed=1)
        lamb = 0.1 * float(np.median(sp.lam_max(Ab, Yb)))
        Ag, yg = gaussian_problem()
        lamg = 0.05 * sp.lam_max(Ag, yg)
        parts = [
            run_problem(
                "One signal, dictionary 64 x 256, lam = 0.1 lam_max",
                A1,
                y1,
                lam1,
                rounds,
                False,
                notes,
                args.quick,
            ),
            run_problem(
                f"{Yb.shape[1]} signals, one 64 x 256 dictionary",
                Ab,
                Yb,
                lamb,
                rounds,
                True,
                notes,
                args.quick,
            ),
            run_problem(
                "Gaussian 1000 x 5000, lam = 0.05 lam_max",
                Ag,
                yg,
                lamg,
                rounds,
                False,
                notes,
                args.quick,
            ),
            "### fastrpca methods\n\n"
            + methods_table(
                [
                    ("64 x 256", A1, y1, lam1),
                    ("64 x 256 batch", Ab, Yb[:, :100], lamb),
                    ("1000 x 5000", Ag, yg, lamg),
                ]
            ),
        ]
    text = "\n\n".join(parts)
    if notes:
        text += "\n\nNotes:\n" + "\n".join(f"- {n}" for n in notes)
    print(text)
    return text


if __name__ == "__main__":
    main()
