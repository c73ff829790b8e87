"""Which second factors a challenged user can use, including the email fallback."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import router, transaction
from django_otp import devices_for_user

from rupt_guard.conf import guard_settings

EMAIL_FALLBACK_NAME = "Email (sign-in check)"


def account_email(user: Any) -> str:
    """The user's address, wherever a custom user model keeps it."""
    return getattr(user, user.get_email_field_name(), "") or ""


def sends_code(device: Any) -> bool:
    """A device that must be asked to send a code first (django-otp's email device)."""
    return device._meta.label_lower == "otp_email.emaildevice"


def is_email_fallback(device: Any) -> bool:
    return (
        device._meta.label_lower == "otp_email.emaildevice" and device.name == EMAIL_FALLBACK_NAME
    )


def challenge_devices(user: Any) -> list[Any]:
    """The user's confirmed django-otp devices.

    Only a user with none gets the email fallback (``EMAIL_FALLBACK``): a code to the
    address the account already has. This is not enrolment, and once the user has a factor
    of their own the fallback is no longer offered, so it cannot stand in for a stronger one.
    """
    devices = [d for d in devices_for_user(user, confirmed=True) if not is_email_fallback(d)]
    if devices or not guard_settings.EMAIL_FALLBACK:
        return devices
    if not account_email(user) or not apps.is_installed("django_otp.plugins.otp_email"):
        return []
    from django_otp.plugins.otp_email.models import EmailDevice

    fallbacks = EmailDevice.objects.filter(user=user, name=EMAIL_FALLBACK_NAME).order_by("pk")
    device = fallbacks.first()
    if device is None:
        with transaction.atomic(using=router.db_for_write(EmailDevice)):
            # Two sign-ins at once must not create two: nothing unique guards the name,
            # so the user's row is locked while the device is made.
            users = get_user_model()._default_manager
            list(users.select_for_update().filter(pk=user.pk).values("pk"))
            device = fallbacks.first() or EmailDevice.objects.create(
                user=user, name=EMAIL_FALLBACK_NAME, confirmed=True
            )
    return [device]
