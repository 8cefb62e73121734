"""The ``fastrpca`` command line (also ``python -m fastrpca``).

``fastrpca decompose`` splits a stack of frames (a folder of images, a video, an array)
into background and anomalies and writes pictures; ``fastrpca inspect`` learns the normal
texture of product images (robust dictionary learning) and maps what it cannot explain;
``fastrpca demo`` does the same as decompose on a
built-in synthetic factory line and scores the detection; ``fastrpca demo regularization``
draws the L1 versus L2 experiment. Run ``fastrpca COMMAND --help`` for the options.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import textwrap
import time
import warnings
from pathlib import Path

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

_EXIT_CODES = """\
exit codes:
  0    success
  1    the work failed: unreadable or inconsistent input (no frames, a single frame,
       frames of different sizes, a corrupt file), a missing optional dependency,
       too little memory, an output that cannot be written
  2    usage error: bad option, input path that does not exist, output that exists
  130  interrupted (Ctrl-C); nothing is left under the output name
"""

_THRESHOLD_HELP = """\
model:
  Stable principal component pursuit by default: M = L + S + E with the dense noise E
  bounded by the noise measured between consecutive frames (--delta auto), solved to
  --tol 1e-3. --delta 0 is exact PCP (M = L + S), which puts a real camera's noise into
  L (high rank, slow) or S. --rank caps the rank of the background L.

anomaly threshold:
  A pixel's score is its residual from the background, |M - L| (the RMS over the colour
  channels). It is anomalous when the score exceeds, for its background brightness bin b
  (16 bins),  tau(b) = max(k * max(sigma, sigma_b), min_contrast * (max(M) - min(M)))
  where sigma = 1.4826 * median(|R - median(R)|) is the robust noise of the residual
  R = M - L and sigma_b the same over the pixels of bin b (noise grows with brightness),
  both floored at the data's quantisation (2 q / sqrt(12), q = 1/255 for 8-bit frames)
  so that compressed video, which repeats most pixels exactly, never gets a zero
  threshold. k = 5 lets through about one Gaussian noise pixel in a million; the floor
  (1 % of the data range) keeps noise-free inputs from flagging rounding residue.
  --threshold sets tau directly.
