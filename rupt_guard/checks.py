"""System checks for the misconfigurations a site can make (ids are stable)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from .conf import DEFAULTS, guard_settings

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


@register(Tags.security)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list:
    guard_settings.reload()
    try:
        for key in DEFAULTS:
            getattr(guard_settings, key)
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="rupt_guard.E001")]

    from .providers import ALIASES, provider_class

    try:
        provider_class()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="rupt_guard.E002")]

    messages: list = []
    if ALIASES.get(guard_settings.PROVIDER, guard_settings.PROVIDER) == ALIASES["rupt"]:
        if not guard_settings.API_SECRET:
            messages.append(
                Error(
                    "RUPT_GUARD['API_SECRET'] is empty: the Rupt provider cannot complete logins.",
                    hint="Set it from the environment, never in code; or use PROVIDER 'local'.",
                    id="rupt_guard.E003",
                )
            )
        if not guard_settings.CLIENT_ID:
            messages.append(
                Error(
                    "RUPT_GUARD['CLIENT_ID'] is empty: the browser cannot call Rupt.identify().",
                    id="rupt_guard.E004",
                )
            )
        base = urlsplit(str(guard_settings.API_BASE_URL))
        if base.scheme != "https" and base.hostname not in LOOPBACK_HOSTS:
            messages.append(
                Warning(
                    "RUPT_GUARD['API_BASE_URL'] is not https: the API secret would cross the "
                    "network in clear text.",
                    id="rupt_guard.W001",
                )
            )
    if ALIASES.get(guard_settings.PROVIDER, guard_settings.PROVIDER) == ALIASES["local"]:
        from django.apps import apps
        from django.conf import settings

        if not apps.is_installed("rupt_guard.local"):
            messages.append(
                Error(
                    "PROVIDER is 'local' but 'rupt_guard.local' is not in INSTALLED_APPS.",
                    hint="Add 'rupt_guard.local' after 'rupt_guard' and run migrate.",
                    id="rupt_guard.E007",
                )
            )
        if not settings.DEBUG and not guard_settings.LOCAL_PROVIDER_IN_PRODUCTION:
            messages.append(
                Warning(
                    "The local identification provider is in use with DEBUG = False. It "
                    "recognises a browser profile by a stored secret; it is not Rupt.",
                    hint="Use PROVIDER 'rupt' in production, or set "
                    "RUPT_GUARD['LOCAL_PROVIDER_IN_PRODUCTION'] = True if you mean it.",
                    id="rupt_guard.W005",
                )
            )
    if guard_settings.TIMEOUT > 5:
        messages.append(
            Warning(
                f"RUPT_GUARD['TIMEOUT'] is {guard_settings.TIMEOUT:g}s: every login may wait that "
                "long when the provider is slow.",
                hint="Two seconds is the default; the policy decides what a timeout means.",
                id="rupt_guard.W002",
            )
        )
    return messages


MIDDLEWARE_PATH = "rupt_guard.middleware.RuptGuardMiddleware"
BACKEND_PATH = "rupt_guard.backends.RuptGuardBackend"


@register(Tags.security)
def check_wiring(app_configs: Any = None, **kwargs: Any) -> list:
    from django.conf import settings

    messages: list = []
    middleware = list(settings.MIDDLEWARE)
    if MIDDLEWARE_PATH not in middleware:
        messages.append(
            Error(
                f"{MIDDLEWARE_PATH} is not in MIDDLEWARE: a challenged session could use the site.",
                id="rupt_guard.E005",
            )
        )
    else:
        position = middleware.index(MIDDLEWARE_PATH)
        for required in (
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django_otp.middleware.OTPMiddleware",
        ):
            if required not in middleware[:position]:
                messages.append(
                    Error(
                        f"{MIDDLEWARE_PATH} must come after {required} in MIDDLEWARE.",
                        id="rupt_guard.E006",
                    )
                )
    backends = list(settings.AUTHENTICATION_BACKENDS)
    if BACKEND_PATH not in backends:
        messages.append(
            Warning(
                f"{BACKEND_PATH} is not in AUTHENTICATION_BACKENDS: sign-ins are checked only "
                "after login(), so a blocked device gets a session that is ended at once instead "
                "of the login form's usual error.",
                id="rupt_guard.W003",
            )
        )
    elif backends.index(BACKEND_PATH) > 0 and any(
        b.endswith("ModelBackend") for b in backends[: backends.index(BACKEND_PATH)]
    ):
        messages.append(
            Warning(
                f"A ModelBackend comes before {BACKEND_PATH}: it accepts the password first and "
                "the risk check only runs after login().",
                hint=f"Replace ModelBackend with {BACKEND_PATH}: it checks passwords alike.",
                id="rupt_guard.W004",
            )
        )
    from django.apps import apps

    if apps.is_installed("rest_framework.authtoken"):
        messages.append(
            Warning(
                "rest_framework.authtoken is installed: its obtain_auth_token view hands out a "
                "token for a password alone, and IsDeviceVerified accepts token-authenticated "
                "requests.",
                hint="Issue tokens from RUPT_GUARD['LOGIN_RESPONSE'] (called only after the "
                "gate) and do not route obtain_auth_token; silence this check if you do so.",
                id="rupt_guard.W006",
            )
        )
    return messages
