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

# Every key and its default; what each takes and means is in SETTING_DOCS below, and the
# manual's settings reference (docs/settings.md) is generated from both, so it cannot drift.
DEFAULTS: dict[str, Any] = {
    "PROVIDER": "rupt",
    "IDENTIFY_TIMEOUT_MS": 3000,
    "TOKEN_FIELD": "rupt_identification",
    "METADATA_VERIFIED_FIELD": "2fa_verified",
    "ACCOUNT_ID": "rupt_guard.conf.default_account_id",
    "ON_NEW_DEVICE": "challenge",
    "ON_UNVERIFIED_DEVICE": "challenge",
    "ON_MISSING_TOKEN": "challenge",
    "ON_PROVIDER_ERROR": "challenge",
    "ON_NO_CONSENT": "challenge",
    "ON_BLOCKED_DEVICE": "block",
    "ON_SIGNUP": "allow",
    "VERIFICATION_MAX_AGE": None,
    "TRUST_RUPT_METADATA": False,
    "POLICY": "rupt_guard.policy.DefaultPolicy",
    "CHALLENGE_TIMEOUT": 600,
    "EMAIL_FALLBACK": True,
    "HOME_URL": "/",
    "STEP_UP_TIMEOUT": 300,
    "BACKUP_CODE_COUNT": 10,
    "PENDING_ALLOWED_URL_NAMES": [
        "logout",
        "admin:logout",
        "rupt_guard:logout",
        "rupt_guard:not_me",
    ],
    "REVOKE_ON_PASSWORD_CHANGE": True,
    "NOTIFY_NEW_DEVICE": True,
    "NOTIFY_UNCONFIRMED_SIGN_IN": True,
    "NOTIFY_FACTOR_CHANGES": True,
    "NOT_ME_LINK_MAX_AGE": 7 * 24 * 3600,
    "FAILED_CODES_BEFORE_NOTICE": 3,
    "PLACE_FOR_IP": None,
    "API_THROTTLE_RATES": {"login": "10/min", "login_account": "20/min", "challenge": "10/min"},
    "LOGIN_RESPONSE": None,
    "LOGIN_CHECK_RETENTION_DAYS": 180,
    "PRUNE_AFTER_SIGN_IN": False,
    "DEVICE_RETENTION_DAYS": 365,
    "CLIENT_IP": "rupt_guard.client.remote_addr",
    "TRUSTED_PROXIES": [],
    "CONSENT": None,
    "IP_ADDRESSES": "full",
    "CACHE": "default",
    "PASSWORD_BACKEND": None,
    "PASSWORD_ONLY_VIEWS": [],
    "TOKEN_AUTHENTICATION_CLASSES": [],
    "SIGN_IN_RATES": {"account": "20/h", "address": "100/h"},
    "BREAKER_FAILURES": 5,
    "BREAKER_WINDOW": 30,
    "BREAKER_COOLDOWN": 30,
    "WEBHOOK_SECRET": None,
    "WRONG_CODE_RATE": "10/15m",
    "ACCEPTED_RISKS": [],
    "SITE_URL": None,
}


@dataclass(frozen=True)
class SettingDoc:
    """What a setting (or a provider's option) takes and means, for the settings reference.

    ``meaning`` is Markdown; its links are relative to the manual's docs/ folder.
    """

    kind: str
    meaning: str