"""


class UsageError(Exception):
    """A mistake on the command line (exit code 2)."""


class Failure(Exception):
    """The command could not be carried out (exit code 1)."""


# --------------------------------------------------------------------------- progress


class Progress:
    """Per-iteration report of the solver on stderr, used as the ``rpca`` callback.

    ``mode`` is ``"bar"`` (a redrawn bar on a terminal, a line every few seconds
    otherwise), ``"json"`` (one JSON object per line) or ``"off"``.
    """

    def __init__(self, mode: str, tol: float, stream=None, interval: float | None = None):
        self.mode = mode
        self.tol = tol
        self.stream = sys.stderr if stream is None else stream
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (0.1 if self.tty else 2.0)
        self.first = None
        self.last_emit = -math.inf
        self.drawn = False
        self.width = 0
        self._waiting = None  # the timer of the compile notice
        self._notice_shown = False
        self._started = 0.0

    def waiting(self, after: float = 2.0) -> None:
        """Say that the kernels are compiling if the first iteration has not been reported
        ``after`` seconds from now (numba compiles on first use, about a minute once;
        nothing is said with a warm cache)."""
        if self.mode != "bar":
            return
        import threading

        self._started = time.monotonic()

        def notice():
            self.stream.write(
                "fastrpca: compiling the kernels for this precision (first run only, up to "
                "a few minutes; cached after) ..."
            )
            self.stream.flush()
            self._notice_shown = True

        self._waiting = threading.Timer(after, notice)
        self._waiting.daemon = True
        self._waiting.start()

    def _stop_waiting(self) -> None:
        if self._waiting is None:
            return
        self._waiting.cancel()
        self._waiting.join()
        self._waiting = None
        if self._notice_shown:
            self.stream.write(f" {time.monotonic() - self._started:.0f} s\n")
            self.stream.flush()
            self._notice_shown = False

    def fraction(self, residual: float) -> float:
        """Progress on a log scale from the first residual down to the tolerance."""
        if self.first is None or residual <= self.tol:
            return 1.0 if residual <= self.tol else 0.0
        span = math.log(self.first / self.tol)
        if span <= 0:
            return 1.0
        return min(max(math.log(self.first / max(residual, 1e-300)) / span, 0.0), 1.0)

    def __call__(self, info) -> bool:
        self._stop_waiting()
        if self.mode == "off":
            return False
        n_iter, residual, rank, mu = info.n_iter, info.residual, info.rank, info.mu
        if self.first is None:
            self.first = max(float(residual), self.tol * 10)
        now = time.monotonic()
        if now - self.last_emit < self.interval:
            return False
        self.last_emit = now
        self._emit(n_iter, float(residual), int(rank), float(mu), final=False)
        return False

    def _emit(self, n_iter, residual, rank, mu, final):
        if self.mode == "json":
            event = {
                "event": "done" if final else "iteration",
                "n_iter": n_iter,
                "residual": residual,
                "rank": rank,
                "mu": mu,
            }
            print(json.dumps(event), file=self.stream, flush=True)
            return
        width = 24
        filled = int(round(self.fraction(residual) * width))
        line = (
            f"RPCA [{'#' * filled}{'.' * (width - filled)}] iteration {n_iter:4d}  "
            f"residual {residual:.2e} (tol {self.tol:.0e})  rank {rank}"
        )
        if self.tty:  # redraw in place, blanking what a longer previous line left
            padded = line.ljust(self.width)
            self.width = len(line)
            self.stream.write("\r" + padded + ("\n" if final else ""))
            self.drawn = not final
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self, result) -> None:
        """Report the final state (the solver does not call back on its last iteration)."""
        self._stop_waiting()
        if self.mode == "off" or result is None:
            if self.drawn:
                self.stream.write("\n")
            return
        mu = float(result.history["mu"][-1]) if len(result.history["mu"]) else 0.0
        self._emit(result.n_iter, float(result.residual), int(result.rank), mu, final=True)

    def abort(self) -> None:
        """End a half-drawn bar line before an error message."""
        self._stop_waiting()
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


# --------------------------------------------------------------------------- parser


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog):
        super().__init__(prog, max_help_position=32)


def _wrap(*paragraphs: str) -> str:
    return "\n\n".join(textwrap.fill(p, 88) for p in paragraphs)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _delta(text: str):
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or a number >= 0, got {text!r}"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number >= 0, got {text!r}")
    return value


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value

    return parse


def _size(text: str) -> tuple[int, int]:
    parts = text.lower().replace("*", "x").split("x")
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected HEIGHTxWIDTH such as 64x96, got {text!r}"
        ) from None
    if h < 16 or w < 16:
        raise argparse.ArgumentTypeError(f"frames must be at least 16x16, got {text!r}")
    return h, w


def _add_solver_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("solver (see fastrpca.rpca)")
    g.add_argument(
        "--lam",
        type=_positive_float,
        metavar="LAM",
        help="weight of ||S||_1 (default 1/sqrt(max(pixels, frames)))",
    )
    g.add_argument(
        "--delta",
        type=_delta,
        default="auto",
        metavar="DELTA",
        help="bound on the noise ||E||_F of stable PCP, in the data's units: 'auto' "
        "(default: from the noise between frames) or a number; 0 is exact PCP",
    )
    g.add_argument(
        "--rank",
        type=_int_at_least(1),
        metavar="R",
        help="cap on the rank of the background L (default: none)",
    )
    g.add_argument(
        "--tol",
        type=_positive_float,
        metavar="TOL",
        help="stop when ||M-L-S-E||/||M|| < TOL (default 1e-3; with --delta 0, 1e-6 for "
        "float32 and 1e-7 for float64)",
    )
    g.add_argument(
        "--max-iter",
        type=_int_at_least(1),
        default=1000,
        metavar="N",
        help="iteration limit (default 1000)",
    )
    g.add_argument(
        "--svd",
        choices=("auto", "full", "partial", "randomized"),
        default="auto",
        help="SVD engine (default auto)",
    )
    g.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float32",
        help="precision (default float32: half the memory, about twice as fast)",
    )
    g.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the randomized SVD (default 0: reproducible runs)",
    )
    g.add_argument(
        "--blas-threads",
        type=_int_at_least(1),
        default=1,
        metavar="N",
        help="BLAS threads during the solve (default 1: on small and medium "
        "stacks extra BLAS threads fight numba's and slow it down)",
    )


def _add_threshold_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("anomaly mask (see 'anomaly threshold' below)")
    g.add_argument(
        "--threshold",
        type=_nonneg_float,
        metavar="TAU",
        help="fixed threshold on the per-pixel score, in the data's units "
        "(images: 0..1); default automatic",
    )
    g.add_argument(
        "--threshold-k",
        type=_positive_float,
        default=5.0,
        metavar="K",
        help="noise sigmas a pixel must exceed for the automatic threshold (default 5)",
    )
    g.add_argument(
        "--min-contrast",
        type=_nonneg_float,
        default=0.01,
        metavar="F",
        help="floor of the automatic threshold as a fraction of the data range (default 0.01)",
    )


def _add_output_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output and reporting")
    g.add_argument(
        "--force",
        action="store_true",
        help="replace an existing non-empty output (only once the new one is complete)",
    )
    g.add_argument(
        "--sheet-frames",
        type=_int_at_least(1),
        default=8,
        metavar="N",
        help="frames shown in the contact sheet (default 8: the most anomalous "
        "half, the rest evenly spaced)",
    )
    g.add_argument(
        "--no-arrays",
        action="store_true",
        help="do not write decomposition.npz (L, S, score, mask as arrays)",
    )
    g.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bar and no summary text (errors are still printed)",
    )
    g.add_argument(
        "--json",
        action="store_true",
        help="print the summary as JSON on stdout; progress becomes JSON lines on stderr",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fastrpca`` command."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="fastrpca",
        formatter_class=_Formatter,
        description=_wrap(
            "Robust PCA for frames: split image stacks and video into a "
            "low-rank background and sparse anomalies (scratches, spots, "
            "passers-by), and write pictures of both."
        ),
        epilog="commands:\n"
        "  fastrpca demo                     try it: synthetic factory line with "
        "defects\n"
        "  fastrpca decompose FRAMES --out DIR   your own images, video or array\n"
        "  fastrpca inspect IMAGES --out DIR     defects on textured products\n"
        "  fastrpca demo regularization      L1 versus L2 convergence plot\n\n"
        'Images and video need the optional extra:  pip install "fastrpca[io]"\n\n' + _EXIT_CODES,
    )
    parser.add_argument("--version", action="version", version=f"fastrpca {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    dec = sub.add_parser(
        "decompose",
        formatter_class=_Formatter,
        help="background / anomaly decomposition of image stacks, video or arrays",
        description=_wrap(
            "Decompose frames into background L (low rank) and anomalies S "
            "(sparse) by Robust PCA (IALM). Each frame becomes one column of "
            "M; colour frames keep their channels as extra rows (or use "
            "--color grey)."
        ),
        epilog="input:\n"
        "  a folder of images (PNG, JPEG, TIFF, BMP, WebP; natural order, img2 "
        "before img10),\n"
        "  a list of image files (in the order given), a video (mp4, avi, mov, mkv, "
        "webm, gif),\n"
        "  or a .npy / .npz array of shape (frames, height, width[, channels]).\n"
        "  8/16-bit unsigned images are scaled to 0..1; other integer and float\n"
        "  arrays are used as they are.\n\n"
        "output folder (written under a temporary name, renamed when complete):\n"
        "  background/ foreground/ mask/   one PNG per frame (frame_00000.png ...);\n"
        "                                  foreground shows S around mid-grey\n"
        "  contact_sheet.png   original | background | anomaly | mask, sampled "
        "frames\n"
        "  convergence.png     residual and rank per iteration\n"
        "  summary.json        shapes, iterations, time, threshold, anomaly "
        "fraction per frame\n"
        "  decomposition.npz   L, S, score and mask as arrays (unless --no-arrays)\n\n"
        + _THRESHOLD_HELP
        + "\n"
        + _EXIT_CODES
        + "\nexample:\n"
        "  fastrpca decompose line_camera/ --out results --threshold-k 4\n",
    )
    dec.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="folder, image files, video or .npy/.npz array"
    )
    dec.add_argument(
        "-o",
        "--out",
        required=True,
        metavar="DIR",
        help="output folder (must not exist or be empty, unless --force)",
    )
    g = dec.add_argument_group("reading frames")
    g.add_argument(
        "--color",
        choices=("stack", "grey"),
        default="stack",
        help="colour frames: 'stack' decomposes the channels together (a frame "
        "is one column of height*width*3 values), 'grey' decomposes the "
        "luminance only (default stack)",
    )
    g.add_argument("--max-frames", type=_int_at_least(2), metavar="N", help="use at most N frames")
    g.add_argument(
        "--start",
        type=_int_at_least(0),
        default=0,
        metavar="N",
        help="skip the first N frames (default 0)",
    )
    g.add_argument(
        "--step",
        type=_int_at_least(1),
        default=1,
        metavar="N",
        help="use every N-th frame (default 1)",
    )
    g.add_argument(
        "--downsample",
        type=_int_at_least(1),
        default=1,
        metavar="F",
        help="average FxF pixel blocks first (faster on large frames)",
    )
    g.add_argument("--key", metavar="NAME", help="array to use in a .npz holding several")
    g.add_argument(
        "--truth",
        metavar="MASKS",
        help="ground-truth foreground masks of the same frames (a folder of mask images or "
        "a .npy/.npz array; nonzero = foreground; --start, --step, --max-frames and "
        "--downsample apply to them too): the summary then reports the CDnet measures (recall, "
        "specificity, FPR, FNR, PWC, precision, F-measure) and the ROC AUC",
    )
    g = dec.add_argument_group("larger than memory")
    how = g.add_mutually_exclusive_group()
    how.add_argument(
        "--out-of-core",
        dest="memory",
        action="store_const",
        const="out-of-core",
        default="auto",
        help="stream the frames into a zarr store and solve on Dask row blocks with the "
        "solver's state on disk (needs fastrpca[dask]); by default this happens by itself "
        "when the frames would not fit in memory",
    )
    how.add_argument(
        "--in-memory",
        dest="memory",
        action="store_const",
        const="in-memory",
        help="never go out of core: refuse frames that would not fit in memory",
    )
    g.add_argument(
        "--scratch",
        metavar="DIR",
        help="folder for the out-of-core store and solver state (about 3 times the "
        "frames' size as float32; default: inside the output folder, deleted at the end)",
    )
    _add_solver_options(dec)
    _add_threshold_options(dec)
    _add_output_options(dec)

    ins = sub.add_parser(
        "inspect",
        formatter_class=_Formatter,
        help="defects on textured products (robust dictionary learning)",
        description=_wrap(
            "Learn the normal texture of product images as a dictionary of small "
            "patches (robust dictionary learning: rare defects go to a sparse anomaly "
            "term instead of the atoms), then map, pixel by pixel, what the atoms cannot "
            "explain. The images need not be aligned, only their texture must repeat. "
            "Learns from the images themselves, or from --reference images of good "
            "products."
        ),
        epilog="input: as for decompose (images are converted to grey; one image is "
        "enough).\n\n"
        "output folder (written under a temporary name, renamed when complete):\n"
        "  score/ mask/        one PNG per image (score: 0 black to the sheet's top "
        "white)\n"
        "  contact_sheet.png   original | normal texture | anomaly score | mask\n"
        "  atoms.png           the learned dictionary, one tile per atom\n"
        "  summary.json        settings, learning, threshold, anomaly fraction per image\n"
        "  inspection.npz      normal, score and mask as arrays (unless --no-arrays)\n\n"
        "anomaly threshold:\n"
        "  A pixel is anomalous when its score (|S| averaged over the patches covering "
        "it)\n"
        "  exceeds  tau = max(k * sigma, min_contrast * (max - min of the images))  with\n"
        "  sigma the robust noise of the residual y - D x of every patch; --threshold "
        "sets tau.\n\n" + _EXIT_CODES + "\nexample:\n"
        "  fastrpca inspect line_camera/ --out defects --reference good_parts/\n",
    )
    ins.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="folder, image files, video or .npy/.npz array"
    )
    ins.add_argument(
        "-o",
        "--out",
        required=True,
        metavar="DIR",
        help="output folder (must not exist or be empty, unless --force)",
    )
    g = ins.add_argument_group("reading images")
    g.add_argument(
        "--reference",
        nargs="+",
        metavar="PATH",
        help="images of good products to learn from (default: the inspected images)",
    )
    g.add_argument("--max-frames", type=_int_at_least(1), metavar="N", help="use at most N images")
    g.add_argument(
        "--downsample",
        type=_int_at_least(1),
        default=1,
        metavar="F",
        help="average FxF pixel blocks first",
    )
    g = ins.add_argument_group("dictionary (see fastrpca.RobustDictionaryLearning)")
    g.add_argument(
        "--patch", type=_int_at_least(2), default=8, metavar="P", help="patch side (default 8)"
    )
    g.add_argument(
        "--step",
        type=_int_at_least(1),
        default=2,
        metavar="N",
        help="pixels between scored patches (default 2; 1 is finer and 4x slower)",
    )
    g.add_argument(
        "--atoms", type=_int_at_least(1), default=256, metavar="N", help="atoms (default 256)"
    )
    g.add_argument(
        "--lam",
        type=_positive_float,
        default=1.0,
        metavar="LAM",
        help="weight of ||X||_1, in units of the patches' standard deviation (default 1)",
    )
    g.add_argument(
        "--lam-s",
        type=_positive_float,
        default=0.25,
        metavar="LAM",
        help="weight of ||S||_1, same units (default 0.25; keep it below --lam)",
    )
    g.add_argument(
        "--train-patches",
        type=_int_at_least(1),
        default=20_000,
        metavar="N",
        help="patches drawn at random to learn from (default 20000)",
    )
    g.add_argument("--seed", type=int, default=0, help="seed of the patch draw (default 0)")
    _add_threshold_options(ins)
    _add_output_options(ins)

    demo = sub.add_parser(
        "demo",
        formatter_class=_Formatter,
        help="built-in demos: the factory line (default) or regularization",
        description=_wrap(
            "factory (default): synthesise a factory-line sequence (a "
            "brushed-metal surface under slowly drifting light, sensor noise, "
            "scratches and spots on 30% of the frames, ground truth known), "
            "decompose it, write the pictures, and print how well the defects "
            "were found: pixel precision and recall of the mask and the ROC "
            "AUC of the anomaly score.",
            "regularization: the L1 versus L2 experiment (soft threshold "
            "reaches zero exactly, a ridge gradient step only approaches it), "
            "as a plot.",
        ),
        epilog=_THRESHOLD_HELP + "\n" + _EXIT_CODES,
    )
    demo.add_argument(
        "which",
        nargs="?",
        choices=("factory", "regularization"),
        default="factory",
        help="which demo (default factory)",
    )
    demo.add_argument(
        "-o",
        "--out",
        metavar="PATH",
        help="output folder (factory) or PNG file (regularization); default "
        "fastrpca-demo-USER or fastrpca-regularization-USER.png in the system's "
        "temporary folder, replaced by every run (an --out you name must not exist or "
        "be empty, unless --force)",
    )
    g = demo.add_argument_group("synthetic data (factory)")
    g.add_argument(
        "--frames",
        type=_int_at_least(2),
        default=80,
        metavar="N",
        help="number of frames (default 80)",
    )
    g.add_argument(
        "--size", type=_size, default=(64, 96), metavar="HxW", help="frame size (default 64x96)"
    )
    g.add_argument("--color", action="store_true", help="colour frames instead of grey")
    g.add_argument(
        "--noise",
        type=_nonneg_float,
        default=0.01,
        metavar="SIGMA",
        help="sensor noise standard deviation, image range 0..1 (default 0.01)",
    )
    g.add_argument(
        "--data-seed",
        type=int,
        default=0,
        metavar="SEED",
        help="seed of the synthetic sequence (default 0)",
    )
    _add_solver_options(demo)
    _add_threshold_options(demo)
    _add_output_options(demo)
    return parser


# --------------------------------------------------------------------------- commands


def _say(args, text: str = "") -> None:
    if not args.quiet and not args.json:
        print(text, flush=True)


def _progress_mode(args) -> str:
    if args.quiet:
        return "off"
    return "json" if args.json else "bar"


def _default_tol(args) -> float:
    if args.tol is not None:
        return args.tol
    if args.delta != 0:
        return 1e-3  # decompose_frames' default for stable PCP
    return 1e-6 if args.dtype == "float32" else 1e-7  # fastrpca.rpca's defaults


def _solve(args, frames, tol, progress):
    """decompose_frames with the command's options, BLAS threads limited, warnings kept."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from .._core.result import ConvergenceWarning
    from ..robust_pca.frames import decompose_frames

    with warnings.catch_warnings(record=True) as caught, threadpool_limits(args.blas_threads):
        warnings.simplefilter("always", ConvergenceWarning)
        dec = decompose_frames(
            frames,
            args.lam,
            color=args.color,
            threshold=args.threshold,
            k=args.threshold_k,
            min_contrast=args.min_contrast,
            dtype=np.dtype(args.dtype),
            delta=args.delta,
            rank=args.rank,
            tol=tol,
            max_iter=args.max_iter,
            svd=args.svd,
            random_state=args.seed,
            callback=progress,
        )
    notes = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    return dec, notes


