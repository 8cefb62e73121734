"""Quick check that every asv benchmark still runs: each setup + benchmark once, no timing.

CI runs this so that the benchmarks cannot rot, without timing anything (a shared CI
machine's timings would only make CI flaky): every benchmark class of ``benchmarks/`` is
discovered the way asv discovers it (``time_`` / ``timeraw_`` / ``peakmem_`` / ``mem_``
/ ``track_`` methods and functions, ``params`` / ``param_names``, ``setup_cache``,
``setup`` / ``teardown``, ``NotImplementedError`` in setup = skip), and for every
parameter combination ``setup`` and each benchmark are called once. A ``timeraw_``
benchmark runs its statement once in a fresh process, as asv would. ``track_`` values
must be numbers (asv rejects anything else).

All of this happens in one process, so numba's cache is loaded once instead of once
per benchmark (``asv run --quick`` starts a process per benchmark and takes several
times longer); ``--asv-check`` adds ``asv check`` (asv's own discovery and signature
check) first.

Run from the repository root or from ``asv_benchmarks/``::

    python asv_benchmarks/check_quick.py [--asv-check] [-b REGEX] [--skip-cold]

Exit status 1 if any benchmark failed, with the tracebacks printed.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import itertools
import numbers
import os
import pkgutil
import re
import subprocess
import sys
import textwrap
import time
import traceback
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
PREFIXES = ("time_", "timeraw_", "peakmem_", "mem_", "track_")


def _params(obj):
    """asv's rule: a list of lists is a product, a flat list is one parameter."""
    params = getattr(obj, "params", [])
    if not params:
        return [()]
    if not isinstance(params[0], (tuple, list)):
        params = [params]
    return list(itertools.product(*[list(p) for p in params]))


def _run_timeraw(result, timeout):
    stmt, setup = result if isinstance(result, tuple) else (result, "")
    code = textwrap.dedent(setup) + "\n" + textwrap.dedent(stmt) + "\n"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode:
        raise RuntimeError(f"timeraw subprocess failed:\n{proc.stderr}")


def _check_track(value, name):
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(
            f"{name} returned {value!r} ({type(value).__name__}); asv tracks numbers only"
        )


