"""``@njit`` kernels of the L1 / L2 family: coordinate descent, (F)ISTA and ADMM loops."""