def _describe_frames(frames) -> str:
    n, h, w = frames.shape[:3]
    kind = "colour" if frames.ndim == 4 else "grey"
    return f"{n} frames of {h}x{w} ({kind})"


def _report(args, summary: dict, out: Path) -> None:
    """The human summary printed at the end of decompose / demo."""
    r = summary["rpca"]
    th = summary["threshold"]
    status = "converged" if r["converged"] else "did NOT converge"
    model = (
        f"stable PCP (noise sigma {r['sigma']:.3g}, ||E|| <= {r['delta']:.3g})"
        if r["delta"] > 0
        else "exact PCP"
    )
    truth_rank = summary.get("data", {}).get("background_rank")
    _say(
        args,
        f"RPCA, {model}, {status} in {r['n_iter']} iterations, {r['time']:.2f} s: rank of "
        f"L {r['rank']}"
        + (f" (the scene's background: {truth_rank})" if truth_rank is not None else "")
        + f", residual {r['residual']:.1e}",
    )
    if th["automatic"]:
        per_bin = th["per_bin"]
        spread = (
            f"{th['value']:.3g}"
            if max(per_bin) == min(per_bin)
            else f"{min(per_bin):.3g}..{max(per_bin):.3g} by brightness"
        )
        how = (
            f"auto: {th['k']:g} x noise {th['noise_scale']:.3g} (per brightness bin), "
            f"floor {th['min_contrast']:g} x range"
        )
    else:
        spread, how = f"{th['value']:.3g}", "fixed"
    per_frame = summary["anomaly_fraction_per_frame"]
    n_flagged = sum(1 for f in per_frame if f > 0)
    _say(
        args,
        f"anomalies: threshold {spread} ({how}); "
        f"{100 * summary['anomaly_fraction']:.2f} % of pixels, in {n_flagged} of "
        f"{len(per_frame)} frames",
    )
    if "detection" in summary:
        d = summary["detection"]
        _say(
            args,
            f"detection vs ground truth (per pixel): F-measure {d['f_measure']:.3f}, "
            f"precision {d['precision']:.3f}, recall {d['recall']:.3f}, specificity "
            f"{d['specificity']:.4f}, PWC {d['pwc']:.3f} %, ROC AUC {d['roc_auc']:.4f} "
            f"(foreground on {100 * d['true_anomaly_fraction']:.2f} % of pixels)",
        )
    _say(
        args,
        f"pictures in {out}{os.sep}: contact_sheet.png, convergence.png, "
        f"background/, foreground/, mask/, summary.json",
    )


