"""Slow, obviously correct NumPy versions of every solver, one module per family.

The kernels are tested against these: they follow the papers line by line, with no
fusion, no workspace reuse and no shortcuts.
"""
