"""Which second factors a challenged user can use, including the email fallback."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django_otp import devices_for_user

from .conf import guard_settings

EMAIL_FALLBACK_NAME = "Email (sign-in check)"


def challenge_devices(user: Any) -> list[Any]:
    """The user's confirmed django-otp devices; an email device for the account address
    when the user has none and ``EMAIL_FALLBACK`` is on. This is not enrolment: the code
    goes only to the address the account already has."""
    devices = list(devices_for_user(user, confirmed=True))
    if devices or not guard_settings.EMAIL_FALLBACK:
        return devices
    email = getattr(user, "email", "") or ""
    if not email or not apps.is_installed("django_otp.plugins.otp_email"):
        return []
    from django_otp.plugins.otp_email.models import EmailDevice

    device, _ = EmailDevice.objects.get_or_create(
        user=user, name=EMAIL_FALLBACK_NAME, defaults={"confirmed": True}
    )
    return [device]