def _emit_json(args, summary: dict) -> None:
    if args.json:
        from .outputs import json_safe

        print(json.dumps(json_safe(summary), indent=2), flush=True)


def _check_paths(out_arg, inputs, force: bool) -> Path:
    """The output folder, checked: free (or --force), holding none of the inputs, which
    exist; the reading dependencies (a video backend for one video) are installed."""
    from . import outputs, reading

    out = Path(out_arg)
    try:
        outputs.check_output_dir(out, force=force)
    except outputs.OutputExistsError as exc:
        raise UsageError(str(exc)) from None
    for p in inputs:
        if not Path(p).exists():
            raise UsageError(f"input {p} does not exist")
        inp, target = Path(p).resolve(), out.resolve()
        if inp == target or target in inp.parents:
            raise UsageError(
                f"--out {out} holds the input {p}, which --force would delete; choose another --out"
            )
    suffixes = {Path(p).suffix.lower() for p in inputs}
    reading.check_dependencies(video=bool(suffixes & set(reading.VIDEO_SUFFIXES) - {".gif"}))
    return out


def cmd_decompose(args) -> int:
    import numpy as np

    from .. import __version__
    from . import outputs, reading
    from .demo import solver_summary

    out = _check_paths(args.out, args.inputs, args.force)
    start = time.perf_counter()
    if args.memory == "out-of-core":
        _check_out_of_core(args)
    stream = reading.stream_frames(
        args.inputs,
        max_frames=args.max_frames,
        start=args.start,
        step=args.step,
        key=args.key,
        downsample=args.downsample,
    )
    frames = iter(stream.frames)
    head, sources = [], []
    spill = args.memory == "out-of-core"
    budget = _frames_budget(np.dtype(args.dtype))
    while not spill:
        try:
            source, frame = next(frames)
        except StopIteration:
            break
        head.append(frame)
        sources.append(source)
        if args.memory == "in-memory":
            if stream.kind == "video":  # stop decoding before the frames fill the memory
                reading._check_growing(head, _input_label(args.inputs))
        elif budget is not None and len(head) * frame.size > budget:
            spill = True  # the solve would not fit: go on out of core
            _check_out_of_core(args, automatic=True)
    if spill:
        return _decompose_out_of_core(
            args, out, stream, itertools.chain(zip(sources, head), frames), start
        )
    src = reading.FrameSource(
        reading._stack(head, sources), sources, stream.kind, stream.display_range
    )
    del head
    _say(args, f"read {_describe_frames(src.frames)} from {_input_label(args.inputs)}")
    truth = _read_truth(args, src.frames.shape[:3]) if args.truth else None
    _check_memory(src.frames, np.dtype(args.dtype))
    tol = _default_tol(args)
    progress = Progress(_progress_mode(args), tol)
    with outputs.staged_directory(out, force=args.force) as tmp:
        progress.waiting()
        try:
            dec, notes = _solve(args, src.frames, tol, progress)
        except BaseException:
            progress.abort()
            raise
        progress.close(dec.result)
        summary = {
            "fastrpca_version": __version__,
            "command": "decompose",
            "input": {
                "kind": src.kind,
                "paths": [str(p) for p in args.inputs],
                "frames": int(src.frames.shape[0]),
                "frame_shape": list(src.frames.shape[1:]),
                "step": args.step,
                "downsample": args.downsample,
                "display_range": list(src.display_range),
            },
            **solver_summary(dec, tol, np.dtype(args.dtype)),
            "frames": [
                {"index": i, "source": s, "anomaly_fraction": float(f)}
                for i, (s, f) in enumerate(zip(src.sources, dec.anomaly_fraction, strict=True))
            ],
            "warnings": notes,
        }
        if truth is not None:
            from .demo import detection_report

            summary["detection"] = {"truth": str(args.truth), **detection_report(truth, dec)}
        summary["files"] = outputs.write_outputs(
            tmp,
            src.frames,
            dec,
            display_range=src.display_range,
            sheet_frames=args.sheet_frames,
            save_arrays=not args.no_arrays,
            tol=tol,
        )
        summary["out_dir"] = str(out)
        summary["time_total"] = time.perf_counter() - start
        outputs.write_json(tmp / "summary.json", summary)
    for note in notes:
        print(f"fastrpca: warning: {note}", file=sys.stderr)
    _report(args, summary, out)
    _emit_json(args, summary)
    return EXIT_OK


