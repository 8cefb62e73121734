"""``@njit`` kernels of the holography family: the PhaseCut sweeps and the transfer matrix."""
