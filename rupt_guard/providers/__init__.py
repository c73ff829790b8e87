"""Identification providers: plugins behind :class:`IdentificationProvider`.

``RUPT_GUARD["PROVIDER"]`` names one: ``"rupt"``, ``"local"`` or a dotted path. The
instance is built on first use and kept for the process (it owns a connection pool).
"""

from __future__ import annotations

import threading

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from rupt_guard.conf import guard_settings
from rupt_guard.providers.base import (
    ErrorReason,
    Identification,
    IdentificationProvider,
    InvalidToken,
    ProviderBadResponse,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeout,
    TokenRejected,
    validate_token,
)

__all__ = [
    "ErrorReason",
    "Identification",
    "IdentificationProvider",
    "InvalidToken",
    "ProviderBadResponse",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderTimeout",
    "TokenRejected",
    "get_provider",
    "provider_class",
    "reset_provider",
    "validate_token",
]

ALIASES = {
    "rupt": "rupt_guard.providers.rupt.RuptProvider",
    "local": "rupt_guard.local.provider.LocalProvider",
}

_lock = threading.Lock()
_instance: IdentificationProvider | None = None


def provider_class() -> type[IdentificationProvider]:
    name = guard_settings.PROVIDER
    path = ALIASES.get(name, name)
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"RUPT_GUARD['PROVIDER'] = {name!r} cannot be imported: {exc}"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, IdentificationProvider)):
        raise ImproperlyConfigured(
            f"RUPT_GUARD['PROVIDER'] = {name!r} is not an IdentificationProvider subclass."
        )
    return cls


def get_provider() -> IdentificationProvider:
    """The process-wide provider named by the settings."""
    global _instance
    instance = _instance
    if instance is None:
        with _lock:
            if _instance is None:
                _instance = provider_class()()
            instance = _instance
    return instance


def reset_provider() -> None:
    """Forget the provider (settings changed); its pooled connections are closed."""
    global _instance
    with _lock:
        old, _instance = _instance, None
    close = getattr(old, "close", None)
    if close is not None:
        close()
