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
