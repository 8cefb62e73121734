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
