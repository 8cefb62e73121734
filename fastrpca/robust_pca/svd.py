"""SVD engines for singular value thresholding inside IALM.

Each engine returns the singular triplets of ``X`` above a threshold ``tau``, largest
first, as ``(U, s, Vh)``. They differ in how much of the spectrum they compute:

``"full"``
    LAPACK ``gesdd`` on the whole matrix (the reference IALM's ``svd(..., 'econ')``).
``"partial"``
    The reference's rule (Lin, Chen & Ma 2010): predict ``sv`` triplets (10 at first;
    ``svp + 1`` after an SVD that found ``svp < sv`` above the threshold, else
    ``svp + round(0.05 n)``), compute them with PROPACK (scipy) when ``sv / n`` is below
    the original's size-dependent ratio, else with the full SVD.
``"randomized"``
    Subspace iteration warm-started from the previous call's right singular vectors
    (Halko, Martinsson & Tropp 2011, Alg. 4.4; the IALM iterates change slowly, so one
    step per call keeps the subspace converged). The warm step's block ``X V`` is nearly
    orthogonal, so it is orthonormalised through its k x k Gram matrix (CholeskyQR, with
    Householder QR as the fallback), several times faster than QR on tall matrices. The
    block holds the predicted rank plus an oversampling margin; when every computed
    singular value is above the threshold the block was too small, so it grows and the
    step is repeated with power iterations; when the rank only creeps up, fresh columns,
    orthogonal to the kept ones, top up the margin without them.
``"auto"``
    ``"full"`` for matrices whose smaller side is at most 32, else ``"randomized"``,
    which itself switches to the full SVD when the predicted rank approaches ``min(m, n)``.

Rank cap
--------
Every engine takes ``max_rank`` (``rpca(..., rank=)``): at most that many triplets are
returned, the largest ones (truncated singular value thresholding). ``"full"`` computes
everything and truncates; ``"partial"`` never predicts more than ``max_rank`` triplets;
``"randomized"`` never grows its block past ``max_rank`` plus its oversampling margin,
so each SVD costs O(mn (max_rank + oversample)) whatever the data's noise would ask for.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from scipy.sparse.linalg import svds

from .._core.concurrency import SERIAL, RowSplit
from .._core.linalg import (
    full_svd,
    gram_orthonormalizer,
    orthonormal_basis,
    orthonormal_basis_and_r,
    orthonormalizer_from_gram,
    small_svd,
)
from .._core.validation import rng_from

ENGINES = ("auto", "full", "partial", "randomized")

#: Below this smaller-side size the full SVD is cheaper than any truncated method.
SMALL_SIDE = 32

#: The randomized engine's warm step orthonormalises through the Gram matrix, and tops up
#: its margin without power iterations, from this many rows on (below, Householder QR and
#: power steps cost next to nothing anyway).
GRAM_ORTH_MIN_ROWS = 4096


def _above(
    U: np.ndarray, s: np.ndarray, Vh: np.ndarray, tau: float, max_rank: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keep = int(np.count_nonzero(s > tau))
    if max_rank is not None:
        keep = min(keep, max_rank)
    return U[:, :keep], s[:keep], Vh[:keep]


class FullSVD:
    """Every singular triplet, by LAPACK; keeps those above the threshold (at most
    ``max_rank`` of them)."""

    name = "full"

    def __init__(self, shape, dtype, random_state=None, max_rank=None):
        self.shape = shape
        self.max_rank = max_rank

    def __call__(self, X, tau):
        return _above(*full_svd(X, overwrite=True), tau, self.max_rank)


class PartialSVD:
    """The reference IALM's rank-prediction rule with PROPACK (see module docstring)."""

    name = "partial"
    # (n upper bound, largest sv / n ratio for which the partial SVD is used)
    _RATIOS = ((100, 0.02), (200, 0.06), (300, 0.26), (400, 0.28), (500, 0.34))

    def __init__(self, shape, dtype, random_state=None, max_rank=None):
        self.n = shape[1]
        self.shape_min = min(shape)
        self.max_rank = max_rank
        self.sv = self._capped(min(10, self.shape_min))
        self.seed = int(rng_from(random_state).integers(2**31 - 1))
        self.fallbacks = 0

    def _capped(self, sv):
        return sv if self.max_rank is None else min(sv, self.max_rank)

    def _use_partial(self):
        limit = next((r for bound, r in self._RATIOS if self.n <= bound), 0.38)
        return self.sv / self.n <= limit and self.sv < self.shape_min - 1

    def __call__(self, X, tau):
        U = None
        if self._use_partial():
            try:
                U, s, Vh = svds(X, k=self.sv, solver="propack", random_state=self.seed)
                order = np.argsort(s)[::-1]
                U, s, Vh = U[:, order], s[order], Vh[order]
            except Exception:  # PROPACK gives up on some inputs: fall back, and count it
                self.fallbacks += 1
                U = None
        if U is None:
            U, s, Vh = full_svd(X, overwrite=True)
        svp = int(np.count_nonzero(s > tau))
        if svp < self.sv:
            self.sv = min(svp + 1, self.n)
        else:
            self.sv = min(svp + round(0.05 * self.n), self.n)
        # With a cap, the leading max_rank triplets are all that is ever needed.
        self.sv = self._capped(self.sv)
        if self.max_rank is not None:
            svp = min(svp, self.max_rank)
        return U[:, :svp], s[:svp], Vh[:svp]


