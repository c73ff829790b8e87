"""The closed sets of values the app stores and decides with."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Decision(models.TextChoices):
    ALLOW = "allow", _("Allow")
    CHALLENGE = "challenge", _("Challenge")
    BLOCK = "block", _("Block")


class Reason(models.TextChoices):
    VERIFIED_DEVICE = "verified_device", _("Verified device")
    NEW_DEVICE = "new_device", _("New device")
    UNVERIFIED_DEVICE = "unverified_device", _("Known device, never verified")
    VERIFICATION_EXPIRED = "verification_expired", _("Verification too old")
    MISSING_TOKEN = "missing_token", _("No identification token")
    BAD_TOKEN = "bad_token", _("Malformed or unknown identification token")
    PROVIDER_ERROR = "provider_error", _("Identification service failed")
    BLOCKED_DEVICE = "blocked_device", _("Blocked device")
    NO_CONSENT = "no_consent", _("Not identified: no consent")
    SIGNED_UP = "signed_up", _("Right after signup")


class CheckSource(models.TextChoices):
    FORM = "form", _("Login form")
    LOGIN = "login", _("Other login path")
    API = "api", _("REST API")


class VerificationMethod(models.TextChoices):
    TOTP = "totp", _("Authenticator app")
    BACKUP_CODE = "backup_code", _("Backup code")
    EMAIL = "email", _("Email code")
    OTP_OTHER = "otp", _("Other one-time password")
    PASSKEY = "passkey", _("Passkey")
    ADMIN = "admin", _("Marked by staff")
    RUPT_METADATA = "rupt_metadata", _("Rupt device metadata")


class TrustAction(models.TextChoices):
    """What a ``TrustEvent`` records: a change to a device's trust or to a user's factors."""

    DEVICE_VERIFIED = "device_verified", _("Device marked verified")
    DEVICE_REVOKED = "device_revoked", _("Device verification revoked")
    DEVICE_BLOCKED = "device_blocked", _("Device blocked")
    DEVICE_UNBLOCKED = "device_unblocked", _("Device unblocked")
    FACTOR_ADDED = "factor_added", _("Second factor added")
    FACTOR_REMOVED = "factor_removed", _("Second factor removed")
    BACKUP_CODES_GENERATED = "backup_codes_generated", _("New backup codes generated")
    FACTORS_RESET = "factors_reset", _("Second factors reset")


class ChallengeResult(models.TextChoices):
    """How a challenged sign-in ended (blank for sign-ins that were never challenged)."""

    PENDING = "pending", _("Waiting for the second factor")
    PASSED = "passed", _("Passed")
    EXPIRED = "expired", _("Expired unanswered")
    GIVEN_UP = "given_up", _("Given up (signed out)")
    # The device was blocked, the sign-in reported, or the account changed meanwhile.
    ENDED = "ended", _("Ended before it could pass")


class ErrorReason(models.TextChoices):
    """Why a call to the identification provider failed."""

    TIMEOUT = "timeout", _("Timeout")
    CONNECTION = "connection", _("Connection failed")
    HTTP_STATUS = "http_status", _("HTTP error status")
    CONFIGURATION = "configuration", _("Credentials or plan refused")
    BREAKER_OPEN = "breaker_open", _("Not called: circuit breaker open")
    BAD_RESPONSE = "bad_response", _("Malformed response")
    BAD_TOKEN = "bad_token", _("Malformed token")
    TOKEN_REJECTED = "token_rejected", _("Token unknown or expired")


class TokenError(models.TextChoices):
    """Why the browser sent no token, as the identify script saw it. Diagnostic only: it
    comes from the browser and never changes a decision."""

    SDK_UNAVAILABLE = "sdk_unavailable", _("SDK could not load (blocked, CSP, network)")
    NO_SDK = "no_sdk", _("SDK loaded without identify()")
    IDENTIFY_ERROR = "identify_error", _("identify() answered an error (client id?)")
    IDENTIFY_FAILED = "identify_failed", _("identify() failed (network)")
    TIMEOUT = "timeout", _("identify() timed out")