def _frames_budget(dtype) -> float | None:
    """Frame values past which an in-memory solve would not fit (see _check_memory)."""
    from .reading import physical_memory

    have = physical_memory()
    return None if not have else 0.8 * have / (8 * dtype.itemsize)


def _check_out_of_core(args, automatic: bool = False) -> None:
    """Refuse what the out-of-core path cannot do, naming the option to change."""
    why = (
        "the frames would not fit in memory, so they are decomposed out of core; "
        if (automatic)
        else ""
    )
    try:
        import dask  # noqa: F401
        import zarr  # noqa: F401
    except ImportError:
        raise Failure(
            f"{why}out-of-core decomposition needs dask and zarr: pip install 'fastrpca[dask]'"
            + (
                "; or use fewer or smaller frames (--max-frames, --step, --downsample)"
                if automatic
                else ""
            )
        ) from None
    if args.svd == "partial":
        raise UsageError(f"{why}--svd partial needs the whole matrix in memory; use --svd auto")
    if args.truth:
        raise UsageError(f"{why}--truth is not available out of core")


def _decompose_out_of_core(args, out, stream, frames, start) -> int:
    """cmd_decompose for a stack larger than memory (fastrpca.app.out_of_core)."""
    import shutil
    import tempfile

    import numpy as np

    from .. import __version__
    from . import out_of_core, outputs
    from .demo import solver_summary

    tol = _default_tol(args)
    progress = Progress(_progress_mode(args), tol)
    _say(args, f"streaming {_input_label(args.inputs)} into a zarr store (out of core) ...")
    with outputs.staged_directory(out, force=args.force) as tmp:
        scratch = Path(args.scratch) if args.scratch else tmp
        work = Path(tempfile.mkdtemp(prefix=".fastrpca-work-", dir=scratch))
        try:
            progress.waiting()
            try:
                info, notes = out_of_core.decompose(
                    args, frames, stream.display_range, work, tmp, tol, progress
                )
            except BaseException:
                progress.abort()
                raise
            dec = info["dec"]
            progress.close(dec.result)
            n = len(info["sources"])
            summary = {
                "fastrpca_version": __version__,
                "command": "decompose",
                "input": {
                    "kind": stream.kind,
                    "paths": [str(p) for p in args.inputs],
                    "frames": n,
                    "frame_shape": info["frame_shape"],
                    "step": args.step,
                    "downsample": args.downsample,
                    "display_range": list(stream.display_range),
                },
                **solver_summary(dec, tol, np.dtype(args.dtype)),
                "out_of_core": {"scratch": str(work), **info["out_of_core"]},
                "frames": [
                    {"index": i, "source": s, "anomaly_fraction": float(f)}
                    for i, (s, f) in enumerate(zip(info["sources"], dec.anomaly_fraction))
                ],
                "warnings": notes,
                "files": info["files"],
                "out_dir": str(out),
                "time_total": time.perf_counter() - start,
            }
        finally:
            shutil.rmtree(work, ignore_errors=True)
        outputs.write_json(tmp / "summary.json", summary)
    for note in notes:
        print(f"fastrpca: warning: {note}", file=sys.stderr)
    _report(args, summary, out)
    _emit_json(args, summary)
    return EXIT_OK


