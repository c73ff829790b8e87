"""Recent second factor: what a session needs before it changes the account's factors.

A session that passed the gate long ago, or on a device that needed no second factor,
proves itself again with a factor (a step-up) before it may add or remove one, so that a
stolen session cookie is not enough to replace the owner's factors.
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib import auth
from django.http import HttpRequest

from rupt_guard.conf import guard_settings
from rupt_guard.gate.mark import read_mark
from rupt_guard.trust.factors import challenge_devices


def recently_verified(request: HttpRequest) -> bool:
    """Did this signed-in session verify a second factor within ``STEP_UP_TIMEOUT``?

    A user with no factor at all (not even the email fallback) has nothing to step up
    with: a sign-in that recent counts instead, so they can add their first.
    """
    mark = read_mark(request.session)
    if mark is None or mark.pending or not request.user.is_authenticated:
        return False
    if request.session.get(auth.SESSION_KEY) != str(request.user.pk):
        # The request's user is not the session's (a token sent beside another account's
        # cookie): this session's step-up is not theirs.
        return False
    window = guard_settings.STEP_UP_TIMEOUT
    now = time.time()
    if mark.factor_at is not None and now - mark.factor_at < window:
        return True
    fresh_sign_in = mark.passed_at is not None and now - mark.passed_at < window
    return fresh_sign_in and not challenge_devices(request.user)


def recent_until(request: HttpRequest) -> float | None:
    """When the session's last verified factor stops counting as recent (for the API)."""
    mark = read_mark(request.session)
    if mark is None or mark.factor_at is None:
        return None
    timeout: float = guard_settings.STEP_UP_TIMEOUT
    return mark.factor_at + timeout


# The authenticator-app secret offered to this session, until a first code confirms it: the
# HTML page and the API share it, so a wrong code never changes the QR code just scanned.
# It is kept with its user's id: a session can pass from one account to another (a shared
# browser, an API login over a pending sign-in) and the next account must not inherit it.
TOTP_KEY = "_rupt_guard_totp_key"


def offered_totp_key(session: Any, user: Any) -> str | None:
    offered = session.get(TOTP_KEY)
    if not isinstance(offered, dict) or offered.get("user") != str(user.pk):
        return None
    key = offered.get("key")
    return key if isinstance(key, str) else None


def offer_totp_key(session: Any, user: Any, key: str) -> None:
    session[TOTP_KEY] = {"user": str(user.pk), "key": key}


def forget_totp_key(session: Any) -> None:
    session.pop(TOTP_KEY, None)
