"""Signal receivers wired in ``AppConfig.ready()``: every login gets a decision."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from rupt_guard.conf import guard_settings
from rupt_guard.gate import lifecycle
from rupt_guard.gate.limits import wrong_code_window
from rupt_guard.gate.mark import read_mark
from rupt_guard.gate.notifications import notify_factors_changed, notify_factors_reset
from rupt_guard.trust.devices import forget_verifications
from rupt_guard.trust.personal_data import erase


def on_user_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    # Every login() comes here: our backend's, another backend's, a password-reset or
    # signup auto-login, force_login. The lifecycle runs the check if none ran yet.
    if request is None or not hasattr(request, "session"):
        # A login with no request to hold (Django Channels' login(scope, user)) would give
        # a session no check ever saw: refuse it, loudly, before its session is saved.
        raise PermissionDenied("rupt_guard cannot check a login() without a request.")
    lifecycle.logged_in(request, user)


def on_user_logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    # Sent before the session is flushed. A pending session is anonymous (user is None),
    # so the mark, not the user, says a challenge is being given up.
    if request is None or not hasattr(request, "session"):
        return
    mark = read_mark(request.session)
    if mark is not None and mark.pending:
        lifecycle.give_up(request)


def on_user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    # set_password() keeps the new raw password in _password until save() has run, so
    # this is how a password change is seen without a query (Django has no signal for it).
    if created or getattr(instance, "_password", None) is None:
        return
    if guard_settings.REVOKE_ON_PASSWORD_CHANGE:
        forget_verifications(instance)


def on_otp_verification_failed(sender: Any, user: Any, **kwargs: Any) -> None:
    # A wrong code at django-otp's own login form (OTPAuthenticationForm, OTPAdminSite)
    # counts against the account like one at our challenge, which counts its own codes.
    from_challenge = getattr(sender, "counts_wrong_codes", False)
    window = wrong_code_window(user) if user is not None else None
    if window is not None and not from_challenge:
        window.hit()


def on_factors_reset(sender: Any, user: Any, reason: str, **kwargs: Any) -> None:
    notify_factors_reset(user, reason=reason)


def on_factors_changed(sender: Any, user: Any, action: str, label: str, **kwargs: Any) -> None:
    notify_factors_changed(user, action=action, label=label)


def on_user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    # Our rows go in the deletion's own transaction; the provider's part is queued and
    # tried after commit, so an outage at the provider never stops the deletion.
    erase(instance, keep_user=False)