def _read_truth(args, shape):
    """The --truth masks as a bool array of the frames' shape (n, h, w)."""

    from . import reading

    if not Path(args.truth).exists():
        raise UsageError(f"--truth {args.truth} does not exist")
    t = reading.read_frames(
        [args.truth],
        max_frames=args.max_frames,
        start=args.start,
        step=args.step,
        downsample=args.downsample,
    ).frames
    if t.ndim == 4:
        t = t[..., : min(3, t.shape[3])].max(axis=3)  # a mask drawn in any colour
    peak = float(t.max())
    truth = t > (0.5 * peak if peak > 0 else 0)
    if truth.shape != tuple(shape):
        raise Failure(
            f"--truth has {truth.shape[0]} masks of {truth.shape[1]}x{truth.shape[2]} but "
            f"the input has {shape[0]} frames of {shape[1]}x{shape[2]}"
        )
    return truth


def _check_memory(frames, dtype) -> None:
    """Refuse a stack whose solve would not fit in memory (IALM holds about eight copies
    of M: data, L, two S buffers, the multiplier and the SVD's work)."""
    from .reading import physical_memory

    need = 8 * frames.size * dtype.itemsize
    have = physical_memory()
    if have and need > 0.8 * have:
        raise Failure(
            f"{_describe_frames(frames)} would need about {need / 2**30:.1f} GiB "
            f"to decompose, more than this machine's {have / 2**30:.1f} GiB; use "
            f"fewer or smaller frames (--max-frames, --step, --downsample)"
        )


def _input_label(inputs) -> str:
    return inputs[0] if len(inputs) == 1 else f"{len(inputs)} files"


