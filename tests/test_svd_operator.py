"""RandomizedSVD through its operator interface (what the Dask engine plugs into)."""

import numpy as np
import pytest

from fastrpca.robust_pca.svd import GRAM_ORTH_MIN_ROWS, DenseOperator, RandomizedSVD


class Recording(DenseOperator):
    """DenseOperator that logs which products the engine asks for."""

    def __init__(self, X):
        super().__init__(X.copy())
        self.calls = []

    def matmat(self, W):
        self.calls.append(("matmat", W.copy()))
        return super().matmat(W)

    def rmatmat(self, Q):
        self.calls.append(("rmatmat", None))
        return super().rmatmat(Q)

    def project(self, Q):
        self.calls.append(("project", None))
        return super().project(Q)

    def orth(self, A):
        self.calls.append(("orth", None))
        return super().orth(A)

    def orthonormalizer(self, A):
        self.calls.append(("orthonormalizer", None))
        return super().orthonormalizer(A)

    def full_svd(self):
        self.calls.append(("full", None))
        return super().full_svd()


def _low_rank(m, n, r, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, r)) @ rng.standard_normal((r, n)) + 1e-3 * rng.standard_normal(
        (m, n)
    )


@pytest.mark.parametrize("m", [120, GRAM_ORTH_MIN_ROWS])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_operator_and_array_give_identical_triplets(dtype, m):
    X = _low_rank(m, 90, 6).astype(dtype)
    a, b = RandomizedSVD(X.shape, dtype, 3), RandomizedSVD(X.shape, dtype, 3)
    for _ in range(3):
        Ua, sa, Va = a(X.copy(), 0.5)
        Ub, sb, Vb = b(DenseOperator(X.copy()), 0.5)
        assert np.array_equal(sa, sb) and np.array_equal(Ua, Ub) and np.array_equal(Va, Vb)
    assert sa.size == 6


@pytest.mark.parametrize(
    "m, warm",
    [
        (150, ["matmat", "orth", "project"]),
        (GRAM_ORTH_MIN_ROWS, ["matmat", "orthonormalizer", "project"]),
    ],
)
def test_planned_block_is_the_next_calls_start_block(m, warm):
    X = _low_rank(m, 100, 5)
    engine = RandomizedSVD(X.shape, X.dtype, 0)
    assert engine.planned_block() is None  # cold start: power iterations, no plan
    op = Recording(X)
    engine(op, 0.5)
    assert [kind for kind, _ in op.calls].count("rmatmat") == engine.cold_power_iters
    for _ in range(3):  # rank settled: each call is one warm step with the planned block
        plan = engine.planned_block().copy()
        op = Recording(X)
        engine(op, 0.5)
        assert [kind for kind, _ in op.calls] == warm
        assert np.array_equal(op.calls[0][1], plan)


def test_planning_does_not_change_the_answer():
    X = _low_rank(GRAM_ORTH_MIN_ROWS, 60, 4)
    a, b = RandomizedSVD(X.shape, X.dtype, 1), RandomizedSVD(X.shape, X.dtype, 1)
    for tau in (5.0, 2.0, 0.5, 0.01, 0.001):  # the rank creeps up: top-ups with fresh columns
        b.planned_block()
        ra, rb = a(X.copy(), tau), b(X.copy(), tau)
        for u, v in zip(ra, rb):
            assert np.array_equal(u, v)


def test_planned_block_is_none_before_a_full_svd():
    X = _low_rank(40, 30, 20)  # rank above 0.4 * 30: the engine falls back to the full SVD
    engine = RandomizedSVD(X.shape, X.dtype, 0)
    for _ in range(4):
        engine(X.copy(), 1e-6)
    assert engine.full_calls > 0 and engine.planned_block() is None
    op = Recording(X)
    engine(op, 1e-6)
    assert [kind for kind, _ in op.calls] == ["full"]
