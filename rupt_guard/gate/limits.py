"""Limits every worker shares through the shared cache (``RUPT_GUARD["CACHE"]``).

- Wrong codes, per account, across every factor and both the HTML and the API challenge:
  an attacker with the password cannot guess on, however many sessions they open.
- Sign-ins that reach the identification provider, per account and per client address:
  a password-holder cannot drain the site's provider quota or push everyone onto
  ``ON_PROVIDER_ERROR``.

Fixed windows (a counter per window): one increment per hit once the window has begun,
and the time left is known.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

from rupt_guard.cache import shared_cache
from rupt_guard.conf import Rate, guard_settings

PREFIX = "rupt_guard:limit"


class Limited(Exception):
    """Over a limit; ``wait`` is the number of seconds until the window ends."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"limited for {wait} s")
        self.wait = wait


@dataclass(frozen=True)
class Window:
    """One counter per ``rate.seconds`` window for ``scope`` and ``ident``."""

    scope: str
    ident: str
    rate: Rate

    def _current(self) -> tuple[str, int]:
        now = time.time()
        index = int(now // self.rate.seconds)
        digest = hashlib.sha256(self.ident.encode()).hexdigest()[:32]  # no raw names in keys
        left = max(1, math.ceil((index + 1) * self.rate.seconds - now))
        return f"{PREFIX}:{self.scope}:{digest}:{index}", left

    def hit(self) -> tuple[int, int]:
        """Count one; return the count in this window and the seconds left in it."""
        key, left = self._current()
        cache = shared_cache()
        timeout = self.rate.seconds + 1
        # incr() first: once a window has begun, one cache call per hit (every sign-in
        # pays it), and the first hit of a window creates the counter with add().
        with contextlib.suppress(ValueError):  # no counter yet in this window
            return int(cache.incr(key)), left
        if cache.add(key, 1, timeout=timeout):
            return 1, left
        try:  # another worker's first hit created it meanwhile
            return int(cache.incr(key)), left
        except ValueError:  # and it expired already
            cache.set(key, 1, timeout=timeout)
            return 1, left

    def release(self) -> None:
        """Give one back (a right code keeps no slot)."""
        key, _left = self._current()
        with contextlib.suppress(ValueError):  # the window ended meanwhile
            shared_cache().decr(key)

    def wait(self) -> int | None:
        """Seconds until this window ends when its limit is reached, else None."""
        key, left = self._current()
        return left if (shared_cache().get(key) or 0) >= self.rate.count else None


def wrong_code_window(user: Any) -> Window | None:
    """The account's window of wrong codes (``WRONG_CODE_RATE``), or None without a limit."""
    rate = guard_settings.WRONG_CODE_RATE
    return Window("wrong_codes", str(user.pk), rate) if rate is not None else None
