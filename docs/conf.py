"""Sphinx configuration for the picows documentation."""

project = "picows"
author = "picows developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.intersphinx"]
autodoc_typehints = "description"
autodoc_member_order = "bysource"
intersphinx_mapping = {"python": ("https://docs.python.org/3", None)}
html_theme = "alabaster"
exclude_patterns = ["_build"]
nitpicky = False
