"""Sphinx configuration of the revsnn_jax documentation (built strictly by ``bash .ci/docs``)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "revsnn_jax"
author = "the revsnn_jax authors"
extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
html_theme = "furo"
html_title = "revsnn_jax"
exclude_patterns = ["_build", "results/**", ".jupyter_cache", "jupyter_execute"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}

# Notebooks (the tutorials and the results page) run at every build; an error in a cell fails the build.
nb_execution_mode = "force"
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

# API pages from the docstrings (Google style, reST roles). Signatures without type annotations: the docstrings say
# what each argument is, and annotations of jax/flax types would be cross-references to sites this build does not
# fetch (it runs offline).
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# Strict: every cross-reference must resolve, except to the libraries underneath (no intersphinx offline).
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(jax|jnp|lax|np|numpy|flax|nnx|optax|orbax|ocp|nir|typing|collections|argparse|dataclasses)(\..*)?"),
    (r"py:.*", r"(Any|Callable|Sequence|Iterator|Mapping|Array|PRNGKey|PyTree|ArrayLike|Path)"),
    (r"py:.*", r"(int|float|bool|str|dict|list|tuple|None|object|bytes|type|ValueError|KeyboardInterrupt)"),
    (r"py:class", r"revsnn_jax\.neurons\.dsr\._TrainedThreshold"),   # the DSR neurons' private base class
]
napoleon_use_ivar = True
