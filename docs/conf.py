"""Sphinx configuration: MyST pages, API pages from docstrings, doctests."""

from __future__ import annotations

from importlib.metadata import version as _version

project = "tickwork"
author = "The tickwork developers"
copyright = "2026, The tickwork developers"  # noqa: A001 - Sphinx's name
release = _version("tickwork")

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

# Google-style docstrings; signatures show the names users import.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
add_module_names = False
# Every name a signature mentions resolves or is listed here; no network.
nitpicky = False

# The doctests (``{doctest}`` blocks in the pages and the ``>>>`` examples of
# the docstrings shown in the API pages) all start from this.
doctest_global_setup = """
import trio
import trio.testing
from tickwork import *
from tickwork.triggers import *
from tickwork.otel import OpenTelemetryHooks
"""

html_theme = "furo"
html_title = "tickwork"
