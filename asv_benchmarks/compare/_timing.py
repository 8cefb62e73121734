"""Interleaved timing shared by the side-by-side scripts.

Contenders run in rounds (A B C A B C ...), so that a slow phase of a shared, noisy
machine hits every contender alike; medians and ratios are reported, never single runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from statistics import median


def interleaved(
    contenders: dict[str, Callable[[], object]], rounds: int = 5, min_time: float = 0.0
) -> dict[str, list[float]]:
    """Time each contender ``rounds`` times, round-robin; return seconds per call.

    Each contender is called once untimed first (JIT compilation, caches). When one
    call is shorter than ``min_time`` seconds, it is repeated within a round and the
    mean of the repeats is recorded, so sub-millisecond solvers are measured fairly.
    """
    repeats = {}
    for name, fn in contenders.items():
        start = time.perf_counter()
        fn()
        once = time.perf_counter() - start
        repeats[name] = max(1, int(min_time / once)) if once > 0 else 1
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            n = repeats[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            times[name].append((time.perf_counter() - start) / n)
    return times


def fmt_seconds(t: float) -> str:
    """Human units: us below 1 ms, ms below 1 s."""
    if t < 1e-3:
        return f"{t * 1e6:.0f} us"
    if t < 1:
        return f"{t * 1e3:.1f} ms"
    return f"{t:.2f} s"


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def medians(times: dict[str, list[float]]) -> dict[str, float]:
    """Median seconds per contender."""
    return {name: median(ts) for name, ts in times.items()}
