"""Small dense linear algebra shared by the kernel families (no LAPACK call overhead)."""

from __future__ import annotations

from ..config import kernel


@kernel
def chol_solve(Lf, v, out):
    """Solve ``(Lf Lf^T) out = v`` for a lower-triangular C-ordered ``Lf``.

    Row-oriented passes; ``out`` may be ``v`` itself (solved in place).
    """
    p = v.size
    for i in range(p):
        s = v[i]
        for j in range(i):
            s -= Lf[i, j] * out[j]
        out[i] = s / Lf[i, i]
    for i in range(p - 1, -1, -1):
        out[i] /= Lf[i, i]
        oi = out[i]
        for j in range(i):
            out[j] -= Lf[i, j] * oi
