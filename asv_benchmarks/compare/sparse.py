"""Side by side: fastrpca's lasso against scikit-learn, skglm, celer, SPAMS, pyproximal.

Three problems (ANCHORS section 3): one signal with a 64 x 256 dictionary, 1000 signals
with that dictionary, and a Gaussian 1000 x 5000 design at lam = 0.05 lam_max. Everyone
solves 1/2||Ax - y||^2 + lam ||x||_1 (penalties converted), BLAS held at one thread via
threadpoolctl. Each peer's tolerance is calibrated first: the loosest setting whose
relative objective gap (P(x) - P*) / P* is below 1e-6, P* from fastrpca at tol=1e-12
(its duality gap certifies it). Timing is interleaved (see ``_timing``). Peers that are
not installed are skipped with a note.

The scikit-learn section (``--sections sklearn``) times :mod:`fastrpca.sklearn` against
scikit-learn, skglm and celer on what their users call: a 100-value lasso path on the
1000 x 5000 design (sklearn's default grid, eps = 1e-3), ``LassoCV`` (5 folds, 100
alphas) on a 500 x 2000 design, and one ``Lasso(alpha).fit`` (with intercept) on the
64 x 256 dictionary. Accuracy is that of every point of the path (the largest relative
objective gap over the alphas), of the cross-validation curve (the largest relative error
of ``mse_path_``) and of the fit; every contender's tolerance, fastrpca's included, is
calibrated to the loosest one reaching 1e-6 (fastrpca's default is also shown).

Run: ``python -m asv_benchmarks.compare.sparse [--quick] [--sections lasso sklearn]``.
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
#: Cross-validation: the largest relative error of the mean squared errors (mse_path_).
CV_TARGET = 1e-4
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


# ---------------------------------------------------------------- the scikit-learn API
def _scaled_objective(X, y, coefs, intercepts, alphas):
    """scikit-learn's lasso objective 1/(2n)||y - Xb - b0||^2 + alpha ||b||_1, per column."""
    R = y[:, None] - X @ coefs - intercepts
    return 0.5 * np.sum(R * R, axis=0) / X.shape[0] + alphas * np.abs(coefs).sum(axis=0)


def _calibrated(make, accuracy, tols, target):
    """(callable, accuracy, tol) for the loosest tol whose accuracy is below target."""
    acc = np.inf
    for tol in tols:
        fn = make(tol)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            acc = accuracy(fn())
        if acc < target:
            return fn, acc, tol
    return None, acc, tols[-1]


def _timed_table(
    title, makers, accuracy, rounds, notes, unit, tols, base_label, min_time, target=TARGET
):
    """Calibrate every maker, time the calibrated callables interleaved, one table."""
    contenders, acc = {}, {}
    for label, (make, own_tols) in makers.items():
        try:
            fn, a, tol = _calibrated(make, accuracy, own_tols or tols, target)
        except Exception as exc:  # noqa: BLE001 - a peer broken against this scikit-learn
            notes.append(f"{title}: {label} failed ({type(exc).__name__}: {exc}); left out")
            continue
        if fn is None:
            notes.append(f"{title}: {label} did not reach {target:g} (best {a:.1e}); left out")
            continue
        contenders[label], acc[label] = fn, (a, tol)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        times = interleaved(contenders, rounds=rounds, min_time=min_time)
    med = {k: median(v) for k, v in times.items()}
    base = med.get(base_label) or min(med.values())
    rows = [
        [label, fmt_seconds(med[label]), f"{med[label] / base:.2f}", f"{max(a, 0):.1e}", f"{t:g}"]
        for label, (a, t) in acc.items()
    ]
    header = ["contender", f"median time {unit}", f"time / {base_label}", "accuracy", "tol"]
    return f"### {title}\n\n" + markdown_table(header, rows)


def _peer(mod, notes, title):
    try:
        return importlib.import_module(mod)
    except Exception:  # noqa: BLE001
        notes.append(f"{title}: {mod} not installed: skipped")
        return None


