"""The path sites name in ``RUPT_GUARD["POLICY"]``; the policy lives in ``risk.policy``."""

from rupt_guard.risk.policy import DefaultPolicy, LoginFacts, Rule, Verdict, get_policy

__all__ = ["DefaultPolicy", "LoginFacts", "Rule", "Verdict", "get_policy"]
