"""Row blocks of a matrix on Dask workers, and the IALM work done on them in place.

Each row block of ``M`` (all n columns) becomes one :class:`Block` that stays on one
worker (or in the client process under the threaded scheduler) for the whole solve and is
updated in place by small tasks: its ``D``, ``S`` pair, ``Y`` and ``X`` are never copied,
re-sent or re-allocated, and each task returns only O(k n) numbers. :class:`BlockOperator`
presents the blocks to :class:`~fastrpca.robust_pca.svd.RandomizedSVD` through the same
methods as an in-memory matrix (:class:`~fastrpca.robust_pca.svd.DenseOperator`), so the
engine logic (growth, refinement, full-SVD fallback) is shared.

Tall blocks (m x k) live on the workers as named arrays of each block, with a small right
factor held by the client (:class:`Tall`): block i of the tall matrix is
``block_i.tall[name] @ T_i``. The name ``"X"`` means the block's current SVT input. Out of
core (:class:`DiskBlock`) the named tall arrays are files too (:class:`TallFiles`), so
nothing m-sized stays in memory between tasks.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import threading
from collections.abc import Iterator, MutableMapping
from typing import Any

import numpy as np
import scipy.linalg as sla

from .._core.linalg import orthonormalizer_from_gram, small_svd
from .._core.validation import ldexp
from ._kernels.ialm import fused_pass, norm_and_max, project_pass, tiled_pass
from .ialm import tile_rows, tiled_step


class StaleBlockError(RuntimeError):
    """A block is not at the iteration the client expects (a worker was lost and the
    block rebuilt from its first task, or a stale replica was used)."""


class Block:
    """One row block's solver state, in memory: ``D`` (M with unobserved entries zeroed),
    ``mask``, ``S0`` / ``S1`` (the current and next S), ``Y``, ``X`` (SVT input or L),
    for stable PCP ``E`` (the noise part, allocated by :func:`start`) and named tall
    arrays. Tasks reach the big arrays through :meth:`get` / :meth:`overwrite`
    (which :class:`DiskBlock` backs by files) inside :meth:`task`."""

    def __init__(self, M, mask, start: int):
        self.start = start  # first row of the block in M
        self.shape = M.shape
        self.dtype = M.dtype
        self.masked = mask is not None and not mask.all()
        self.cur = 0  # S{cur} is the S paired with the latest L
        self.exponent = 0  # D is M * 2**-exponent
        self.stable = False  # whether E is part of the state (stable PCP)
        # What X holds, for a block that rebuilds it: (S name, mu, w, Vh) for the SVT
        # input D - S (- E) + Y/mu (L where unobserved); S name None for L = U diag(w) Vh.
        self.x_state: tuple[str | None, float, Any, Any] = ("S0", 1.0, None, None)
        self.tall: MutableMapping[str, np.ndarray] = {}
        self.generation = 0  # step passes done
        self._store(M, mask if self.masked else None)

    def _store(self, M, mask):
        if mask is None:
            D = np.array(M, dtype=self.dtype, order="C", copy=True)
        else:
            D = np.zeros(M.shape, self.dtype)
            np.copyto(D, M, where=mask)
        self.arrays = {"D": D, "mask": None if mask is None else np.ascontiguousarray(mask)}
        for name in ("S0", "S1", "Y", "X"):
            self.arrays[name] = np.zeros_like(D)

    def get(self, name):
        """The array ``name`` (``"S"`` / ``"S_next"``: the current / next S)."""
        return self.arrays[self._name(name)]

    def overwrite(self, name):
        """The array ``name``, to be overwritten entirely (its contents may be stale)."""
        return self.get(name)

    def _name(self, name):
        if name == "S":
            return f"S{self.cur}"
        if name == "S_next":
            return f"S{1 - self.cur}"
        return name

    @contextlib.contextmanager
    def task(self, writes: bool):
        yield self

    def touch(self, name):
        """Say that a task changed the array ``name`` in place."""

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (*self.arrays.values(), *self.tall.values()) if a is not None)

    def check(self, generation):
        if self.generation != generation:
            raise StaleBlockError(
                f"row block at {self.start} is at iteration {self.generation}, expected "
                f"{generation}: a worker holding it was probably lost; resume from the last "
                "checkpoint (rpca(..., resume=path))"
            )

    def tall_block(self, name, T):
        base = self.get("X") if name == "X" else self.tall[name]
        return base if T is None else base @ T


class Source:
    """M's block (and mask block) as an unevaluated Dask graph, read again when needed."""

    def __init__(self, M, mask):
        self.M, self.mask = M, mask

    def read(self):
        import dask

        return dask.compute(self.M, self.mask, scheduler="sync")


