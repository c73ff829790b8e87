"""The challenge form: django-otp's own token form, so its throttling and checks apply."""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp.forms import OTPTokenForm
from django_otp.models import Device

from rupt_guard.trust.factors import challenge_devices, method_for, takes_code


class ChallengeForm(OTPTokenForm):
    """``otp_device``, ``otp_token`` and ``otp_challenge``: django-otp's field names."""

    otp_error_messages = dict(
        OTPTokenForm.otp_error_messages,
        token_required=_("Enter the code from your device."),
        # Said the same way for a wrong code and a code of another device: no hint which.
        invalid_token=_("That code is not valid. Check it and try again."),
        challenge_message=_("We sent a code. {0}"),
        # Never the mail server's own words (an internal address, a stack's message).
        challenge_exception=_("We couldn't send the code; try another way or again in a minute."),
        device_required=_("Choose how to confirm it is you."),
    )

    def __init__(self, user: Any, request: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(user, request, *args, **kwargs)
        self.fields["otp_device"].label = _("Method")
        self.fields["otp_token"].label = _("Code")
        self.fields["otp_token"].widget.attrs.update(
            {"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        )
        choices = self.device_choices(user)
        self.fields["otp_device"].choices = choices
        if len(choices) == 1:
            self.fields["otp_device"].initial = choices[0][0]

    def device_choices(self, user: Any) -> list[tuple[str, str]]:
        """The factors this challenge offers, named by kind. django-otp calls this again
        when it re-renders a refused form, where its own list would show every device."""
        if not hasattr(self, "devices"):
            self.devices = challenge_devices(user)
            # A passkey has its own ceremony (rupt_guard.passkeys), never a typed code.
            self.code_devices = [device for device in self.devices if takes_code(device)]
            self.passkeys = [device for device in self.devices if not takes_code(device)]
        return [
            (device.persistent_id, f"{method_for(device).label}: {device.name}")
            for device in self.code_devices
        ]

    # The account's wrong-code limit (set by gate.codes.submit_code), taken where django-otp
    # verifies a code; and, once it refused, the seconds left.
    code_limit: Any = None
    counts_wrong_codes = True  # so the otp_verification_failed receiver does not count twice
    locked_for: int | None = None

    def _verify_token(self, user: Any, token: str, device: Any = None) -> Any:
        if self.code_limit is not None and device is not None:
            wait = self.code_limit.take()
            if wait:
                self.locked_for = wait
                minutes = max(1, math.ceil(wait / 60))
                raise forms.ValidationError(
                    ngettext(
                        "Too many wrong codes for this account. Try again in %(minutes)d minute.",
                        "Too many wrong codes for this account. Try again in %(minutes)d minutes.",
                        minutes,
                    ),
                    code="locked",
                    params={"minutes": minutes},
                )
        if device is not None:
            self._refuse_while_throttled(device)
        verified = super()._verify_token(user, token, device)
        if self.code_limit is not None:
            self.code_limit.give_back()
        return verified

    def _chosen_device(self, user: Any) -> Any:
        # A factor that is not a django-otp device (an allauth.mfa authenticator) cannot be
        # loaded by django-otp from its id: it is taken from the factors offered here.
        chosen = self.cleaned_data.get("otp_device")
        for device in self.code_devices:
            if device.persistent_id == chosen and not isinstance(device, Device):
                return device
        return super()._chosen_device(user)

    @staticmethod
    def _refuse_while_throttled(device: Any) -> None:
        """django-otp's own back-off after wrong codes, said with the time left (its message
        says "try again soon")."""
        allowed, info = device.verify_is_allowed()
        locked_until = (info or {}).get("locked_until")
        if allowed or locked_until is None:
            return
        seconds = max(1, math.ceil((locked_until - timezone.now()).total_seconds()))
        raise forms.ValidationError(
            ngettext(
                "Too many wrong codes for this method. Try again in %(seconds)d second.",
                "Too many wrong codes for this method. Try again in %(seconds)d seconds.",
                seconds,
            )
            % {"seconds": seconds},
            code="throttled",
        )

    def clean(self) -> dict[str, Any]:
        # django-otp checks only that the chosen device is the user's; it must also be one
        # this challenge offers (not, say, the email fallback once the user has a TOTP).
        chosen = self.cleaned_data.get("otp_device")
        if chosen and chosen not in {device.persistent_id for device in self.code_devices}:
            raise forms.ValidationError(
                self.otp_error_messages["device_required"], code="device_required"
            )
        return super().clean()

    @property
    def challenge_sent(self) -> bool:
        return any(
            error.code == "challenge_message" for error in self.errors.as_data().get("__all__", [])
        )
