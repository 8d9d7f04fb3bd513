"""Sphinx configuration of the snnbench docs: MyST Markdown pages, the Furo
theme, and docs/_ext/snnbench_docs.py, which writes every reference table
(suite keys, component params, CLI, metrics) and every results table from
the code and the committed result files as the docs build."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The references list snnbench's own components, not whatever third-party
# plugins happen to be installed beside it.
os.environ["SNNBENCH_DISABLE_PLUGIN_AUTOLOAD"] = "1"
sys.path.insert(0, str(Path(__file__).parent / "_ext"))

from snnbench import __version__  # noqa: E402

project = "snnbench"
author = "the snnbench authors"
copyright = "the snnbench authors, MIT licence"
release = version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "snnbench_docs",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "README.md"]
root_doc = "index"

myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 3

# Every reference must resolve: a broken link or an unknown name is a warning,
# and the build runs with -W.
nitpicky = True
nitpick_ignore_regex = [
    # third-party and standard-library types in signatures, which have no pages here
    (r"py:.*", r"(torch|np|numpy|pd|pandas|pluggy|optuna|collections|contextlib|typing|dataclasses|pathlib|os)\..*"),
    (r"py:class", r"(Tensor|Module|Path|Any|Callable|Iterator|Iterable|Sequence|Mapping|Protocol|T|S)"),
    (r"py:class", r"(nn\.Module|torch\.Tensor|torch\.device|torch\.dtype|torch\.Generator)"),
    # type variables and aliases of the API's signatures, and annotations autodoc reads as strings
    (r"py:class", r"(_F|R|Scalar|snnbench\.api\.\w+\.R|'.*)"),
    # the stages (not part of the plugin API, so not on these pages) and the API's submodules,
    # whose names the API reference documents under snnbench.api itself
    (r"py:.*", r"snnbench\.(definition|running|results|comparison|runtime|cli).*"),
    (r"py:.*", r"snnbench\.api\.(?!hookspecs\b)\w+(\..*)?"),
    (r"py:meth", r"ResultStore\..*"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False}

html_theme = "furo"
html_title = f"snnbench {__version__}"
html_static_path = ["_static"]
html_css_files = ["snnbench.css"]
html_show_sourcelink = False
# no web fonts or CDN assets: the built site opens from disk, offline
html_theme_options = {"navigation_with_keys": True}
smartquotes = False  # option names keep their two hyphens