class DenseOperator:
    """A matrix in memory as :class:`RandomizedSVD` sees it: products with thin blocks.

    The engine touches its matrix only through these methods, so another operator with
    the same methods runs the same engine: :mod:`fastrpca.robust_pca.dask` holds the
    matrix in row blocks on Dask workers, its tall blocks stay there and only the small
    ``n x k`` / ``k x n`` results come back. Tall blocks (``m x k``) are whatever
    ``matmat``, ``orth`` and ``lift`` return; small ones are ndarrays. With a
    :class:`~fastrpca._core.concurrency.RowSplit`, the products run on its row ranges side
    by side (BLAS at one thread in each).
    """

    def __init__(self, X: np.ndarray, split: RowSplit = SERIAL):
        self.X = X
        self.split = split

    def _rows(self, A, B):
        """``A @ B`` for a tall A, its rows split."""
        if self.split.count == 1:
            return A @ B
        out = np.empty((A.shape[0], B.shape[1]), np.result_type(A, B))
        self.split.map(lambda r0, r1: np.matmul(A[r0:r1], B, out=out[r0:r1]))
        return out

    def matmat(self, W):
        """``X @ W`` for a small ``n x k`` W: a tall block."""
        return self._rows(self.X, W)

    def rmatmat(self, Q):
        """``X^H @ Q`` for a tall Q: ``n x k`` (a complex X is not conjugated in full)."""
        X = self.X
        if X.dtype.kind == "c":
            return self.split.sum(lambda r0, r1: X[r0:r1].T @ Q[r0:r1].conj()).conj()
        return self.split.sum(lambda r0, r1: X[r0:r1].T @ Q[r0:r1])

    def project(self, Q):
        """``Q^H @ X`` for a tall Q: ``k x n``."""
        X = self.X
        return self.split.sum(lambda r0, r1: Q[r0:r1].conj().T @ X[r0:r1])

    orth = staticmethod(orthonormal_basis)
    orthonormalizer = staticmethod(gram_orthonormalizer)

    def lift(self, Q, Ub):
        """``Q @ Ub`` for a tall Q and a small Ub."""
        return self._rows(Q, Ub)

    def full_svd(self):
        """Every singular triplet ``(U, s, Vh)``; the matrix may be overwritten."""
        return full_svd(self.X, overwrite=True)


