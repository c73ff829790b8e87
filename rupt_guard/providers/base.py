"""The one small interface every identification provider implements, and its errors.

A provider talks to an identification service and nothing else: no models, no requests
objects. It turns the browser's opaque token into an :class:`Identification`, and records
device metadata. Every way a call can fail is a :class:`ProviderError` with a reason.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.core.checks import CheckMessage
from django.core.exceptions import ImproperlyConfigured

from rupt_guard.choices import ErrorReason
from rupt_guard.conf import SettingDoc

# Rupt's docs show a UUID placeholder; its real ids are 24-hex ObjectIds. Accept any short
# opaque id in a character set that cannot change a URL path (no "/", ".", "%", "?").
TOKEN_PATTERN = re.compile(r"\A[A-Za-z0-9_-]{8,128}\Z")
TOKEN_MAX_LENGTH = 128


class ProviderError(Exception):
    """A provider call failed. ``reason`` lands in the audit log; ``status`` is the HTTP code."""

    reason: ErrorReason = ErrorReason.BAD_RESPONSE

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def is_token_problem(self) -> bool:
        """True when the browser's token, not the service, is at fault (anyone can cause it)."""
        return self.reason in (ErrorReason.BAD_TOKEN, ErrorReason.TOKEN_REJECTED)

    @property
    def is_outage(self) -> bool:
        """True when the service is down or overloaded: timeouts, refused connections, 429
        and 5xx. Never a token problem or a configuration error."""
        if self.reason in (ErrorReason.TIMEOUT, ErrorReason.CONNECTION):
            return True
        return self.reason == ErrorReason.HTTP_STATUS and (
            self.status == 429 or (self.status or 0) >= 500
        )


class ProviderTimeout(ProviderError):
    reason = ErrorReason.TIMEOUT


class ProviderConnectionError(ProviderError):
    reason = ErrorReason.CONNECTION


class ProviderHTTPError(ProviderError):
    reason = ErrorReason.HTTP_STATUS


class ProviderConfigurationError(ProviderError):
    """The service refused our credentials or plan (401, 403, 428): the site must act."""

    reason = ErrorReason.CONFIGURATION


class ProviderUnavailable(ProviderError):
    """Not called: the circuit breaker is open after recent outages."""

    reason = ErrorReason.BREAKER_OPEN


class ProviderBadResponse(ProviderError):
    reason = ErrorReason.BAD_RESPONSE


class InvalidToken(ProviderError):
    """The token is not a short opaque id in a safe character set: no request was made."""

    reason = ErrorReason.BAD_TOKEN


class TokenRejected(ProviderError):
    """The service does not know this identification (forged, expired or reused)."""

    reason = ErrorReason.TOKEN_REJECTED


MetadataFields = Mapping[str, list[str]]


MAX_METADATA_KEYS = 64
MAX_METADATA_VALUES = 256
MAX_METADATA_STRING = 1024


def validate_metadata(value: Any) -> dict[str, list[str]]:
    """Rupt's ``metadata_fields``: a small map of strings to lists of strings."""
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_METADATA_KEYS:
        raise ProviderBadResponse("metadata_fields is not a small object")
    fields: dict[str, list[str]] = {}
    for key, values in value.items():
        if not isinstance(key, str) or not 0 < len(key) <= MAX_METADATA_STRING:
            raise ProviderBadResponse("metadata_fields has a bad key")
        if not isinstance(values, list) or len(values) > MAX_METADATA_VALUES:
            raise ProviderBadResponse("metadata_fields values must be short lists")
        if not all(isinstance(v, str) and len(v) <= MAX_METADATA_STRING for v in values):
            raise ProviderBadResponse("metadata_fields values must be short strings")
        # PostgreSQL's jsonb refuses NUL characters: such a value would fail the login's write.
        if "\x00" in key or any("\x00" in v for v in values):
            raise ProviderBadResponse("metadata_fields must not contain NUL characters")
        fields[key] = list(values)
    return fields


@dataclass(frozen=True)
class Identification:
    """What completing a token tells the server about the browser's device."""

    device_id: str
    access_id: str
    new_device: bool
    metadata_fields: dict[str, list[str]] = field(default_factory=dict)


def validate_token(token: object) -> str:
    """Return ``token`` if it is an id the service can have issued, else raise
    :class:`InvalidToken` (and nothing is sent)."""
    if not isinstance(token, str) or not TOKEN_PATTERN.match(token):
        raise InvalidToken("identification token is not 8 to 128 of A-Z, a-z, 0-9, _ and -")
    return token


class IdentificationProvider(abc.ABC):
    """Completes browser identifications and records device metadata.

    A plugin declares its ``options`` (names and defaults) and checks them itself, in the
    spirit of Django's ``{"BACKEND": ..., "OPTIONS": {...}}``. Implementations must be
    thread-safe: one instance serves every request of a process.
    """

    #: The options this provider takes, with their defaults.
    options: ClassVar[Mapping[str, Any]] = {}
    #: What each option takes and means, by name: the manual's settings reference lists the
    #: built-in providers' from here.
    option_docs: ClassVar[Mapping[str, SettingDoc]] = {}

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise ImproperlyConfigured(
                f"{type(self).__name__} takes no option {', '.join(unknown)}; "
                f"it takes {', '.join(sorted(self.options)) or 'none'}."
            )
        self.settings = self.validate({**self.options, **options})

    @classmethod
    def validate(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Return the options, normalised; raise ``ImproperlyConfigured`` naming a bad one."""
        return options

    @classmethod
    def check(cls, options: dict[str, Any]) -> list[CheckMessage]:
        """System check messages for a configuration that works but should not (stable ids)."""
        return []

    @classmethod
    def describe(cls, options: dict[str, Any]) -> list[tuple[str, str]]:
        """(label, value) lines for ``rupt_guard_check``; never a secret's value."""
        return []

    def client_id(self) -> str:
        """The public id the browser passes to ``identify()`` (may be empty)."""
        return ""

    def browser_options(self) -> dict[str, str]:
        """Extra ``identify()`` options and the SDK's integrity hash, for the identify tag:
        keys ``domain``, ``tolerance``, ``integrity``, each only when set."""
        return {}

    @abc.abstractmethod
    def sdk_url(self) -> str:
        """Where the browser loads the script that offers ``identify({client_id})``."""

    @abc.abstractmethod
    def complete(self, token: str, account: str) -> Identification:
        """Complete the browser's ``token`` for ``account`` (the site's user id, a string)."""

    @abc.abstractmethod
    def update_metadata(self, device_id: str, fields: MetadataFields) -> None:
        """Replace the listed metadata ``fields`` of ``device_id``; other keys stay."""

    def erase_account(self, device_id: str, account: str, fields: MetadataFields) -> None:
        """Remove what the service keeps of ``account`` on ``device_id``, as far as its API
        allows. ``fields`` are the device's metadata fields rewritten without this account's
        entries (the other accounts' entries stay). Rupt documents no delete, so the default
        writes them with :meth:`update_metadata`; an unknown device has nothing to erase."""
        try:
            self.update_metadata(device_id, fields)
        except ProviderError as exc:
            if exc.status != 404:
                raise
