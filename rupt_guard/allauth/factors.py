"""allauth.mfa's authenticators as rupt_guard factors: verified by allauth.mfa's own code.

The challenge offers a django-otp ``Device``'s interface; :class:`AuthenticatorFactor`
gives an allauth ``Authenticator`` that interface, so a user who set up TOTP or recovery
codes in allauth is challenged with them, not with an emailed code. WebAuthn credentials
have no typed code and their ceremony is allauth's own: they count when allauth's MFA
stage verified them in the sign-in (``stages``), and are not offered by the challenge.
"""

from __future__ import annotations

from typing import Any

from rupt_guard.choices import VerificationMethod
from rupt_guard.trust.factors import FactorKind

# Not "app_label.Model/pk": django-otp's middleware must not take it for one of its own
# devices (it finds none for this id, and forgets it).
PERSISTENT_ID_PREFIX = "allauth.mfa:"

TOTP = FactorKind(VerificationMethod.TOTP, "mfa.Authenticator", strength=30)
RECOVERY_CODES = FactorKind(VerificationMethod.BACKUP_CODE, "mfa.Authenticator", strength=20)
WEBAUTHN = FactorKind(
    VerificationMethod.PASSKEY, "mfa.Authenticator", strength=40, takes_code=False
)


class AuthenticatorFactor:
    """One allauth.mfa ``Authenticator`` as the challenge sees a factor."""

    def __init__(self, authenticator: Any) -> None:
        self.authenticator = authenticator

    @property
    def factor_kind(self) -> FactorKind:
        from allauth.mfa.models import Authenticator

        return {
            Authenticator.Type.TOTP: TOTP,
            Authenticator.Type.RECOVERY_CODES: RECOVERY_CODES,
        }.get(self.authenticator.type, WEBAUTHN)

    @property
    def persistent_id(self) -> str:
        return f"{PERSISTENT_ID_PREFIX}{self.authenticator.pk}"

    @property
    def name(self) -> str:
        return str(self.authenticator)

    @property
    def user_id(self) -> Any:
        return self.authenticator.user_id

    @property
    def user(self) -> Any:
        return self.authenticator.user

    def is_interactive(self) -> bool:
        return False  # nothing to send: the code is on the user's phone or paper

    def generate_challenge(self) -> None:
        return None

    def verify_is_allowed(self) -> tuple[bool, dict[str, Any] | None]:
        # The account's WRONG_CODE_RATE (gate.codes) limits guesses across every factor.
        return True, None

    def verify_token(self, token: str) -> bool:
        """allauth.mfa's own check: a TOTP code used once, a recovery code spent."""
        if self.factor_kind is WEBAUTHN:
            return False
        if not self.authenticator.wrap().validate_code(str(token).strip()):
            return False
        self.authenticator.record_usage()
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AuthenticatorFactor) and other.persistent_id == self.persistent_id

    def __hash__(self) -> int:
        return hash(self.persistent_id)


def authenticator_factors(user: Any) -> list[AuthenticatorFactor]:
    """The user's allauth.mfa TOTP and recovery codes (recovery codes with codes left)."""
    from allauth.mfa.models import Authenticator

    factors = []
    for authenticator in Authenticator.objects.filter(
        user_id=user.pk, type__in=[Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES]
    ):
        if authenticator.type == Authenticator.Type.RECOVERY_CODES and not (
            authenticator.wrap().get_unused_codes()
        ):
            continue
        factors.append(AuthenticatorFactor(authenticator))
    return factors


def authenticator_factor(user: Any, pk: Any) -> AuthenticatorFactor | None:
    """The user's authenticator ``pk`` (any type) as a factor, or None."""
    from allauth.mfa.models import Authenticator

    authenticator = Authenticator.objects.filter(user_id=user.pk, pk=pk).first()
    return AuthenticatorFactor(authenticator) if authenticator is not None else None
