"""Sphinx configuration for the FabulAWS 2 documentation."""

project = "FabulAWS"
author = "The FabulAWS developers"
copyright = "2026, The FabulAWS developers"
release = "2.0.0.dev0"
extensions = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
