"""The passkey ceremonies: django-otp-webauthn's views, with rupt_guard deciding who uses them.

Each ceremony is a begin and a complete view, the JSON endpoints django-otp-webauthn's
script calls:

- the challenge of a pending sign-in. The session is anonymous, so the user is the one
  ``lifecycle.pending_user()`` names; only that user's passkeys are asked for, and a right
  one passes the sign-in through ``lifecycle.pass_challenge()``, as a right code does;
- a step-up of a signed-in session (``gate.reauth``): ``codes.step_up_passed()``;
- enrolment, from the security page: a session that passed the gate and verified a factor
  within ``STEP_UP_TIMEOUT``. That rule replaces django-otp-webauthn's own ("the session is
  django-otp verified, or the user has no factor"), which a session verified hours ago
  passes.

Each ceremony's state is kept in the session bound to its purpose and user, so a challenge
begun for one cannot complete another. Every refusal is one of django-otp-webauthn's JSON
errors (``{"detail", "code"}``), which its script shows beside the button.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, router, transaction
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.i18n import JavaScriptCatalog
from django_otp_webauthn import exceptions
from django_otp_webauthn.settings import app_settings
from django_otp_webauthn.utils import get_credential_model, rewrite_exceptions
from django_otp_webauthn.views import (
    BeginCredentialAuthenticationView,
    BeginCredentialRegistrationView,
    CompleteCredentialAuthenticationView,
    CompleteCredentialRegistrationView,
)
from webauthn.helpers import bytes_to_base64url

from rupt_guard.choices import ChallengeResult
from rupt_guard.conf import guard_settings
from rupt_guard.gate import lifecycle
from rupt_guard.gate.codes import step_up_passed
from rupt_guard.gate.mark import read_mark
from rupt_guard.gate.reauth import recently_verified
from rupt_guard.trust.enrolment import factor_added
from rupt_guard.trust.factors import challenge_devices
from rupt_guard.trust.user_agents import label_for
from rupt_guard.views.challenge import safe_next

# One ceremony in flight per session: {"purpose", "user", "state"}.
STATE_KEY = "_rupt_guard_passkey_state"
NAME_MAX_LENGTH = 64  # django-otp's Device.name


# -- refusals ------------------------------------------------------------------------------


class NoChallengePending(exceptions.OTPWebAuthnApiError):
    status_code = 403
    default_detail = _("No challenge is pending.")
    default_code = "no_challenge_pending"


class ChallengeEnded(exceptions.OTPWebAuthnApiError):
    # As the REST API answers a challenge that can no longer pass.
    status_code = 401
    default_detail = _("This sign-in can no longer be confirmed. Please sign in again.")
    default_code = "challenge_expired"


class NotSignedIn(exceptions.OTPWebAuthnApiError):
    status_code = 403
    default_detail = _("You are not signed in here any more. Reload the page.")
    default_code = "not_authenticated"


class NoPasskey(exceptions.OTPWebAuthnApiError):
    status_code = 403
    default_detail = _("Your account has no passkey. Confirm it is you another way.")
    default_code = "no_passkey"


class PasskeyNotAccepted(exceptions.OTPWebAuthnApiError):
    # Said the same way for a passkey of another account and one that names nothing.
    status_code = 403
    default_detail = _(
        "This passkey is not one of your account's. Try another passkey, or confirm it is "
        "you another way."
    )
    default_code = "passkey_not_accepted"


class StepUpRequired(exceptions.OTPWebAuthnApiError):
    status_code = 403
    default_detail = _(
        "Adding a passkey needs a second factor confirmed in the last few minutes. Reload "
        "the page to confirm it is you."
    )
    default_code = "step_up_required"


class PasskeyExists(exceptions.OTPWebAuthnApiError):
    status_code = 409
    default_detail = _("This passkey is already registered.")
    default_code = "passkey_exists"


# -- whose ceremony ------------------------------------------------------------------------


def trusted_user(request: HttpRequest) -> Any:
    """The signed-in user of a session that passed the gate, else None (the rule of
    ``views.devices.trusted_session_required``)."""
    mark = read_mark(request.session)
    if not request.user.is_authenticated or mark is None or mark.pending:
        return None
    return request.user


def _pywebauthn_logger() -> logging.Logger | None:
    name = app_settings.OTP_WEBAUTHN_EXCEPTION_LOGGER_NAME
    return logging.getLogger(name) if name else None


class Ceremony:
    """What every ceremony here shares: whose it is, decided once at the start of the
    request, and its state in the session, bound to its purpose and that user."""

    purpose = ""
    request: HttpRequest
    user: Any = None

    def find_user(self) -> Any:
        """The user of this ceremony; raise an ``OTPWebAuthnApiError`` when there is none."""
        raise NotImplementedError

    def initial(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.user = self.find_user()
        super().initial(request, *args, **kwargs)  # type: ignore[misc]

    def get_user(self) -> Any:
        return self.user

    def _parse_request_data(self, request: HttpRequest) -> Any:
        try:
            return super()._parse_request_data(request)  # type: ignore[misc]
        except (ValueError, RecursionError) as exc:  # not UTF-8, or nested too deep
            raise exceptions.MalformedRequest() from exc

    def remember_state(self, state: dict[str, Any]) -> None:
        self.request.session[STATE_KEY] = {
            "purpose": self.purpose,
            "user": str(self.user.pk),
            "state": state,
        }

    def get_state(self) -> dict[str, Any]:
        saved = self.request.session.pop(STATE_KEY, None)
        # Saved at once, so that no state is ever used twice, even when this request fails.
        self.request.session.save()
        if (
            not isinstance(saved, dict)
            or saved.get("purpose") != self.purpose
            or saved.get("user") != str(self.user.pk)
            or not isinstance(saved.get("state"), dict)
        ):
            raise exceptions.InvalidState()
        return saved["state"]

    def handle_exception(self, exc: Exception) -> JsonResponse:
        if isinstance(exc, exceptions.CredentialNotFound | exceptions.CredentialUserMismatch):
            exc = PasskeyNotAccepted()
        return super().handle_exception(exc)  # type: ignore[misc]


class PendingSignIn(Ceremony):
    """The challenge: the pending user's, in a session that is anonymous."""

    purpose = "challenge"

    def find_user(self) -> Any:
        mark = read_mark(self.request.session)
        # A pending sign-in that can no longer pass (password changed, account deactivated)
        # is ended here, as the challenge page ends it.
        user = lifecycle.pending_user_or_end(self.request)
        if user is None:
            raise ChallengeEnded() if mark is not None and mark.pending else NoChallengePending()
        return user


