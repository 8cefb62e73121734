"""Side by side: fastrpca.rpca against the reference IALM and the peer libraries.

Contenders, on the same matrices, one thread for all (BLAS, OpenMP, numba), timed in
interleaved rounds (A B C A B C ...):

* ``numpy IALM (full SVD)``: a plain NumPy transcription of Lin, Chen & Ma's
  ``inexact_alm_rpca.m`` (``tests/naive/rpca.py``), the 1.0 of every ratio;
* ``numpy IALM (partial SVD)``: the same with the original's rank-prediction rule and
  PROPACK partial SVDs;
* ``fastrpca (separate passes)`` / ``fastrpca (tiled step)``: fastrpca with its
  iterations forced to one path (``fastrpca`` itself chooses by its measured rule,
  ``fastrpca.robust_pca.ialm.TILED``);
* pyrpca ``rpca_pcp_ialm``, tensorly ``robust_pca``, sporco ``RobustPCA`` (ADMM) and
  AccAltProj's ``rpca.RobustPCA``, each at the tolerance that gives the others' accuracy
  where it has one; peers that are not installed are skipped with a note.

Problems (Lin et al. 2010): square n = 500 and 1000 with rank 0.05 n and 5% / 10% of the
entries corrupted uniformly in [-500, 500]; a 20000 x 200 rank-2 "video" with 3%; 64 x 64
rank 3; n = 3000 with ``--large``. Accuracy: relative error of L and S against the planted
truth. The floor column is the time of the SVDs no IALM can avoid: one truncated SVD of
the final rank per iteration (a two-product range finder, QR, small SVD), times the
iteration count.

Real cameras (``camera_section``): sequences with known foreground masks from
``fastrpca.app.scenes`` (the static crop of OpenCV's vtest.avi at full resolution with real
objects pasted in, with and without 3 % exposure flicker; a scikit-image photograph through
a camera model with 3 % flicker), and the plain full vtest frames (576 x 768, no masks) for
time and rank. Contenders: a per-pixel median background, OpenCV's MOG2 and KNN subtractors
(one learning pass over the sequence, then the detection pass), pyrpca (exact PCP, full
SVD), GoDec (Zhou & Tao, "GoDec: randomized low-rank & sparse matrix decomposition in noisy
case", ICML 2011; a short NumPy transcription below), fastrpca's exact PCP, stable PCP
(``decompose_frames`` defaults), stable PCP with a rank cap, and ``StreamingRPCA`` (fitted
on the first 20 frames). Every score is thresholded by fastrpca's automatic rule on its
own background (``auto_threshold``; OpenCV's masks are their own); "best F1" is the
F-measure of the best single threshold on the score (an oracle).

Run: ``python -m asv_benchmarks.compare.rpca [--rounds 3] [--quick] [--large]
[--no-camera | --camera-only]``.
"""

from __future__ import annotations

import os

