"""The policy: a pure function from what a sign-in looks like to allow, challenge or block.

An ordered list of rules; the first that applies decides. No I/O here. A site extends it by
naming a subclass in ``RUPT_GUARD["POLICY"]`` with its own rules before (or instead of)
ours::

    class StaffPolicy(DefaultPolicy):
        rules = [
            Rule(lambda f: f.user.is_staff and not f.device_verified, Reason.NEW_DEVICE,
                 action="block"),
            *DefaultPolicy.rules,
        ]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rupt_guard.choices import Decision, Reason
from rupt_guard.conf import guard_settings
from rupt_guard.risk.facts import LoginFacts, Verdict

__all__ = ["Decision", "DefaultPolicy", "LoginFacts", "Reason", "Rule", "Verdict", "get_policy"]


@dataclass(frozen=True)
class Rule:
    """When ``applies(facts)``, the sign-in gets ``reason`` and the decision of ``setting``
    (an ``ON_*`` key, read at call time) or of the fixed ``action``."""

    applies: Callable[[LoginFacts], bool]
    reason: Reason
    setting: str | None = None
    action: str | None = None

    def verdict(self) -> Verdict:
        action = getattr(guard_settings, self.setting) if self.setting else self.action
        if action is None:
            raise TypeError(f"The rule for {self.reason!r} names neither a setting nor an action.")
        return Verdict(Decision(action), self.reason)


class DefaultPolicy:
    """Each rule maps to one ``ON_*`` setting; the first rule that applies decides."""

    rules: ClassVar[list[Rule]] = [
        # First: a seconds-old account has no blocked device and no factor to verify, and
        # its signup form usually carries no token; ON_SIGNUP decides for it.
        Rule(lambda f: f.signed_up, Reason.SIGNED_UP, "ON_SIGNUP"),
        # Before the missing-token rule: a site decides what a refused consent costs
        # without weakening ON_MISSING_TOKEN for everyone.
        Rule(lambda f: f.consent_refused, Reason.NO_CONSENT, "ON_NO_CONSENT"),
        Rule(lambda f: not f.token_present, Reason.MISSING_TOKEN, "ON_MISSING_TOKEN"),
        Rule(lambda f: f.token_problem, Reason.BAD_TOKEN, "ON_MISSING_TOKEN"),
        Rule(lambda f: f.provider_error is not None, Reason.PROVIDER_ERROR, "ON_PROVIDER_ERROR"),
        Rule(lambda f: f.device_blocked, Reason.BLOCKED_DEVICE, "ON_BLOCKED_DEVICE"),
        Rule(lambda f: f.new_device, Reason.NEW_DEVICE, "ON_NEW_DEVICE"),
        Rule(lambda f: f.device_verified, Reason.VERIFIED_DEVICE, action=Decision.ALLOW),
        Rule(lambda f: f.verification_expired, Reason.VERIFICATION_EXPIRED, "ON_UNVERIFIED_DEVICE"),
    ]
    # When no rule applies: a known device that was never verified.
    otherwise: ClassVar[Rule] = Rule(
        lambda f: True, Reason.UNVERIFIED_DEVICE, "ON_UNVERIFIED_DEVICE"
    )

    def decide(self, facts: LoginFacts) -> Verdict:
        for rule in self.rules:
            if rule.applies(facts):
                return rule.verdict()
        return self.otherwise.verdict()

    @staticmethod
    def verdict(setting: str, reason: Reason) -> Verdict:
        """The decision ``setting`` gives, with ``reason`` (for a subclass's own ``decide``)."""
        return Rule(lambda f: True, reason, setting).verdict()


def get_policy() -> DefaultPolicy:
    policy: DefaultPolicy = guard_settings.POLICY()  # any class with decide(); see README
    return policy
