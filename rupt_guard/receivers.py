"""Signal receivers wired in ``AppConfig.ready()``: every login gets a decision."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import logout
from django.http import HttpRequest

from .backends import OUTCOME_ATTRIBUTE
from .choices import CheckSource, Decision
from .service import CheckOutcome, check_login, token_from_request
from .session import mark_passed, mark_pending


def apply_outcome(request: HttpRequest, outcome: CheckOutcome) -> None:
    """Leave the decision in the session, where the gate reads it."""
    device = outcome.device.pk if outcome.device is not None else None
    if outcome.decision == Decision.ALLOW:
        mark_passed(request.session, device=device)
    elif outcome.decision == Decision.CHALLENGE:
        mark_pending(request.session, device=device, check=outcome.check.pk)
    else:
        logout(request)


def on_user_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is None or not hasattr(request, "session"):
        return
    outcome = getattr(user, OUTCOME_ATTRIBUTE, None)
    if outcome is None:
        # Another backend, a password-reset auto-login, a social login, force_login:
        # none ran our check, so it runs now (usually without a token).
        outcome = check_login(
            request, user, token=token_from_request(request), source=CheckSource.LOGIN
        )
    else:
        delattr(user, OUTCOME_ATTRIBUTE)
    apply_outcome(request, outcome)