def cmd_inspect(args) -> int:
    import numpy as np
    from threadpoolctl import threadpool_limits

    from .. import __version__
    from .._core.result import ConvergenceWarning
    from . import outputs, reading
    from .inspection import atoms_mosaic, inspect_images
    from .pictures import sample_frames, save_contact_sheet, to_uint8, write_image

    out = _check_paths(args.out, args.inputs + (args.reference or []), args.force)
    start = time.perf_counter()
    read = dict(downsample=args.downsample, min_frames=1)
    src = reading.read_frames(args.inputs, max_frames=args.max_frames, **read)
    ref = reading.read_frames(args.reference, **read) if args.reference else None
    _say(args, f"read {_describe_frames(src.frames)} from {_input_label(args.inputs)}")
    learn_from = "the inspected images" if ref is None else _describe_frames(ref.frames)
    _say(args, f"learning {args.atoms} atoms of {args.patch}x{args.patch} from {learn_from} ...")
    lo, hi = src.display_range
    with warnings.catch_warnings(record=True) as caught, threadpool_limits(1):
        warnings.simplefilter("always", ConvergenceWarning)
        res = inspect_images(
            src.frames,
            None if ref is None else ref.frames,
            patch=args.patch,
            step=args.step,
            n_atoms=args.atoms,
            lam=args.lam,
            lam_s=args.lam_s,
            train_patches=args.train_patches,
            threshold=args.threshold,
            k=args.threshold_k,
            min_contrast=args.min_contrast,
            data_range=hi - lo,
            random_state=args.seed,
        )
    notes = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    fit = res.model.result
    score_max = max(float(np.percentile(res.score, 99.9)), 2.0 * res.threshold, 1e-12)
    n = res.images.shape[0]
    digits = max(5, len(str(n - 1)))
    with outputs.staged_directory(out, force=args.force) as tmp:
        for sub in ("score", "mask"):
            (tmp / sub).mkdir()
        for i in range(n):
            name = f"frame_{i:0{digits}d}.png"
            write_image(tmp / "score" / name, to_uint8(res.score[i], 0.0, score_max))
            write_image(tmp / "mask" / name, res.mask[i].astype(np.uint8) * 255)
        shown = sample_frames(res.anomaly_fraction, args.sheet_frames)
        save_contact_sheet(
            tmp / "contact_sheet.png",
            res.images,
            res.normal,
            res.score,
            res.mask,
            shown,
            display_range=(lo, hi),
            score_max=score_max,
            labels=("original", "normal texture", "anomaly |S|", "mask"),
        )
        mosaic = atoms_mosaic(res.model.dictionary, args.patch)
        write_image(tmp / "atoms.png", np.kron(to_uint8(mosaic), np.ones((4, 4), np.uint8)))
        files = {"score": "score/", "mask": "mask/", "contact_sheet": "contact_sheet.png"}
        files.update(atoms="atoms.png", summary="summary.json", contact_sheet_frames=shown)
        if not args.no_arrays:
            np.savez_compressed(
                tmp / "inspection.npz",
                normal=res.normal.astype(np.float32),
                score=res.score.astype(np.float32),
                mask=res.mask,
            )
            files["arrays"] = "inspection.npz"
        summary = {
            "fastrpca_version": __version__,
            "command": "inspect",
            "input": {
                "kind": src.kind,
                "paths": [str(p) for p in args.inputs],
                "frames": n,
                "frame_shape": list(src.frames.shape[1:]),
                "downsample": args.downsample,
                "display_range": [lo, hi],
            },
            "reference": None
            if ref is None
            else {"paths": [str(p) for p in args.reference], "frames": int(ref.frames.shape[0])},
            "dictionary": {
                "patch": args.patch,
                "step": args.step,
                "atoms": args.atoms,
                "lam": args.lam,
                "lam_s": args.lam_s,
                "training_patches": res.n_train,
                "patch_scale": res.scale,
                "epochs": fit.n_iter,
                "converged": fit.converged,
                "objective": fit.objective,
                "atoms_replaced": fit.n_replaced,
            },
            "threshold": {
                "value": res.threshold,
                "automatic": res.automatic,
                "k": args.threshold_k,
                "noise_scale": res.noise,
                "min_contrast": args.min_contrast,
            },
            "anomaly_fraction": float(res.mask.mean()),
            "frames": [
                {"index": i, "source": s, "anomaly_fraction": float(f)}
                for i, (s, f) in enumerate(zip(src.sources, res.anomaly_fraction, strict=True))
            ],
            "time": {**res.times, "total": time.perf_counter() - start},
            "warnings": notes,
            "files": files,
            "out_dir": str(out),
        }
        outputs.write_json(tmp / "summary.json", summary)
    for note in notes:
        print(f"fastrpca: warning: {note}", file=sys.stderr)
    status = "converged" if fit.converged else "did NOT converge"
    _say(
        args,
        f"dictionary {status} in {fit.n_iter} epochs ({res.times['learn']:.1f} s, "
        f"{res.n_train} patches); images scored in {res.times['decompose']:.1f} s",
    )
    how = f"auto: {args.threshold_k:g} x noise {res.noise:.3g}" if res.automatic else "fixed"
    flagged = int(np.count_nonzero(res.anomaly_fraction))
    _say(
        args,
        f"anomalies: threshold {res.threshold:.3g} ({how}); {100 * res.mask.mean():.2f} % "
        f"of pixels, in {flagged} of {n} images",
    )
    _say(args, f"pictures in {out}{os.sep}: contact_sheet.png, atoms.png, score/, mask/")
    _emit_json(args, summary)
    return EXIT_OK


def default_output(name: str, suffix: str = "") -> Path:
    """Where a demo writes without ``--out``: ``NAME-USER[SUFFIX]`` in the system's
    temporary folder (never the current folder, which may be a source checkout)."""
    import getpass
    import re
    import tempfile

    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    user = re.sub(r"[^A-Za-z0-9_.-]", "_", user)
    return Path(tempfile.gettempdir()) / f"{name}-{user}{suffix}"


def _previous_demo(out: Path) -> bool:
    """``out`` is an empty folder or one a previous ``fastrpca demo`` wrote."""
    if not out.is_dir():
        return False
    if not any(out.iterdir()):
        return True
    try:
        return json.loads((out / "summary.json").read_text()).get("command") == "demo"
    except (OSError, ValueError, AttributeError):
        return False


