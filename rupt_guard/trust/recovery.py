"""The way back for a user who lost every factor: staff reset them, with a reason on record.

The admin action and ``manage.py rupt_guard_reset_factors`` both come here. The account's
owner is emailed (``signals.factors_reset``, which ``gate.receivers`` turns into a mail).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import router, transaction
from django.http import HttpRequest
from django_otp import devices_for_user

from rupt_guard import signals
from rupt_guard.choices import TrustAction
from rupt_guard.models import Device, LoginCheck
from rupt_guard.trust import devices as device_actions
from rupt_guard.trust.events import record


@dataclass(frozen=True)
class Reset:
    factors: int  # django-otp devices deleted
    devices_revoked: int  # browser devices whose verification was forgotten
    device_trusted: Device | None  # the device staff vouched for, if any


def reset_factors(
    user: Any,
    *,
    by: Any,
    reason: str,
    forget_devices: bool = False,
    trust_device: Device | None = None,
    request: HttpRequest | None = None,
) -> Reset:
    """Delete every second factor of ``user``; their next challenge falls back to an
    email code (``EMAIL_FALLBACK``).

    ``forget_devices`` also forgets every device's verification (and ends its sessions):
    use it when the factors may be in someone else's hands. ``trust_device`` vouches for
    one device of the user, for an account with no email to fall back on: the owner signs
    in (and is challenged, which records the device), staff check it is them by other
    means and name that device (``recent_sign_ins`` lists the candidates), and the next
    sign-in from it passes. Staff choose it: "the latest device" could be an attacker's
    who signed in with the password a minute after the owner.
    """
    if not reason.strip():
        raise ValueError("A reset needs a reason.")
    if trust_device is not None and trust_device.user_id != user.pk:
        raise ValueError("That device is not this user's.")
    with transaction.atomic(using=router.db_for_write(Device)):
        users = get_user_model()._default_manager
        list(users.select_for_update().filter(pk=user.pk).values("pk"))
        factors = list(devices_for_user(user, confirmed=None))
        for factor in factors:
            factor.delete()
        record(user, TrustAction.FACTORS_RESET, by=by, label=str(len(factors)), reason=reason)
        revoked = 0
        if forget_devices:
            for device in Device.objects.filter(user=user, verified_at__isnull=False):
                device_actions.revoke(device, by=by, request=request, reason=reason)
                revoked += 1
        if trust_device is not None:
            device_actions.verify_by_staff(trust_device, by=by, request=request, reason=reason)
        transaction.on_commit(
            lambda: signals.factors_reset.send(
                sender=Device, user=user, by=by, reason=reason, request=request
            )
        )
    return Reset(factors=len(factors), devices_revoked=revoked, device_trusted=trust_device)


def recent_sign_ins(user: Any, count: int = 5) -> list[LoginCheck]:
    """The user's latest sign-ins with their devices: what staff choose a device from."""
    return list(
        LoginCheck.objects.filter(user=user)
        .select_related("device")
        .order_by("-created_at", "-pk")[:count]
    )
