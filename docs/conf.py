"""Sphinx configuration of the API reference.

Build it from the repository root with ``python -m sphinx -W --keep-going -b html docs
docs/_build/html`` (``pip install -e ".[docs]"`` first).
"""

from __future__ import annotations

import os
import sys

# Document the working tree, not whatever fastrpca happens to be installed.
sys.path.insert(0, os.path.abspath(".."))

import fastrpca  # noqa: E402

project = "fastrpca"
author = "fastrpca developers"
copyright = "fastrpca developers"
release = fastrpca.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build", "generated/*.md"]

# One page per public name, written at build time into docs/generated/ (git-ignored).
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"  # the numpydoc Parameters sections carry the types
autodoc_default_options = {"member-order": "bysource"}

# Class pages list their methods through the autosummary class template, not numpydoc.
numpydoc_show_class_members = False
numpydoc_xref_param_type = False

# The guides in docs/*.md link to files of the repository (README, sources) and use
# GitHub-style headings; they are included as they are.
myst_heading_anchors = 3
suppress_warnings = ["myst.xref_missing"]

html_theme = "alabaster"
html_static_path: list[str] = []
html_title = f"fastrpca {release}"
