"""Codes of a pending sign-in, or of a step-up: checked against the account's limit, then
django-otp.

The HTML pages and the REST API both submit here, so the limit and the owner's warning are
the same whichever surface an attacker guesses through.
"""

from __future__ import annotations

import enum
from typing import Any

import django_otp
from django.http import HttpRequest
from django.middleware.csrf import rotate_token

from rupt_guard.choices import ChallengeResult
from rupt_guard.conf import guard_settings
from rupt_guard.gate.lifecycle import NotPending, end, notify_unconfirmed, pass_challenge
from rupt_guard.gate.limits import wrong_code_window
from rupt_guard.gate.mark import (
    STEP_UP_NOTICE_KEY,
    claim_notice,
    count_failed_code,
    note_factor_verified,
    read_mark,
)
from rupt_guard.gate.notifications import notify_step_up_failures
from rupt_guard.gate.tracking import follow_new_session_key


class CodeResult(enum.Enum):
    PASSED = "passed"  # the sign-in is complete
    REFUSED = "refused"  # wrong, throttled or locked: the form says why
    ENDED = "ended"  # the pending sign-in is over (expired, withdrawn): sign in again


class AccountCodeLimit:
    """The account's wrong-code window, taken at the moment a code is verified.

    A slot is taken before django-otp reads the code (an atomic increment on the shared
    cache), so parallel guesses cannot all pass a check made earlier, and whatever flags a
    form posts, no code reaches django-otp uncounted. A right code gives its slot back.
    """

    def __init__(self, user: Any) -> None:
        self.window = wrong_code_window(user)
        self.count = 0
        self.guessed = False  # a code was put to django-otp (or refused by the limit)

    def take(self) -> int | None:
        """Count one code; return the seconds left when the account is over its limit."""
        self.guessed = True
        if self.window is None:
            return None
        self.count, left = self.window.hit()
        return left if self.count > self.window.rate.count else None

    def give_back(self) -> None:
        if self.window is not None:
            self.window.release()


def submit_code(
    request: HttpRequest, user: Any, form: Any, *, trust_browser: bool = True
) -> CodeResult:
    """Check the code in a bound ``ChallengeForm``; when it is right, the sign-in passes.

    Wrong codes count against the account, whichever factor, session or surface (HTML or
    API) they came from. Once the account's limit is reached, codes are refused unread
    until the window ends: django-otp never sees them, so the owner's factors are not
    throttled further by an attacker's guesses, and no session is touched.
    """
    if not _verify(request, user, form):
        return CodeResult.REFUSED
    try:
        pass_challenge(request, user, user.otp_device, trust_browser=trust_browser)
    except NotPending:
        end(request, ChallengeResult.ENDED)
        return CodeResult.ENDED
    return CodeResult.PASSED


def submit_step_up(request: HttpRequest, user: Any, form: Any) -> CodeResult:
    """A signed-in session proves itself again with a factor (``gate.reauth``)."""
    if not _verify(request, user, form):
        return CodeResult.REFUSED
    step_up_passed(request, user.otp_device)
    return CodeResult.PASSED


def step_up_passed(request: HttpRequest, factor: Any) -> None:
    """``factor`` of the signed-in user was verified just now (a code, or a passkey).

    The session gets a new key, as at the challenge: a copy of the cookie taken before
    the step-up must not share the right to change factors it gives.
    """
    session = request.session
    old_key = session.session_key
    session.cycle_key()
    if old_key:
        follow_new_session_key(session, old_key)
    rotate_token(request)
    django_otp.login(request, factor)
    note_factor_verified(session)


def _verify(request: HttpRequest, user: Any, form: Any) -> bool:
    limit = AccountCodeLimit(user)
    form.code_limit = limit
    if form.is_valid():
        return True
    if limit.guessed and not form.locked_for:
        session_failures = count_failed_code(request.session)
        # Guesses spread over many sign-ins warn the owner as surely as guesses in one.
        if max(limit.count, session_failures) >= guard_settings.FAILED_CODES_BEFORE_NOTICE:
            mark = read_mark(request.session)
            if mark is not None and mark.pending:
                notify_unconfirmed(request)
            elif claim_notice(request.session, STEP_UP_NOTICE_KEY):
                # Wrong codes at a step-up: someone holds a signed-in session of the
                # account and is guessing its factors.
                notify_step_up_failures(user)
    return False
