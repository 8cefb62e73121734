"""fastrpca: Numba-compiled solvers for Robust PCA, sparse regression and acoustic holography."""
