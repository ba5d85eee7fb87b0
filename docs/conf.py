"""Sphinx configuration for the FabulAWS 2 documentation."""

from fabulaws import __version__ as release  # the one version source

project = "FabulAWS"
author = "The FabulAWS developers"
copyright = "2026, The FabulAWS developers"
extensions = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
