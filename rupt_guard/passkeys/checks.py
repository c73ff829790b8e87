"""System checks of the passkeys extra: no passkey may sign anyone in around the gate.

Registered by ``rupt_guard.checks``; they say nothing unless ``django_otp_webauthn`` is
installed.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.urls import NoReverseMatch, reverse

WEBAUTHN_APP = "django_otp_webauthn"


@register(Tags.security)
def check_passkeys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if not apps.is_installed(WEBAUTHN_APP):
        return []
    from django_otp_webauthn.settings import app_settings

    messages: list[CheckMessage] = []
    if app_settings.OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN:
        messages.append(
            Error(
                "OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN is on (django-otp-webauthn's default): "
                "its own views would sign a passkey's owner in with no password and no risk "
                "check, past rupt_guard's gate.",
                hint="Set OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False. rupt_guard uses "
                "passkeys as the second factor of its challenge (rupt_guard:passkey_*).",
                id="rupt_guard.E014",
            )
        )
    if _own_urls_routed():
        messages.append(
            Warning(
                "django-otp-webauthn's own URLs (namespace otp_webauthn) are routed: a "
                "passkey added there needs no recent second factor (a session django-otp "
                "verified hours ago will do), so a stolen session cookie is enough to add the "
                "thief's own passkey.",
                hint="Remove include('django_otp_webauthn.urls'): rupt_guard serves the "
                "ceremonies itself under rupt_guard:passkey_*.",
                id="rupt_guard.W016",
            )
        )
    return messages


def _own_urls_routed() -> bool:
    try:
        reverse("otp_webauthn:credential-registration-begin")
    except NoReverseMatch:
        return False
    except Exception:  # a URLconf that does not load: Django's own URL checks say why
        return False
    return True
