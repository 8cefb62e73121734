"""Streaming Robust PCA: split each incoming frame into background + sparse in bounded time.

A batch :func:`~fastrpca.rpca` on the first frames (stable PCP, ``delta="auto"``: the
sensor noise stays out of the background, whose rank is then that of the scene, 1-5 for a
static camera, not 10-20) gives an orthonormal background basis ``U`` (m x k, m pixels).
Each new frame ``z`` is then

1. projected robustly: ``min_r,e 1/2 ||z - U r - e||^2 + t ||e||_1``, the per-sample
   problem of online Robust PCA by stochastic optimisation (Feng, Xu & Yan, NeurIPS 2013),
   solved by alternating soft thresholding and projection, then refitted by least
   squares on the entries within ``t`` of the background (no shrinkage bias);
2. split: background ``B = U r``; sparse ``S = z - B`` where ``|z - B| > t``, else 0;
3. folded into the basis: the frame, with entries deviating by more than ``reject * t``
   treated as missing (replaced by ``B``), updates ``U`` by a rank-one incremental SVD
   with exponential forgetting (Brand 2002). Slow changes of the scene (illumination
   drift) stay within ``reject * t`` from frame to frame and are followed; anomalies
   beyond it are never absorbed, however long they persist.

Per frame this costs ``O(m k)`` per inner iteration (typically 4-8) plus ``O(m k^2)``
for the update, and allocates nothing in steady state.

Why these choices (measured on planted drifting sequences, ``tests/naive/stream.py``):
an exact l1 projection (as in GRASTA, He, Balzano & Szlam, CVPR 2012, or a per-frame
IALM) puts every out-of-subspace change into S, so the basis never sees the drift and
loses track; the thresholded projection keeps small residuals in the background.
OR-PCA's own basis update (a block-coordinate sweep on accumulated statistics, fed with
``z - e``) lags more than the incremental SVD at the same forgetting factor, and feeding
``z - e`` (clipped residuals) absorbs a persistent anomaly within tens of frames; treating
large residuals as missing does not, and still follows fast drift when ``reject`` leaves
room for the tracking lag.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._core.concurrency import Exclusive
from .._core.validation import (
    as_array,
    check_all_finite,
    check_out,
    check_random_state,
    finish_out,
    ldexp,
    positive,
    scale_exponent,
)
from ._kernels.stream import count_nonfinite, process_frames
from .ialm import RPCAResult, rpca

__all__ = ["StreamingRPCA"]


class StreamingRPCA:
    """Robust PCA one frame at a time: background + sparse anomalies in bounded time.

    Parameters
    ----------
    rank : int, optional
        Dimension k of the background subspace. Default: the rank :func:`rpca` finds on
        the frames given to :meth:`fit` (capped at this value when it is given).
    threshold : float, optional
        Entries deviating from the background by more than this (in the frames' units)
        are sparse; each frame moves the basis by at most this much per entry. Set it
        above the noise level of your data. Default: 0.05 times the RMS of the
        background found by :meth:`fit`.
    forget : float
        Weight in (0, 1] kept by the past at each frame: the basis remembers about
        ``1 / (1 - forget)`` frames (20 by default). Smaller follows drift faster but is
        noisier; 1 never forgets (no drift tracking). On real camera sequences 0.95 and
        0.98 agreed with the batch decomposition (F-measure within 0.01); 0.8 lost
        0.005-0.015 to it.
    reject : float
        Entries deviating from the background by more than ``reject * threshold`` are
        treated as missing when updating the basis (>= 1). Larger follows faster drift;
        anomalies smaller than ``reject * threshold`` that persist become background.
    lam : float, optional
        Sparsity weight of the batch :func:`rpca` run by :meth:`fit`.
    delta : float or "auto"
        Noise bound of the batch :func:`rpca` run by :meth:`fit` (stable PCP, solved to
        tolerance 1e-3); 0 runs exact PCP (to rpca's default tolerance) instead.
    tol : float, optional
        Inner iterations stop when the coefficient step is below ``tol * ||z||``.
        Default 1e-6 (float64) or 1e-4 (float32).
    max_inner : int
        Cap on the inner iterations per frame (bounds the latency).
    max_jump : float
        A frame whose norm exceeds ``max_jump`` times the typical norm of the frames
        seen so far (a running mean with the weights of ``forget``), or that holds NaN /
        Inf (with ``check_finite=False``), is refused: its background is the last
        accepted frame's (its coefficients in the current basis), all of it is sparse,
        it is not folded into the basis, it is flagged in ``refused`` and a
        ``RuntimeWarning`` says so. One corrupt frame (a glitch of 1e300) then cannot
        poison every later background.
    random_state : None, int or Generator
        Seeds the batch :func:`rpca` of :meth:`fit`; streaming itself is deterministic.
    check_finite : bool
        Reject NaN / Inf frames (default for :meth:`fit` and :meth:`process`).

    Attributes
    ----------
    frame_shape : tuple
        Shape of one frame.
    dtype : numpy dtype
        float32 or float64, that of the frames given to :meth:`fit`.
    rank_ : int
        Dimension of the background subspace.
    threshold_ : float
        The sparse threshold in use.
    init_result : RPCAResult
        The batch :func:`rpca` of :meth:`fit` (columns = frames).
    n_frames : int
        Frames processed since :meth:`fit`.
    n_inner : ndarray of int
        Inner iterations of each frame of the last call.
    n_sparse : ndarray of int
        Sparse entries of each frame of the last call; a large
        value flags an anomalous frame.
    refused : ndarray of bool
        Which frames of the last call were refused (see
        ``max_jump``).
    n_refused : int
        Frames refused since :meth:`fit`.

    Notes
    -----
    Call :meth:`fit` on a few tens of frames, then :meth:`process` for each new frame.
    The arrays :meth:`process` returns are the stream's own buffers, overwritten by the
    next call (pass ``out=`` to write elsewhere). Threads: run one stream per thread (the
    kernels release the GIL); a call while another thread's call uses the same stream
    raises ``InUseError`` (a ``RuntimeError``).

    Examples
    --------
    >>> import numpy as np
    >>> from fastrpca import StreamingRPCA
    >>> rng = np.random.default_rng(0)
    >>> basis = rng.standard_normal((2, 24, 32))
    >>> frames = np.einsum("tk,khw->thw", 3 + rng.standard_normal((60, 2)), basis)
    >>> frames += 0.01 * rng.standard_normal(frames.shape)  # sensor noise
    >>> frames[40:, 5:8, 5:8] += 20.0                        # an object appears
    >>> stream = StreamingRPCA().fit(frames[:30], random_state=0)
    >>> for frame in frames[30:]:
    ...     background, sparse = stream.process(frame)
    >>> stream.rank_, int(stream.n_sparse[0])
    (2, 9)
    >>> bool(np.allclose(sparse[5:8, 5:8], 20.0, atol=0.05))
    True
    """

    def __init__(
        self,
        rank: int | None = None,
        *,
        threshold: float | None = None,
        forget: float = 0.95,
        reject: float = 4.0,
        lam: float | None = None,
        delta: float | str = "auto",
        tol: float | None = None,
        max_inner: int = 50,
        max_jump: float = 1e3,
        random_state=None,
        check_finite: bool = True,
    ):
        self.rank = None if rank is None else positive(rank, "rank", integer=True)
        self.threshold = None if threshold is None else positive(threshold, "threshold")
        forget = positive(forget, "forget", upper=1.0)
        self.forget = forget
        self.reject = positive(reject, "reject")
        if self.reject < 1:
            raise ValueError(f"reject must be >= 1 (a multiple of threshold), got {reject}")
        self.lam = None if lam is None else positive(lam, "lam")
        from .ialm import _check_delta

        self.delta = _check_delta(delta)
        self.tol = None if tol is None else positive(tol, "tol", upper=1.0)
        self.max_inner = positive(max_inner, "max_inner", integer=True)
        self.max_jump = positive(max_jump, "max_jump")
        self.random_state = check_random_state(random_state)
        self.check_finite = bool(check_finite)
        self.frame_shape: tuple[int, ...] | None = None
        self._in_use = Exclusive("this StreamingRPCA", "run one stream per thread")

    # ------------------------------------------------------------------ initialisation
    def fit(self, frames, *, random_state=None) -> StreamingRPCA:
        """Initialise the background subspace from a batch of frames.

        Parameters
        ----------
        frames : array_like, shape ``(n_frames, *frame_shape)``
            At least 2 frames (a few tens is typical), real. Integers are promoted to
            float64; float32 frames give a float32 stream. Never modified.
        random_state : None, int or Generator, optional
            Overrides the constructor's seed for the batch :func:`rpca`.

        Returns
        -------
        self
        """
        with self._in_use:
            return self._fit(frames, random_state)

    def _fit(self, frames, random_state) -> StreamingRPCA:
        frames = as_array(frames, "frames", allow_complex=False, check_finite=False)
        if frames.ndim < 2 or frames.shape[0] < 2:
            raise ValueError(
                f"frames has shape {frames.shape}; pass a stack of at least 2 "
                "frames, shape (n_frames, *frame_shape)"
            )
        if self.check_finite:
            check_all_finite(frames, "frames", hint="; fit on frames without them")
        n, frame_shape = frames.shape[0], frames.shape[1:]
        m = int(np.prod(frame_shape))
        if m < 2:
            raise ValueError(f"frames of shape {frame_shape} have {m} entry; need at least 2")
        seed = self.random_state if random_state is None else random_state
        # Frames far from 1 (their squares would over- or underflow in the kernels) are
        # streamed scaled by 2**-e, exactly; every output is scaled back.
        finite = np.isfinite(frames)
        peak = float(np.abs(frames[finite]).max()) if finite.any() else 0.0
        e = scale_exponent(peak, frames.dtype)
        if e:
            frames = ldexp(frames, -e)
        M = frames.reshape(n, m).T
        stable = self.delta != 0
        result = rpca(
            M,
            self.lam,
            delta=self.delta,
            rank=self.rank,
            tol=1e-3 if stable else None,
            random_state=seed,
            check_finite=False,
        )
        k = result.rank if self.rank is None else self.rank
        if k == 0:
            raise ValueError(
                "rpca found no low-rank background in these frames (rank 0); "
                "fit on more frames, with a larger lam, or set rank"
            )
        if k > min(m, n):
            raise ValueError(
                f"rank={k} exceeds min(pixels, frames) = {min(m, n)}; fit on "
                "more frames or lower rank"
            )
        # Weight the batch as the stream would have: frame j has weight forget^(n-1-j).
        weights = self.forget ** ((n - 1 - np.arange(n)) / 2.0)
        U, s, _ = np.linalg.svd(result.L.astype(np.float64) * weights, full_matrices=False)
        dtype = frames.dtype
        scale = np.sqrt(np.mean(np.square(result.L, dtype=np.float64)))
        if scale == 0:
            scale = np.sqrt(np.mean(np.square(M, dtype=np.float64))) or 1.0

        self.frame_shape, self.dtype, self.rank_ = tuple(frame_shape), dtype, k
        self._e = e
        if self.threshold is None:
            self.threshold_ = float(np.ldexp(0.05 * float(scale), e))
        else:
            self.threshold_ = self.threshold
        threshold = float(np.ldexp(self.threshold_, -e))  # in the stream's units
        self.tol_ = (1e-6 if dtype == np.float64 else 1e-4) if self.tol is None else self.tol
        self._Ut = np.ascontiguousarray(U[:, :k].T, dtype=dtype)  # (k, m)
        self._sv = np.ascontiguousarray(s[:k])
        # r, p, K, V, s_new, G, x, r_last (the last accepted frame's coefficients)
        self._scratch = (
            np.zeros(k),
            np.zeros(k),
            np.zeros((k + 1, k + 1)),
            np.zeros((k + 1, k + 1)),
            np.zeros(k + 1),
            np.zeros((k, k)),
            np.empty(m, dtype),
            U[:, :k].T @ result.L[:, -1].astype(np.float64),
        )
        self._Ut_next = np.empty_like(self._Ut)
        # the reference energy: frame energies averaged with the stream's weights
        energies = np.einsum("ij,ij->j", M, M, dtype=np.float64)
        w = weights**2
        reference = float(energies @ w / w.sum())
        self._params = np.array(
            [threshold, self.forget, self.tol_, self.reject, reference, self.max_jump]
        )
        self._capacity = 0
        self._grow(1)
        if e:
            ldexp(result.L, e, out=result.L)
            ldexp(result.S, e, out=result.S)
            result.mu = float(np.ldexp(result.mu, -e))
        self.init_result: RPCAResult = result
        self.n_frames = 0
        self.n_refused = 0
        return self

    def _grow(self, b: int) -> None:
        """Frame buffers for batches of up to ``b`` frames (allocated only when b grows)."""
        if b <= self._capacity:
            return
        m = self._Ut.shape[1]
        self._Z = np.empty((b, m), self.dtype)
        self._B = np.empty((b, m), self.dtype)
        self._S = np.empty((b, m), self.dtype)
        self._info = np.zeros((b, 3), np.int64)
        self._capacity = b

    # ------------------------------------------------------------------ streaming
    def process(
        self,
        frames,
        *,
        out: tuple[np.ndarray, np.ndarray] | None = None,
        update: bool = True,
        check_finite: bool | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Split one frame (or a small batch, in order) into background and sparse parts.

        Parameters
        ----------
        frames : array_like
            One frame of shape ``frame_shape``, or a batch ``(b, *frame_shape)``
            processed in order (the same result as b single calls). Real; cast to the
            stream's dtype. Never modified.
        out : (ndarray, ndarray), optional
            Two separate (non-overlapping) C-contiguous arrays of the frames' shape and
            the stream's dtype to receive background and sparse parts. Default: the
            stream's buffers, overwritten by the next call (copy them to keep them).
        update : bool
            Fold the frames into the background subspace (False: split only).
        check_finite : bool, optional
            Reject NaN / Inf; default the constructor's setting.

        Returns
        -------
        background, sparse : ndarray
            ``frames = background + sparse + r`` with ``r`` within ``threshold_`` of 0
            entrywise (``sparse`` is 0 there).
        """
        with self._in_use:
            return self._process(frames, out, update, check_finite)

    def _process(self, frames, out, update, check_finite):
        if self.frame_shape is None:
            raise RuntimeError(
                "this StreamingRPCA is not initialised; call "
                "fit(first_frames) before process(frame)"
            )
        frames = np.asarray(frames)
        if frames.dtype.kind not in "biuf":
            kind = "complex" if frames.dtype.kind == "c" else "non-numeric"
            raise TypeError(
                f"frames have dtype {frames.dtype} ({kind}); pass real frames "
                "(float32, float64 or integers)"
            )
        fs = self.frame_shape
        if frames.shape == fs:
            b = 1
        elif frames.shape[1:] == fs and frames.ndim == len(fs) + 1 and frames.shape[0] > 0:
            b = frames.shape[0]
        else:
            raise ValueError(
                f"frames have shape {frames.shape} but this stream was fitted "
                f"on frames of shape {fs}; pass one frame of shape {fs} or a "
                f"batch of shape (b, {', '.join(map(str, fs))})"
            )
        self._grow(b)
        Z = self._Z[:b]
        np.copyto(Z.reshape(frames.shape), frames, casting="unsafe")
        if self._e:
            ldexp(Z, -self._e, out=Z)
        if self.check_finite if check_finite is None else check_finite:
            bad = count_nonfinite(Z)
            if bad:
                raise ValueError(
                    f"frames contain {bad} NaN or infinite entries; replace "
                    "them (e.g. by the last background) before process()"
                )
        if out is None:
            B, S = self._B[:b], self._S[:b]
        else:
            (B, B_out), (S, S_out) = self._outs(out, frames.shape)
            B, S = B.reshape(b, -1), S.reshape(b, -1)
        info = self._info[:b]
        process_frames(
            Z,
            self._Ut,
            self._Ut_next,
            self._sv,
            B,
            S,
            info,
            *self._scratch,
            self._params,
            self.max_inner,
            bool(update),
        )
        if self._e:
            ldexp(B, self._e, out=B)
            ldexp(S, self._e, out=S)
        self.n_inner, self.n_sparse = info[:, 0], info[:, 1]
        self.refused = info[:, 2].astype(bool)
        if update:
            self.n_frames += b
        if self.refused.any():
            self._warn_refused(b)
        if out is not None:
            shape = frames.shape
            return finish_out(B.reshape(shape), B_out), finish_out(S.reshape(shape), S_out)
        return B.reshape(frames.shape), S.reshape(frames.shape)

    def _warn_refused(self, b: int) -> None:
        which = np.flatnonzero(self.refused)
        self.n_refused += which.size
        where = "the frame" if b == 1 else f"frame(s) {which.tolist()} of the batch"
        warnings.warn(
            f"StreamingRPCA refused {where}: NaN / Inf entries, or a norm more than "
            f"max_jump={self.max_jump:g} times that of the frames so far (a corrupt "
            "frame?). It got the last accepted frame's background, all of it is in "
            "sparse, and the background model is unchanged (see .refused)",
            RuntimeWarning,
            stacklevel=3,
        )

    def _outs(self, out, shape):
        """``((work, target), (work, target))`` for ``out=(background, sparse)``."""
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ValueError(
                f"out must be a pair (background, sparse) of arrays, got {type(out).__name__}"
            )
        if all(isinstance(o, np.ndarray) for o in out) and np.may_share_memory(*out):
            raise ValueError(
                "out's background and sparse arrays share memory; pass two separate "
                "arrays, e.g. out=(np.empty(shape), np.empty(shape))"
            )
        return tuple(
            check_out(o, shape, self.dtype, name=f"out {name}")
            for o, name in zip(out, ("background", "sparse"))
        )

    # ------------------------------------------------------------------ inspection
    @property
    def components(self) -> np.ndarray:
        """The background basis as ``rank`` orthonormal images, shape ``(rank, *frame_shape)``."""
        frame_shape = self._check_fitted()
        return self._Ut.reshape((self.rank_,) + frame_shape).copy()

    @property
    def singular_values(self) -> np.ndarray:
        """Forgetting-weighted singular values of the background seen so far."""
        self._check_fitted()
        return np.ldexp(self._sv, self._e)

    def _check_fitted(self) -> tuple[int, ...]:
        """The frame shape of a fitted stream; raise if :meth:`fit` was not called."""
        if self.frame_shape is None:
            raise RuntimeError("this StreamingRPCA is not initialised; call fit() first")
        return self.frame_shape

    def __repr__(self) -> str:
        if self.frame_shape is None:
            return f"StreamingRPCA(rank={self.rank}, forget={self.forget}, not fitted)"
        return (
            f"StreamingRPCA(frame_shape={self.frame_shape}, rank={self.rank_}, "
            f"threshold={self.threshold_:.3g}, forget={self.forget}, "
            f"dtype={np.dtype(self.dtype).name}, n_frames={self.n_frames})"
        )


def _warmup() -> None:
    """Compile (or load) the streaming kernels (real frames: float32 and float64)."""
    for dtype in (np.float32, np.float64):
        Ut = np.eye(2, 4, dtype=dtype)
        Z = np.ones((1, 4), dtype)
        scratch = (
            np.zeros(2),
            np.zeros(2),
            np.zeros((3, 3)),
            np.zeros((3, 3)),
            np.zeros(3),
            np.zeros((2, 2)),
            np.empty(4, dtype),
            np.zeros(2),
        )
        count_nonfinite(Z)
        process_frames(
            Z,
            Ut,
            Ut.copy(),
            np.ones(2),
            Z.copy(),
            Z.copy(),
            np.zeros((1, 3), np.int64),
            *scratch,
            np.array([0.1, 0.9, 1e-6, 4.0, 4.0, 1e3]),
            5,
            True,
        )