def cmd_demo(args) -> int:
    if args.which == "regularization":
        return cmd_regularization(args)
    import numpy as np
    from threadpoolctl import threadpool_limits

    from . import outputs, reading
    from .demo import run_demo

    out = Path(args.out) if args.out else default_output("fastrpca-demo")
    if args.out is None:  # the demo's own folder: replaced by every run, if it is ours
        args.force = args.force or _previous_demo(out)
    try:
        outputs.check_output_dir(out, force=args.force)
    except outputs.OutputExistsError as exc:
        raise UsageError(str(exc)) from None
    reading.check_dependencies()
    h, w = args.size
    tol = _default_tol(args)
    progress = Progress(_progress_mode(args), tol)
    _say(
        args,
        f"fastrpca demo: synthetic factory line, {args.frames} frames of {h}x{w} "
        f"({'colour' if args.color else 'grey'}), scratches and spots on 30 % of them",
    )
    from .._core.result import ConvergenceWarning

    progress.waiting()
    try:
        with warnings.catch_warnings(record=True) as caught, threadpool_limits(args.blas_threads):
            warnings.simplefilter("always", ConvergenceWarning)
            summary = run_demo(
                out,
                n_frames=args.frames,
                height=h,
                width=w,
                color=args.color,
                noise=args.noise,
                random_state=args.data_seed,
                force=args.force,
                callback=progress,
                threshold=args.threshold,
                k=args.threshold_k,
                min_contrast=args.min_contrast,
                dtype=np.dtype(args.dtype),
                lam=args.lam,
                tol=tol,
                max_iter=args.max_iter,
                svd=args.svd,
                seed=args.seed,
                sheet_frames=args.sheet_frames,
                save_arrays=not args.no_arrays,
                on_solved=progress.close,
            )
    except BaseException:
        progress.abort()
        raise
    for w_ in caught:
        if issubclass(w_.category, ConvergenceWarning):
            print(f"fastrpca: warning: {w_.message}", file=sys.stderr)
    _report(args, summary, out)
    _say(args, f"total {summary['time_total']:.1f} s; open {out / 'contact_sheet.png'} first")
    _emit_json(args, summary)
    return EXIT_OK


def cmd_regularization(args) -> int:
    from . import reading

    out = Path(args.out) if args.out else default_output("fastrpca-regularization", ".png")
    if args.out is None and out.is_file():  # the demo's own picture: replaced every run
        args.force = True
    if out.exists() and (out.is_dir() or not args.force):
        what = "is a folder" if out.is_dir() else "exists"
        raise UsageError(
            f"{out} {what}; choose another --out"
            + ("" if out.is_dir() else ", or pass --force to replace it")
        )
    if out.suffix.lower() != ".png":
        raise UsageError(f"--out must name a .png file for the regularization demo, got {out}")
    try:
        from .regularization_demo import run
    except ImportError as exc:
        raise Failure(
            "the regularization demo (fastrpca.app.regularization_demo) is not "
            f"available in this installation: {exc}"
        ) from None
    reading.check_dependencies()
    out.absolute().parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}.png")
    try:
        traj = run(tmp)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    l1, l2 = traj["l1"], traj["l2"]
    zero = [i for i, v in enumerate(l1) if v == 0.0]
    summary = {
        "command": "demo regularization",
        "plot": str(out),
        "iterations": len(l1) - 1,
        "l1_first_zero": zero[0] if zero else None,
        "l1_final": float(l1[-1]),
        "l2_final": float(l2[-1]),
    }
    if zero:
        _say(args, f"L1 (soft threshold) reaches exactly 0 at iteration {zero[0]} and stays")
    else:
        _say(args, f"L1 (soft threshold) ends at {l1[-1]:.3g}")
    _say(
        args,
        f"L2 (ridge gradient step) is still {l2[-1]:.3g} after {len(l2) - 1} "
        f"iterations: it shrinks geometrically but never reaches 0",
    )
    _say(args, f"plot written to {out}")
    _emit_json(args, summary)
    return EXIT_OK


# --------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    """Run the ``fastrpca`` command line; returns the exit code.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 when the work failed, 2 for usage errors, 130 when interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or an argparse usage error
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from . import outputs, reading

    handler = {"decompose": cmd_decompose, "inspect": cmd_inspect}.get(args.command, cmd_demo)
    try:
        return handler(args)
    except UsageError as exc:
        return _fail(args, parser, str(exc), EXIT_USAGE)
    except FileNotFoundError as exc:
        return _fail(args, parser, str(exc), EXIT_USAGE)
    except (
        Failure,
        reading.InputError,
        reading.MissingDependencyError,
        outputs.OutputExistsError,
        MemoryError,
    ) as exc:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, MemoryError):
            message = (
                "out of memory; use fewer or smaller frames (--max-frames, --step, "
                "--downsample) or --dtype float32"
            )
        code = EXIT_USAGE if isinstance(exc, outputs.OutputExistsError) else EXIT_FAILURE
        return _fail(args, parser, message, code)
    except BrokenPipeError:  # stdout closed early (piped into head): stop quietly; this
        # must come before OSError, its base class
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_FAILURE
    except ValueError as exc:  # validation by the library (e.g. lam, frames)
        return _fail(args, parser, str(exc), EXIT_FAILURE)
    except OSError as exc:  # permission denied, disk full... (the staged output is removed)
        return _fail(
            args, parser, f"{exc}; nothing was written under the output name", EXIT_FAILURE
        )
    except KeyboardInterrupt:
        print("\nfastrpca: interrupted; nothing was written under the output name", file=sys.stderr)
        return EXIT_INTERRUPTED


def _fail(args, parser, message: str, code: int) -> int:
    print(f"fastrpca: error: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"error": message, "exit_code": code}), flush=True)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