def sklearn_path_table(A, y, rounds, notes, quick):
    """A 100-value lasso path: fastrpca.sklearn.lasso_path against the peers' paths."""
    import fastrpca.sklearn as fsk

    title = f"Lasso path, 100 alphas (eps = 1e-3), {A.shape[0]} x {A.shape[1]}"
    m = A.shape[0]
    Af = np.asfortranarray(A)
    amax = float(np.abs(A.T @ y).max()) / m
    alphas = np.geomspace(amax, 1e-3 * amax, 100)
    ref = sp.LassoSolver(A, tol=1e-10, max_iter=100_000).path(y, alphas * m)
    p_low = (ref.objective - ref.dual_gap) / m  # a lower bound of each optimum

    def accuracy(coefs):
        obj = _scaled_objective(A, y, np.asarray(coefs), 0.0, alphas)
        return float(np.max((obj - p_low) / p_low))

    makers = {
        "fastrpca.sklearn.lasso_path": (
            lambda tol: lambda: fsk.lasso_path(A, y, alphas=alphas, tol=tol)[1],
            None,
        ),
        "fastrpca, its default tol (1e-4)": (
            lambda tol: lambda: fsk.lasso_path(A, y, alphas=alphas)[1],
            [1e-4],
        ),
    }
    lm = _peer("sklearn.linear_model", notes, title)
    if lm is not None:
        makers["scikit-learn lasso_path"] = (
            lambda tol: lambda: lm.lasso_path(Af, y, alphas=alphas, tol=tol, max_iter=100_000)[1],
            None,
        )
    skglm = _peer("skglm", notes, title)
    if skglm is not None:

        def sg(tol):
            est = skglm.Lasso(fit_intercept=False, tol=tol, max_iter=1000)
            return lambda: est.path(Af, y, alphas)[1]

        makers["skglm Lasso.path"] = (sg, None)
    celer = _peer("celer", notes, title)
    if celer is not None:
        from celer.homotopy import celer_path

        makers["celer celer_path"] = (
            lambda tol: lambda: celer_path(Af, y, "lasso", alphas=alphas, tol=tol)[1],
            None,
        )
    tols = [10.0**-e for e in range(3, 11)]
    return _timed_table(
        title, makers, accuracy, rounds, notes, "per path", tols,
        "fastrpca.sklearn.lasso_path", 0.0,
    )  # fmt: skip


def sklearn_cv_table(X, y, rounds, notes, quick):
    """LassoCV (5 folds, 100 alphas): fastrpca.sklearn.LassoCV against the peers'."""
    import fastrpca.sklearn as fsk

    title = (
        f"LassoCV, 5 folds x 100 alphas, {X.shape[0]} x {X.shape[1]} (accuracy: largest "
        f"relative error of mse_path_, target {CV_TARGET:g}, and the reference's alpha_)"
    )
    ref = fsk.LassoCV(tol=1e-12, max_iter=100_000).fit(X, y)

    def accuracy(est):
        # the cross-validation curve against the reference's (the choice of alpha does
        # not turn on 1e-4 of the held-out error), and the same alpha_
        err = float(np.max(np.abs(est.mse_path_ - ref.mse_path_) / ref.mse_path_))
        return err if np.isclose(est.alpha_, ref.alpha_, rtol=1e-9) else np.inf

    cap = 100_000  # the same sweep / epoch cap for every contender

    def ours(tol, **options):
        return lambda: fsk.LassoCV(tol=tol, max_iter=cap, **options).fit(X, y)

    makers = {
        "fastrpca.sklearn.LassoCV": (ours, None),
        "fastrpca, its default tol (1e-4)": (ours, [1e-4]),
        "fastrpca.sklearn.LassoCV, n_jobs=2": (lambda tol: ours(tol, n_jobs=2), None),
    }
    lm = _peer("sklearn.linear_model", notes, title)
    if lm is not None:
        makers["scikit-learn LassoCV"] = (
            lambda tol: lambda: lm.LassoCV(tol=tol, max_iter=cap).fit(X, y),
            None,
        )
    celer = _peer("celer", notes, title)
    if celer is not None:
        makers["celer LassoCV"] = (lambda tol: lambda: celer.LassoCV(tol=tol).fit(X, y), None)
    tols = [10.0**-e for e in range(3, 11)]
    return _timed_table(
        title, makers, accuracy, rounds, notes, "per fit", tols,
        "fastrpca.sklearn.LassoCV", 0.0, CV_TARGET,
    )  # fmt: skip


