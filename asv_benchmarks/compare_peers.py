"""Side by side: fastrpca against every peer, on the same inputs, at the same accuracy.

Runs the four comparison modules of ``asv_benchmarks/compare/`` in sequence and prints
one Markdown report (headed by the machine, the versions and the date):

* ``compare.rpca``: Robust PCA against the NumPy transcription of the reference IALM
  (full and partial SVD), pyrpca, tensorly, sporco and rpca (AccAltProj), with the SVD
  floor of every problem; and on real footage (vtest.avi and a photograph through a
  camera model, with known masks) against a median background, OpenCV MOG2 / KNN,
  pyrpca and GoDec: time, pixel F1 / precision / recall, rank of L;
* ``compare.sparse``: lasso against scikit-learn, skglm, celer, SPAMS and pyproximal,
  each peer's tolerance calibrated to a relative objective gap below 1e-6; and the
  scikit-learn API (``fastrpca.sklearn``: a 100-value lasso path, ``LassoCV``, one
  ``Lasso.fit``) against scikit-learn, skglm and celer (``--sparse-sections``);
* ``compare.holography``: the holography pipeline against pyautd3 26.0.0.1 (in its own
  virtual environment, ``/work/venv-autd3`` by default);
* ``compare.dictionary``: dictionary learning against scikit-learn's
  MiniBatchDictionaryLearning (time to the same objective on image patches) and anomaly
  maps on real textures against the reconstruction error of its dictionary.

Every contender runs at one thread (BLAS, OpenMP, numba), timed in interleaved rounds
(A B C A B C ...; ``compare/_timing.py``), and is reported with its accuracy. Peers that
are not installed are skipped with a note, never estimated.

Run from the repository root::

    python asv_benchmarks/compare_peers.py --quick                 # a few minutes
    python asv_benchmarks/compare_peers.py --output docs/performance.md   # the full run
    python asv_benchmarks/compare_peers.py --only rpca --rpca-problems "500 r25 5%"
"""

from __future__ import annotations

import os

# Before NumPy is imported anywhere: one BLAS / OpenMP / numba thread for every contender.
for _v in "OMP OPENBLAS MKL RAYON NUMBA".split():
    os.environ.setdefault(f"{_v}_NUM_THREADS", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import importlib  # noqa: E402
import io  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SECTIONS = {
    "rpca": "Robust PCA",
    "sparse": "L1: lasso",
    "holography": "Acoustic holography",
    "dictionary": "Dictionary learning",
}
PEERS = (
    "pyrpca",
    "tensorly",
    "sporco",
    "rpca",
    "scikit-learn",
    "scikit-image",
    "skglm",
    "celer",
    "spams-bin",
    "spams",
    "pyproximal",
)


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit():
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return head + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_info() -> str:
    """Markdown bullet list: machine, BLAS, versions, date."""
    import numba
    import numpy
    import scipy
    from threadpoolctl import threadpool_info

    import fastrpca

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    blas = sorted(
        {
            f"{i.get('internal_api')} {i.get('version')}"
            for i in threadpool_info()
            if i.get("user_api") == "blas"
        }
    )
    peers = [f"{p} {_version(p)}" for p in PEERS if _version(p)]
    missing = [
        p
        for p in (
            "pyrpca",
            "tensorly",
            "sporco",
            "rpca",
            "scikit-learn",
            "skglm",
            "celer",
            "pyproximal",
        )
        if not _version(p)
    ]
    if not (_version("spams-bin") or _version("spams")):
        missing.append("spams")
    lines = [
        f"- Date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- Machine: {_cpu_model()}, {os.cpu_count()} logical cores ({usable} usable), "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, fastrpca {fastrpca.__version__} "
        f"(commit {_git_commit()}), numpy {numpy.__version__}, scipy {scipy.__version__}, "
        f"numba {numba.__version__}; BLAS: {', '.join(blas) or 'unknown'}, one thread "
        f"for every contender",
        f"- Peers installed: {', '.join(peers) or 'none'}",
    ]
    if missing:
        lines.append(f"- Peers not installed (skipped): {', '.join(missing)}")
    return "\n".join(lines)


def run_section(name: str, argv: list[str]) -> str:
    """Run ``compare.<name>.main(argv)``; its printed Markdown is the section."""
    sys.path.insert(0, str(HERE))
    module = importlib.import_module(f"compare.{name}")
    buf = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(buf):
        returned = module.main(argv)
    text = returned if isinstance(returned, str) and returned.strip() else buf.getvalue()
    print(
        f"[compare_peers] {name} done in {time.perf_counter() - start:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    return text.strip()


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="small problems and few rounds in every section (a smoke run)",
    )
    ap.add_argument(
        "--only",
        choices=sorted(SECTIONS),
        action="append",
        help="run only this section (repeatable)",
    )
    ap.add_argument(
        "--rounds",
        type=int,
        help="interleaved rounds (default: each "
        "module's own: rpca 3, sparse 5, holography 7, dictionary 3; 3 with --quick)",
    )
    ap.add_argument(
        "--rpca-problems",
        nargs="+",
        metavar="NAME",
        help="Robust PCA problems by name (see compare/rpca.py PROBLEMS)",
    )
    ap.add_argument("--large", action="store_true", help="add the n = 3000 RPCA problem")
    ap.add_argument(
        "--sparse-sections",
        nargs="+",
        choices=["lasso", "sklearn"],
        help="parts of the L1 section: the solver tables and / or the scikit-learn API "
        "(paths, LassoCV, Lasso.fit); default both",
    )
    ap.add_argument("--autd3-python", help="python of the pyautd3 venv")
    ap.add_argument("--output", type=Path, help="also write the report to this file")
    args = ap.parse_args(argv)

    names = args.only or list(SECTIONS)
    common = (["--quick"] if args.quick else []) + (
        ["--rounds", str(args.rounds)] if args.rounds else []
    )
    extra = {
        "rpca": (["--large"] if args.large else [])
        + (["--problems", *args.rpca_problems] if args.rpca_problems else []),
        "sparse": ["--sections", *args.sparse_sections] if args.sparse_sections else [],
        "holography": ["--autd3-python", args.autd3_python] if args.autd3_python else [],
        "dictionary": [],
    }
    start = time.perf_counter()
    parts = []
    for name in names:
        parts.append(f"## {SECTIONS[name]}\n\n" + run_section(name, common + extra[name]))
    head = [
        "# Performance: fastrpca side by side with its peers",
        "",
        "Produced by `python asv_benchmarks/compare_peers.py"
        + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
        + "`"
        + f" in {(time.perf_counter() - start) / 60:.0f} min.",
        "",
        machine_info(),
        "",
        "Medians of interleaved rounds (A B C A B C ...) on a shared 2-core machine: "
        "absolute times are noisy, the ratios within one table are what count. "
        "Accuracy columns are each contender's own result on the same input.",
    ]
    text = "\n".join(head) + "\n\n" + "\n\n".join(parts) + "\n"
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        if args.output.exists():  # sections written by hand after the marker are kept
            old = args.output.read_text()
            if KEEP_MARKER in old:
                text += "\n" + old[old.index(KEEP_MARKER) :]
        args.output.write_text(text)
        print(f"[compare_peers] wrote {args.output}", file=sys.stderr)
    return text


#: In the output file, everything from this line on is kept when the report is rewritten.
KEEP_MARKER = "<!-- written by hand below: compare_peers.py keeps it -->"


if __name__ == "__main__":
    main()
