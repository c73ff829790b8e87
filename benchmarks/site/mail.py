"""An email backend that builds each message, as SMTP would, then drops it."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend


class BuildAndDropBackend(BaseEmailBackend):
    # Not Django's dummy backend: rupt_guard.E012 rightly refuses it while codes go by
    # email, and building the message is part of what a challenge costs.
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        for message in email_messages:
            message.message().as_bytes()
        return len(email_messages)
