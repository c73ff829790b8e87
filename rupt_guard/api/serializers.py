"""Request and response shapes of the API."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from rupt_guard.conf import guard_settings
from rupt_guard.gate.check import ERROR_FIELD_SUFFIX
from rupt_guard.gate.mark import read_mark
from rupt_guard.models import Device

INVALID_CREDENTIALS = _("Unable to sign in with the given credentials.")


class LoginSerializer(serializers.Serializer[Any]):
    """The user model's ``USERNAME_FIELD``, ``password`` and the ``TOKEN_FIELD`` token."""

    password = serializers.CharField(trim_whitespace=False, max_length=4096)

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        username_field = get_user_model().USERNAME_FIELD
        fields[username_field] = serializers.CharField(max_length=254)
        # A missing token is the policy's business (ON_MISSING_TOKEN), not a 400.
        fields[guard_settings.TOKEN_FIELD] = serializers.CharField(
            required=False, allow_blank=True, max_length=256
        )
        # Why the client has no token (diagnostic only): anything outside the known reasons
        # is dropped rather than refused, so a newer client never fails to sign in.
        fields[guard_settings.TOKEN_FIELD + ERROR_FIELD_SUFFIX] = serializers.JSONField(
            required=False
        )
        return fields


class ChallengeSendSerializer(serializers.Serializer[Any]):
    device = serializers.CharField(
        required=False, max_length=255, help_text=_("Persistent id of the device to use.")
    )


class ChallengeVerifySerializer(serializers.Serializer[Any]):
    device = serializers.CharField(max_length=255)
    token = serializers.CharField(max_length=64)
    trust_browser = serializers.BooleanField(
        required=False,
        default=True,
        help_text=_("False on a shared computer: the sign-in passes, the device stays unverified."),
    )


class DeviceSerializer(serializers.ModelSerializer[Device]):
    is_current = serializers.SerializerMethodField()
    username = serializers.SerializerMethodField()

    class Meta:
        model = Device
        fields = [
            "id",
            "label",
            "username",
            "first_seen_at",
            "last_seen_at",
            "last_ip",
            "verified_at",
            "verification_method",
            "blocked_at",
            "is_current",
        ]
        read_only_fields = [f for f in fields if f != "label"]

    def get_is_current(self, device: Device) -> bool:
        request = self.context.get("request")
        session = getattr(request, "session", None)
        mark = read_mark(session) if session is not None else None
        return mark is not None and mark.device == device.pk

    def get_username(self, device: Device) -> str:
        return device.user.get_username()


class ChallengeMethodSerializer(serializers.Serializer[Any]):
    device = serializers.CharField(help_text=_("Persistent id, for challenge/send and verify."))
    type = serializers.CharField(help_text=_("totp, backup_code, email, passkey or otp."))
    name = serializers.CharField()
    # A declared field, though Field.label shares its name: DRF's metaclass moves it off the class.
    label = serializers.CharField(  # type: ignore[assignment]
        help_text=_('In words to show: "Authenticator app", "Email to d***@example.com".')
    )
    sends_code = serializers.BooleanField(help_text=_("Use challenge/send first."))
    begin_url = serializers.CharField(
        required=False, help_text=_("Passkeys only: the ceremony's begin endpoint (JSON).")
    )
    complete_url = serializers.CharField(
        required=False, help_text=_("Passkeys only: the ceremony's complete endpoint (JSON).")
    )


class ChallengeSerializer(serializers.Serializer[Any]):
    methods = ChallengeMethodSerializer(many=True)
    expires_at = serializers.DateTimeField()


class SignInResultSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=["ok", "challenge_required"])
    challenge = ChallengeSerializer(required=False)
    user = serializers.DictField(required=False)


def user_summary(user: Any) -> dict[str, Any]:
    return {"id": user.pk, get_user_model().USERNAME_FIELD: user.get_username()}


class ClientConfigSerializer(serializers.Serializer[Any]):
    sdk_url = serializers.CharField()
    client_id = serializers.CharField()
    token_field = serializers.CharField()
    username_field = serializers.CharField()
    identify = serializers.BooleanField(
        help_text="False when CONSENT refuses identification: load no SDK, send no token."
    )


class ErrorSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField(required=False)
    code = serializers.CharField(required=False)
    challenge_url = serializers.CharField(required=False)
    non_field_errors = serializers.ListField(child=serializers.CharField(), required=False)


class SentSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=["sent"])
    device = serializers.CharField()


class StatusSerializer(serializers.Serializer[Any]):
    status = serializers.CharField()
    id = serializers.IntegerField()


class FactorSerializer(serializers.Serializer[Any]):
    """One of the user's second factors (``trust.enrolment.Factor``)."""

    id = serializers.CharField(source="persistent_id", help_text=_("Persistent id."))
    type = serializers.CharField(source="method", help_text=_("totp, backup_code, passkey, ..."))
    name = serializers.CharField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    codes_left = serializers.IntegerField(
        allow_null=True, help_text=_("Backup codes only: how many are unused.")
    )


class FactorListSerializer(serializers.Serializer[Any]):
    factors = FactorSerializer(many=True)
    email_fallback = serializers.BooleanField(
        help_text=_("New devices are confirmed with an email code (no factor of their own).")
    )
    recent_until = serializers.DateTimeField(
        allow_null=True, help_text=_("Until when changes need no step-up.")
    )


class TotpEnrolmentSerializer(serializers.Serializer[Any]):
    secret = serializers.CharField(help_text=_("Base32, for typing into an app."))
    otpauth_url = serializers.CharField()
    qr_svg = serializers.CharField(help_text=_("The otpauth URL as an inline SVG QR code."))


class TotpConfirmSerializer(serializers.Serializer[Any]):
    token = serializers.CharField(max_length=16)
    name = serializers.CharField(max_length=64, required=False, default="Authenticator app")


class BackupCodesSerializer(serializers.Serializer[Any]):
    codes = serializers.ListField(child=serializers.CharField())


class RecentSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=["ok"])
    recent_until = serializers.DateTimeField()
