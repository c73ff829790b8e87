"""Identification providers: plugins behind :class:`IdentificationProvider`.

``RUPT_GUARD["PROVIDER"]`` names one as Django names a cache or database backend::

    "PROVIDER": {"BACKEND": "rupt", "OPTIONS": {"CLIENT_ID": "...", "API_SECRET": "..."}}

or, shorter, ``"rupt"``, ``"local"`` or a dotted path, with the built-in providers' options
as top-level ``RUPT_GUARD`` keys. Each provider declares and checks its own options. The
instance is built on first use and kept for the process (it owns a connection pool); a
change of settings rebuilds it.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from rupt_guard.choices import ErrorReason
from rupt_guard.conf import SETTING_NAME, guard_settings
from rupt_guard.providers.base import (
    Identification,
    IdentificationProvider,
    InvalidToken,
    ProviderBadResponse,
    ProviderConfigurationError,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeout,
    ProviderUnavailable,
    TokenRejected,
    validate_token,
)

__all__ = [
    "ErrorReason",
    "Identification",
    "IdentificationProvider",
    "InvalidToken",
    "ProviderBadResponse",
    "ProviderConfigurationError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "TokenRejected",
    "get_provider",
    "provider_class",
    "provider_options",
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
    name = _backend_name()
    path = ALIASES.get(name, name)
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"RUPT_GUARD['PROVIDER'] = {name!r} cannot be imported: {exc}"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, IdentificationProvider)) or (
        inspect.isabstract(cls)
    ):
        raise ImproperlyConfigured(
            f"RUPT_GUARD['PROVIDER'] = {name!r} is not a concrete IdentificationProvider."
        )
    return cls


def provider_options(cls: type[IdentificationProvider]) -> dict[str, Any]:
    """The provider's options: its defaults, top-level keys it declares, then ``OPTIONS``."""
    value = guard_settings.PROVIDER
    raw = value.get("OPTIONS") if isinstance(value, dict) else None
    if raw is not None and (
        not isinstance(raw, dict) or not all(isinstance(key, str) for key in raw)
    ):
        raise ImproperlyConfigured(
            "RUPT_GUARD['PROVIDER']['OPTIONS'] must be a dict of option names to values."
        )
    given = dict(raw or {})
    unknown = sorted(set(given) - set(cls.options))
    if unknown:
        raise ImproperlyConfigured(
            f"RUPT_GUARD['PROVIDER']['OPTIONS'] has {', '.join(unknown)}, which "
            f"{cls.__name__} does not take; it takes {', '.join(sorted(cls.options)) or 'none'}."
        )
    top_level = {
        key: value for key, value in guard_settings.user_settings.items() if key in cls.options
    }
    return cls.validate({**cls.options, **top_level, **given})


def _backend_name() -> str:
    value = guard_settings.PROVIDER
    if isinstance(value, dict):
        extra = sorted(set(value) - {"BACKEND", "OPTIONS"})
        if extra or not isinstance(value.get("BACKEND"), str):
            raise ImproperlyConfigured(
                "RUPT_GUARD['PROVIDER'] as a dict takes 'BACKEND' (a name or dotted path) "
                "and 'OPTIONS'" + (f"; not {', '.join(extra)}." if extra else ".")
            )
        return str(value["BACKEND"])
    return str(value)


def get_provider() -> IdentificationProvider:
    """The process-wide provider named by the settings."""
    global _instance
    instance = _instance
    if instance is None:
        with _lock:
            if _instance is None:
                cls = provider_class()
                _instance = cls(**provider_options(cls))
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


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    # The instance holds its options (base URL, secret, timeout): rebuild it on next use.
    if setting == SETTING_NAME:
        reset_provider()


setting_changed.connect(_settings_changed)