class DiskBlock(Block):
    """A :class:`Block` whose m x n arrays live in files in ``directory``: a task reads the
    ones it uses and writes back the ones it changes, so a worker holds one block's arrays
    per running task whatever the matrix's size (out of core).

    Only Y (``.npy``) and the S pair (Blosc-compressed: S is mostly zeros) are stored for
    good; X is rebuilt from them when a task needs it (``X = D - S + Y/mu``, L where
    unobserved), and D is stored once, or with a ``source`` read again from M's own graph
    in every task that needs it (files, zarr: no copy of M on disk).
    """

    def __init__(self, M, mask, start: int, directory: str, source: Source | None = None):
        self.directory = os.path.join(os.fspath(directory), f"block-{start}")
        self.source = source
        self._cache: dict[str, np.ndarray] = {}
        self._dirty: set[str] = set()
        super().__init__(M, mask, start)
        self.tall = TallFiles(self.directory)

    def _path(self, name):
        return os.path.join(self.directory, f"{name}.{'blosc' if name[0] == 'S' else 'npy'}")

    def _store(self, M, mask):
        os.makedirs(self.directory, exist_ok=True)
        super()._store(M, mask)
        for name in ("S0", "S1", "Y") if self.source else ("D", "mask", "S0", "S1", "Y"):
            arr = self.arrays[name]
            if arr is not None:
                write_state(self._path(name), arr)
        self.arrays = {}
        self.x_state = ("S0", 1.0, None, None)

    def get(self, name):
        name = self._name(name)
        if name == "mask" and not self.masked:
            return None
        if name not in self._cache:
            if name == "X":
                self._cache["X"] = self._rebuild_x()
            elif name in ("D", "mask") and self.source is not None:
                M, mask = self.source.read()
                D = _buffer("D", self.shape, self.dtype)
                np.copyto(D, M)
                if self.masked:
                    D[~mask] = 0
                    self._cache["mask"] = np.ascontiguousarray(mask)
                self._cache["D"] = D
            else:
                dtype = bool if name == "mask" else self.dtype
                out = _buffer(name, self.shape, dtype)
                self._cache[name] = read_state(self._path(name), out=out)
            if name == "D" and self.exponent:
                ldexp(self._cache["D"], -self.exponent, out=self._cache["D"])
        return self._cache[name]

    def _rebuild_x(self):
        s_name, mu, w, Vh = self.x_state
        X = _buffer("X", self.shape, self.dtype)
        if s_name is None:  # X holds L (stable PCP, between the fused and project passes)
            if w is None or w.size == 0:
                X.fill(0)
            else:
                np.matmul(self.tall["U"] * w, Vh, out=X)
            return X
        np.subtract(self.get("D"), self.get(s_name), out=X)
        if self.stable:
            X -= self.get("E")
        X += self.get("Y") * X.dtype.type(1.0 / mu)
        mask = self.get("mask")
        if mask is not None:
            U = self.tall.get("U")
            L = (U * w) @ Vh if w is not None and w.size else np.zeros_like(X)
            np.copyto(X, L, where=~mask)
        return X

    def overwrite(self, name):
        name = self._name(name)
        self._dirty.add(name)
        if name not in self._cache:
            self._cache[name] = _buffer(name, self.shape, self.dtype)
        return self._cache[name]

    def touch(self, name):
        self._dirty.add(self._name(name))

    @contextlib.contextmanager
    def task(self, writes: bool):
        self._dirty = set()
        try:
            yield self
            if writes:
                for name in self._dirty & {"S0", "S1", "Y", "E"}:
                    write_state(self._path(name), self._cache[name])
        finally:
            self._cache = {}
            self._dirty = set()
            if isinstance(self.tall, TallFiles):
                self.tall.forget()

    @property
    def nbytes(self) -> int:
        """Bytes held in memory (none between tasks: the state is in files)."""
        tall = self.tall.cached() if isinstance(self.tall, TallFiles) else 0
        return sum(a.nbytes for a in self._cache.values()) + tall

    def file(self, name):
        """Path of the file holding ``name`` (``"S"``: the current S; ``"U"``: the left
        factor, a tall array)."""
        if name == "U":
            return _tall_path(self.directory, "U")
        return self._path(self._name(name))

    def tidy(self):
        """Delete the files the result does not use (keeps the current S, Y, E and U)."""
        for name in ("D", "mask", self._name("S_next")):
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._path(name))
        for name in [k for k in self.tall if k != "U"]:
            del self.tall[name]


def _tall_path(directory: str, name: str) -> str:
    return os.path.join(directory, f"tall-{name}.npy")


