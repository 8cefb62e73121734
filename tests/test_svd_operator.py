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


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_wide_matrix_runs_on_its_adjoint(dtype):
    """A wide in-memory matrix (a few frames by many pixels) is decomposed as its tall
    adjoint: the same triplets above the threshold as LAPACK's full SVD, and the same
    ones as the engine on the transposed (tall) copy, call after call."""
    from fastrpca.robust_pca.svd import WideRandomizedSVD, make_engine

    rng = np.random.default_rng(3)
    m, n = 40, GRAM_ORTH_MIN_ROWS + 500
    A, B = rng.standard_normal((m, 6)), rng.standard_normal((6, n))
    if dtype is np.complex128:
        A, B = A + 1j * rng.standard_normal((m, 6)), B + 1j * rng.standard_normal((6, n))
    X = A @ B + 1e-3 * rng.standard_normal((m, n))
    wide = make_engine("randomized", (m, n), dtype, 0, in_memory=True)
    tall = make_engine("randomized", (n, m), dtype, 0, in_memory=True)
    assert isinstance(wide, WideRandomizedSVD) and type(tall) is RandomizedSVD
    assert type(make_engine("randomized", (m, n), dtype, 0)) is RandomizedSVD  # Dask's
    s_ref = np.linalg.svd(X, compute_uv=False)
    tau = 0.5 * s_ref[5]
    for _ in range(3):
        U, s, Vh = wide(X.copy(), tau)
        Ut, st, Vht = tall(np.ascontiguousarray(X.conj().T), tau)
        np.testing.assert_allclose(s, s_ref[:6], rtol=1e-10)
        np.testing.assert_allclose(st, s, rtol=1e-12)
        np.testing.assert_allclose((U * s) @ Vh, ((Ut * st) @ Vht).conj().T, atol=1e-9)


def test_fortran_ordered_frames_solve_like_the_tall_copy():
    """rpca on a Fortran-ordered pixels x frames matrix (frames_to_matrix's view, solved
    as its wide transpose through the adjoint engine) equals the solve of a C copy."""
    import fastrpca

    rng = np.random.default_rng(0)
    frames = (rng.random((1, 64, 96)) + 0.02 * rng.standard_normal((30, 64, 96))).astype(np.float64)
    frames[:, 10:20, 30:40] += np.linspace(0, 1, 30)[:, None, None]
    M = fastrpca.frames_to_matrix(frames)
    assert M.flags.f_contiguous and M.shape[0] >= GRAM_ORTH_MIN_ROWS
    a = fastrpca.rpca(M, delta="auto", random_state=0)
    b = fastrpca.rpca(np.ascontiguousarray(M), delta="auto", random_state=0)
    assert a.converged and b.converged and a.rank == b.rank
    np.testing.assert_allclose(a.L, b.L, atol=1e-6 * np.abs(b.L).max())
