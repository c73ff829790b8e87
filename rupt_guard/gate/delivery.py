"""Sending a code to a factor that needs one (email): the truth about what happened.

django-otp's own ``generate_challenge()`` answers a string either way ("sent by email", a
cooldown message) and lets a mail server's exception through, which pages then showed as
``[Errno 111] Connection refused``. Here every outcome is a ``Delivery``: sent, cooling
down (with the seconds left), or failed (logged, ``signals.code_send_failed`` sent, and
the cooldown not spent, so the user may try again at once). The email is rupt_guard's
own, templated and translated: the code, how long it is valid, never to share it, and,
for a sign-in, a "this wasn't me" link.
"""

from __future__ import annotations

import enum
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import Q
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from rupt_guard import signals
from rupt_guard.gate.notifications import canonical_url, not_me_token
from rupt_guard.models import LoginCheck
from rupt_guard.trust.factors import account_email

logger = logging.getLogger(__name__)


class Sent(enum.Enum):
    SENT = "sent"
    COOLDOWN = "cooldown"  # one was sent a moment ago: ``wait`` seconds until the next
    FAILED = "failed"  # the mail server (or SMS gateway) refused: try again, or another way


@dataclass(frozen=True)
class Delivery:
    status: Sent
    wait: int = 0
    # With DEBUG on only, why a send failed ("ConnectionRefusedError: ..."): the developer
    # of a new site sees the fix on the challenge page instead of a dead end.
    debug_error: str = ""

    @property
    def sent(self) -> bool:
        return self.status == Sent.SENT


def send_code(
    request: HttpRequest | None, user: Any, factor: Any, *, check_pk: int | None = None
) -> Delivery:
    """Send ``factor`` (an interactive django-otp device of ``user``) a new code."""
    allowed, info = factor.generate_is_allowed()
    if not allowed:
        return Delivery(Sent.COOLDOWN, wait=_seconds_until((info or {}).get("next_generation_at")))
    email = _is_email_device(factor)
    claimed: _Claim | None = None
    if email:
        claimed = _claim_cooldown(factor)
        if claimed is None:  # another request (a second tab, a double click) just sent one
            factor.refresh_from_db(fields=["last_generated_timestamp"])
            _allowed, info = factor.generate_is_allowed()
            wait = _seconds_until((info or {}).get("next_generation_at")) or 1
            return Delivery(Sent.COOLDOWN, wait=wait)
    try:
        if email:
            _email_code(request, user, factor, check_pk)
        else:
            factor.generate_challenge()  # another plugin (SMS, ...): its own delivery
    except Exception as error:
        if claimed is not None:
            # Nothing left: the cooldown is given back, and the code in the user's inbox,
            # if any, still works (the new one was never saved).
            type(factor)._default_manager.filter(pk=factor.pk).update(
                last_generated_timestamp=claimed.previous
            )
        logger.exception("Could not send a code to factor %s", factor.persistent_id)
        signals.code_send_failed.send(
            sender=type(factor), user=user, factor=factor, error=error, request=request
        )
        debug_error = f"{type(error).__name__}: {error}" if settings.DEBUG else ""
        return Delivery(Sent.FAILED, debug_error=debug_error)
    return Delivery(Sent.SENT)


def masked_address(address: str) -> str:
    """``d***@example.com``: enough for its owner to recognise, little for anyone else."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def code_address(user: Any, factor: Any) -> str:
    return str(getattr(factor, "email", "") or account_email(user))


def _is_email_device(factor: Any) -> bool:
    if not apps.is_installed("django_otp.plugins.otp_email"):
        return False
    from django_otp.plugins.otp_email.models import EmailDevice

    return isinstance(factor, EmailDevice)


def _email_code(request: HttpRequest | None, user: Any, factor: Any, check_pk: int | None) -> None:
    from django_otp.plugins.otp_email.conf import settings as otp_email_settings

    validity = int(otp_email_settings.OTP_EMAIL_TOKEN_VALIDITY)
    # Kept in memory until the email left: a failed send must not replace the code the
    # user may already have.
    factor.generate_token(valid_secs=validity, commit=False)
    base = canonical_url()
    context: dict[str, Any] = {
        "user": user,
        "code": factor.token,
        "minutes": max(1, validity // 60),
        "site_name": base.split("://", 1)[-1] if base else "",
        "not_me_url": "",
    }
    check = LoginCheck.objects.filter(pk=check_pk).first() if check_pk is not None else None
    if check is not None:
        path = reverse("rupt_guard:not_me", args=[not_me_token(check)])
        context["not_me_url"] = f"{base}{path}" if base else path
    subject = " ".join(render_to_string("rupt_guard/email/code_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject,
        render_to_string("rupt_guard/email/code.txt", context),
        from_email=otp_email_settings.OTP_EMAIL_SENDER or settings.DEFAULT_FROM_EMAIL,
        to=[code_address(user, factor)],
    )
    message.attach_alternative(render_to_string("rupt_guard/email/code.html", context), "text/html")
    message.send()
    factor.save(update_fields=["token", "valid_until"])


@dataclass(frozen=True)
class _Claim:
    previous: Any  # the cooldown's start before this claim, to give back on failure


def _claim_cooldown(factor: Any) -> _Claim | None:
    """Start the cooldown before sending, in one conditional UPDATE: of two requests at
    once only one sends (django-otp sets it after, from a row each request read)."""
    now = timezone.now()
    free = Q(last_generated_timestamp__isnull=True) | Q(
        last_generated_timestamp__lte=now - timedelta(seconds=factor.get_cooldown_duration())
    )
    previous = factor.last_generated_timestamp
    rows = type(factor)._default_manager.filter(free, pk=factor.pk)
    if not rows.update(last_generated_timestamp=now):
        return None
    factor.last_generated_timestamp = now
    return _Claim(previous)


def _seconds_until(when: datetime | None) -> int:
    if when is None:
        return 0
    return max(1, math.ceil((when - timezone.now()).total_seconds()))
