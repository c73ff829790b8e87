"""The manual in docs/ against the code and the README: every setting described, every
link from the README into the manual landing on a heading, the quick start's source.

The Sphinx build itself (tests/run.py, warnings as errors) checks the links between the
manual's own pages; these checks hold what it cannot see.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rupt_guard.conf import DEFAULTS, SETTING_DOCS
from rupt_guard.local.provider import LocalProvider
from rupt_guard.providers.rupt import RuptProvider

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def headings(text: str) -> list[str]:
    """The Markdown headings of a page, outside fenced code."""
    found, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"#{1,6} (.+)", line)):
            found.append(match.group(1))
    return found


def slug(heading: str) -> str:
    """The anchor GitHub (and MyST's myst_heading_anchors) give a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(heading) for heading in headings(path.read_text())}


def test_every_setting_has_a_description_and_every_description_a_setting():
    assert list(SETTING_DOCS) and set(SETTING_DOCS) == set(DEFAULTS)
    blank = [key for key, doc in SETTING_DOCS.items() if not (doc.kind and doc.meaning)]
    assert blank == []


@pytest.mark.parametrize("provider", [RuptProvider, LocalProvider])
def test_the_built_in_providers_describe_every_option(provider):
    assert set(provider.option_docs) == set(provider.options)
    assert all(doc.kind and doc.meaning for doc in provider.option_docs.values())


def test_the_readmes_links_into_the_manual_land_on_a_page_and_a_heading():
    links = re.findall(r"\]\((docs/[^)#\s]+)(?:#([^)\s]+))?\)", README.read_text())
    assert links
    broken = [
        f"{path}#{anchor}"
        for path, anchor in links
        if not (ROOT / path).is_file()
        or (path.endswith(".md") and anchor and anchor not in anchors(ROOT / path))
    ]
    assert broken == []


def test_the_readmes_own_anchors_land_on_its_headings():
    links = re.findall(r"\]\(#([^)\s]+)\)", README.read_text())
    assert set(links) - anchors(README) == set()


def test_every_page_of_the_manual_is_in_its_table_of_contents():
    index = (DOCS / "index.md").read_text()
    toctree = re.search(r"```\{toctree\}\n(.*?)```", index, re.DOTALL).group(1)
    listed = {line.strip() for line in toctree.splitlines() if line and not line.startswith(":")}
    assert {page.stem for page in DOCS.glob("*.md")} - {"index"} == listed


def test_the_quick_start_is_the_readmes_whole_installation_section():
    """quickstart.md includes README's Installation from the quickstart:start marker (right
    under the heading) to installation:end (right before the next section), so none of it
    is missing from the manual; quickstart:end, which test_fresh_site reads, lies between."""
    readme = README.read_text()
    start, middle, end = (
        "<!-- quickstart:start -->",
        "<!-- quickstart:end -->",
        "<!-- installation:end -->",
    )
    assert readme.count(start) == readme.count(middle) == readme.count(end) == 1
    installation = readme.index("\n## Installation\n")
    assert installation < readme.index(start) < readme.index(middle) < readme.index(end)
    assert "\n## " not in readme[installation + 1 : readme.index(start)]
    after = readme[readme.index(end) + len(end) :]
    assert after.lstrip("\n").startswith("## ")
    quickstart = (DOCS / "quickstart.md").read_text()
    assert f":start-after: {start}" in quickstart and f":end-before: {end}" in quickstart
