"""The default policy, as a table: each rule under each of its three settings."""

from __future__ import annotations

import pytest

from rupt_guard.choices import Decision, Reason
from rupt_guard.providers import ErrorReason
from rupt_guard.risk.policy import DefaultPolicy, LoginFacts, Verdict, get_policy

RULES = {
    "ON_MISSING_TOKEN": (LoginFacts(user=None, token_present=False), Reason.MISSING_TOKEN),
    "ON_PROVIDER_ERROR": (
        LoginFacts(user=None, token_present=True, provider_error=ErrorReason.TIMEOUT),
        Reason.PROVIDER_ERROR,
    ),
    "ON_BLOCKED_DEVICE": (
        LoginFacts(user=None, token_present=True, device_blocked=True, device_verified=True),
        Reason.BLOCKED_DEVICE,
    ),
    "ON_NEW_DEVICE": (
        LoginFacts(user=None, token_present=True, new_device=True),
        Reason.NEW_DEVICE,
    ),
    "ON_UNVERIFIED_DEVICE": (LoginFacts(user=None, token_present=True), Reason.UNVERIFIED_DEVICE),
}


@pytest.mark.parametrize("action", ["allow", "challenge", "block"])
@pytest.mark.parametrize("rule", list(RULES))
def test_each_rule_follows_its_setting(settings, rule, action):
    settings.RUPT_GUARD = {rule: action}
    facts, reason = RULES[rule]
    verdict = DefaultPolicy().decide(facts)
    assert verdict.decision == Decision(action)
    assert verdict.reason == reason


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (
            LoginFacts(
                user=None,
                token_present=True,
                provider_error=ErrorReason.TOKEN_REJECTED,
                token_problem=True,
            ),
            Reason.BAD_TOKEN,
        ),
        (
            LoginFacts(user=None, token_present=True, verification_expired=True),
            Reason.VERIFICATION_EXPIRED,
        ),
    ],
)
def test_token_problems_and_expired_verifications_have_their_own_reason(settings, facts, reason):
    settings.RUPT_GUARD = {"ON_MISSING_TOKEN": "block", "ON_UNVERIFIED_DEVICE": "block"}
    verdict = DefaultPolicy().decide(facts)
    assert (verdict.decision, verdict.reason) == (Decision.BLOCK, reason)


def test_verified_known_device_is_allowed_whatever_the_settings(settings):
    settings.RUPT_GUARD = {key: "block" for key in RULES if key != "ON_BLOCKED_DEVICE"}
    verdict = DefaultPolicy().decide(
        LoginFacts(user=None, token_present=True, device_verified=True)
    )
    assert (verdict.decision, verdict.reason) == (Decision.ALLOW, Reason.VERIFIED_DEVICE)


def test_blocked_beats_verified_and_new(settings):
    verdict = DefaultPolicy().decide(
        LoginFacts(user=None, token_present=True, new_device=True, device_blocked=True)
    )
    assert verdict == DefaultPolicy.verdict("ON_BLOCKED_DEVICE", Reason.BLOCKED_DEVICE)
    assert verdict.decision == Decision.BLOCK


class StaffPolicy(DefaultPolicy):
    """The README's recipe: staff never pass on a device they have not verified."""

    def decide(self, facts):
        verdict = super().decide(facts)
        if facts.user.is_staff and verdict.decision == Decision.ALLOW and not facts.device_verified:
            return Verdict(Decision.CHALLENGE, verdict.reason)
        return verdict


def test_policy_class_is_replaceable(settings):
    settings.RUPT_GUARD = {"POLICY": "tests.test_policy.StaffPolicy", "ON_NEW_DEVICE": "allow"}
    staff = type("User", (), {"is_staff": True})()
    member = type("User", (), {"is_staff": False})()
    assert isinstance(get_policy(), StaffPolicy)
    for user, expected in ((staff, Decision.CHALLENGE), (member, Decision.ALLOW)):
        facts = LoginFacts(user=user, token_present=True, new_device=True)
        assert get_policy().decide(facts).decision == expected
    verified = LoginFacts(user=staff, token_present=True, device_verified=True)
    assert get_policy().decide(verified).decision == Decision.ALLOW
