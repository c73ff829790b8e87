"""A user's own second factors: list them, add an authenticator app, new backup codes, remove.

The HTML security page and the REST API both come here; each change is recorded as a
``TrustEvent`` in the transaction that makes it. Whether the session may make the change
(a recent second factor: the step-up) is the caller's business, in ``gate.step_up``.
"""

from __future__ import annotations

import time
from base64 import b32encode
from binascii import unhexlify
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import router, transaction
from django_otp import devices_for_user
from django_otp.oath import TOTP
from django_otp.util import random_hex

from rupt_guard import signals
from rupt_guard.choices import TrustAction, VerificationMethod
from rupt_guard.conf import guard_settings
from rupt_guard.trust.events import record
from rupt_guard.trust.factors import account_email, is_email_fallback, kind_of

BACKUP_CODES_NAME = "Backup codes"
TOTP_PLUGIN = "django_otp.plugins.otp_totp"
STATIC_PLUGIN = "django_otp.plugins.otp_static"


@dataclass(frozen=True)
class Factor:
    """One of the user's confirmed second factors, as the security page shows it."""

    device: Any  # the django-otp device
    method: VerificationMethod

    @property
    def persistent_id(self) -> str:
        return str(self.device.persistent_id)

    @property
    def name(self) -> str:
        return str(self.device.name)

    @property
    def label(self) -> str:
        return str(self.method.label)

    @property
    def last_used_at(self) -> Any:
        return getattr(self.device, "last_used_at", None)

    @property
    def codes_left(self) -> int | None:
        if self.method != VerificationMethod.BACKUP_CODE:
            return None
        return int(self.device.token_set.count())


def user_factors(user: Any) -> list[Factor]:
    """The factors the user set up, strongest first (never the email fallback, which is
    not theirs to manage: it exists only while they have nothing else)."""
    devices = [d for d in devices_for_user(user, confirmed=True) if not is_email_fallback(d)]
    devices.sort(key=lambda d: (-kind_of(d).strength, str(d.name)))
    return [Factor(device, kind_of(device).method) for device in devices]


def _lock_user(user: Any) -> None:
    """Serialise changes to one user's factors (two tabs, two API calls at once)."""
    users = get_user_model()._default_manager
    list(users.select_for_update().filter(pk=user.pk).values("pk"))


def _db() -> str:
    return router.db_for_write(get_user_model())


# -- authenticator app (TOTP) --------------------------------------------------------------


@dataclass(frozen=True)
class TotpEnrolment:
    """A TOTP secret offered to the user, not yet a factor: it becomes one when the user
    proves their app has it with a first valid code."""

    key: str  # hex, as django-otp's TOTPDevice stores it
    config_url: str  # otpauth://...

    @property
    def secret(self) -> str:
        """The key in base32, for typing into an app by hand, in groups of four."""
        encoded = b32encode(unhexlify(self.key)).decode().rstrip("=")
        return " ".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))

    def qr_svg(self) -> str:
        """The QR code as inline SVG: drawn on the server, nothing fetched, no script."""
        # Imported here: only the setup page draws a QR code, and no worker that never
        # shows it should carry the library.
        import segno

        return str(segno.make(self.config_url, error="m").svg_inline(scale=4, title=""))


def totp_enrolment(user: Any, key: str | None = None) -> TotpEnrolment:
    """The enrolment of ``key`` (a new random one when None) for ``user``."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    key = key or random_hex(20)
    device = TOTPDevice(user=user, key=key)
    return TotpEnrolment(key=key, config_url=device.config_url)


def confirm_totp(user: Any, key: str, token: str, name: str) -> Any:
    """Create the TOTP factor when ``token`` is a valid code of ``key``; else None.

    The code is checked before any row exists, so a wrong one leaves nothing behind, and
    the step it matched is recorded so that the same code cannot be used again.
    """
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice(user=user, key=key, name=factor_name(name), confirmed=True)
    token = "".join(str(token).split())
    if not (token.isascii() and token.isdigit()):  # "²" is a digit to isdigit(), not to int()
        return None
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    if not totp.verify(int(token), device.tolerance):
        return None
    device.last_t = totp.t()
    with transaction.atomic(using=_db()):
        _lock_user(user)
        if TOTPDevice.objects.filter(user=user, key=key).exists():
            return None  # confirmed already (two tabs, a double submit): one factor per key
        device.save()
        factor_added(user, device)
    return device


def factor_name(name: str) -> str:
    """A factor's name on one line: it is shown in pages and in the owner's emails, where
    line breaks of the user's choosing could pass for our own words."""
    folded = " ".join(str(name).split())[:64]
    return folded or str(VerificationMethod.TOTP.label)


