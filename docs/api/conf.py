"""Sphinx configuration for ringcap's API reference (built from the docstrings).

    python -m sphinx -W -b html docs/api docs/api/_build

tests/test_apidocs.py builds it with warnings as errors in every CI run.
"""
project = "ringcap"
author = "the ringcap developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
html_theme = "alabaster"
exclude_patterns = ["_build"]