for _v in "OMP OPENBLAS MKL RAYON NUMBA".split():
    os.environ.setdefault(f"{_v}_NUM_THREADS", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from statistics import median  # noqa: E402

import numpy as np  # noqa: E402
import scipy.linalg as sla  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from naive.rpca import ialm, planted  # noqa: E402

import fastrpca  # noqa: E402

try:
    from ._timing import fmt_seconds, interleaved, markdown_table  # noqa: E402
except ImportError:  # run as a script
    from _timing import fmt_seconds, interleaved, markdown_table  # noqa: E402

PROBLEMS = {  # name: (m, n, rank, fraction corrupted)
    "64x64 r3 5%": (64, 64, 3, 0.05),
    "500 r25 5%": (500, 500, 25, 0.05),
    "500 r25 10%": (500, 500, 25, 0.10),
    "1000 r50 5%": (1000, 1000, 50, 0.05),
    "1000 r50 10%": (1000, 1000, 50, 0.10),
    "video 20000x200 r2 3%": (20000, 200, 2, 0.03),
    "3000 r150 5%": (3000, 3000, 150, 0.05),
}
QUICK = ("64x64 r3 5%", "500 r25 5%")
# Peers that are slow or inaccurate are run only where ANCHORS measured them.
SMALL_ONLY = {"tensorly", "sporco"}


def _quiet(fn):
    """Run a peer with its prints swallowed."""

    def run():
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()

    return run


def _tiled(mode, M):
    """fastrpca with its iterations as tiled steps (``"1"``) or separate passes (``"0"``),
    whatever its own rule would choose (``FASTRPCA_TILED``)."""
    from fastrpca.robust_pca import ialm as ialm_module

    def run():
        saved, ialm_module.TILED = ialm_module.TILED, mode
        try:
            r = fastrpca.rpca(M, random_state=0)
        finally:
            ialm_module.TILED = saved
        return r.L, r.S, r.n_iter

    return run


def contenders(M, rank):
    """name -> zero-argument callable returning (L, S, n_iter or None)."""
    m, n = M.shape
    lam = 1 / np.sqrt(max(m, n))
    out = {
        "fastrpca": lambda: (lambda r: (r.L, r.S, r.n_iter))(fastrpca.rpca(M, random_state=0)),
        "fastrpca (separate passes)": _tiled("0", M),
        "fastrpca (tiled step)": _tiled("1", M),
        "numpy IALM (full SVD)": lambda: ialm(M)[:3],
        "numpy IALM (partial SVD)": lambda: ialm(M, partial=True)[:3],
    }
    try:
        from pyrpca import rpca_pcp_ialm

        out["pyrpca"] = _quiet(lambda: (*rpca_pcp_ialm(M, lam, tol=1e-7, verbose=False), None))
    except ImportError:
        pass
    if max(m, n) <= 500:
        try:
            from tensorly.decomposition import robust_pca

            out["tensorly"] = _quiet(
                lambda: (*robust_pca(M, reg_E=lam, tol=1e-7, n_iter_max=1000), None)
            )
        except ImportError:
            pass
        try:
            from sporco.admm.rpca import RobustPCA

            def sporco_run():
                opt = RobustPCA.Options(
                    {"Verbose": False, "MaxMainIter": 2000, "RelStopTol": 1e-7, "AbsStopTol": 0}
                )
                solver = RobustPCA(M, lam, opt)
                L, S = solver.solve()
                return L, S, solver.k

            out["sporco"] = _quiet(sporco_run)
        except ImportError:
            pass
    try:
        from rpca import RobustPCA as AccAltProj

        def accaltproj():
            est = AccAltProj(n_components=rank, max_iter=200, tol=1e-7, verbose=False)
            L = est.fit(M).low_rank_
            return L, M - L, None

        out["rpca (AccAltProj)"] = _quiet(accaltproj)
    except ImportError:
        pass
    return out


def svd_floor(M, rank, n_iter, repeats=3):
    """Seconds of ``n_iter`` unavoidable truncated SVDs of rank ``rank`` on M."""
    rng = np.random.default_rng(0)
    Omega = rng.standard_normal((M.shape[1], rank))
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        Q = sla.qr(M @ Omega, mode="economic", check_finite=False)[0]
        sla.svd(Q.T @ M, full_matrices=False, check_finite=False)
        best = min(best, time.perf_counter() - t)
    return best * n_iter


def run_problem(name, rounds, only=None):
    m, n, rank, fraction = PROBLEMS[name]
    M, L0, S0 = planted(m, n, rank, fraction, seed=0)
    runs = contenders(M, rank)
    if only:  # the reference and fastrpca stay: the ratios and the floor need them
        keep = {"fastrpca", "numpy IALM (full SVD)", *only}
        runs = {k: fn for k, fn in runs.items() if k in keep}
    answers = {k: fn() for k, fn in runs.items()}  # also the untimed warm-up
    times = interleaved(runs, rounds=rounds)
    ref = median(times["numpy IALM (full SVD)"])
    it = answers["fastrpca"][2]
    floor = svd_floor(M, rank, it)
    rows = []
    for k in runs:
        L, S, n_iter = answers[k]
        t = median(times[k])
        rows.append(
            [
                name if not rows else "",
                k,
                fmt_seconds(t),
                f"{t / ref:.3g}",
                f"{ref / t:.3g}x",
                n_iter if n_iter is not None else "-",
                f"{np.linalg.norm(L - L0) / np.linalg.norm(L0):.1e}",
                f"{np.linalg.norm(S - S0) / np.linalg.norm(S0):.1e}",
                np.linalg.matrix_rank(L) if min(m, n) <= 1000 else "-",
                f"{fmt_seconds(floor)} ({floor / t:.2f})" if k == "fastrpca" else "",
            ]
        )
    return rows


# ---------------------------------------------------------------------------- real cameras


def godec(M, rank, card, *, max_iter=100, tol=1e-3, power=2, seed=0):
    """GoDec (Zhou & Tao, ICML 2011): M = L + S + G with rank(L) <= rank, card(S) <= card.

    Alternates L = the rank-``rank`` approximation of M - S (the paper's bilateral random
    projection, here a randomized range finder with ``power`` power iterations) and S = the
    ``card`` largest entries of M - L in magnitude, until the relative change of
    ``||M - L - S||_F`` is below ``tol``. Returns L, S, iterations.
    """
    rng = np.random.default_rng(seed)
    m, n = M.shape
    S = np.zeros_like(M)
    L = np.zeros_like(M)
    prev = np.inf
    norm = np.linalg.norm(M)
    for it in range(1, max_iter + 1):
        X = M - S
        Y = X @ rng.standard_normal((n, rank)).astype(M.dtype)
        for _ in range(power):
            Y = X @ (X.T @ Y)
        Q = np.linalg.qr(Y)[0]
        L = Q @ (Q.T @ X)
        R = M - L
        flat = np.abs(R).ravel()
        keep = np.argpartition(flat, flat.size - card)[flat.size - card :]
        S = np.zeros_like(M)
        S.ravel()[keep] = R.ravel()[keep]
        err = np.linalg.norm(R - S) / norm
        if abs(prev - err) < tol * err:
            break
        prev = err
    return L, S, it


def _camera_scenes(quick):
    """name -> (frames float32 (n, h, w), masks or None), or a note when unavailable."""
    from fastrpca.app import scenes

    out, notes = {}, []
    n = 40 if quick else 60
    try:
        scenes.vtest_path()
        for flicker in (0.0, 0.03):
            drift = 0.04 if flicker else 0.0
            sc = scenes.video_scene(n, seed=1, step=520 // n - 1, flicker=flicker, drift=drift)
            label = f"vtest 160x320, {n} frames" + (", 4 % drift + 3 % flicker" if flicker else "")
            out[label] = (sc.frames, sc.masks, sc.background)
        if not quick:
            out["vtest full 576x768, 50 frames (no masks)"] = (
                scenes.video_frames(50),
                None,
                None,
            )
    except (FileNotFoundError, ImportError) as exc:
        notes.append(f"vtest.avi scenes skipped: {exc}")
    try:
        size = (120, 160) if quick else (240, 320)
        sc = scenes.photo_scene(n, size, seed=1, noise=0.005, drift=0.04, flicker=0.03)
        out[f"photo {size[0]}x{size[1]}, {n} frames, 3 % flicker"] = (
            sc.frames,
            sc.masks,
            sc.background,
        )
    except ImportError as exc:
        notes.append(f"photo scene skipped: {exc}")
    return out, notes


def _camera_contenders(frames):
    """name -> zero-argument callable returning (score or None, mask, rank or None, extra)."""
    from fastrpca.robust_pca.frames import auto_threshold, score_and_mask

    n = frames.shape[0]
    # pyrpca, GoDec and exact PCP only up to 8e6 entries: on the full 576 x 768 frames
    # exact PCP's rank explodes and each run takes minutes (the 81 s and 160 s)
    M = fastrpca.frames_to_matrix(frames)

    def thresholded(L, rank, extra=""):
        background = fastrpca.matrix_to_frames(L, frames.shape[1:])
        th = auto_threshold(frames, background)
        score, mask = score_and_mask(frames, background, th)
        return score, mask, rank, extra

    def median_background():
        med = np.median(frames, axis=0)
        background = np.broadcast_to(med, frames.shape)
        th = auto_threshold(frames, background)
        score, mask = score_and_mask(frames, background, th)
        return score, mask, 1, ""

    runs = {"median background": median_background}
    try:
        import cv2

        cv2.setNumThreads(1)

        def subtractor(kind):
            def run():
                u8 = np.clip(np.rint(frames * 255), 0, 255).astype(np.uint8)
                sub = (
                    cv2.createBackgroundSubtractorMOG2(detectShadows=False)
                    if kind == "MOG2"
                    else cv2.createBackgroundSubtractorKNN(detectShadows=False)
                )
                for f in u8:  # learning pass
                    sub.apply(f)
                mask = np.stack([sub.apply(f) for f in u8]) > 127
                return None, mask, None, ""

            return run

        runs["OpenCV MOG2"] = subtractor("MOG2")
        runs["OpenCV KNN"] = subtractor("KNN")
    except ImportError:
        pass
    try:
        from pyrpca import rpca_pcp_ialm

        def pyrpca_run():
            L, _ = _quiet(lambda: rpca_pcp_ialm(M.astype(np.float64), 1 / np.sqrt(max(M.shape))))()
            return thresholded(L.astype(frames.dtype), int(np.linalg.matrix_rank(L)))

        if M.size <= 8e6:
            runs["pyrpca (exact PCP, full SVD)"] = pyrpca_run
    except ImportError:
        pass

    def godec_run():
        L, _, it = godec(M, rank=2, card=int(0.1 * M.size))
        return thresholded(L, 2, f"{it} it")

    if M.size <= 8e6:
        runs["GoDec (rank 2, 10 % sparse)"] = godec_run

    def fr_exact():
        r = fastrpca.rpca(M, random_state=0)
        return thresholded(r.L, r.rank, f"{r.n_iter} it")

    if M.size <= 8e6:
        runs["fastrpca exact PCP"] = fr_exact

    def fr_stable(rank=None):
        def run():
            dec = fastrpca.decompose_frames(frames, rank=rank, random_state=0)
            r = dec.result
            return dec.score, dec.mask, r.rank, f"{r.n_iter} it"

        return run

    runs["fastrpca stable PCP"] = fr_stable()
    runs["fastrpca stable PCP, rank <= 3"] = fr_stable(3)

    def stream():
        n0 = 20
        st = fastrpca.StreamingRPCA().fit(frames[:n0], random_state=0)
        B = np.empty_like(frames)
        B[:n0] = fastrpca.matrix_to_frames(st.init_result.L, frames.shape[1:])
        start = time.perf_counter()
        for t in range(n0, n):
            B[t] = st.process(frames[t])[0]
        per_frame = (time.perf_counter() - start) / (n - n0)
        th = auto_threshold(frames, B)
        score, mask = score_and_mask(frames, B, th)
        return score, mask, st.rank_, f"{per_frame * 1e3:.1f} ms/frame"

    runs["fastrpca StreamingRPCA (fit 20)"] = stream
    return runs


def camera_section(rounds, quick=False):
    """The real-camera table (Markdown) and its notes."""
    from fastrpca.robust_pca.metrics import best_f_measure, cdnet_metrics

    scenes_, notes = _camera_scenes(quick)
    rows = []
    for name, (frames, masks, background) in scenes_.items():
        runs = _camera_contenders(frames)
        answers = {k: fn() for k, fn in runs.items()}  # also the untimed warm-up
        times = interleaved(runs, rounds=rounds)
        base = median(times["median background"])
        if masks is not None:
            oracle = best_f_measure(masks, np.abs(frames - background))[0]
        for k in runs:
            score, mask, rank, extra = answers[k]
            t = median(times[k])
            if masks is not None:
                c = cdnet_metrics(masks, mask)
                best = f"{best_f_measure(masks, score)[0]:.3f}" if score is not None else "-"
                quality = [f"{c['f_measure']:.3f}", f"{c['precision']:.3f}", f"{c['recall']:.3f}"]
                quality.append(best)
            else:
                quality = ["-", "-", "-", "-"]
            rows.append(
                [
                    (name + (f" (oracle F1 {oracle:.3f})" if masks is not None else ""))
                    if k == "median background"
                    else "",
                    k,
                    fmt_seconds(t),
                    f"{t / base:.2f}",
                    *quality,
                    rank if rank is not None else "-",
                    extra,
                ]
            )
        print(f"done camera {name}", file=sys.stderr, flush=True)
    header = [
        "scene",
        "contender",
        "median",
        "time / median bg",
        "F1 (auto)",
        "precision",
        "recall",
        "best F1",
        "rank L",
        "notes",
    ]
    return markdown_table(header, rows), notes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="two small problems only")
    parser.add_argument("--large", action="store_true", help="add n = 3000")
    parser.add_argument("--problems", nargs="*", help="names from PROBLEMS")
    parser.add_argument("--no-camera", action="store_true", help="skip the real-camera table")
    parser.add_argument("--camera-only", action="store_true", help="only the real-camera table")
    parser.add_argument(
        "--contenders",
        nargs="*",
        help="run only these contenders (beside fastrpca and the NumPy reference)",
    )
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    if args.camera_only:
        fastrpca.warmup()
        with threadpool_limits(1):
            _print_camera(args)
        return

    names = args.problems or (
        QUICK if args.quick else [p for p in PROBLEMS if args.large or not p.startswith("3000")]
    )
    missing = [
        p
        for p in ("pyrpca", "tensorly", "sporco", "rpca")
        if __import__("importlib").util.find_spec(p) is None
    ]
    fastrpca.warmup()
    rows = []
    with threadpool_limits(1):
        for name in names:
            rows += run_problem(name, args.rounds, args.contenders)
            print(f"done {name}", file=sys.stderr, flush=True)
    header = [
        "problem",
        "contender",
        "median",
        "time ratio",
        "speed-up",
        "iters",
        "rel err L",
        "rel err S",
        "rank L",
        "SVD floor (floor / time)",
    ]
    print(
        f"Robust PCA, median of {args.rounds} interleaved rounds, one BLAS thread, "
        f"{time.strftime('%Y-%m-%d')}; ratios are to the NumPy IALM with full SVD.\n"
    )
    print(markdown_table(header, rows))
    if missing:
        print(f"\nNot installed, skipped: {', '.join(missing)}.")
    if not args.no_camera:
        with threadpool_limits(1):
            _print_camera(args)


def _print_camera(args):
    table, notes = camera_section(args.rounds, quick=args.quick)
    print(
        f"\n### Real cameras\n\nMedian of {args.rounds} interleaved rounds, one thread for "
        "every contender (BLAS, numba, OpenCV); time ratios are to the per-pixel median "
        "background (median, score and threshold). F1, precision and recall per pixel "
        "against the pasted objects' masks, every score thresholded by fastrpca's automatic "
        "rule on its own background; best F1: the best single threshold on the score.\n"
    )
    print(table)
    for note in notes:
        print(f"\n{note}")


if __name__ == "__main__":
    main()