class PrefetchedOperator(DenseOperator):
    """A matrix in memory with the products of the engine's next warm step done already.

    The tiled IALM pass (:func:`fastrpca.robust_pca._kernels.ialm.tiled_pass`) produces X
    and, while each row tile is in cache, ``P = X W`` for the engine's planned start block
    W (:meth:`RandomizedSVD.planned_block`), ``H = P^H X`` and, on the Gram route,
    ``G = P^H P``. The engine's first step then reads X no more: ``matmat(W)`` is P,
    ``orthonormalizer(P)`` comes from G and ``project(P)`` is H. On the Householder route
    ``orth(P)`` is the QR of P, ``P = Q R``, and ``Q^H X = R^-H H`` when R with unit
    columns is well conditioned (as for ``X V``, V the last right singular vectors); any
    other product (refinement, growth, power steps, the full SVD) reads X as usual.
    """

    def __init__(self, X, W=None, P=None, G=None, H=None, split=SERIAL):
        super().__init__(X, split)
        self._W, self._P, self._G, self._H = W, P, G, H
        self._Q: np.ndarray | None = None
        self._R: np.ndarray | None = None
        self.passes = 0  # products that read X (the prefetched ones excluded)
        self.hits = 0  # products answered from the prefetched ones

    def matmat(self, W):
        if self._W is not None and W is self._W:
            self._W = None
            self.hits += 1
            return self._P
        self.passes += 1
        return super().matmat(W)

    def rmatmat(self, Q):
        self.passes += 1
        return super().rmatmat(Q)

    def orthonormalizer(self, P):
        if P is self._P and self._G is not None:
            return orthonormalizer_from_gram(self._G)
        return gram_orthonormalizer(P)

    def orth(self, A):
        if A is not self._P or self._H is None:
            return orthonormal_basis(A)
        Q, R = orthonormal_basis_and_r(A)
        if R.shape[0] == R.shape[1] and _scaled_cond(R) <= MAX_SCALED_COND:
            self._Q, self._R = Q, R
        return Q

    def project(self, Q):
        if Q is self._P and self._H is not None:
            self.hits += 1
            return self._H
        if Q is self._Q and self._R is not None:
            self.hits += 1
            return sla.solve_triangular(self._R, self._H, trans="C", check_finite=False)
        self.passes += 1
        return super().project(Q)


#: ``Q^H X = R^-H (P^H X)`` is used when R with unit columns has at most this condition
#: number (the accuracy of the product degrades with it).
MAX_SCALED_COND = 10.0


def _scaled_cond(R: np.ndarray) -> float:
    norms = np.linalg.norm(R, axis=0)
    if not (np.all(norms > 0) and np.all(np.isfinite(R))):
        return np.inf
    return float(np.linalg.cond(R / norms))


