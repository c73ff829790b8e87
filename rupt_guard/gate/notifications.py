"""Emails to the account owner: a new device signed in; a sign-in stopped at the challenge;
staff reset its second factors.

Each carries a signed, expiring, single-use "this wasn't me" link. Emails leave after the
transaction commits, and a mail server failure is logged, never shown to the user.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from rupt_guard.conf import guard_settings
from rupt_guard.models import LoginCheck
from rupt_guard.trust.factors import account_email

logger = logging.getLogger(__name__)

NOT_ME_SALT = "rupt_guard.not_me"


def not_me_token(check: LoginCheck) -> str:
    return signing.dumps({"check": check.pk}, salt=NOT_ME_SALT, compress=True)


def read_not_me_token(token: str) -> int | None:
    """The LoginCheck pk the link names, or None when forged, altered or expired."""
    try:
        payload = signing.loads(token, salt=NOT_ME_SALT, max_age=guard_settings.NOT_ME_LINK_MAX_AGE)
    except signing.BadSignature:  # also SignatureExpired
        return None
    check = payload.get("check") if isinstance(payload, dict) else None
    return check if isinstance(check, int) else None


def notify_new_device(request: HttpRequest | None, check: LoginCheck) -> None:
    if guard_settings.NOTIFY_NEW_DEVICE:
        _send_after_commit("new_device", request, check)


def notify_unconfirmed_sign_in(request: HttpRequest | None, check: LoginCheck) -> None:
    if guard_settings.NOTIFY_UNCONFIRMED_SIGN_IN:
        _send_after_commit("unconfirmed_sign_in", request, check)


def _send_after_commit(kind: str, request: HttpRequest | None, check: LoginCheck) -> None:
    address = account_email(check.user)
    if not address:
        return
    path = reverse("rupt_guard:not_me", args=[not_me_token(check)])
    base = canonical_url()
    context: dict[str, Any] = {
        "user": check.user,
        "check": check,
        "device": check.device,
        "not_me_url": f"{base}{path}" if base else path,
        "site_name": urlsplit(base).netloc if base else "",
        # Times are shown in the site's time zone (TIME_ZONE), named: never a bare "UTC"
        # beside a local time.
        "time_zone": timezone.get_current_timezone_name(),
    }
    transaction.on_commit(lambda: _send(kind, address, context))


def notify_factors_changed(user: Any, *, action: str, label: str) -> None:
    """A second factor was added or removed, or backup codes made, from the account."""
    if not guard_settings.NOTIFY_FACTOR_CHANGES:
        return
    _send_to_owner("factors_changed", user, {"action": action, "label": label})


def notify_step_up_failures(user: Any) -> None:
    """Wrong codes when a signed-in session was asked to confirm it is the owner."""
    if guard_settings.NOTIFY_UNCONFIRMED_SIGN_IN:
        _send_to_owner("step_up_failed", user, {})


def notify_factors_reset(user: Any, *, reason: str) -> None:
    """Staff reset the account's second factors: its owner hears of it (a reset by
    someone who talked support into it must not go unnoticed)."""
    context = {"reason": reason, "email_fallback": bool(guard_settings.EMAIL_FALLBACK)}
    _send_to_owner("factors_reset", user, context)


def _send_to_owner(kind: str, user: Any, extra: dict[str, Any]) -> None:
    address = account_email(user)
    if not address:
        return
    base = canonical_url()
    path = reverse("rupt_guard:security")
    context: dict[str, Any] = {
        "user": user,
        "security_url": f"{base}{path}" if base else path,
        "site_name": urlsplit(base).netloc if base else "",
        **extra,
    }
    transaction.on_commit(lambda: _send(kind, address, context))


def canonical_url() -> str:
    """The site's own address for links in emails: ``SITE_URL``, else the Sites framework.

    Never the request's Host header: a sign-in request with a forged Host would put the
    attacker's domain into the owner's "this wasn't me" link. Empty when neither is set
    (``rupt_guard.W010``); emails then carry the path alone.
    """
    if guard_settings.SITE_URL:
        return str(guard_settings.SITE_URL)
    if apps.is_installed("django.contrib.sites") and getattr(settings, "SITE_ID", None):
        from django.contrib.sites.models import Site

        try:
            domain = Site.objects.get_current().domain
        except (Site.DoesNotExist, ImproperlyConfigured):
            return ""
        return f"https://{domain}" if domain else ""
    return ""


def _send(kind: str, address: str, context: dict[str, Any]) -> None:
    base = f"rupt_guard/email/{kind}"
    try:
        subject = " ".join(render_to_string(f"{base}_subject.txt", context).split())
        message = EmailMultiAlternatives(
            subject, render_to_string(f"{base}.txt", context), to=[address]
        )
        message.attach_alternative(render_to_string(f"{base}.html", context), "text/html")
        message.send()
    except Exception:
        check = context.get("check")
        logger.exception(
            "Could not send the %s email (login check %s, user %s)",
            kind,
            getattr(check, "pk", None),
            getattr(context.get("user"), "pk", None),
        )
