"""The challenge form: django-otp's own token form, so its throttling and checks apply."""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp.forms import OTPTokenForm

from rupt_guard.trust.factors import challenge_devices, method_for


class ChallengeForm(OTPTokenForm):
    """``otp_device``, ``otp_token`` and ``otp_challenge``: django-otp's field names."""

    otp_error_messages = dict(
        OTPTokenForm.otp_error_messages,
        token_required=_("Enter the code from your device."),
        # Said the same way for a wrong code and a code of another device: no hint which.
        invalid_token=_("That code is not valid. Check it and try again."),
        challenge_message=_("We sent a code. {0}"),
        device_required=_("Choose how to confirm it is you."),
    )

    def __init__(self, user: Any, request: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(user, request, *args, **kwargs)
        self.fields["otp_device"].label = _("Method")
        self.fields["otp_token"].label = _("Code")
        self.fields["otp_token"].widget.attrs.update(
            {"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        )
        self.devices = challenge_devices(user)
        choices = [
            (device.persistent_id, f"{method_for(device).label}: {device.name}")
            for device in self.devices
        ]
        self.fields["otp_device"].choices = choices
        if len(choices) == 1:
            self.fields["otp_device"].initial = choices[0][0]

    # Seconds until the account's wrong-code window ends, when it is full (set by the
    # lifecycle): the code is then refused without django-otp reading it.
    locked_for: int | None = None

    def clean(self) -> dict[str, Any]:
        if self.locked_for:
            minutes = max(1, math.ceil(self.locked_for / 60))
            raise forms.ValidationError(
                ngettext(
                    "Too many wrong codes for this account. Try again in %(minutes)d minute.",
                    "Too many wrong codes for this account. Try again in %(minutes)d minutes.",
                    minutes,
                ),
                code="locked",
                params={"minutes": minutes},
            )
        # django-otp checks only that the chosen device is the user's; it must also be one
        # this challenge offers (not, say, the email fallback once the user has a TOTP).
        chosen = self.cleaned_data.get("otp_device")
        if chosen and chosen not in {device.persistent_id for device in self.devices}:
            raise forms.ValidationError(
                self.otp_error_messages["device_required"], code="device_required"
            )
        return super().clean()

    @property
    def code_attempted(self) -> bool:
        """A code was submitted (right, wrong or refused by django-otp's throttling)."""
        return bool(self.data.get("otp_token")) and not self.data.get("otp_challenge")

    @property
    def challenge_sent(self) -> bool:
        return any(
            error.code == "challenge_message" for error in self.errors.as_data().get("__all__", [])
        )