class RandomizedSVD:
    """Warm-started subspace iteration with a growing block (see module docstring).

    Parameters
    ----------
    shape, dtype : the matrices' shape and dtype.
    random_state : seed for the Gaussian start block (results are deterministic).
    oversample : extra columns beyond the predicted rank (at least this many, and
        at least 10 % of the rank).
    cold_power_iters : power iterations when there is no previous subspace.
    max_fraction : above this fraction of ``min(m, n)`` the full SVD is used instead.
    max_refine : extra subspace steps per call while the rank is changing.
    max_rank : int, optional
        Return at most this many triplets; the block then never
        grows past ``max_rank`` plus the oversampling margin.

    Called as ``engine(X, tau)`` with an ndarray X, or with an operator having the methods
    of :class:`DenseOperator` (the Dask engine's row blocks).
    """

    name = "randomized"

    def __init__(
        self,
        shape,
        dtype,
        random_state=None,
        oversample=8,
        cold_power_iters=2,
        max_fraction=0.4,
        max_refine=2,
        max_rank=None,
    ):
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.rng = rng_from(random_state)
        self.oversample = oversample
        self.cold_power_iters = cold_power_iters
        self.kmax = max(1, int(max_fraction * min(shape)))
        self.max_rank = max_rank
        # The largest block a capped engine uses: the cap plus the margin kept above it.
        self.kcap = None if max_rank is None else max_rank + self._margin(max_rank)
        self.k = min(10 + oversample, self.kmax)
        if self.kcap is not None:
            self.k = min(self.k, self.kcap)
        self.V: np.ndarray | None = None  # right singular vectors of the last call, n x k
        self.max_refine = max_refine
        self.last_rank = -1
        self._topup = False  # the next call's extra columns are a margin top-up
        # Tall matrices take the Gram route in warm steps and top up without power steps.
        self.tall = shape[0] >= GRAM_ORTH_MIN_ROWS
        self.full_calls = 0
        self.grown = 0
        self._planned: tuple[int, np.ndarray] | None = None  # (k, start block) promised

    def _start_block(self, k: int) -> np.ndarray:
        n = self.shape[1]
        V = self.V
        have = 0 if V is None else V.shape[1]
        if V is not None and have >= k:
            return V[:, :k]
        fresh = self.rng.standard_normal((n, k - have))
        if self.dtype.kind == "c":
            fresh = fresh + 1j * self.rng.standard_normal((n, k - have))
        fresh = fresh.astype(self.dtype, copy=False)
        if V is None:
            return fresh
        if self.tall:
            # Orthogonal to the kept vectors, so X @ fresh holds none of the leading singular
            # directions and the block X V stays well conditioned (Gram orthonormalisation).
            fresh -= V @ (V.conj().T @ fresh)
        return np.hstack([V, fresh])

    _orth = staticmethod(orthonormal_basis)

    def _margin(self, rank):
        return max(self.oversample, rank // 10)

    def __call__(self, X, tau):
        op = DenseOperator(X) if isinstance(X, np.ndarray) else X
        refine = 0  # extra subspace steps taken in this call
        while True:
            k = self.k
            if k > self.kmax:
                return self._full(op, tau)
            # Fresh random columns need power iterations at a cold start or when the block
            # proved too small, not when they only top up the margin above the rank.
            fresh = self.V is None or self.V.shape[1] < k
            power = self.cold_power_iters if fresh and not (self._topup and self.tall) else 0
            self._topup = False
            # Warm, P = X V is nearly orthogonal, and Q = P C (gram_orthonormalizer) is
            # never formed: B = C^H (P^H X) and U = P (C Ub).
            planned, self._planned = self._planned, None
            P = op.matmat(planned[1] if planned and planned[0] == k else self._start_block(k))
            C = None
            if not power and self.tall:
                C = op.orthonormalizer(P)
            if C is None:
                Q = op.orth(P)
                for _ in range(power):
                    Q = op.orth(op.matmat(self._orth(op.rmatmat(Q))))
                B = op.project(Q)
            else:
                B = C.conj().T @ op.project(P)
            Ub, s, Vh = small_svd(B)
            svp = int(np.count_nonzero(s > tau))
            if self.max_rank is not None:
                svp = min(svp, self.max_rank)
            self.V = Vh.conj().T
            margin = self._margin(svp)
            if svp > k - max(2, margin // 2):
                # Too few columns to be sure every triplet above tau is in: grow the block
                # (a capped engine stops at kcap, where svp <= max_rank always passes).
                self.k = min(svp + 2 * margin, max(2 * k, k + margin))
                if self.kcap is not None:
                    self.k = min(self.k, self.kcap)
                if self.k > min(self.shape):
                    self.k = self.kmax + 1
                self.grown += 1
                continue
            if svp != self.last_rank and refine < self.max_refine:
                # The rank moved, so the subspace is in flux: one more step from here.
                refine += 1
                self.last_rank = svp
                continue
            self.last_rank = svp
            self.k = svp + margin
            self._topup = self.k > k
            U = op.lift(Q, Ub[:, :svp]) if C is None else op.lift(P, C @ Ub[:, :svp])
            return U, s[:svp], Vh[:svp]

    def planned_block(self):
        """The start block of the next call when that call begins with a step needing no
        power iterations, else None (cold start, grown block, full SVD). The block is drawn
        now (fresh columns of a top-up included) and the next call uses it, so an operator
        may compute ``X @ block`` ahead, in the pass that produces the next matrix."""
        k = self.k
        if k > self.kmax or self.V is None:
            return None
        if self.V.shape[1] < k and not (self._topup and self.tall):
            return None  # fresh columns with power iterations
        self._planned = (k, self._start_block(k))
        return self._planned[1]

    def _full(self, op, tau):
        self.full_calls += 1
        U, s, Vh = op.full_svd()
        svp = int(np.count_nonzero(s > tau))
        if self.max_rank is not None:
            svp = min(svp, self.max_rank)
        self.V = None
        self.last_rank = svp
        self.k = svp + self._margin(svp)
        return U[:, :svp], s[:svp], Vh[:svp]


class AdjointOperator:
    """The operator of ``X^H`` given one of ``X`` (:class:`DenseOperator`'s methods), so
    that a wide matrix is decomposed as its tall adjoint without a transposed copy."""

    def __init__(self, op):
        self.op = op

    def matmat(self, W):
        return self.op.rmatmat(W)

    def rmatmat(self, Q):
        return self.op.matmat(Q)

    def project(self, Q):
        return self.op.matmat(Q).conj().T

    orth = staticmethod(orthonormal_basis)
    orthonormalizer = staticmethod(gram_orthonormalizer)

    def lift(self, Q, Ub):
        return Q @ Ub

    def full_svd(self):
        U, s, Vh = self.op.full_svd()
        return Vh.conj().T, s, U.conj().T


class WideRandomizedSVD(RandomizedSVD):
    """:class:`RandomizedSVD` of a wide in-memory matrix, run on its tall adjoint: the
    subspace lives in the long dimension, so the warm step takes the Gram route and the
    small SVD is k x m instead of k x n (a 50-frame video solved as 50 x pixels)."""

    def __init__(self, shape, dtype, random_state=None, max_rank=None, **options):
        super().__init__(shape[::-1], dtype, random_state, max_rank=max_rank, **options)

    def __call__(self, X, tau):
        op = DenseOperator(X) if isinstance(X, np.ndarray) else X
        U, s, Vh = super().__call__(AdjointOperator(op), tau)
        return Vh.conj().T, s, U.conj().T

    def planned_block(self):
        return None  # only the row-block (Dask) operator computes blocks ahead


def make_engine(svd: str, shape, dtype, random_state=None, max_rank=None, *, in_memory=False):
    """The engine named ``svd`` (one of :data:`ENGINES`) for matrices of ``shape``,
    returning at most ``max_rank`` triplets (None: no cap). With ``in_memory`` (ndarray
    inputs only), a randomized engine for a matrix at least :data:`GRAM_MIN_ASPECT` times
    wider than tall and :data:`GRAM_ORTH_MIN_ROWS` wide works on its adjoint."""
    if svd == "auto":
        svd = "full" if min(shape) <= SMALL_SIDE else "randomized"
    cls = {"full": FullSVD, "partial": PartialSVD, "randomized": RandomizedSVD}[svd]
    m, n = shape
    if cls is RandomizedSVD and in_memory and n >= max(GRAM_MIN_ASPECT * m, GRAM_ORTH_MIN_ROWS):
        cls = WideRandomizedSVD
    return cls(shape, dtype, random_state, max_rank=max_rank)


#: :func:`spectral_norm` takes the Gram route for matrices at least this many times longer
#: than wide (the k x k Gram matrix is then at most a quarter of the matrix's size).
GRAM_MIN_ASPECT = 4


def spectral_norm(X: np.ndarray, random_state=None, threads: int = 1) -> float:
    """Largest singular value ``||X||_2``, to near machine precision.

    Full SVD values for small matrices. A thin matrix (4 times longer than wide, whatever
    its size: 50 video frames of 576 x 768 took 0.9 s by the full SVD) goes the Gram route:
    the largest eigenvalue of the k x k Gram matrix (k the smaller side) is one BLAS
    product plus a tiny eigenproblem, and the largest eigenvalue is perfectly conditioned,
    so its square root is accurate to rounding (15x faster than Lanczos on a 20000 x 200
    video matrix). Other matrices use Lanczos (ARPACK, via ``svds``).

    Parameters
    ----------
    X : ndarray, 2-D
        The matrix (real or complex).
    random_state : None, int or Generator
        Seeds the Lanczos start vector.
    threads : int
        Threads for the Gram route's product (row ranges side by side).

    Returns
    -------
    float
    """
    small, large = min(X.shape), max(X.shape)
    thin = large >= GRAM_MIN_ASPECT * small
    if small <= 64 and not thin:
        return float(sla.svdvals(X, check_finite=False)[0])
    if thin:
        A = X if X.shape[0] == small else X.T
        G = RowSplit(large, threads).sum(lambda c0, c1: A[:, c0:c1] @ A[:, c0:c1].conj().T)
        top = sla.eigvalsh(
            G, subset_by_index=[small - 1, small - 1], overwrite_a=True, check_finite=False
        )[0]
        return float(np.sqrt(max(float(top), 0.0)))
    v0 = rng_from(random_state).standard_normal(small)
    try:
        return float(
            svds(
                X, k=1, return_singular_vectors=False, v0=v0.astype(X.dtype), solver="arpack", tol=0
            )[0]
        )
    except Exception:  # ARPACK did not converge: pay for the exact answer
        return float(sla.svdvals(X, check_finite=False)[0])