# One entry per key of DEFAULTS (tests/test_docs.py holds them to each other), in the
# order the reference lists them.
SETTING_DOCS: dict[str, SettingDoc] = {
    "PROVIDER": SettingDoc(
        "name, dotted path or dict",
        (
            '`"rupt"`, `"local"`, the dotted path of an `IdentificationProvider` subclass, '
            'or `{"BACKEND": one of those, "OPTIONS": {...}}` (see '
            "[Providers](providers.md))."
        ),
    ),
    "IDENTIFY_TIMEOUT_MS": SettingDoc(
        "int (milliseconds)",
        "How long the browser waits for `identify()` before submitting without a token.",
    ),
    "TOKEN_FIELD": SettingDoc(
        "str",
        "The POST field carrying the identification token.",
    ),
    "METADATA_VERIFIED_FIELD": SettingDoc(
        "str",
        "Rupt device-metadata key recording second-factor verifications.",
    ),
    "ACCOUNT_ID": SettingDoc(
        "callable or dotted path",
        (
            "Callable (or dotted path) giving Rupt's account id for a user; default "
            "`str(user.pk)`. With `TRUST_RUPT_METADATA`, an id that means the same person "
            "on every site of the Rupt project (`rupt_guard.W009`)."
        ),
    ),
    "ON_NEW_DEVICE": SettingDoc(
        '"allow", "challenge" or "block"',
        "Policy for a device Rupt has never seen on this account.",
    ),
    "ON_UNVERIFIED_DEVICE": SettingDoc(
        '"allow", "challenge" or "block"',
        "Policy for a known device never verified (or verified too long ago).",
    ),
    "ON_MISSING_TOKEN": SettingDoc(
        '"allow", "challenge" or "block"',
        (
            "Policy when the token is missing, malformed, unknown to Rupt or already used. "
            '`"allow"` is an error (`rupt_guard.E010`) unless listed in `ACCEPTED_RISKS`.'
        ),
    ),
    "ON_PROVIDER_ERROR": SettingDoc(
        '"allow", "challenge" or "block"',
        (
            "Policy when Rupt times out, cannot be reached, refuses your secret or plan "
            "(401/403/428), answers 429, 5xx or garbage, or is not called because the "
            'circuit breaker is open. `"allow"` is an error (`rupt_guard.E010`) unless '
            "listed in `ACCEPTED_RISKS`."
        ),
    ),
    "ON_BLOCKED_DEVICE": SettingDoc(
        '"allow", "challenge" or "block"',
        "Policy for a device staff or the user blocked.",
    ),
    "ON_SIGNUP": SettingDoc(
        '"allow", "challenge" or "block"',
        (
            "Policy for the login that ends a signup, as django-allauth marks it "
            "(`signup=True`, with [`rupt_guard.allauth`](allauth.md)); reason `signed_up`, "
            "before every other rule: the account is seconds old and has no factor to "
            'verify. `"challenge"` sends new accounts to an emailed code.'
        ),
    ),
    "ON_NO_CONSENT": SettingDoc(
        '"allow", "challenge" or "block"',
        (
            "Policy for a sign-in whose device was not identified because `CONSENT` said no "
            "(reason `no_consent`; checked before the missing-token rule, so it never "
            'weakens `ON_MISSING_TOKEN`). `"allow"` is an error (`rupt_guard.E010`) unless '
            "listed in `ACCEPTED_RISKS`: whoever has the password can decline consent."
        ),
    ),
    "CONSENT": SettingDoc(
        "callable, dotted path or None",
        (
            "Callable or dotted path `(request) -> bool`, decided on the server: may this "
            "browser's device be identified? `None` means always (security as a legitimate "
            "interest). When it says no, `{% rupt_guard_identify %}` renders nothing (no "
            'script, no field), the API\'s `GET login/` answers `"identify": false`, any '
            "token posted is ignored (Rupt is not called), and the sign-in is recorded with "
            "the reason `no_consent`. A callable that raises is logged and counts as a no."
        ),
    ),
    "IP_ADDRESSES": SettingDoc(
        '"full", "truncated" or "none"',
        (
            "How client addresses are stored in devices, login checks and the emails that "
            'show them: `"full"`, `"truncated"` (IPv4 /24, IPv6 /48) or `"none"`. Applied '
            "before anything is written; the sign-in limits and `PLACE_FOR_IP` still see "
            "the request's whole address."
        ),
    ),
    "PRUNE_AFTER_SIGN_IN": SettingDoc(
        "bool",
        (
            "Apply the retention settings without a cron line: a small prune step (500 rows "
            "per table) after a sign-in, at most once an hour across every worker (shared "
            "cache). `rupt_guard_prune` still drains everything. The login-check list in "
            "the admin shows the retention in force and the oldest rows kept."
        ),
    ),
    "ACCEPTED_RISKS": SettingDoc(
        "list of keys",
        (
            "Keys whose risky value the site has weighed and accepts, silencing the check "
            'that refuses it: `"ON_MISSING_TOKEN"`, `"ON_PROVIDER_ERROR"`, '
            '`"ON_NO_CONSENT"` (`rupt_guard.E010`).'
        ),
    ),
    "VERIFICATION_MAX_AGE": SettingDoc(
        "seconds, timedelta or None",
        "Seconds or `timedelta`; an older verification counts as none.",
    ),
    "TRUST_RUPT_METADATA": SettingDoc(
        "bool",
        (
            "Also accept a verification of *this* account recorded in Rupt's device "
            "metadata, even for a device with no row here ([metadata-only "
            "mode](security.md#metadata-only-mode-trust_rupt_metadata))."
        ),
    ),
    "POLICY": SettingDoc(
        "dotted path",
        "Dotted path of the policy class ([the policy](concepts.md#the-policy)).",
    ),
    "CHALLENGE_TIMEOUT": SettingDoc(
        "int (seconds)",
        (
            "Seconds a challenged session may stay pending before it is signed out. A "
            "challenge left unanswered that long is closed as expired and its owner "
            "emailed, at the session's next request, the account's next sign-in or the next "
            "`rupt_guard_expire_challenges`."
        ),
    ),
    "EMAIL_FALLBACK": SettingDoc(
        "bool",
        "Email a code to the account's address when the user has no OTP device.",
    ),
    "HOME_URL": SettingDoc(
        "path, URL name or None",
        (
            'Where "Back to the site", at the foot of rupt_guard\'s pages, leads: a path or '
            "a URL name. `None` hides the link; so does a name that does not resolve "
            "(logged) or a `javascript:` address, never a failing page."
        ),
    ),
    "STEP_UP_TIMEOUT": SettingDoc(
        "int (seconds)",
        (
            "Seconds a second factor verified in the session counts as recent: adding or "
            "removing a factor and new backup codes need one (the "
            "[step-up](concepts.md#the-step-up)). Also how long new backup codes stay "
            "downloadable. A whole number, at least 1."
        ),
    ),
    "BACKUP_CODE_COUNT": SettingDoc(
        "int",
        "Codes in one set of backup codes. A whole number, at least 1.",
    ),
    "PENDING_ALLOWED_URL_NAMES": SettingDoc(
        "list of URL names",
        (
            "URL names a pending session may still reach, as an anonymous user (or mark the "
            "view with `pending_allowed`)."
        ),
    ),
    "WRONG_CODE_RATE": SettingDoc(
        "rate or None",
        (
            "Wrong codes per account, across every factor and both the HTML and API "
            "challenge; past it, codes are refused unread until the window ends. A rate "
            '`"N/period"` (period `s`, `m`, `h` or `d`, e.g. `"10/15m"`, `"20/h"`; a period '
            "of zero is `rupt_guard.E001`); `None`: no limit. See "
            "[Limits](security.md#limits)."
        ),
    ),
    "SIGN_IN_RATES": SettingDoc(
        "dict of rates",
        (
            "Sign-ins that would reach the provider (right password, a token), per account "
            "and per client address (an IPv6 address by its /64), counted before the call. "
            "Rates as above; a scope `None` or left out: no limit. See "
            "[Limits](security.md#limits)."
        ),
    ),
    "BREAKER_FAILURES": SettingDoc(
        "int",
        (
            "Provider outages (timeouts, failed connections, 429, 5xx) within "
            "`BREAKER_WINDOW` that open the [circuit "
            "breaker](operations.md#the-circuit-breaker). A whole number, at least 1."
        ),
    ),
    "BREAKER_WINDOW": SettingDoc(
        "int (seconds)",
        (
            "Seconds in which `BREAKER_FAILURES` outages are counted (fixed windows). A "
            "whole number, at least 1."
        ),
    ),
    "BREAKER_COOLDOWN": SettingDoc(
        "int (seconds)",
        (
            "Seconds the open breaker makes no call before one probe tries the provider "
            "again. A whole number, at least 1."
        ),
    ),
    "WEBHOOK_SECRET": SettingDoc(
        "str, list of str or None",
        (
            'The signing secret Rupt shows for the webhook endpoint (`"whsec_…"`), or a '
            "list of them while rotating. `None`: the endpoint refuses every call "
            "(`rupt_guard.I001`); a malformed one is `rupt_guard.E013`. See [Rupt's "
            "webhooks](operations.md#rupts-webhooks)."
        ),
    ),
    "REVOKE_ON_PASSWORD_CHANGE": SettingDoc(
        "bool",
        "A password change clears the verification of all the user's devices.",
    ),
    "NOTIFY_NEW_DEVICE": SettingDoc(
        "bool",
        "Email the account when a new device signs in.",
    ),
    "NOTIFY_UNCONFIRMED_SIGN_IN": SettingDoc(
        "bool",
        (
            "Email the account, once per sign-in, when the right password meets a challenge "
            "that gets `FAILED_CODES_BEFORE_NOTICE` wrong codes or expires unanswered "
            "(never for signing out of it); and when a step-up gets that many wrong codes."
        ),
    ),
    "NOTIFY_FACTOR_CHANGES": SettingDoc(
        "bool",
        (
            "Email the account when its second factors change (added, removed, new backup "
            "codes). A staff reset is emailed whatever this says."
        ),
    ),
    "NOT_ME_LINK_MAX_AGE": SettingDoc(
        "int (seconds)",
        'Seconds the "this wasn\'t me" link stays valid.',
    ),
    "FAILED_CODES_BEFORE_NOTICE": SettingDoc(
        "int",
        (
            "Wrong codes before the unconfirmed sign-in email: in one pending sign-in, or "
            "on the account within the `WRONG_CODE_RATE` window."
        ),
    ),
    "SITE_URL": SettingDoc(
        "URL or None",
        (
            "The site's address for links in emails, scheme and host only "
            '(`"https://example.com"`). `None`: the Sites framework\'s current site (with '
            "`SITE_ID` set), as `https://<domain>`; without them, links are paths "
            "(`rupt_guard.W010`). Never the Host header."
        ),
    ),
    "PLACE_FOR_IP": SettingDoc(
        "callable, dotted path or None",
        (
            "Callable (or dotted path) `ip -> str or None`: the approximate place the "
            'devices page and "this wasn\'t me" show beside an address.'
        ),
    ),
    "LOGIN_CHECK_RETENTION_DAYS": SettingDoc(
        "int (days) or None",
        "Days `rupt_guard_prune` keeps login checks (`None`: for ever).",
    ),
    "DEVICE_RETENTION_DAYS": SettingDoc(
        "int (days) or None",
        "Days `rupt_guard_prune` keeps devices not seen (`None`: for ever).",
    ),
    "API_THROTTLE_RATES": SettingDoc(
        "dict of DRF rates",
        (
            "DRF rates (DRF's syntax: a count, `/`, and `s`, `sec`, `second`, `m`, `min`, "
            "`minute`, `h`, `hour`, `d` or `day`) of the API's sign-in (per address, an "
            "IPv6 address by its /64; per account) and challenge (`None`: no limit). A rate "
            "DRF cannot read is `rupt_guard.E001`."
        ),
    ),
    "LOGIN_RESPONSE": SettingDoc(
        "callable, dotted path or None",
        (
            "Callable (or dotted path) `(request, user) -> dict` added to the API's sign-in "
            "answer once the gate is passed: the place to issue API tokens."
        ),
    ),
    "CLIENT_IP": SettingDoc(
        "callable or dotted path",
        (
            "Callable (or dotted path) `request -> address` used by every record, email, "
            "throttle and limit. The default reads `REMOTE_ADDR` alone; behind a reverse "
            'proxy use `"rupt_guard.client.forwarded_for"` with `TRUSTED_PROXIES`, or a '
            "callable of your own (`rupt_guard.W015` when the site says it is behind one "
            "and this is still the default)."
        ),
    ),
    "TRUSTED_PROXIES": SettingDoc(
        "list of addresses or networks",
        (
            'Addresses or networks (`"10.0.0.0/8"`) of the reverse proxies whose '
            "`X-Forwarded-For` `forwarded_for` believes."
        ),
    ),
    "CACHE": SettingDoc(
        "cache alias",
        (
            "Alias in `CACHES` for state every worker shares (the API's throttles, "
            "`SIGN_IN_RATES`, `WRONG_CODE_RATE`, the circuit breaker, the webhook's message "
            "ids). Must be shared by all workers (`rupt_guard.E009`) and count atomically: "
            "Redis or Memcached (`rupt_guard.W014`)."
        ),
    ),
    "PASSWORD_BACKEND": SettingDoc(
        "dotted path or None",
        (
            "Dotted path of a backend that checks passwords for `RuptGuardBackend` (e.g. "
            '`"allauth.account.auth_backends.AuthenticationBackend"`) instead of being '
            "listed beside it; `None`: `ModelBackend`'s own check."
        ),
    ),
    "PASSWORD_ONLY_VIEWS": SettingDoc(
        "list of URL names",
        (
            "URL names where a password alone is a complete sign-in (HTTP Basic, "
            "`obtain_auth_token`). Each one skips the second factor (`rupt_guard.W007`)."
        ),
    ),
    "TOKEN_AUTHENTICATION_CLASSES": SettingDoc(
        "list of dotted paths",
        (
            "DRF authentication classes (dotted paths) whose tokens `IsDeviceVerified` "
            "trusts: only those the site issues after the gate, from `LOGIN_RESPONSE` "
            "(`rupt_guard.W008`)."
        ),
    ),
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
