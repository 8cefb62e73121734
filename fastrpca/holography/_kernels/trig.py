"""sin, cos and acos as straight-line polynomials, so the transfer-matrix loop vectorises.

libm's ``sin`` / ``cos`` / ``acos`` are calls, which keep LLVM from vectorising a loop;
these are branch-free and accurate to about 2 ulp on the arguments the transfer matrix
meets (|x| < 1e5 rad, |c| <= 1), checked against numpy in the tests.

* sin / cos: n = round(2 x / pi); y = x - n pi / 2 by Cody-Waite in three parts (the
  first two with 30 significant bits, so n * part is exact for |n| < 2^23); Taylor
  polynomials of sin and cos on |y| <= pi / 4 (terms up to y^21 / y^20, remainder below
  1e-19); the quadrant n mod 4 swaps and negates.
* acos on [0, 1]: c <= 1/2: pi / 2 - asin(c); c > 1/2: 2 asin(sqrt((1 - c) / 2)), both
  with asin's Taylor series on |x| <= 1/2 (24 terms, remainder below 2e-17).

The reduction must not be reassociated, so these kernels (and their callers, when
inlined) use the project's fastmath flags without ``reassoc``.
"""

from __future__ import annotations

import math

from ..._core.config import FASTMATH, kernel

#: the project's fastmath set without reassoc (keeps the Cody-Waite reduction exact)
NO_REASSOC = set(FASTMATH) - {"reassoc"}

# pi / 2 = _C1 + _C2 + _C3: _C1, _C2 the leading 30 bits of pi / 2 and of the remainder,
# _C3 the rest rounded to double (from a 60-digit decimal pi / 2)
_C1 = float.fromhex("0x1.921fb54000000p+0")
_C2 = float.fromhex("0x1.10b4611800000p-30")
_C3 = float.fromhex("0x1.313198a2e0370p-61")
_TWO_OVER_PI = 2.0 / math.pi
_HALF_PI = math.pi / 2.0

# Taylor coefficients: sin y = y sum_k (-1)^k y^2k / (2k + 1)!, cos y = sum_k (-1)^k y^2k / (2k)!
_S = tuple((-1) ** k / math.factorial(2 * k + 1) for k in range(11))
_C = tuple((-1) ** k / math.factorial(2 * k) for k in range(11))
S0, S1, S2, S3, S4, S5, S6, S7, S8, S9, S10 = _S
C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, C10 = _C


@kernel(fastmath=NO_REASSOC)
def sincos(x):
    """(sin x, cos x)."""
    n = math.floor(x * _TWO_OVER_PI + 0.5)
    y = ((x - n * _C1) - n * _C2) - n * _C3
    z = y * y
    s = (((((((((S10 * z + S9) * z + S8) * z + S7) * z + S6) * z + S5) * z + S4) * z + S3)
          * z + S2) * z + S1) * z + S0  # fmt: skip
    s = s * y
    c = (((((((((C10 * z + C9) * z + C8) * z + C7) * z + C6) * z + C5) * z + C4) * z + C3)
          * z + C2) * z + C1) * z + C0  # fmt: skip
    q = int(n) & 3
    odd = (q & 1) == 1
    a = c if odd else s
    b = s if odd else c
    sign_s = 1.0 - 2.0 * ((q >> 1) & 1)  # quadrants 2, 3: sin < 0
    sign_c = 1.0 - 2.0 * (((q + 1) >> 1) & 1)  # quadrants 1, 2: cos < 0
    return sign_s * a, sign_c * b


@kernel(fastmath=NO_REASSOC)
def asin_small(x):
    """asin x for |x| <= 1/2: Taylor series to x^47 (remainder below 2e-17 relative),
    Horner written out so the loop that calls it vectorises. Coefficient k is
    (2k)! / (4^k (k!)^2 (2k + 1)) (checked in the tests)."""
    z = x * x
    p = 0.0024894486782468836
    p = p * z + 0.00265787063820729
    p = p * z + 0.002846178401108942
    p = p * z + 0.0030578216492580306
    p = p * z + 0.003297059503473485
    p = p * z + 0.0035692053938259347
    p = p * z + 0.003880964558837669
    p = p * z + 0.004240907093679363
    p = p * z + 0.004660143486915096
    p = p * z + 0.005153309682319905
    p = p * z + 0.005740037670841924
    p = p * z + 0.006447210311889649
    p = p * z + 0.0073125258735988454
    p = p * z + 0.008390335809616815
    p = p * z + 0.009761609529194078
    p = p * z + 0.011551800896139705
    p = p * z + 0.01396484375
    p = p * z + 0.017352764423076924
    p = p * z + 0.022372159090909092
    p = p * z + 0.030381944444444444
    p = p * z + 0.044642857142857144
    p = p * z + 0.075
    p = p * z + 0.16666666666666666
    p = p * z + 1.0
    return p * x


@kernel(fastmath=NO_REASSOC)
def acos_unit(c):
    """acos c for c in [0, 1] (both branches computed, then selected: no jump)."""
    s = math.sqrt((1.0 - c) * 0.5)
    big = c > 0.5
    a = asin_small(s if big else c)
    return 2.0 * a if big else _HALF_PI - a
