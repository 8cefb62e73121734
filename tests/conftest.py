"""Shared test settings: BLAS held to one thread so numba and BLAS do not fight."""

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    with threadpool_limits(1):
        yield


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "requires_jit: needs compiled kernels (skipped under NUMBA_DISABLE_JIT=1)"
    )
    config.addinivalue_line("markers", "slow: takes over 20 s (deselect with -m 'not slow')")


def pytest_collection_modifyitems(config, items):
    from numba.core import config as numba_config

    if not numba_config.DISABLE_JIT:
        return
    skip = pytest.mark.skip(reason="inspects compiled kernels; NUMBA_DISABLE_JIT=1 is set")
    for item in items:
        if "requires_jit" in item.keywords:
            item.add_marker(skip)
