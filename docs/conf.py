"""Sphinx configuration of rupt_guard's manual (Markdown pages read by MyST).

Built by ``python3 tests/run.py`` with warnings as errors, so a broken link or anchor, or a
setting without a description, fails the run. Nothing is fetched at build time.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS.parent), str(DOCS / "_ext")]

project = "rupt_guard"
author = "rupt_guard developers"
copyright = "rupt_guard developers"

extensions = ["myst_parser", "settings_reference"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Links to a heading of another page (providers.md#the-local-provider) are checked by
# MyST against these anchors, the same slugs GitHub makes, so a README link and a docs
# link to one heading read the same.
myst_heading_anchors = 4

html_theme = "alabaster"
html_static_path = ["_static"]
html_title = "rupt_guard"
# Neither intersphinx nor any other extension that fetches: the build needs no network.
