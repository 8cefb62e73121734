"""Checks done once at the public boundary; kernels trust what passes them."""

from __future__ import annotations

import numbers
from typing import Literal, overload

import numpy as np

REAL = (np.float32, np.float64)
NUMERIC = (np.float32, np.float64, np.complex64, np.complex128)


def as_array(
    x,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    allow_complex: bool = True,
    min_size: int = 1,
    check_finite: bool = True,
    dtype=None,
) -> np.ndarray:
    """Return ``x`` as a float32/float64/complex64/complex128 array, validated.

    Integer and boolean inputs are promoted to float64; object, string and other
    dtypes raise ``TypeError``. Non-native byte order (``'>f8'`` from FITS or some TIFF
    readers on a little-endian machine) is converted to native, so no kernel ever sees
    it. The input is never modified (a view may be returned; callers that write must
    copy).
    """
    arr = np.asarray(x)
    if arr.dtype.kind in "OUSVMm":
        raise TypeError(
            f"{name} has dtype {arr.dtype}; pass a numeric array (float32, float64, "
            f"complex64 or complex128)"
        )
    if arr.dtype.kind == "c" and not allow_complex:
        raise TypeError(f"{name} is complex ({arr.dtype}); this solver takes real data")
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    elif arr.dtype.kind in "biu" or arr.dtype == np.float16:
        arr = arr.astype(np.float64)
    elif arr.dtype == np.longdouble:
        arr = arr.astype(np.float64)
    elif arr.dtype == np.clongdouble:
        arr = arr.astype(np.complex128)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {want}, got an array of shape {arr.shape}")
    if arr.size < min_size:
        raise ValueError(
            f"{name} has shape {arr.shape} with {arr.size} entries; at least {min_size} are needed"
        )
    if check_finite:
        check_all_finite(arr, name)
    return arr


def check_all_finite(arr: np.ndarray, name: str, hint: str = "") -> None:
    """Raise ``ValueError`` naming how many NaN / Inf entries ``arr`` holds."""
    if np.isfinite(arr).all():
        return
    n_nan = int(np.isnan(arr).sum())
    n_inf = int(arr.size - n_nan - np.isfinite(arr).sum())
    parts = [f"{n} {what}" for n, what in ((n_nan, "NaN"), (n_inf, "infinite")) if n]
    raise ValueError(f"{name} contains {' and '.join(parts)} entries{hint}")


@overload
def positive(
    value: object,
    name: str,
    *,
    allow_zero: bool = ...,
    upper: float | None = ...,
    integer: Literal[False] = ...,
) -> float: ...
@overload
def positive(
    value: object,
    name: str,
    *,
    allow_zero: bool = ...,
    upper: float | None = ...,
    integer: Literal[True],
) -> int: ...
def positive(
    value: object,
    name: str,
    *,
    allow_zero: bool = False,
    upper: float | None = None,
    integer: bool = False,
) -> float | int:
    """Validate a positive (or non-negative) finite scalar and return it.

    An ``int`` if ``integer`` is set, else a ``float``.
    """
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, kind):
        want = "an integer" if integer else "a real number"
        raise TypeError(f"{name} must be {want}, got {value!r}")
    number = int(value) if isinstance(value, numbers.Integral) else float(value)
    if not np.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    if upper is not None and number > upper:
        raise ValueError(f"{name} must be <= {upper}, got {value!r}")
    return number if integer else float(number)


def real_dtype(dtype) -> np.dtype:
    """The real dtype matching ``dtype`` (float32 for complex64, and so on)."""
    return np.empty(0, dtype=dtype).real.dtype


def rng_from(random_state, name: str = "random_state") -> np.random.Generator:
    """A ``numpy.random.Generator`` from the project's one ``random_state`` convention.

    ``None`` means seed 0, so repeated calls give bit-identical results; a non-negative
    int or a ``SeedSequence`` seeds a new generator; a ``Generator`` is used as it is (its
    state advances, for fresh draws); a legacy ``RandomState`` seeds one from its stream.
    Anything else raises ``TypeError`` / ``ValueError`` naming ``name``.
    """
    check_random_state(random_state, name)
    if random_state is None:
        return np.random.default_rng(0)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.SeedSequence):
        return np.random.default_rng(random_state)
    return np.random.default_rng(int(random_state))


