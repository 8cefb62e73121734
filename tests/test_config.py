"""Compile-flag configuration."""

import numba
import pytest

from fastrpca._core import config as _config


def test_kernels_fall_back_to_no_cache_when_nothing_is_writable(monkeypatch):
    real_njit = numba.njit

    def njit(*args, **options):
        if options.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file")
        return real_njit(*args, **options)

    monkeypatch.setattr(_config.numba, "njit", njit)
    with pytest.warns(RuntimeWarning, match="NUMBA_CACHE_DIR"):
        f = _config.kernel(lambda x: x + 1)
    assert f(1) == 2


def test_flags_keep_nan_checks():
    assert not {"nnan", "ninf", "fast"} & _config.FASTMATH

    @_config.kernel
    def has_nan(x):
        return x != x

    assert has_nan(float("nan"))


PROBE = """
import glob, json, sys
import numpy as np
from fastrpca.robust_pca._kernels import frames as k

report = {}
for name in sys.argv[1:]:
    d = getattr(k, name)
    F = np.zeros((2, 2, 1))
    d(F, F.copy(), 0.0, 1.0, np.ones(1), np.zeros((2, 2)), np.zeros((2, 2), bool))
    cres = d.overloads[d.signatures[0]]
    cache_file = d._cache._cache_file
    base = cache_file._index_path[: -len(".nbi")]
    data = b"".join(open(p, "rb").read() for p in glob.glob(base + ".*.nbc"))
    report[name] = {
        "hit": bool(d.stats.cache_hits),
        "parallel_option": bool(d.targetoptions.get("parallel")),
        "fresh_parfors": None if cres.metadata is None else len(cres.metadata.get("parfors", {})),
        "index": cache_file._index_path,
        "cached_code_is_parallel": b"do_scheduling" in data,
    }
print(json.dumps(report))
"""


@pytest.mark.requires_jit
def test_parallel_and_serial_variants_have_their_own_cache_entries(tmp_path):
    # numba's cache index ignores parallel= (numba issue 6845): score_and_mask and
    # score_and_mask_parallel, compiled from one Python function, would share one cache
    # entry, so a later process would load whichever had been compiled first for both.
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), NUMBA_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))

    def run(*names):
        out = subprocess.run(
            [sys.executable, "-c", PROBE, *names],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    serial_name, parallel_name = "score_and_mask", "score_and_mask_parallel"
    first = run(serial_name)[serial_name]  # compiles the serial variant into the cache
    assert not first["hit"] and first["fresh_parfors"] == 0
    second = run(parallel_name)[parallel_name]
    assert not second["hit"], "the parallel kernel loaded the serial variant's cache entry"
    assert second["parallel_option"] and second["fresh_parfors"] > 0
    third = run(serial_name, parallel_name)  # both from the cache, each its own
    serial, parallel = third[serial_name], third[parallel_name]
    assert serial["hit"] and parallel["hit"]
    assert serial["index"] != parallel["index"]
    assert parallel["cached_code_is_parallel"] and not serial["cached_code_is_parallel"]
