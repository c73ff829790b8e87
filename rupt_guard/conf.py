"""The ``RUPT_GUARD`` settings dict, read like Django REST framework's ``api_settings``.

Values are read at call time (``guard_settings.TIMEOUT``), never copied at import, so
``override_settings(RUPT_GUARD=...)`` takes effect at once: the ``setting_changed``
receiver in ``apps.py`` calls :meth:`GuardSettings.reload`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

SETTING_NAME = "RUPT_GUARD"

DEFAULTS: dict[str, Any] = {
    # Which identification provider completes the browser's token: "rupt", "local", the
    # dotted path of an IdentificationProvider subclass, or {"BACKEND": ..., "OPTIONS":
    # {...}}. Each provider declares its options (see rupt_guard.providers).
    "PROVIDER": "rupt",
    # Milliseconds the browser waits for identify() before submitting without a token.
    "IDENTIFY_TIMEOUT_MS": 3000,
    "TOKEN_FIELD": "rupt_identification",
    "METADATA_VERIFIED_FIELD": "2fa_verified",
    # Callable (or its dotted path) turning a user into Rupt's account id string.
    "ACCOUNT_ID": "rupt_guard.conf.default_account_id",
    # Policy: each "allow", "challenge" or "block".
    "ON_NEW_DEVICE": "challenge",
    "ON_UNVERIFIED_DEVICE": "challenge",
    "ON_MISSING_TOKEN": "challenge",
    "ON_PROVIDER_ERROR": "challenge",
    # A sign-in whose device was not identified because CONSENT said no.
    "ON_NO_CONSENT": "challenge",
    "ON_BLOCKED_DEVICE": "block",
    # The sign-in that ends a signup (django-allauth's login right after it): the account
    # is seconds old and has no factor yet, so challenging it proves nothing.
    "ON_SIGNUP": "allow",
    # None, seconds or a timedelta: an older verification counts as none.
    "VERIFICATION_MAX_AGE": None,
    # Also accept a verification recorded in Rupt's device metadata for this account.
    "TRUST_RUPT_METADATA": False,
    "POLICY": "rupt_guard.policy.DefaultPolicy",
    # Seconds a challenged session may stay pending before it is signed out.
    "CHALLENGE_TIMEOUT": 600,
    # Send an email code to the account address when the user has no OTP device.
    "EMAIL_FALLBACK": True,
    # Where "Back to the site" on rupt_guard's pages leads: a URL name or path; None hides it.
    "HOME_URL": "/",
    # Seconds a verified second factor counts as recent: adding or removing a factor, or
    # new backup codes, need one verified this recently in the session (a step-up).
    "STEP_UP_TIMEOUT": 300,
    # How many backup codes one set has.
    "BACKUP_CODE_COUNT": 10,
    # URL names a pending session may still reach, besides the challenge itself.
    "PENDING_ALLOWED_URL_NAMES": [
        "logout",
        "admin:logout",
        "rupt_guard:logout",
        "rupt_guard:not_me",
    ],
    # A password change clears the verification of all of the user's devices.
    "REVOKE_ON_PASSWORD_CHANGE": True,
    # Emails to the account: a new device signed in; a sign-in stopped at the challenge.
    "NOTIFY_NEW_DEVICE": True,
    "NOTIFY_UNCONFIRMED_SIGN_IN": True,
    # Email the account when its second factors change (added, removed, new backup codes).
    "NOTIFY_FACTOR_CHANGES": True,
    # Seconds the "this wasn't me" link in those emails stays valid.
    "NOT_ME_LINK_MAX_AGE": 7 * 24 * 3600,
    # Wrong codes in one pending session before the "unconfirmed sign-in" email goes out.
    "FAILED_CODES_BEFORE_NOTICE": 3,
    # Callable (or dotted path) ip -> approximate place (str) for the devices page; or None.
    "PLACE_FOR_IP": None,
    # REST API: DRF throttle rates per scope: "login" per client address, "login_account"
    # per account name, "challenge" per user.
    "API_THROTTLE_RATES": {"login": "10/min", "login_account": "20/min", "challenge": "10/min"},
    # Callable (or dotted path) (request, user) -> dict merged into the API's sign-in
    # answer once the gate is passed: the place to issue a site's own API token.
    "LOGIN_RESPONSE": None,
    # Days rupt_guard_prune keeps login checks, and devices not seen.
    "LOGIN_CHECK_RETENTION_DAYS": 180,
    # Apply the retention without a cron line: a small prune step after a sign-in, at most
    # once an hour across every worker (rupt_guard_prune still drains everything).
    "PRUNE_AFTER_SIGN_IN": False,
    "DEVICE_RETENTION_DAYS": 365,
    # Callable (or dotted path) (request) -> client address, used for every record and
    # throttle. The default trusts REMOTE_ADDR alone; behind a proxy use
    # "rupt_guard.client.forwarded_for" with TRUSTED_PROXIES, or django-ipware.
    "CLIENT_IP": "rupt_guard.client.remote_addr",
    # Addresses or networks of the reverse proxies whose X-Forwarded-For is believed.
    "TRUSTED_PROXIES": [],
    # Callable (or dotted path) request -> bool, decided on the server: may the browser's
    # device be identified? None: always (security as a legitimate interest).
    "CONSENT": None,
    # How client addresses are stored (devices, checks, emails): "full", "truncated"
    # (IPv4 /24, IPv6 /48) or "none". Limits and PLACE_FOR_IP still see the full address.
    "IP_ADDRESSES": "full",
    # The cache alias for state shared by every worker (throttles, code limits).
    "CACHE": "default",
    # A backend that checks the password (and may take other credentials) for
    # RuptGuardBackend, e.g. allauth's; None: ModelBackend's own check.
    "PASSWORD_BACKEND": None,
    # URL names where a password alone is a complete sign-in (HTTP Basic, obtain_auth_token).
    # Each one skips the second factor: see "Security model" in the README.
    "PASSWORD_ONLY_VIEWS": [],
    # DRF authentication classes whose tokens the site issues only after the gate (from
    # LOGIN_RESPONSE): IsDeviceVerified trusts request.auth from these and no others.
    "TOKEN_AUTHENTICATION_CLASSES": [],
    # Sign-ins that reach the provider (the password was right), per account and per
    # client address: "N/period" with period s, m, h or d (e.g. "20/h", "10/15m"), or None.
    "SIGN_IN_RATES": {"account": "20/h", "address": "100/h"},
    # The circuit breaker: after this many provider outages within BREAKER_WINDOW seconds,
    # no call for BREAKER_COOLDOWN seconds (ON_PROVIDER_ERROR applies at once).
    "BREAKER_FAILURES": 5,
    "BREAKER_WINDOW": 30,
    "BREAKER_COOLDOWN": 30,
    # Rupt's webhook signing secret ("whsec_..."), or a list of them while rotating.
    "WEBHOOK_SECRET": None,
    # Wrong codes per account, across every factor and both the HTML and API challenge.
    "WRONG_CODE_RATE": "10/15m",
    # Risky settings the site has weighed and accepts, by key (e.g. ["ON_MISSING_TOKEN"]):
    # silences the system check that refuses them.
    "ACCEPTED_RISKS": [],
    # The site's canonical address for links in emails ("https://example.com"); else the
    # Sites framework's current site. Never the request's Host header.
    "SITE_URL": None,
}

# The built-in providers' options, also accepted as top-level keys (as they were before
# PROVIDER took OPTIONS). Each provider owns their defaults and validation.
PROVIDER_OPTION_KEYS = frozenset(
    {
        "CLIENT_ID",
        "API_SECRET",
        "API_BASE_URL",
        "SDK_URL",
        "TIMEOUT",
        "CONNECT_TIMEOUT",
        "DOMAIN",
        "TOLERANCE",
        "SDK_INTEGRITY",
        "LOCAL_TOKEN_TTL",
        "LOCAL_PROVIDER_IN_PRODUCTION",
    }
)

IMPORT_STRINGS = {
    "ACCOUNT_ID",
    "POLICY",
    "PLACE_FOR_IP",
    "LOGIN_RESPONSE",
    "CLIENT_IP",
    "PASSWORD_BACKEND",
    "CONSENT",
}
# Lists of dotted paths, each imported.
IMPORT_STRING_LISTS = {"TOKEN_AUTHENTICATION_CLASSES"}
LIST_KEYS = {
    "TRUSTED_PROXIES",
    "PASSWORD_ONLY_VIEWS",
    "PENDING_ALLOWED_URL_NAMES",
    "ACCEPTED_RISKS",
}

ACTIONS = ("allow", "challenge", "block")
IP_ADDRESS_CHOICES = ("full", "truncated", "none")
ACTION_KEYS = (
    "ON_NEW_DEVICE",
    "ON_UNVERIFIED_DEVICE",
    "ON_MISSING_TOKEN",
    "ON_PROVIDER_ERROR",
    "ON_BLOCKED_DEVICE",
    "ON_NO_CONSENT",
    "ON_SIGNUP",
)


POSITIVE_INTEGER_KEYS = {
    "CHALLENGE_TIMEOUT",
    "STEP_UP_TIMEOUT",
    "BACKUP_CODE_COUNT",
    "BREAKER_FAILURES",
    "BREAKER_WINDOW",
    "BREAKER_COOLDOWN",
    "NOT_ME_LINK_MAX_AGE",
    "FAILED_CODES_BEFORE_NOTICE",
    "LOGIN_CHECK_RETENTION_DAYS",
    "DEVICE_RETENTION_DAYS",
}
OPTIONAL_KEYS = {"LOGIN_CHECK_RETENTION_DAYS", "DEVICE_RETENTION_DAYS"}


def default_account_id(user: Any) -> str:
    """Rupt's account id for ``user``: its primary key as a string."""
    return str(user.pk)


