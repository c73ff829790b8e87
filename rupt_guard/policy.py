"""The path sites name in ``RUPT_GUARD["POLICY"]``; the policy lives in ``risk.policy``."""

from rupt_guard.risk.policy import (
    Decision,
    DefaultPolicy,
    LoginFacts,
    Reason,
    Rule,
    Verdict,
    get_policy,
)

__all__ = ["Decision", "DefaultPolicy", "LoginFacts", "Reason", "Rule", "Verdict", "get_policy"]
