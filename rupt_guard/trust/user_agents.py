"""What a user agent says about a device, for people: "Firefox on macOS", "Firefox 132 on macOS".

Deliberately small: it only helps a person recognise a device in a list, so a table of the
browsers people use beats a dependency with thousands of patterns. The version is only the
major one: that is what tells two browsers of the same kind apart, and what browsers still
report truthfully (macOS is frozen at 10.15.7 and Windows 11 says "Windows NT 10.0", so no
system version is shown).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.translation import gettext

# Order matters: Edge and Opera also say "Chrome"; Chrome also says "Safari". The group is
# the major version.
BROWSERS = [
    ("Edge", re.compile(r"Edg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"OPR/(\d+)|Opera(?:/| )(\d+)")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/(\d+)")),
    ("Firefox", re.compile(r"(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"(?:Chrome|CriOS)/(\d+)")),
    ("Safari", re.compile(r"Version/(\d+)[\d.]*.*Safari/")),
]
SYSTEMS = [
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("Android", re.compile(r"Android")),
    ("ChromeOS", re.compile(r"CrOS")),
    ("Windows", re.compile(r"Windows")),
    ("macOS", re.compile(r"Macintosh|Mac OS X")),
    ("Linux", re.compile(r"Linux")),
]


@dataclass(frozen=True)
class Agent:
    """The browser, its major version and the system a user agent names (each may be "")."""

    browser: str = ""
    version: str = ""
    system: str = ""

    @property
    def label(self) -> str:
        """Without the version: a name that stays right through the browser's updates.

        Stored as the device's name, so in no particular language, as it always was.
        """
        if self.browser and self.system:
            return f"{self.browser} on {self.system}"
        return self.browser or self.system

    @property
    def description(self) -> str:
        """With the version, to tell two browsers of the same kind apart; for a page, so
        in the reader's language (browser and system names are the same in every one)."""
        browser = f"{self.browser} {self.version}" if self.version else self.browser
        if browser and self.system:
            return gettext("%(browser)s on %(system)s") % {
                "browser": browser,
                "system": self.system,
            }
        return browser or self.system


def parse(user_agent: str) -> Agent:
    browser = version = ""
    for name, pattern in BROWSERS:
        if match := pattern.search(user_agent):
            browser = name
            version = next((group for group in match.groups() if group), "")
            break
    system = next((name for name, pattern in SYSTEMS if pattern.search(user_agent)), "")
    return Agent(browser, version, system)


def label_for(user_agent: str) -> str:
    """The name a new device is given: "Firefox on macOS" (no version: it would go stale)."""
    return parse(user_agent).label


def describe(user_agent: str) -> str:
    """What the device's latest user agent says now: "Firefox 132 on macOS"."""
    return parse(user_agent).description