def _validate(key: str, value: Any) -> Any:
    if key in ACTION_KEYS and value not in ACTIONS:
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] must be one of {', '.join(ACTIONS)}; got {value!r}."
        )
    if key == "IP_ADDRESSES" and value not in IP_ADDRESS_CHOICES:
        raise ImproperlyConfigured(
            f"{SETTING_NAME}['IP_ADDRESSES'] must be one of {', '.join(IP_ADDRESS_CHOICES)}; "
            f"got {value!r}."
        )
    if key == "PROVIDER" and not isinstance(value, str | dict):
        raise ImproperlyConfigured(
            f"{SETTING_NAME}['PROVIDER'] must be a name, a dotted path or a dict with "
            "'BACKEND' and 'OPTIONS'."
        )
    if key in POSITIVE_INTEGER_KEYS:
        optional = key in OPTIONAL_KEYS
        whole = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        if not whole and not (optional and value is None):
            raise ImproperlyConfigured(
                f"{SETTING_NAME}[{key!r}] must be a whole number of at least 1"
                + (" or None (keep for ever)." if optional else ".")
            )
    if key == "VERIFICATION_MAX_AGE" and value is not None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = timedelta(seconds=value)
        if not isinstance(value, timedelta) or value <= timedelta(0):
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['VERIFICATION_MAX_AGE'] must be None, seconds or a timedelta."
            )
    if key in LIST_KEYS | IMPORT_STRING_LISTS and (
        isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset)
    ):
        raise ImproperlyConfigured(f"{SETTING_NAME}[{key!r}] must be a list.")
    if key == "TRUSTED_PROXIES":
        try:
            value = tuple(ipaddress.ip_network(str(item), strict=False) for item in value)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['TRUSTED_PROXIES'] holds something that is not an address "
                f"or network: {exc}"
            ) from exc
    if key == "WRONG_CODE_RATE":
        value = Rate.parse(value, key)
    if key == "SIGN_IN_RATES":
        if not isinstance(value, dict) or set(value) - {"account", "address"}:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['SIGN_IN_RATES'] must be a dict with 'account' and 'address'."
            )
        value = {scope: Rate.parse(value.get(scope), key) for scope in ("account", "address")}
    if key == "API_THROTTLE_RATES":
        if not isinstance(value, dict):
            raise ImproperlyConfigured(f"{SETTING_NAME}['API_THROTTLE_RATES'] must be a dict.")
        for scope, rate in value.items():
            # Django REST framework reads these itself: "N/s", "N/m", "N/h" or "N/d".
            if rate is not None and not DRF_RATE.match(str(rate)):
                raise ImproperlyConfigured(
                    f"{SETTING_NAME}['API_THROTTLE_RATES'][{scope!r}] = {rate!r}; Django REST "
                    "framework takes rates like '10/min' or '100/hour' (no '15m')."
                )
    if key == "SITE_URL" and value is not None:
        parts = urlsplit(str(value))
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['SITE_URL'] must look like 'https://example.com'; got {value!r}."
            )
        value = f"{parts.scheme}://{parts.netloc}"
    if key == "CACHE" and value not in settings.CACHES:
        raise ImproperlyConfigured(
            f"{SETTING_NAME}['CACHE'] = {value!r} is not an alias in settings.CACHES."
        )
    return value


