"""Shared test settings: BLAS held to one thread so numba and BLAS do not fight."""
import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    with threadpool_limits(1):
        yield
