"""A human label for a device from its user agent, e.g. "Firefox on macOS".

Deliberately small: the label only helps a person recognise a device in a list.
"""

from __future__ import annotations

import re

# Order matters: Edge and Opera also say "Chrome"; Chrome also says "Safari".
BROWSERS = [
    ("Edge", re.compile(r"Edg(?:e|A|iOS)?/")),
    ("Opera", re.compile(r"OPR/|Opera")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/")),
    ("Firefox", re.compile(r"Firefox/|FxiOS/")),
    ("Chrome", re.compile(r"Chrome/|CriOS/")),
    ("Safari", re.compile(r"Version/[\d.]+.*Safari/")),
]
SYSTEMS = [
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("Android", re.compile(r"Android")),
    ("ChromeOS", re.compile(r"CrOS")),
    ("Windows", re.compile(r"Windows")),
    ("macOS", re.compile(r"Macintosh|Mac OS X")),
    ("Linux", re.compile(r"Linux")),
]


def _first(table: list[tuple[str, re.Pattern[str]]], agent: str) -> str | None:
    return next((name for name, pattern in table if pattern.search(agent)), None)


def label_for(user_agent: str) -> str:
    browser = _first(BROWSERS, user_agent)
    system = _first(SYSTEMS, user_agent)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or ""
