"""Thin views: forms and templates; the work is in the service and device modules."""

from .challenge import ChallengeView, GuardLogoutView, safe_next
from .devices import DeviceListView, DeviceRenameView, DeviceRevokeView, StepUpView
from .not_me import NotMeView

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