class TallFiles(MutableMapping):
    """The named tall arrays (m_i x k: U, the sketches ``P = X W``, local Q factors) of an
    out-of-core block, one ``.npy`` file each in the block's folder. An array is read
    when a task first uses it and forgotten when the task ends (:meth:`forget`), so the
    process holds them only for the blocks in flight, whatever the matrix's height."""

    def __init__(self, directory: str):
        self.directory = directory
        self.names: set[str] = set()
        self.cache: dict[str, np.ndarray] = {}

    def _path(self, name: str) -> str:
        return _tall_path(self.directory, name)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.names:
            raise KeyError(name)
        arr = self.cache.get(name)
        if arr is None:
            arr = self.cache[name] = read_state(self._path(name))
        return arr

    def __setitem__(self, name: str, arr: np.ndarray) -> None:
        arr = np.ascontiguousarray(arr)
        write_state(self._path(name), arr)
        self.names.add(name)
        self.cache[name] = arr

    def __delitem__(self, name: str) -> None:
        self.names.remove(name)
        self.cache.pop(name, None)
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._path(name))

    def __contains__(self, name: object) -> bool:  # without reading the file
        return name in self.names

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.names))

    def clear(self) -> None:  # without reading the files (MutableMapping's pops them)
        for name in list(self.names):
            del self[name]

    def __len__(self) -> int:
        return len(self.names)

    def forget(self) -> None:
        """Drop the arrays read or written by the task that ends (they stay in files)."""
        self.cache = {}

    def cached(self) -> int:
        """Bytes held in memory."""
        return sum(a.nbytes for a in self.cache.values())


_POOL = threading.local()


def _buffer(slot: str, shape, dtype) -> np.ndarray:
    """This thread's reusable buffer for ``slot`` (at most two shapes each): an
    out-of-core task reads into the same memory every time instead of faulting in fresh
    pages (which cost more than the disk on some virtual machines)."""
    pool = getattr(_POOL, "arrays", None)
    if pool is None:
        pool = _POOL.arrays = {}
    key = (slot, tuple(shape), np.dtype(dtype).str)
    arr = pool.get(key)
    if arr is None:
        same = [k for k in pool if k[0] == slot]
        for k in same[:-1]:
            del pool[k]
        arr = pool[key] = np.empty(shape, dtype)
    return arr


