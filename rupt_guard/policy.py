"""The policy: a pure function from what a sign-in looks like to allow, challenge or block.

No I/O here. ``RUPT_GUARD["POLICY"]`` may name a subclass of :class:`DefaultPolicy` (or
any class with the same ``decide``) to be stricter for some users, e.g. staff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .choices import Decision, Reason
from .conf import guard_settings
from .providers.base import ErrorReason

__all__ = ["Decision", "DefaultPolicy", "LoginFacts", "Reason", "Verdict", "get_policy"]


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


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: Reason


class DefaultPolicy:
    """Each rule maps to one ``ON_*`` setting; the first rule that applies decides."""

    def decide(self, facts: LoginFacts) -> Verdict:
        if not facts.token_present:
            return self.verdict("ON_MISSING_TOKEN", Reason.MISSING_TOKEN)
        if facts.token_problem:
            return self.verdict("ON_MISSING_TOKEN", Reason.BAD_TOKEN)
        if facts.provider_error is not None:
            return self.verdict("ON_PROVIDER_ERROR", Reason.PROVIDER_ERROR)
        if facts.device_blocked:
            return self.verdict("ON_BLOCKED_DEVICE", Reason.BLOCKED_DEVICE)
        if facts.new_device:
            return self.verdict("ON_NEW_DEVICE", Reason.NEW_DEVICE)
        if facts.device_verified:
            return Verdict(Decision.ALLOW, Reason.VERIFIED_DEVICE)
        if facts.verification_expired:
            return self.verdict("ON_UNVERIFIED_DEVICE", Reason.VERIFICATION_EXPIRED)
        return self.verdict("ON_UNVERIFIED_DEVICE", Reason.UNVERIFIED_DEVICE)

    @staticmethod
    def verdict(setting: str, reason: Reason) -> Verdict:
        return Verdict(Decision(getattr(guard_settings, setting)), reason)


def get_policy() -> DefaultPolicy:
    return guard_settings.POLICY()
