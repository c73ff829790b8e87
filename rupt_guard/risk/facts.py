"""What the policy may know about one sign-in, and what it answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rupt_guard.choices import Decision, ErrorReason, Reason


@dataclass(frozen=True)
class LoginFacts:
    """Everything the policy may know about one sign-in."""

    user: Any
    token_present: bool
    provider_error: ErrorReason | None = None
    token_problem: bool = False
    new_device: bool = False
    device_verified: bool = False
    verification_expired: bool = False
    device_blocked: bool = False
    # CONSENT said no: the device was not identified (and any token posted was not used).
    consent_refused: bool = False
    # The login that completes a signup (the account was created in this very flow).
    signed_up: bool = False


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: Reason
