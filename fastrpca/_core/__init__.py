"""Shared core: compile flags, validation, the result base and dense linear algebra.

Nothing here knows about a solver family; every family builds on it.
"""
