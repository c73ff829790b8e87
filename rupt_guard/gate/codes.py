"""Codes of a pending sign-in: checked against the account's limit, then django-otp.

The HTML challenge and the REST API both submit here, so the limit and the owner's warning
are the same whichever surface an attacker guesses through.
"""

from __future__ import annotations

import enum
from typing import Any

from django.http import HttpRequest

from rupt_guard.choices import ChallengeResult
from rupt_guard.conf import guard_settings
from rupt_guard.gate.lifecycle import NotPending, end, notify_unconfirmed, pass_challenge
from rupt_guard.gate.limits import Window
from rupt_guard.gate.mark import count_failed_code


class CodeResult(enum.Enum):
    PASSED = "passed"  # the sign-in is complete
    REFUSED = "refused"  # wrong, throttled or locked: the form says why
    ENDED = "ended"  # the pending sign-in is over (expired, withdrawn): sign in again


def submit_code(request: HttpRequest, user: Any, form: Any) -> CodeResult:
    """Check the code in a bound ``ChallengeForm``; when it is right, the sign-in passes.

    Wrong codes count against the account, whichever factor, session or surface (HTML or
    API) they came from. Once the account's limit is reached, codes are refused unread
    until the window ends: django-otp never sees them, so the owner's factors are not
    throttled further by an attacker's guesses, and no session is touched.
    """
    rate = guard_settings.WRONG_CODE_RATE
    window = Window("wrong_codes", str(user.pk), rate) if rate is not None else None
    if window is not None and form.code_attempted:
        form.locked_for = window.wait()
    if form.is_valid():
        try:
            pass_challenge(request, user, user.otp_device)
        except NotPending:
            end(request, ChallengeResult.ENDED)
            return CodeResult.ENDED
        return CodeResult.PASSED
    if form.code_attempted and not form.locked_for:
        account_failures = window.hit()[0] if window is not None else 0
        session_failures = count_failed_code(request.session)
        # Guesses spread over many sign-ins warn the owner as surely as guesses in one.
        if max(account_failures, session_failures) >= guard_settings.FAILED_CODES_BEFORE_NOTICE:
            notify_unconfirmed(request)
    return CodeResult.REFUSED
