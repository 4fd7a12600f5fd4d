"""Sphinx configuration for wsproto_lite's documentation."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
# Document the pure-Python path: its functions carry the docstrings and signatures, and
# the API reference reads the same whether or not the C accelerator is built here.
os.environ["WSPROTO_LITE_NO_SPEEDUPS"] = "1"

import wsproto_lite  # noqa: F401  (fail early if the package does not import)

project = "wsproto_lite"
author = "wsproto_lite contributors"
copyright = "wsproto_lite contributors"
release = "0.1.0"
version = "0.1"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

exclude_patterns = ["_build"]
nitpicky = False

autodoc_member_order = "bysource"
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
}
# Annotations name typing-only imports (MicroPython has no typing); show them as written.
autodoc_typehints = "signature"
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "furo"
html_title = "wsproto_lite"