class SignedIn(Ceremony):
    """A session that passed the gate."""

    def find_user(self) -> Any:
        user = trusted_user(self.request)
        if user is None:
            raise NotSignedIn()
        return user


# -- verifying a passkey: the challenge and the step-up ------------------------------------


class Verification(Ceremony):
    """A passkey of ``self.user``, among the factors the challenge offers that user."""

    _passkeys: list[Any] | None = None

    def passkeys(self) -> list[Any]:
        if self._passkeys is None:
            model = get_credential_model()
            self._passkeys = [d for d in challenge_devices(self.user) if isinstance(d, model)]
        return self._passkeys

    def check_can_authenticate(self) -> None:
        # With no passkey, django-otp-webauthn would ask the browser for any credential at
        # all (an empty allowCredentials): refuse instead.
        if not self.passkeys():
            raise NoPasskey()


class VerificationBegin(Verification, BeginCredentialAuthenticationView):
    def post(self, *args: Any, **kwargs: Any) -> JsonResponse:
        # Possession of the passkey is the second factor (the password was the first), as
        # django-otp-webauthn decides for a known user: user verification is not required.
        options, state = self.get_helper().authenticate_begin(
            user=self.user, require_user_verification=False
        )
        # Only confirmed passkeys (django-otp-webauthn lists disabled ones too).
        offered = {bytes_to_base64url(bytes(d.credential_id)) for d in self.passkeys()}
        options["allowCredentials"] = [
            c for c in options.get("allowCredentials", []) if c.get("id") in offered
        ]
        self.remember_state(state)
        return JsonResponse(options)


class VerificationComplete(Verification, CompleteCredentialAuthenticationView):
    def check_device_usable(self, device: Any) -> None:
        # django-otp-webauthn already checked that the credential is this user's.
        if device.persistent_id not in {d.persistent_id for d in self.passkeys()}:
            raise PasskeyNotAccepted()

    def get_success_url(self) -> str:
        return safe_next(self.request)


class ChallengeBeginView(PendingSignIn, VerificationBegin):
    """Begin: the options for the pending user's passkeys."""