def write_state(path: str, arr: np.ndarray) -> None:
    """Write a block's array: ``.npy`` as it is, ``.blosc`` compressed (LZ4 without
    shuffle: about 1 GB/s, and a 5 % dense S shrinks 8-fold)."""
    if path.endswith(".npy"):
        np.save(path, arr)
        return
    from numcodecs import Blosc

    arr = np.ascontiguousarray(arr)
    step = max(1, (1 << 30) // max(1, arr[:1].nbytes))  # Blosc buffers stay < 2 GiB
    header = json.dumps({"shape": arr.shape, "dtype": arr.dtype.str, "step": step}).encode()
    codec = Blosc(cname="lz4", clevel=1, shuffle=Blosc.NOSHUFFLE)
    with open(path, "wb") as f:
        f.write(len(header).to_bytes(4, "little"))
        f.write(header)
        for at in range(0, max(arr.shape[0], 1), step):
            part = codec.encode(arr[at : at + step])
            f.write(len(part).to_bytes(8, "little"))
            f.write(part)


def read_scaled(path: str, rows: int, e: int) -> np.ndarray:
    """A result block from its file, times ``2**e``."""
    arr = read_state(path, rows)
    return ldexp(arr, e, out=arr) if e else arr


def read_state(path: str, rows: int | None = None, out: np.ndarray | None = None):
    """Read what :func:`write_state` wrote, into ``out`` when given (same shape and
    dtype); ``rows`` checks the row count."""
    if path.endswith(".npy"):
        with open(path, "rb") as f:
            fmt = np.lib.format
            read_header = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
            shape, fortran, dtype = read_header[fmt.read_magic(f)](f)
            if fortran:
                raise ValueError(f"{path}: Fortran-ordered arrays are not block state")
            arr = np.empty(shape, dtype) if out is None else out
            if arr.shape != tuple(shape) or arr.dtype != dtype:
                raise ValueError(f"{path} holds {shape} {dtype}, not {arr.shape} {arr.dtype}")
            if arr.nbytes and f.readinto(arr.data.cast("B")) != arr.nbytes:
                raise ValueError(f"{path} is truncated")
    else:
        from numcodecs import Blosc

        codec = Blosc()
        with open(path, "rb") as f:
            header = json.loads(f.read(int.from_bytes(f.read(4), "little")))
            shape, dtype = tuple(header["shape"]), np.dtype(header["dtype"])
            arr = np.empty(shape, dtype) if out is None else out
            if arr.shape != shape or arr.dtype != dtype:
                raise ValueError(f"{path} holds {shape} {dtype}, not {arr.shape} {arr.dtype}")
            step, at = header["step"], 0
            while size := f.read(8):
                part = f.read(int.from_bytes(size, "little"))
                codec.decode(part, out=arr[at : at + step])
                at += step
    if rows is not None and arr.shape[0] != rows:
        raise ValueError(f"{path} holds {arr.shape[0]} rows, expected {rows}")
    return arr


#: Tasks that change a block's m x n arrays (a DiskBlock writes those back).
def _writes(fn) -> bool:
    return fn in (start, step, noise_step, load_rows)


# ---- tasks: run where the block lives, mutate it, return small arrays --------------------


def stats(block: Block, gram: bool, rows=None):
    """``(sum |d|^2, max |d|, max(|Re d|, |Im d|), non-finite entries, D^H D or None,
    observed entries, sample)``; ``sample`` is ``[(D[rows], mask[rows] or None)]`` for
    the noise estimate of ``delta="auto"`` (``rows``: local row indices, or a slice),
    else ``[]``."""
    D = block.get("D")
    sum_sq, peak, part = norm_and_max(D)
    # A non-finite sum: NaN / Inf in D, or squares that overflow (rescaled later).
    bad = 0 if np.isfinite(sum_sq) else int(D.size - np.count_nonzero(np.isfinite(D)))
    G = D.conj().T @ D if gram and not bad and np.isfinite(sum_sq) else None
    mask = block.get("mask")
    n_obs = D.size if mask is None else int(np.count_nonzero(mask))
    sample = []
    if rows is not None:
        sample = [(D[rows].copy(), None if mask is None else mask[rows].copy())]
    return float(sum_sq), float(peak), float(part), bad, G, n_obs, sample


def scale(block: Block, e: int):
    """Work on ``D * 2**-e`` (exact): the in-memory solver's rescaling of extreme data."""
    block.exponent = e
    if not isinstance(block, DiskBlock):  # a DiskBlock scales D as it reads it
        D = block.get("D")
        ldexp(D, -e, out=D)


def unscale(block: Block, e: int):
    """Scale the result's S (and E) back by ``2**e`` (in-memory blocks; files are scaled
    on read)."""
    if not isinstance(block, DiskBlock):
        for name in ("S", "E") if block.stable else ("S",):
            arr = block.get(name)
            ldexp(arr, e, out=arr)


def gram_matvec(block: Block, v):
    """``D^H (D v)``: one Lanczos step of the spectral norm."""
    D = block.get("D")
    return D.conj().T @ (D @ v)


def _noise_buffer(block: Block):
    """The block's E, to be overwritten (allocated on first use)."""
    if not isinstance(block, DiskBlock) and "E" not in block.arrays:
        block.arrays["E"] = np.zeros_like(block.arrays["D"])
    return block.overwrite("E")


def start(block: Block, y_scale, mu, lam, stable=False):
    """Zero L, S (and E), the dual start ``Y = D y_scale``, then the first S and, for
    exact PCP, the SVT input; returns ``||W||^2`` of stable PCP's projection (else 0),
    which :func:`noise_step` then makes (with ``s_key="S"``)."""
    block.cur = 0
    block.stable = stable
    X, S0, S1, Y = (block.overwrite(n) for n in ("X", "S0", "S1", "Y"))
    D = block.get("D")
    X.fill(0)
    S0.fill(0)
    E = None
    if stable:
        E = _noise_buffer(block)
        E.fill(0)
    np.multiply(D, y_scale, out=Y)
    w2 = fused_pass(D, X, S0, S1, Y, 0.0, mu, lam, block.get("mask"), E)[1]
    block.cur = 1
    block.tall.clear()
    block.generation = 0
    block.x_state = (None, mu, None, None) if stable else ("S1", mu, None, None)
    return float(w2)


def noise_step(block: Block, generation, s_key, mu, c, W, a_name, gram):
    """Stable PCP's second pass, once ``c = min(1, delta / ||W||)`` is known (X holds L):
    ``E = c W`` and the SVT input ``X = L + (1 - c) W`` with ``W = D - L - S + Y/mu``
    (``S`` the block's ``s_key``: ``"S"`` after :func:`start`, ``"S_next"`` after
    :func:`step`); then, with a start block ``W``, the next warm step's products as in
    :func:`step`. Returns ``(P^H P, P^H X)`` (None for what was not computed)."""
    block.check(generation)
    _, _, w, Vh = block.x_state
    X = block.get("X")
    E = _noise_buffer(block)
    s_name = block._name(s_key)
    project_pass(block.get("D"), X, block.get(s_name), block.get("Y"), E, mu, c, block.get("mask"))
    block.x_state = (s_name, mu, w, Vh)
    if W is None:
        return None, None
    P = X @ W
    block.tall[a_name] = P
    Ph = P.conj().T
    return Ph @ P if gram else None, Ph @ X


def step(block: Block, generation, swap, u_name, u_T, w, Vh, mu, mu_next, lam, W, a_name, gram):
    """One IALM iteration on the block, then the next warm step's products.

    ``swap``: the previous iteration's next S becomes the current one first (the
    in-memory solver's swap, deferred so that a last iteration keeps its pair (L, S)).
    ``U = u_name @ u_T`` (kept as ``tall["U"]``), ``X = U diag(w) Vh`` (L), the fused pass
    (residual, Y, next S, next SVT input); with a start block ``W``: ``P = X W`` (kept as
    ``tall[a_name]``), ``P^H X`` and, with ``gram``, ``P^H P``. Returns
    ``(|Z|^2, |W|^2, P^H P, P^H X)`` (None for what was not computed). Stable PCP
    (``block.stable``): the fused pass also takes E and sums ``|W|^2``, X keeps L, and
    the products wait for :func:`noise_step` (``W`` must be None here). Exact PCP on a
    tall block (the in-memory solver's rule) does all of it in one pass over row tiles
    (:func:`fastrpca.robust_pca.ialm.tiled_step`).
    """
    block.check(generation)
    U = np.ascontiguousarray(block.tall_block(u_name, u_T), dtype=block.dtype)
    X = block.overwrite("X")
    if not block.stable and _tiled(block.shape, block.dtype):  # one pass over row tiles
        if swap:
            block.cur = 1 - block.cur
        total, w2, P, G, H = tiled_step(
            tiled_pass, block.get("D"), X, block.get("S"), block.overwrite("S_next"),
            block.get("Y"), mu, mu_next, lam, block.get("mask"), None, (U * w, Vh), W, gram,
            tile_rows(block.shape[1], block.dtype),
        )  # fmt: skip
        _stepped(block, U, w, Vh, mu_next)
        if W is None:
            return total, w2, None, None
        block.tall[a_name] = P
        return total, w2, G, H
    if U.shape[1] == 0:
        X.fill(0)
    else:
        np.matmul(U * w, Vh, out=X)
    if swap:
        block.cur = 1 - block.cur
    total, w2 = fused_pass(
        block.get("D"),
        X,
        block.get("S"),
        block.overwrite("S_next"),
        block.get("Y"),
        mu,
        mu_next,
        lam,
        block.get("mask"),
        block.get("E") if block.stable else None,
    )
    block.touch("Y")
    _keep_u(block, U)
    block.generation += 1
    if block.stable:  # X keeps L until noise_step, which needs ||W|| of every block
        block.x_state = (None, mu_next, w, Vh)
        return total, w2, None, None
    block.x_state = (f"S{1 - block.cur}", mu_next, w, Vh)
    if W is None:
        return total, w2, None, None
    P = X @ W
    block.tall[a_name] = P
    Ph = P.conj().T
    return total, w2, Ph @ P if gram else None, Ph @ X


def _keep_u(block: Block, U) -> None:
    """The block's tall arrays become ``{"U": U}`` (files of the others deleted)."""
    block.tall.clear()
    block.tall["U"] = U


def _tiled(shape, dtype) -> bool:
    """The in-memory solver's rule (:func:`fastrpca.robust_pca.ialm.tiled_rule`) on a
    block."""
    from . import ialm

    return ialm.tiled_rule(shape, np.dtype(dtype).itemsize)


def _stepped(block, U, w, Vh, mu_next):
    block.touch("Y")
    _keep_u(block, U)
    block.generation += 1
    block.x_state = (f"S{1 - block.cur}", mu_next, w, Vh)


def gram(block: Block, generation, name, T):
    """``P^H P`` of the block's rows of a tall ``P``."""
    block.check(generation)
    P = block.tall_block(name, T)
    return P.conj().T @ P


def matmat(block: Block, generation, W, name):
    block.check(generation)
    block.tall[name] = block.get("X") @ W


def rmatmat(block: Block, generation, name, T):
    block.check(generation)
    return block.get("X").conj().T @ block.tall_block(name, T)


def project(block: Block, generation, name, T):
    block.check(generation)
    return block.tall_block(name, T).conj().T @ block.get("X")


def orth(block: Block, generation, name, T, new):
    """Local QR of a tall block: keep Q, return R (the first level of a TSQR)."""
    block.check(generation)
    Q, R = np.linalg.qr(block.tall_block(name, T))
    block.tall[new] = Q
    return [R]


def x_r(block: Block, generation):
    """R of the local QR of X (the TSQR of the full SVD)."""
    block.check(generation)
    X = block.get("X")
    if X.shape[0] == 0:
        return [X[:0]]
    return [sla.qr(X, mode="r", check_finite=False)[0][: min(X.shape)]]


def take(block: Block, what: str):
    """A result array held by the block (no copy for a Block): ``"S"``, ``"Y"``, ``"E"``,
    ``"U"``."""
    with block.task(writes=False):
        if what == "U":
            U = block.tall["U"]
            return U.copy() if isinstance(block, DiskBlock) else U
        arr = block.get(what)
        return arr.copy() if isinstance(block, DiskBlock) else arr


def write_array(path: str, arr) -> None:
    """Store ``arr`` as the zarr array at ``path`` (one chunk per 2**26 bytes of rows)."""
    import zarr

    arr = np.asarray(arr)
    row_bytes = max(1, arr.itemsize * int(np.prod(arr.shape[1:], dtype=np.int64)))
    rows = max(1, min(arr.shape[0] if arr.ndim else 1, (1 << 26) // row_bytes))
    chunks = tuple(max(1, c) for c in (rows, *arr.shape[1:])) if arr.ndim else ()
    out = zarr.open_array(path, mode="w", shape=arr.shape, chunks=chunks, dtype=arr.dtype)
    out[...] = arr


def read_array(path: str, rows=slice(None)) -> np.ndarray:
    import zarr

    return np.asarray(zarr.open_array(path, mode="r")[rows])


def save_rows(block: Block, generation, path):
    """Write the block's next S, Y, U (and E) into the checkpoint folder ``path``, as
    arrays named by the block's first row (so a resume may use another chunking)."""
    block.check(generation)
    parts = [("S", block.get("S_next")), ("Y", block.get("Y")), ("U", block.tall["U"])]
    if block.stable:
        parts.append(("E", block.get("E")))
    for name, arr in parts:
        write_array(f"{path}/{name}_r{block.start}", arr)
    return block.start, block.start + block.shape[0]


def load_rows(block: Block, path, pieces, w, Vh, mu, stable=False):
    """Load S, Y, U (and E) for the block's rows from a checkpoint; rebuild the SVT input
    ``X = D - S (- E) + Y/mu`` (L from the factors where unobserved)."""
    a, b = block.start, block.start + block.shape[0]
    U = np.empty((b - a, w.size), block.dtype)
    block.cur = 0
    block.stable = stable
    S, Y, X = block.overwrite("S0"), block.overwrite("Y"), block.overwrite("X")
    parts = [("S", S), ("Y", Y), ("U", U)]
    if stable:
        parts.append(("E", _noise_buffer(block)))
    for name, out in parts:
        for start, stop in pieces:
            lo, hi = max(a, start), min(b, stop)
            if lo < hi:
                piece = read_array(f"{path}/{name}_r{start}", slice(lo - start, hi - start))
                out[lo - a : hi - a] = piece
    _keep_u(block, U)
    np.subtract(block.get("D"), S, out=X)
    if stable:
        X -= block.get("E")
    X += Y * (1.0 / mu)
    mask = block.get("mask")
    if mask is not None:
        L = (U * w) @ Vh if w.size else np.zeros_like(X)
        np.copyto(X, L, where=~mask)
    block.generation = 0
    block.x_state = ("S0", mu, w, Vh)


def result_files(block: Block):
    """``{"S": path, "Y": path, "U": path}`` (and ``"E"``) of an out-of-core block (other
    files deleted), else None."""
    if not isinstance(block, DiskBlock):
        return None
    block.tidy()
    files = {k: block.file(k) for k in ("S", "Y", "E") if k != "E" or block.stable}
    if "U" in block.tall:
        files["U"] = block.file("U")
    return files


def nbytes_of(block: Block) -> int:
    return block.nbytes


# ---- the client's view ---------------------------------------------------------------------


class PerBlock(list):
    """An argument that differs between blocks: block i gets item i."""


class Tall:
    """A tall matrix on the workers: block i is ``tall[name] @ T_i`` (T None = identity;
    T a :class:`PerBlock` list or one matrix for every block)."""

    def __init__(self, name: str, T=None):
        self.name = name
        self.T = T

    def __getitem__(self, index):
        rows, cols = index
        if rows != slice(None) or self.T is None:
            raise IndexError("a Tall block supports [:, columns] slicing of a factored block")
        return Tall(self.name, _right(self.T, lambda T: T[:, cols]))

    def times(self, small) -> Tall:
        if self.T is None:
            return Tall(self.name, small)
        return Tall(self.name, _right(self.T, lambda T: T @ small))


def _right(T, f):
    return PerBlock(f(t) for t in T) if isinstance(T, PerBlock) else f(T)


class BlockOperator:
    """The blocks as one matrix ``X`` (the SVT input) for :class:`RandomizedSVD`.

    The step pass computes ``P = X W`` for the engine's planned start block W, and on the
    Gram route also ``P^H P`` and ``P^H X`` (``prefetch``): the engine's warm step then
    needs no pass over the data. Anything else is one pass (``matmat``, ``rmatmat``,
    ``project``) or a pass over tall blocks only (``orth``, ``orthonormalizer``).

    On the Householder route (matrices under the engine's Gram threshold) ``orth(P)`` is
    a TSQR; when its R is well conditioned once its columns are scaled (as for ``P = X V``
    with V the last right singular vectors), ``Q = P R^-1`` and ``Q^H X = R^-H (P^H X)``
    from the step's products, so that route needs no pass over the data either.
    """

    def __init__(self, runner, shape, dtype):
        self.runner = runner
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.generation = 0
        self.prefetch: tuple | None = None  # (W, name, P^H P or None, P^H X or None)
        self._known: dict[str, tuple] = {}  # tall name -> (P^H P, P^H X) computed already
        self._via_r: dict[str, tuple] = {}  # tall name -> (R^-1, R, P^H X): Q = P R^-1
        self._names = itertools.count()
        self.passes = 0  # passes over X done by the engine (beyond the step passes)
        self.row_chunks: tuple[int, ...] = ()  # rows of each block, in order

    def fresh(self) -> str:
        return f"t{next(self._names)}"

    def _map(self, fn, *args, combine=None):
        return self.runner.map(fn, self.generation, *args, combine=combine)

    def stepped(self, W, name, G, H):
        """A step pass was done; it computed ``P = X W`` as ``name`` (and G, H if given)."""
        self._known, self._via_r = {}, {}
        self.prefetch = None if W is None else (W, name, G, H)

    def matmat(self, W):
        if self.prefetch is not None and _same(self.prefetch[0], W):
            _, name, G, H = self.prefetch
            self.prefetch = None
            self._known[name] = (G, H)
            return Tall(name)
        name = self.fresh()
        self.passes += 1
        self._map(matmat, W, name)
        return Tall(name)

    def rmatmat(self, Q: Tall):
        self.passes += 1
        return self._map(rmatmat, Q.name, Q.T, combine=add)

    def project(self, Q: Tall):
        known = self._known.get(Q.name)
        if Q.T is None and known is not None and known[1] is not None:
            return known[1]
        via = self._via_r.get(Q.name)
        if via is not None and Q.T is via[0]:
            return sla.solve_triangular(via[1], via[2], trans="C", check_finite=False)
        self.passes += 1
        return self._map(project, Q.name, Q.T, combine=add)

    def orthonormalizer(self, P: Tall):
        known = self._known.get(P.name)
        if P.T is None and known is not None and known[0] is not None:
            G = known[0]
        else:
            G = self._map(gram, P.name, P.T, combine=add)
        return orthonormalizer_from_gram(G)

    def orth(self, A: Tall) -> Tall:
        """TSQR: each block's QR (Q kept there), the QR of the stacked R's."""
        name = self.fresh()
        Rs = self._map(orth, A.name, A.T, name, combine=concat)
        Q2, R = np.linalg.qr(np.vstack(Rs))
        known = self._known.get(A.name)
        if (
            A.T is None
            and known is not None
            and known[1] is not None
            and R.shape[0] == R.shape[1]
            and _scaled_cond(R) <= MAX_SCALED_COND
        ):
            Rinv = sla.solve_triangular(R, np.eye(R.shape[0], dtype=R.dtype), check_finite=False)
            self._via_r[A.name] = (Rinv, R, known[1])
            return Tall(A.name, Rinv)
        parts, at = [], 0
        for R in Rs:
            parts.append(Q2[at : at + R.shape[0]])
            at += R.shape[0]
        return Tall(name, PerBlock(parts))

    def lift(self, Q: Tall, Ub):
        return Q.times(Ub)

    def full_svd(self):
        """TSQR of X (R of each block, R of the stacked R's), the SVD of that small R;
        ``U = X V diag(1/s)``, left factored on the current X."""
        self.passes += 1
        R = sla.qr(np.vstack(self._map(x_r, combine=concat)), mode="r", check_finite=False)[0]
        _, s, Vh = small_svd(np.ascontiguousarray(R[: min(R.shape)]))
        with np.errstate(divide="ignore", invalid="ignore"):
            T = np.where(s > 0, Vh.conj().T / np.where(s > 0, s, 1), 0).astype(self.dtype)
        return Tall("X", T), s, Vh


def _same(a, b) -> bool:
    return a is b or (a.shape == b.shape and np.array_equal(a, b))


#: ``Q = P R^-1`` is used when R with unit columns has at most this condition number (the
#: orthogonality of Q, and the accuracy of ``R^-H (P^H X)``, degrade with it).
MAX_SCALED_COND = 10.0


def _scaled_cond(R) -> float:
    norms = np.linalg.norm(R, axis=0)
    if not (np.all(norms > 0) and np.all(np.isfinite(R))):
        return np.inf
    return float(np.linalg.cond(R / norms))


def _sum(parts):
    total = parts[0].copy()
    for p in parts[1:]:
        total += p
    return total


# ---- combiners: fold the results of consecutive blocks, in block order ----------------------
# A runner folds a map's results in a fixed tree (FAN_IN blocks per node) where the blocks
# live, so a reduction's memory and the bytes reaching the client do not grow with the
# number of blocks, and the rounding is the same from run to run.


def add(parts):
    """Sum of arrays or numbers."""
    return _sum(parts) if isinstance(parts[0], np.ndarray) else sum(parts[1:], parts[0])


def concat(parts):
    """Concatenation of lists (each block's R of a TSQR)."""
    return [r for p in parts for r in p]


def combine_stats(parts):
    G = [p[4] for p in parts]
    return (
        sum(p[0] for p in parts),
        max(p[1] for p in parts),
        max(p[2] for p in parts),
        sum(p[3] for p in parts),
        None if any(g is None for g in G) else _sum(G),
        sum(p[5] for p in parts),
        [x for p in parts for x in p[6]],
    )


def combine_step(parts):
    """``(|Z|^2, |W|^2, P^H P, P^H X)`` of step results, each summed (None stays None)."""
    G, H = [p[2] for p in parts], [p[3] for p in parts]
    return (
        sum(p[0] for p in parts),
        sum(p[1] for p in parts),
        None if G[0] is None else _sum(G),
        None if H[0] is None else _sum(H),
    )


def combine_products(parts):
    """``(P^H P, P^H X)`` of :func:`noise_step` results, each summed (None stays None)."""
    G, H = [p[0] for p in parts], [p[1] for p in parts]
    return None if G[0] is None else _sum(G), None if H[0] is None else _sum(H)


def make_block(M, mask, start: int, directory=None, source: Source | None = None) -> Block:
    if directory is None:
        return Block(M, mask, start)
    return DiskBlock(M, mask, start, directory, source)


# ---- runners: where the blocks live and how a task reaches each one ------------------------


def _args_for(args, i):
    return tuple(a[i] if isinstance(a, PerBlock) else a for a in args)


class _Args:
    """Opaque holder, so the scheduler does not read a task's arguments as tasks."""

    def __init__(self, values):
        self.values = values


def _call(fn, block, args: _Args):
    with block.task(_writes(fn)):
        return fn(block, *args.values)


def run(fn, block, *args):
    """``fn(block, *args)`` inside the block's task context (files read / written back)."""
    with block.task(_writes(fn)):
        return fn(block, *args)


def _fold(combine, parts):
    return combine(list(parts))


#: Blocks (or partial results) folded by one node of a reduction tree.
FAN_IN = 8


def _tree(leaves, node):
    """Fold ``leaves`` (keys or futures, in block order) with ``node(group, depth, index)``
    FAN_IN at a time until one is left."""
    level, depth = list(leaves), 0
    while len(level) > 1:
        level = [node(level[j : j + FAN_IN], depth, j) for j in range(0, len(level), FAN_IN)]
        depth += 1
    return level[0]


class ThreadRunner:
    """Blocks in this process; tasks on Dask's threaded scheduler."""

    kind = "threads"
    state_dir: str | None = None  # the folder of out-of-core blocks' files

    def __init__(self, blocks: list[Block], num_workers: int | None = None):
        self.blocks = blocks
        self.num_workers = num_workers
        self._tokens = itertools.count()

    def map(self, fn, *args, combine=None):
        """``fn(block_i, *args_i)`` on every block: the list of results, or with
        ``combine`` their fold in block order (a tree of Dask tasks)."""
        import dask.threaded

        name = f"fastrpca-{fn.__name__}-{next(self._tokens)}"
        dsk: dict[Any, Any] = {
            (name, i): (_call, fn, b, _Args(_args_for(args, i))) for i, b in enumerate(self.blocks)
        }
        if combine is None:
            return dask.threaded.get(dsk, list(dsk), num_workers=self.num_workers)

        def node(group, depth, j):
            key = (f"{name}-fold", depth, j)
            dsk[key] = (_fold, combine, list(group))
            return key

        root = _tree([(name, i) for i in range(len(self.blocks))], node)
        return dask.threaded.get(dsk, root, num_workers=self.num_workers)

    def release(self):
        self.blocks = []


class DistributedRunner:
    """Blocks on the workers of a ``distributed.Client``, each task pinned to the worker
    that holds its block (a block is never copied: a copy would go stale)."""

    kind = "distributed"
    state_dir: str | None = None  # the folder of out-of-core blocks' files
    #: Arguments larger than this are scattered to the workers once per call, not per task.
    SCATTER_BYTES = 1 << 16

    def __init__(self, client, futures):
        self.client = client
        self.blocks = futures
        who = client.who_has(futures)
        self.workers = [who[f.key][0] for f in futures]

    def map(self, fn, *args, combine=None):
        """As :meth:`ThreadRunner.map`; a fold runs on the worker of its first block."""
        shared = []
        for a in args:
            if isinstance(a, np.ndarray) and a.nbytes > self.SCATTER_BYTES:
                a = self.client.scatter(a, broadcast=True, hash=False)
            shared.append(a)
        submit = self.client.submit
        futures = [
            submit(
                run,
                fn,
                b,
                *_args_for(shared, i),
                pure=False,
                workers=[w],
                allow_other_workers=False,
            )
            for i, (b, w) in enumerate(zip(self.blocks, self.workers))
        ]
        if combine is None:
            return self.client.gather(futures)
        where = {f.key: w for f, w in zip(futures, self.workers)}

        def node(group, depth, j):
            f = submit(_fold, combine, list(group), pure=False, workers=[where[group[0].key]])
            where[f.key] = where[group[0].key]
            return f

        return self.client.gather(_tree(futures, node))

    def release(self):
        self.blocks = []


try:  # honest memory accounting on the workers (else a Block counts as a few bytes)
    from dask.sizeof import sizeof as _sizeof

    _sizeof.register(Block)(nbytes_of)
except ImportError:  # pragma: no cover - dask is an optional dependency
    pass