def check_random_state(random_state, name: str = "random_state"):
    """Raise unless ``random_state`` follows the convention of :func:`rng_from`; return it."""
    if random_state is None or isinstance(
        random_state, (np.random.Generator, np.random.RandomState, np.random.SeedSequence)
    ):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(
        random_state, (bool, np.bool_)
    ):
        if random_state < 0:
            raise ValueError(f"{name} must be a non-negative integer seed, got {random_state!r}")
        return random_state
    raise TypeError(
        f"{name} must be None (seed 0), a non-negative int seed, a numpy Generator or "
        f"SeedSequence; got {random_state!r} of type {type(random_state).__name__}"
    )


def check_out(
    out, shape, dtype, *, name: str = "out", inputs=(), order: Literal["C", "F"] = "C"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate an ``out=`` buffer; return ``(work, target)``.

    The one ``out=`` check of the package. ``out`` must be a writeable ndarray of
    ``shape`` and ``dtype`` (either byte order), C-contiguous (``order="C"``) or
    Fortran-contiguous (``order="F"``); anything else raises ``ValueError`` naming
    ``name``. ``target`` is the array the caller gets back (``out``, or a new array when
    ``out`` is None); ``work`` is where the kernel writes: ``target`` itself, or a
    temporary when ``out`` has non-native byte order or overlaps one of ``inputs``
    without being the very same memory (elementwise kernels may run in place, but a
    shifted view such as ``f(b[:-1], out=b[1:])`` would read entries already written).
    Call :func:`finish_out` after the kernel.
    """
    dtype = np.dtype(dtype)
    shape = tuple(shape)
    if out is None:
        a = np.empty(shape, dtype, order=order)
        return a, a
    contiguous = "c_contiguous" if order == "C" else "f_contiguous"
    if not (
        isinstance(out, np.ndarray)
        and out.shape == shape
        and (out.dtype == dtype or out.dtype.newbyteorder("=") == dtype)
        and out.flags.writeable
        and (getattr(out.flags, contiguous) or out.size <= 1)
    ):
        layout = "C-contiguous" if order == "C" else "Fortran-ordered (np.empty(..., order='F'))"
        if isinstance(out, np.ndarray):
            flags = [
                w
                for w, bad in (
                    ("read-only", not out.flags.writeable),
                    ("non-contiguous", not getattr(out.flags, contiguous)),
                )
                if bad
            ]
            got = f"{' '.join(flags + ['array'])} of shape {out.shape} and dtype {out.dtype}"
            got = ("an " if got[0] in "aeiou" else "a ") + got
        else:
            got = f"{type(out).__name__}"
        raise ValueError(
            f"{name} must be a writeable {layout} array of shape {shape} and dtype "
            f"{dtype}; got {got}"
        )
    if not out.dtype.isnative or any(_overlaps(out, a) for a in inputs):
        return np.empty(shape, dtype, order=order), out
    return out, out


def finish_out(work: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Copy a temporary from :func:`check_out` into its target; return the target."""
    if work is not target:
        np.copyto(target, work)
    return target


def _overlaps(out: np.ndarray, a) -> bool:
    """``out`` may share memory with ``a`` and is not exactly the same entries."""
    if not isinstance(a, np.ndarray) or not np.may_share_memory(out, a):
        return False
    same = (
        out.__array_interface__["data"][0] == a.__array_interface__["data"][0]
        and out.strides == a.strides
        and out.shape == a.shape
        and out.dtype.itemsize == a.dtype.itemsize
    )
    return not same


def scale_exponent(max_abs: float, dtype, *, force: bool = False) -> int:
    """Power-of-two exponent ``e`` to divide data by, so that squares neither over- nor
    underflow; 0 when no rescaling is needed.

    Solvers whose answer scales with the input work on ``data * 2**-e`` and scale the
    answer back (exactly: a power of two changes no mantissa). ``e`` is nonzero when the
    largest magnitude ``max_abs`` lies outside ``2**(+-maxexp/4)`` (about 1e+-77 for
    float64, 4e+-9 for float32), or with ``force``; it then brings ``max_abs`` into
    [0.5, 1).
    """
    if not (max_abs > 0 and np.isfinite(max_abs)):
        return 0
    e = int(np.frexp(max_abs)[1])
    limit = np.finfo(real_dtype(dtype)).maxexp // 4
    return e if force or abs(e) > limit else 0


def ldexp(a: np.ndarray, e: int, out: np.ndarray | None = None) -> np.ndarray:
    """``a * 2**e`` (exact unless the result leaves the normal range), real or complex."""
    if out is None:
        out = np.empty_like(a)
    if a.dtype.kind == "c":
        np.ldexp(a.real, e, out=out.real)
        np.ldexp(a.imag, e, out=out.imag)
    else:
        np.ldexp(a, e, out=out)
    return out
