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


@kernel
def cholesky_lower(A, L, floor):
    """Lower Cholesky factor ``A = L L^H`` of a small Hermitian (or symmetric) matrix.

    Reads the lower triangle of ``A`` and writes that of ``L``; ``L`` may be ``A`` itself
    (factored in place). Returns False, leaving ``L`` partly written, when a pivot is not
    above ``floor`` (not positive definite to that margin).
    """
    k = A.shape[0]
    for j in range(k):
        d = A[j, j].real
        for p in range(j):
            d -= L[j, p].real * L[j, p].real + L[j, p].imag * L[j, p].imag
        if not d > floor:
            return False
        d = d**0.5
        L[j, j] = d
        for i in range(j + 1, k):
            s = A[i, j]
            for p in range(j):
                s -= L[i, p] * L[j, p].conjugate()
            L[i, j] = s / d
    return True
