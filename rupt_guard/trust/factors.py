"""Second factors (django-otp devices): the kinds we know, and which a challenged user can
use, including the email fallback. "Device" elsewhere means the browser; here, a factor."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import router, transaction
from django_otp import devices_for_user

from rupt_guard.choices import VerificationMethod
from rupt_guard.conf import guard_settings

EMAIL_FALLBACK_NAME = "Email (sign-in check)"


@dataclass(frozen=True)
class FactorKind:
    """How rupt_guard names and ranks one kind of django-otp factor: described once, here."""

    method: VerificationMethod
    model: str  # "app_label.ModelName" of the django-otp plugin
    strength: int  # the strongest is offered first
    takes_code: bool = True  # False: verified by its own ceremony (a passkey), not a code

    @property
    def label(self) -> str:
        return str(self.method.label)


KINDS: tuple[FactorKind, ...] = (
    FactorKind(
        VerificationMethod.PASSKEY,
        "django_otp_webauthn.WebAuthnCredential",
        strength=40,
        takes_code=False,
    ),
    FactorKind(VerificationMethod.TOTP, "otp_totp.TOTPDevice", strength=30),
    FactorKind(VerificationMethod.BACKUP_CODE, "otp_static.StaticDevice", strength=20),
    FactorKind(VerificationMethod.EMAIL, "otp_email.EmailDevice", strength=10),
)
# Any other django-otp plugin (SMS, WebAuthn, ...) works as a factor under this kind.
OTHER = FactorKind(VerificationMethod.OTP_OTHER, "", strength=0)


def _model_label(kind: FactorKind) -> str:
    if kind.method == VerificationMethod.PASSKEY:
        # django-otp-webauthn lets a site swap its credential model.
        return str(getattr(settings, "OTP_WEBAUTHN_CREDENTIAL_MODEL", None) or kind.model)
    return kind.model


# Where factors that are not django-otp devices come from (django-allauth's MFA
# authenticators, through ``rupt_guard.allauth``): each a callable ``user -> factors``.
# Such a factor describes itself with a ``factor_kind`` attribute and offers the part of
# django-otp's ``Device`` interface the challenge uses (``persistent_id``, ``name``,
# ``user_id``, ``verify_token``, ``verify_is_allowed``, ``is_interactive``).
FACTOR_SOURCES: list[Callable[[Any], Iterable[Any]]] = []


def register_factor_source(source: Callable[[Any], Iterable[Any]]) -> None:
    """Add a source of a user's factors (an app's ``ready()``); adding one twice is a no-op."""
    if source not in FACTOR_SOURCES:
        FACTOR_SOURCES.append(source)


def kind_of(factor: Any) -> FactorKind:
    declared = getattr(factor, "factor_kind", None)
    if isinstance(declared, FactorKind):
        return declared
    for kind in KINDS:
        try:
            model = apps.get_model(_model_label(kind))
        except LookupError:
            continue  # that plugin is not installed
        if isinstance(factor, model):
            return kind
    return OTHER


def method_for(factor: Any) -> VerificationMethod:
    """What a device verified by ``factor`` records as its verification method."""
    return kind_of(factor).method


def takes_code(factor: Any) -> bool:
    """Can the factor be verified by typing a code (django-otp's ``verify_token``)?"""
    return kind_of(factor).takes_code


def sends_code(factor: Any) -> bool:
    """A factor that must be asked to send a code first: django-otp's own contract."""
    return bool(factor.is_interactive())


def account_email(user: Any) -> str:
    """The user's address, wherever a custom user model keeps it."""
    return getattr(user, user.get_email_field_name(), "") or ""


def is_email_fallback(factor: Any) -> bool:
    return kind_of(factor).method == VerificationMethod.EMAIL and factor.name == EMAIL_FALLBACK_NAME


def challenge_devices(user: Any) -> list[Any]:
    """The user's confirmed django-otp devices, and the factors of ``FACTOR_SOURCES``.

    Only a user with none gets the email fallback (``EMAIL_FALLBACK``): a code to the
    address the account already has. This is not enrolment, and once the user has a factor
    of their own the fallback is no longer offered, so it cannot stand in for a stronger one.
    """
    own = [d for d in devices_for_user(user, confirmed=True) if not is_email_fallback(d)]
    for source in FACTOR_SOURCES:
        own.extend(source(user))
    devices = sorted(own, key=lambda d: -kind_of(d).strength)
    if devices or not guard_settings.EMAIL_FALLBACK:
        return devices
    if not account_email(user) or not apps.is_installed("django_otp.plugins.otp_email"):
        return []
    from django_otp.plugins.otp_email.models import EmailDevice

    fallbacks = EmailDevice.objects.filter(user=user, name=EMAIL_FALLBACK_NAME).order_by("pk")
    device = fallbacks.first()
    if device is None:
        with transaction.atomic(using=router.db_for_write(EmailDevice)):
            # Two sign-ins at once must not create two: nothing unique guards the name,
            # so the user's row is locked while the device is made.
            users = get_user_model()._default_manager
            list(users.select_for_update().filter(pk=user.pk).values("pk"))
            device = fallbacks.first() or EmailDevice.objects.create(
                user=user, name=EMAIL_FALLBACK_NAME, confirmed=True
            )
    return [device]
