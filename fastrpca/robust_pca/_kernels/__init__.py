"""``@njit`` kernels of the Robust PCA family: the fused IALM pass and the streaming updates."""
