"""``@njit`` kernels only: no validation, no Python objects, buffers passed in by the caller.

One module per family; the public modules in :mod:`fastrpca` validate and dispatch.
"""
