"""Thin HTML views: forms and templates; the work is in gate.lifecycle and trust.devices."""

from rupt_guard.views.challenge import ChallengeView, GuardLogoutView, safe_next
from rupt_guard.views.devices import DeviceListView, DeviceRenameView, DeviceRevokeView, StepUpView
from rupt_guard.views.not_me import NotMeView

__all__ = [
    "ChallengeView",
    "DeviceListView",
    "DeviceRenameView",
    "DeviceRevokeView",
    "GuardLogoutView",
    "NotMeView",
    "StepUpView",
    "safe_next",
]
