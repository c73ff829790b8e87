"""A circuit breaker around the provider, shared by every worker and host.

After ``BREAKER_FAILURES`` outages (timeouts, refused connections, 429, 5xx; never token
problems, which any visitor can cause) within ``BREAKER_WINDOW`` seconds, no call is made
for ``BREAKER_COOLDOWN`` seconds: ``ON_PROVIDER_ERROR`` applies at once. Then one caller at
a time probes (half-open); its success closes the breaker, its failure opens it again.

State lives in the shared cache (``RUPT_GUARD["CACHE"]``, Redis in production), not in a
process, so one worker's timeouts spare the others theirs. pybreaker was considered: its
state machine is per process (its Redis storage is not Django's cache, and nothing makes
its half-open probe single across processes); this is a few cache calls, each atomic on
Redis (``add``, ``incr``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from rupt_guard.cache import shared_cache
from rupt_guard.conf import guard_settings
from rupt_guard.providers import get_provider

logger = logging.getLogger(__name__)

PREFIX = "rupt_guard:breaker"
OPEN_KEY = f"{PREFIX}:open_until"  # a timestamp; past it, the breaker is half-open
FORCED_KEY = f"{PREFIX}:forced"  # "open" or "closed", set by an operator
PROBE_KEY = f"{PREFIX}:probe"
OPENINGS_KEY = f"{PREFIX}:openings"  # the latest openings, newest first
KEEP_OPENINGS = 10
# Long enough to outlive any cool-down; a stale key only means one extra probe.
STATE_TTL = 7 * 24 * 3600
PROBE_TTL = 30


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    FORCED_OPEN = "forced_open"
    FORCED_CLOSED = "forced_closed"


@dataclass(frozen=True)
class Status:
    state: State
    open_until: float | None
    failures: int  # outages counted in the current window
    openings: list[float]

    def describe(self) -> list[str]:
        """Lines an operator reads: the state, the outages counted, the latest openings."""
        lines = [f"state: {self.state.value}", f"outages in the current window: {self.failures}"]
        if self.state == State.OPEN and self.open_until:
            lines.append(f"open until: {_when(self.open_until)}")
        if self.openings:
            lines.append("latest openings: " + ", ".join(_when(t) for t in self.openings))
        return lines


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


class Permit:
    """Whether a call may go out, and whether it is the half-open probe."""

    def __init__(self, allowed: bool, probe: bool = False) -> None:
        self.allowed = allowed
        self.probe = probe


def status() -> Status:
    cache = shared_cache()
    values = cache.get_many([OPEN_KEY, FORCED_KEY, OPENINGS_KEY, _window_key()])
    forced = values.get(FORCED_KEY)
    open_until = values.get(OPEN_KEY)
    if forced == "open":
        state = State.FORCED_OPEN
    elif forced == "closed":
        state = State.FORCED_CLOSED
    elif open_until is None:
        state = State.CLOSED
    elif time.time() < open_until:
        state = State.OPEN
    else:
        state = State.HALF_OPEN
    return Status(
        state, open_until, int(values.get(_window_key()) or 0), list(values.get(OPENINGS_KEY) or [])
    )


def permit() -> Permit:
    """Ask before calling the provider: one cache read when closed. If the cache itself
    fails, the call goes out: the breaker saves time, it must never cost a sign-in."""
    try:
        return _permit()
    except Exception:
        logger.warning("The circuit breaker cannot read the shared cache; calling anyway.")
        return Permit(True)


def _permit() -> Permit:
    cache = shared_cache()
    values = cache.get_many([OPEN_KEY, FORCED_KEY])
    forced = values.get(FORCED_KEY)
    if forced == "open":
        return Permit(False)
    open_until = values.get(OPEN_KEY)
    if forced == "closed" or open_until is None:
        return Permit(True)
    if time.time() < open_until:
        return Permit(False)
    # Half-open: the first caller to take the probe lock calls; the others fail fast. The
    # lock outlives any call (TIMEOUT is seconds); a prober that died frees it in time.
    probe_ttl = max(PROBE_TTL, int(_call_budget()) + 5)
    return Permit(True, probe=True) if cache.add(PROBE_KEY, 1, timeout=probe_ttl) else Permit(False)


def record(permit: Permit, *, outage: bool) -> None:
    """Tell the breaker how a permitted call went (a cache failure is logged, not raised)."""
    try:
        _record(permit, outage=outage)
    except Exception:
        logger.warning("The circuit breaker cannot write the shared cache.")


def _record(permit: Permit, *, outage: bool) -> None:
    cache = shared_cache()
    if permit.probe:
        # The new state first, then the probe lock: no caller may see the old, past
        # open_until without the lock and take a second probe.
        if outage:
            _open(cache)
        else:
            cache.delete_many([OPEN_KEY, _window_key()])
        cache.delete(PROBE_KEY)
        return
    if not outage:
        return
    rate = guard_settings.BREAKER_WINDOW
    key = _window_key()
    cache.add(key, 0, timeout=rate + 1)
    try:
        failures = int(cache.incr(key))
    except ValueError:  # the window expired between add() and incr()
        cache.set(key, 1, timeout=rate + 1)
        failures = 1
    if failures >= guard_settings.BREAKER_FAILURES and cache.get(OPEN_KEY) is None:
        _open(cache)


def force(state: str | None) -> None:
    """An operator's word: "open", "closed", or None to let the breaker decide again."""
    cache = shared_cache()
    if state is None:
        cache.delete_many([FORCED_KEY, OPEN_KEY, PROBE_KEY, _window_key()])
    elif state in ("open", "closed"):
        cache.set(FORCED_KEY, state, timeout=None)
    else:
        raise ValueError("state must be 'open', 'closed' or None")


def _open(cache: Any) -> None:
    now = time.time()
    cache.set(OPEN_KEY, now + guard_settings.BREAKER_COOLDOWN, timeout=STATE_TTL)
    openings = [now, *(cache.get(OPENINGS_KEY) or [])][:KEEP_OPENINGS]
    cache.set(OPENINGS_KEY, openings, timeout=STATE_TTL)


def _window_key() -> str:
    window = guard_settings.BREAKER_WINDOW
    return f"{PREFIX}:failures:{int(time.time() // window)}"


def _call_budget() -> float:
    """The longest a probe can take: the provider's TIMEOUT, when it has one."""
    return float(getattr(get_provider(), "timeout", 0) or 0)
