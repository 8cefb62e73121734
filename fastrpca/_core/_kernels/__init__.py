"""``@njit`` kernels shared by several families: scalar proximal steps, small dense solves."""