class ChallengeCompleteView(PendingSignIn, VerificationComplete):
    """Complete: the pending sign-in passes, as with a right code."""

    def complete_auth(self, device: Any) -> None:
        try:
            lifecycle.pass_challenge(self.request, self.user, device)
        except lifecycle.NotPending:
            # Withdrawn while it waited (device blocked, sign-in reported, session ended).
            lifecycle.end(self.request, ChallengeResult.ENDED)
            raise ChallengeEnded() from None

    def get_success_data(self, device: Any) -> dict[str, Any]:
        # As the REST API's sign-in answers: an SPA that issues its own token on sign-in
        # (LOGIN_RESPONSE) gets it here too.
        data = dict(super().get_success_data(device))
        hook = guard_settings.LOGIN_RESPONSE
        if hook is not None:
            data.update(hook(self.request, self.user))
        return data


class StepUpBeginView(SignedIn, VerificationBegin):
    """Begin a step-up of a signed-in session with one of its user's passkeys."""

    purpose = "step_up"


class StepUpCompleteView(SignedIn, VerificationComplete):
    """Complete a step-up: the session verified a factor just now."""

    purpose = "step_up"

    def complete_auth(self, device: Any) -> None:
        step_up_passed(self.request, device)


# -- enrolment -----------------------------------------------------------------------------


class Enrolment(SignedIn):
    purpose = "register"

    def user_is_mfa_enrolled(self, user: Any) -> bool:
        # django-otp-webauthn refuses a session that is not django-otp verified when the
        # user has a factor. Ours is stricter and replaces it: a factor verified within
        # STEP_UP_TIMEOUT (check_can_register).
        return False

    def check_can_register(self) -> None:
        if not recently_verified(self.request):
            raise StepUpRequired()


class RegistrationBeginView(Enrolment, BeginCredentialRegistrationView):
    """Begin adding a passkey: options that exclude the user's passkeys already made."""

    def post(self, *args: Any, **kwargs: Any) -> JsonResponse:
        options, state = self.get_helper().register_begin(user=self.user)
        self.remember_state(state)
        return JsonResponse(options)


class RegistrationCompleteView(Enrolment, CompleteCredentialRegistrationView):
    """Complete adding a passkey: verify it, keep it, record it."""

    def post(self, *args: Any, **kwargs: Any) -> JsonResponse:
        state = self.get_state()
        try:
            # A DRF Request: django-otp-webauthn's views are DRF views.
            data = self.request.data  # type: ignore[attr-defined]
            device = add_passkey(self.request, self.user, self.get_helper(), state, data)
        except IntegrityError:
            # The credential id is unique: a response replayed, or an id another
            # account's passkey has.
            raise PasskeyExists() from None
        # Unlike django-otp-webauthn, the session is not marked as verified by the passkey
        # just made: it was not used to confirm anything.
        return JsonResponse({"id": device.pk})


def add_passkey(
    request: HttpRequest, user: Any, helper: Any, state: dict[str, Any], data: Any
) -> Any:
    """Verify the browser's new credential and keep it as the user's factor, in one
    transaction with its ``TrustEvent`` (``trust.enrolment.factor_added``)."""
    data = _sound_extensions(data)
    users = get_user_model()._default_manager
    db = router.db_for_write(get_user_model())
    with transaction.atomic(using=db):
        # Serialise changes to one user's factors (two tabs at once).
        list(users.select_for_update().filter(pk=user.pk).values("pk"))
        with rewrite_exceptions(logger=_pywebauthn_logger()):
            device = helper.register_complete(user=user, state=state, data=data)
        device.name = passkey_name(request, user)
        device.save(update_fields=["name"])
        factor_added(user, device)  # recorded; the owner is emailed once committed
    return device


def _sound_extensions(data: Any) -> Any:
    """django-otp-webauthn reads ``clientExtensionResults.credProps.rk`` (a hint only) without
    checking its shape; a malformed one would be a server error, so it is dropped."""
    if not isinstance(data, dict):
        return data  # py_webauthn refuses it as malformed
    extensions = data.get("clientExtensionResults")
    if isinstance(extensions, dict) and isinstance(extensions.get("credProps", {}), dict):
        return data
    return {**data, "clientExtensionResults": {}}


def passkey_name(request: HttpRequest, user: Any) -> str:
    """Where it was made ("Chrome on macOS"), numbered when the user has one so named."""
    base = label_for(request.headers.get("User-Agent", "")) or gettext("Passkey")
    taken = set(get_credential_model().objects.filter(user=user).values_list("name", flat=True))
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base} ({number})"
    return name[:NAME_MAX_LENGTH]


# The translations django-otp-webauthn's script reads through the global gettext(); served
# here so that a pending session, which its own URLs would not let through, has them too.
javascript_catalog = JavaScriptCatalog.as_view(packages=["django_otp_webauthn"])