def sklearn_fit_table(X, y, rounds, notes, quick):
    """One Lasso(alpha).fit(X, y), intercept included, on the 64 x 256 dictionary."""
    import fastrpca.sklearn as fsk

    title = f"Lasso(alpha).fit, {X.shape[0]} x {X.shape[1]}, alpha = 0.1 alpha_max"
    Xc, yc = X - X.mean(axis=0), y - y.mean()
    alpha = 0.1 * float(np.abs(Xc.T @ yc).max()) / X.shape[0]
    ref = fsk.Lasso(alpha=alpha, tol=1e-12).fit(X, y)
    p_star = float(_scaled_objective(X, y, ref.coef_[:, None], ref.intercept_, alpha)[0])

    def accuracy(est):
        obj = float(_scaled_objective(X, y, est.coef_[:, None], est.intercept_, alpha)[0])
        return (obj - p_star) / p_star

    def cold(tol):
        def fit():
            sp.clear_cache()
            return fsk.Lasso(alpha=alpha, tol=tol).fit(X, y)

        return fit

    def warm(tol):
        return lambda: fsk.Lasso(alpha=alpha, tol=tol).fit(X, y)

    makers = {
        "fastrpca.sklearn.Lasso": (warm, None),
        "fastrpca, its default tol (1e-4)": (warm, [1e-4]),
        "fastrpca, solver cache cleared each fit": (cold, None),
    }
    lm = _peer("sklearn.linear_model", notes, title)
    if lm is not None:
        makers["scikit-learn Lasso"] = (
            lambda tol: lambda: lm.Lasso(alpha=alpha, tol=tol, max_iter=100_000).fit(X, y),
            None,
        )
    for mod in ("skglm", "celer"):
        lib = _peer(mod, notes, title)
        if lib is not None:
            makers[f"{mod} Lasso"] = (
                lambda tol, lib=lib: lambda: lib.Lasso(alpha=alpha, tol=tol).fit(X, y),
                None,
            )
    tols = [10.0**-e for e in range(3, 15)]
    return _timed_table(
        title, makers, accuracy, rounds, notes, "per fit", tols, "fastrpca.sklearn.Lasso", 0.05
    )


def sklearn_section(rounds, notes, quick):
    """The three scikit-learn API tables."""
    Ag, yg = gaussian_problem()
    if quick:
        Ag, yg = Ag[:300, :1200], yg[:300]
    rng = np.random.default_rng(3)
    mc, nc = (200, 600) if quick else (500, 2000)
    Xc = rng.standard_normal((mc, nc))
    w = np.zeros(nc)
    w[rng.choice(nc, nc // 100, replace=False)] = rng.standard_normal(nc // 100)
    yc = Xc @ w + 0.5 * rng.standard_normal(mc) + 3.0
    A1, y1 = dictionary_problem(1)
    return "\n\n".join(
        [
            sklearn_path_table(Ag, yg, rounds, notes, quick),
            sklearn_cv_table(Xc, yc, rounds, notes, quick),
            sklearn_fit_table(A1, y1 + 1.0, rounds, notes, quick),
        ]
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
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=["lasso", "sklearn"],
        default=["lasso", "sklearn"],
        help="lasso: the solver tables; sklearn: paths, LassoCV and fit (fastrpca.sklearn)",
    )
    args = parser.parse_args(argv)
    rounds = 3 if args.quick else args.rounds
    notes: list[str] = []
    parts = []
    if "lasso" in args.sections:
        parts += lasso_sections(args, rounds, notes)
    if "sklearn" in args.sections:
        with threadpool_limits(1):
            parts.append(
                "### The scikit-learn API (fastrpca.sklearn)\n\n"
                + sklearn_section(min(rounds, 3), notes, args.quick)
            )
    text = "\n\n".join(parts)
    if notes:
        text += "\n\nNotes:\n" + "\n".join(f"- {n}" for n in notes)
    print(text)
    return text


def lasso_sections(args, rounds, notes):
    """The solver tables: one signal, a batch, the Gaussian design, the methods."""
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
    return parts


if __name__ == "__main__":
    main()
