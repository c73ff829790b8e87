"""Signal receivers wired in ``AppConfig.ready()``: every login gets a decision."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import logout
from django.http import HttpRequest

from .backends import OUTCOME_ATTRIBUTE
from .choices import CheckSource, Decision
from .conf import guard_settings
from .devices import forget_verifications, remember_session
from .notifications import notify_new_device
from .service import CheckOutcome, check_login, notify_unconfirmed, token_from_request
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
        return
    remember_session(request.session, outcome.device, outcome.check)
    if outcome.decision == Decision.ALLOW and outcome.check.new_device:
        notify_new_device(request, outcome.check)


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


def on_user_logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    # Sent before the session is flushed: a pending mark here means the challenge was
    # given up (sign out) or ran out of time (the gate signs the session out).
    if request is not None and hasattr(request, "session") and user is not None:
        notify_unconfirmed(request)


def on_user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    # set_password() keeps the new raw password in _password until save() has run, so
    # this is how a password change is seen without a query (Django has no signal for it).
    if created or getattr(instance, "_password", None) is None:
        return
    if guard_settings.REVOKE_ON_PASSWORD_CHANGE:
        forget_verifications(instance)
