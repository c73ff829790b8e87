"""The mark a sign-in leaves in the session: what the gate reads on every request.

Kept in the session itself so that the middleware decides without a database query. A
pending mark also holds the session's Django auth keys: while they are here and not at
their usual place, every part of Django sees the session as anonymous.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rupt_guard.conf import guard_settings

SESSION_KEY = "_rupt_guard"
PENDING = "pending"
PASSED = "passed"


@dataclass(frozen=True)
class Mark:
    state: str
    device: int | None = None
    check: int | None = None
    expires_at: float | None = None
    # The session key its DeviceSession row was recorded under (see devices.remember_session).
    tracked_key: str | None = None
    # Pending only: Django's auth keys (user id, backend, hash), held back until the factor.
    auth: dict[str, str] = field(default_factory=dict)
    # Passed only: when the session passed the gate, and when it last verified a second
    # factor (a challenge or a step-up); None when its device needed none.
    passed_at: float | None = None
    factor_at: float | None = None

    @property
    def pending(self) -> bool:
        return self.state == PENDING

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and (now or time.time()) >= self.expires_at


def read_mark(session: Any) -> Mark | None:
    return _parse(session.get(SESSION_KEY))


async def aread_mark(session: Any) -> Mark | None:
    """:func:`read_mark` on an async stack: the session loads through its engine's async
    API (``aget``), and the sync methods find it loaded afterwards."""
    return _parse(await session.aget(SESSION_KEY))


def _parse(raw: Any) -> Mark | None:
    if not isinstance(raw, dict) or raw.get("state") not in (PENDING, PASSED):
        return None
    auth = raw.get("auth")
    return Mark(
        state=raw["state"],
        device=raw.get("device"),
        check=raw.get("check"),
        expires_at=raw.get("expires_at"),
        tracked_key=raw.get("key"),
        auth={str(k): str(v) for k, v in auth.items()} if isinstance(auth, dict) else {},
        passed_at=_time(raw.get("passed_at")),
        factor_at=_time(raw.get("factor_at")),
    )


def _time(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def mark_pending(
    session: Any, *, device: int | None, check: int | None, auth: dict[str, str]
) -> Mark:
    mark = Mark(
        PENDING, device, check, time.time() + guard_settings.CHALLENGE_TIMEOUT, auth=dict(auth)
    )
    _write(session, mark)
    # A new pending sign-in starts with no wrong codes, no owner notice and no code sent.
    for key in (FAILURES_KEY, NOTICE_KEY, SENT_KEY):
        session.pop(key, None)
    return mark


def hold_auth(session: Any, auth: dict[str, str]) -> None:
    """Keep ``auth`` in the pending mark (a mark written before auth keys were held)."""
    raw = session.get(SESSION_KEY)
    if isinstance(raw, dict):
        session[SESSION_KEY] = {**raw, "auth": dict(auth)}


def mark_passed(session: Any, *, device: int | None, factor: bool = False) -> Mark:
    """``factor``: the session passed by verifying a second factor just now."""
    now = time.time()
    mark = Mark(PASSED, device, passed_at=now, factor_at=now if factor else None)
    _write(session, mark)
    session.pop(SENT_KEY, None)
    return mark


def note_factor_verified(session: Any) -> None:
    """A signed-in session verified a second factor again (a step-up)."""
    raw = session.get(SESSION_KEY)
    if isinstance(raw, dict) and raw.get("state") == PASSED:
        session[SESSION_KEY] = {**raw, "factor_at": time.time()}


def note_tracked_key(session: Any, key: str) -> None:
    raw = session.get(SESSION_KEY)
    if isinstance(raw, dict):
        session[SESSION_KEY] = {**raw, "key": key}


def _write(session: Any, mark: Mark) -> None:
    session[SESSION_KEY] = {
        key: value
        for key, value in {
            "state": mark.state,
            "device": mark.device,
            "check": mark.check,
            "expires_at": mark.expires_at,
            "key": mark.tracked_key,
            "auth": mark.auth or None,
            "passed_at": mark.passed_at,
            "factor_at": mark.factor_at,
        }.items()
        if value is not None
    }


FAILURES_KEY = "_rupt_guard_failed_codes"
# The factors sent a code in this pending sign-in (or step-up): sent once on arrival, and
# the page asks for the code rather than offering to send one.
SENT_KEY = "_rupt_guard_codes_sent"
NOTICE_KEY = "_rupt_guard_noticed"


def count_failed_code(session: Any) -> int:
    """Count one more wrong code in this pending session; return the total."""
    failures = int(session.get(FAILURES_KEY, 0)) + 1
    session[FAILURES_KEY] = failures
    return failures


def claim_notice(session: Any, key: str = NOTICE_KEY) -> bool:
    """True the first time only: one "unconfirmed sign-in" email per pending session (and,
    with ``STEP_UP_NOTICE_KEY``, one "wrong codes at a step-up" email per session)."""
    if session.get(key):
        return False
    session[key] = True
    return True


STEP_UP_NOTICE_KEY = "_rupt_guard_step_up_noticed"