class Runner:
    def __init__(self, pattern, skip, timeout):
        self.pattern = re.compile(pattern) if pattern else None
        self.skip = re.compile(skip) if skip else None
        self.timeout = timeout
        self.failures: list[tuple[str, str]] = []
        self.durations: list[tuple[float, str]] = []
        self.count = 0
        self.skipped = 0

    def wanted(self, name):
        if self.skip is not None and self.skip.search(name):
            return False
        return self.pattern is None or bool(self.pattern.search(name))

    def run_class(self, modname, cls):
        names = [n for n in dir(cls) if n.startswith(PREFIXES) and callable(getattr(cls, n))]
        full = {n: f"{modname}.{cls.__name__}.{n}" for n in names}
        names = [n for n in names if self.wanted(full[n])]
        if not names:
            return
        start = time.perf_counter()
        cache_args = ()
        if hasattr(cls, "setup_cache"):
            try:
                cache_args = (cls().setup_cache(),)
            except Exception:  # noqa: BLE001
                self.failures.append(
                    (f"{modname}.{cls.__name__}.setup_cache", traceback.format_exc())
                )
                return
        for combo in _params(cls):
            label = f"{modname}.{cls.__name__}{list(combo) if combo else ''}"
            obj = cls()
            args = cache_args + tuple(combo)
            try:
                if hasattr(obj, "setup"):
                    obj.setup(*args)
            except NotImplementedError:
                self.skipped += len(names)
                continue
            except Exception:  # noqa: BLE001
                self.failures.append((f"{label}.setup", traceback.format_exc()))
                continue
            try:
                for n in names:
                    self.count += 1
                    try:
                        value = getattr(obj, n)(*args)
                        if n.startswith("timeraw_"):
                            _run_timeraw(value, self.timeout)
                        elif n.startswith("track_"):
                            _check_track(value, f"{label}.{n}")
                    except Exception:  # noqa: BLE001
                        self.failures.append((f"{label}.{n}", traceback.format_exc()))
            finally:
                if hasattr(obj, "teardown"):
                    try:
                        obj.teardown(*args)
                    except Exception:  # noqa: BLE001
                        self.failures.append((f"{label}.teardown", traceback.format_exc()))
        self.durations.append((time.perf_counter() - start, f"{modname}.{cls.__name__}"))

    def run_function(self, modname, fn):
        name = f"{modname}.{fn.__name__}"
        if not self.wanted(name):
            return
        start = time.perf_counter()
        for combo in _params(fn):
            self.count += 1
            try:
                value = fn(*combo)
                if fn.__name__.startswith("timeraw_"):
                    _run_timeraw(value, self.timeout)
                elif fn.__name__.startswith("track_"):
                    _check_track(value, name)
            except Exception:  # noqa: BLE001
                self.failures.append((f"{name}{list(combo)}", traceback.format_exc()))
        self.durations.append((time.perf_counter() - start, name))

    def run_module(self, modname):
        mod = importlib.import_module(modname)
        for attr, obj in list(vars(mod).items()):  # setups may add names (warnings)
            if getattr(obj, "__module__", None) != mod.__name__:
                continue  # imported, not defined here
            if inspect.isclass(obj):
                self.run_class(modname, obj)
            elif inspect.isfunction(obj) and attr.startswith(PREFIXES):
                self.run_function(modname, obj)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-b", "--bench", help="only benchmarks whose name matches this regex")
    ap.add_argument("--skip", help="leave out benchmarks whose name matches this regex")
    ap.add_argument(
        "--skip-cold",
        action="store_true",
        help="leave out the empty-numba-cache benchmarks (coldstart.ColdCache), "
        "which compile every kernel (about a minute)",
    )
    ap.add_argument(
        "--asv-check", action="store_true", help="run `asv check --python=same` first (needs asv)"
    )
    ap.add_argument("-v", "--verbose", action="store_true", help="time of every class")
    ap.add_argument(
        "--timeout", type=float, default=600.0, help="seconds allowed to each timeraw subprocess"
    )
    args = ap.parse_args(argv)

    start = time.perf_counter()
    if args.asv_check:
        proc = subprocess.run(
            [sys.executable, "-m", "asv", "check", "--python=same"],
            cwd=HERE,
            capture_output=True,
            text=True,
        )
        print(proc.stdout + proc.stderr, end="")
        if proc.returncode or "failed" in proc.stdout + proc.stderr:
            print("asv check failed", file=sys.stderr)
            return 1

    skip = args.skip
    if args.skip_cold:
        skip = r"coldstart\.ColdCache" + (f"|{skip}" if skip else "")
    runner = Runner(args.bench, skip, args.timeout)
    sys.path.insert(0, str(HERE))
    os.chdir(HERE)
    warnings.simplefilter("ignore")
    package = importlib.import_module("benchmarks")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        modname = f"benchmarks.{info.name}"
        try:
            runner.run_module(modname)
        except Exception:  # noqa: BLE001
            runner.failures.append((f"{modname} (import)", traceback.format_exc()))

    total = time.perf_counter() - start
    slowest = ", ".join(f"{n} {t:.0f} s" for t, n in sorted(runner.durations)[::-1][:5])
    print(
        f"check_quick: {runner.count} benchmark calls, {runner.skipped} skipped, "
        f"{len(runner.failures)} failed, {total:.0f} s (slowest: {slowest})"
    )
    if args.verbose:
        for t, n in runner.durations:
            print(f"  {t:7.1f} s  {n}")
    for name, tb in runner.failures:
        print(f"\nFAILED {name}\n{tb}", file=sys.stderr)
    return 1 if runner.failures else 0


if __name__ == "__main__":
    sys.exit(main())