# -- backup codes --------------------------------------------------------------------------


def regenerate_backup_codes(user: Any) -> list[str]:
    """A new set of backup codes; the old set stops working in the same transaction."""
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

    count = guard_settings.BACKUP_CODE_COUNT
    with transaction.atomic(using=_db()):
        _lock_user(user)
        device = (
            StaticDevice.objects.filter(user=user, name=BACKUP_CODES_NAME).order_by("pk").first()
        )
        if device is None:
            device = StaticDevice.objects.create(user=user, name=BACKUP_CODES_NAME, confirmed=True)
        else:
            device.token_set.all().delete()
            device.confirmed = True
            device.throttle_reset(commit=False)
            device.save()
        codes = [StaticToken.random_token() for _ in range(count)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
        _changed(user, TrustAction.BACKUP_CODES_GENERATED, describe(device))
    return codes


# -- removing ------------------------------------------------------------------------------


def find_factor(user: Any, persistent_id: str) -> Factor | None:
    """The user's own factor with that persistent id (another user's is None, as is an
    id that names nothing: looked up among the user's factors, never by the id alone)."""
    return next((f for f in user_factors(user) if f.persistent_id == persistent_id), None)


def remove_factor(user: Any, factor: Factor) -> bool:
    """Delete the factor; False when it was gone already (removed twice at once: recorded,
    and its owner told, once)."""
    device = factor.device
    with transaction.atomic(using=_db()):
        _lock_user(user)
        if not type(device)._default_manager.filter(pk=device.pk, user=user).exists():
            return False
        device.delete()
        _changed(user, TrustAction.FACTOR_REMOVED, describe(device))
    return True


@dataclass(frozen=True)
class AfterRemoval:
    """What confirms the user's next new device once a factor is gone."""

    remaining: list[Factor]
    email: str  # the fallback's address, when nothing remains and the fallback is on

    @property
    def only_backup_codes(self) -> bool:
        return bool(self.remaining) and all(
            f.method == VerificationMethod.BACKUP_CODE for f in self.remaining
        )

    @property
    def nothing(self) -> bool:
        return not self.remaining and not self.email


def after_removal(user: Any, factor: Factor) -> AfterRemoval:
    remaining = [f for f in user_factors(user) if f.persistent_id != factor.persistent_id]
    fallback = guard_settings.EMAIL_FALLBACK and apps.is_installed("django_otp.plugins.otp_email")
    email = account_email(user) if fallback and not remaining else ""
    return AfterRemoval(remaining=remaining, email=email)


def factor_added(user: Any, device: Any) -> None:
    """Record a new factor (any kind: a passkey's ceremony calls this too); call it inside
    the transaction that saved the device."""
    _changed(user, TrustAction.FACTOR_ADDED, describe(device))


def _changed(user: Any, action: TrustAction, label: str) -> None:
    """Record the change, and tell ``signals.factors_changed`` once it is committed (the
    owner is emailed: a factor added from a stolen session must not go unnoticed)."""
    record(user, action, by=user, label=label)
    transaction.on_commit(
        lambda: signals.factors_changed.send(sender=Factor, user=user, action=action, label=label),
        using=_db(),
    )


def describe(device: Any) -> str:
    """How the audit trail and the owner's email name a factor."""
    return f"{kind_of(device).label}: {device.name}"