RATE = re.compile(r"\A(\d+)/(\d*)([smhd])\Z")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DRF_RATE = re.compile(r"\A\d+/(?:s|sec|second|m|min|minute|h|hour|d|day)\Z")


@dataclass(frozen=True)
class Rate:
    """A limit read from a setting: ``count`` per ``seconds``."""

    count: int
    seconds: int

    @classmethod
    def parse(cls, value: Any, setting: str) -> Rate | None:
        """``"10/15m"``: ten per fifteen minutes; ``"20/h"``; None means no limit."""
        if value is None:
            return None
        match = RATE.match(str(value).strip())
        if match is None or int(match.group(1)) < 1:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}[{setting!r}] has {value!r}; a rate looks like '10/15m' or '20/h'."
            )
        count, span, unit = match.groups()
        if span and int(span) < 1:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}[{setting!r}] has {value!r}: a period of zero seconds."
            )
        return cls(int(count), int(span or 1) * UNIT_SECONDS[unit])


def _import(key: str, path: str) -> Any:
    try:
        return import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] = {path!r} cannot be imported: {exc}"
        ) from exc


class GuardSettings:
    """Attribute access to ``settings.RUPT_GUARD`` with defaults and lazy imports."""

    def __init__(self, defaults: dict[str, Any] | None = None) -> None:
        self.defaults = defaults or DEFAULTS
        self._cached: set[str] = set()
        self._user_settings: dict[str, Any] | None = None

    @property
    def user_settings(self) -> dict[str, Any]:
        if self._user_settings is None:
            value = getattr(settings, SETTING_NAME, {}) or {}
            if not isinstance(value, dict):
                raise ImproperlyConfigured(f"settings.{SETTING_NAME} must be a dict.")
            unknown = sorted(set(value) - set(self.defaults) - PROVIDER_OPTION_KEYS)
            if unknown:
                raise ImproperlyConfigured(
                    f"Unknown key(s) in settings.{SETTING_NAME}: {', '.join(unknown)}. "
                    f"Known keys: {', '.join(sorted(self.defaults))}."
                )
            self._user_settings = value
        return self._user_settings

    def __getattr__(self, key: str) -> Any:
        if key not in self.defaults:
            raise AttributeError(f"Invalid rupt_guard setting: {key!r}")
        value = self.user_settings.get(key, self.defaults[key])
        if key in IMPORT_STRINGS and isinstance(value, str):
            value = _import(key, value)
        if key in IMPORT_STRING_LISTS and isinstance(value, list | tuple):
            value = [_import(key, item) if isinstance(item, str) else item for item in value]
        value = _validate(key, value)
        self._cached.add(key)
        setattr(self, key, value)
        return value

    def reload(self) -> None:
        for key in self._cached:
            delattr(self, key)
        self._cached.clear()
        self._user_settings = None


guard_settings = GuardSettings()


def reload_guard_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        guard_settings.reload()


setting_changed.connect(reload_guard_settings)
