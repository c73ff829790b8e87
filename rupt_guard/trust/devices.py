"""Acting on a device: revoke its verification, block, unblock, verify by staff; and ending
a user's other sessions.

The admin, the user's own devices page and the "this wasn't me" link all come here, so
every path ends the device's sessions, fires the signals and tells the provider alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module
from typing import Any

from django.conf import settings
from django.db import router, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from rupt_guard import signals
from rupt_guard.choices import TrustAction, VerificationMethod
from rupt_guard.models import Device, DeviceSession, LoginCheck
from rupt_guard.trust.events import record
from rupt_guard.trust.verification import mark_verified, record_verification, schedule_sync


def end_sessions(device: Device) -> int:
    """Delete every session that signed in from ``device``; return how many."""
    return _end(DeviceSession.objects.filter(device=device))


def end_sign_in_sessions(check: LoginCheck) -> int:
    """Delete the sessions opened by one sign-in (its device may be unknown)."""
    return _end(DeviceSession.objects.filter(sign_in=check))


def end_other_sessions(user: Any, *, keep: Iterable[str | None]) -> int:
    """Delete every session ``user`` signed in with except those under the keys in ``keep``
    (the current one): "sign out everywhere else". Return how many rows were ended
    (expired sessions included).

    Other devices and this device's other sessions (another browser profile that Rupt
    sees as the same device) alike; sessions of sign-ins that had no device are found
    through their login check. Trust is left as it is: a verified device signs in again
    without a challenge, which is what a person who only wants the other sessions gone
    expects. Sessions rupt_guard never tracked (opened before it was installed, or with
    signed-cookie sessions) cannot be found here.
    """
    kept = [key for key in keep if key]
    rows = DeviceSession.objects.filter(Q(device__user=user) | Q(sign_in__user=user))
    return _end(rows.exclude(session_key__in=kept))


def _end(rows: Any) -> int:
    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = list(rows.values_list("session_key", flat=True))
    for key in keys:
        store().delete(key)
    DeviceSession.objects.filter(session_key__in=keys).delete()
    return len(keys)


def revoke(
    device: Device,
    *,
    by: Any = None,
    request: HttpRequest | None = None,
    end_its_sessions: bool = True,
    tell_provider: bool = True,
    reason: str = "",
) -> None:
    """Forget the device's verification: its next sign-in is challenged; its sessions end."""
    with transaction.atomic(using=router.db_for_write(Device)):
        # Its row lock makes a sign-in in flight wait, then see the withdrawal (lifecycle).
        record_verification(device, at=None, sync_pending=tell_provider)
        record(device.user, TrustAction.DEVICE_REVOKED, by=by, device=device, reason=reason)
        if end_its_sessions:
            end_sessions(device)
        if tell_provider:
            schedule_sync(device.pk)
    signals.device_revoked.send(
        sender=Device, user=device.user, device=device, by=by, request=request
    )


def block(
    device: Device, *, by: Any = None, request: HttpRequest | None = None, reason: str = ""
) -> None:
    """Refuse the device (``ON_BLOCKED_DEVICE``) and end its sessions."""
    with transaction.atomic(using=router.db_for_write(Device)):
        device.blocked_at = device.trust_revoked_at = timezone.now()
        device.save(update_fields=["blocked_at", "trust_revoked_at"])
        record(device.user, TrustAction.DEVICE_BLOCKED, by=by, device=device, reason=reason)
        end_sessions(device)
    signals.device_blocked.send(
        sender=Device, user=device.user, device=device, by=by, request=request
    )


def unblock(device: Device, *, by: Any = None, reason: str = "") -> None:
    with transaction.atomic(using=router.db_for_write(Device)):
        device.blocked_at = None
        device.save(update_fields=["blocked_at"])
        record(device.user, TrustAction.DEVICE_UNBLOCKED, by=by, device=device, reason=reason)


def verify_by_staff(
    device: Device, *, by: Any, request: HttpRequest | None = None, reason: str = ""
) -> None:
    staff = f"staff:{getattr(by, 'pk', '')}"
    with transaction.atomic(using=router.db_for_write(Device)):
        mark_verified(device, VerificationMethod.ADMIN, verified_with=staff)
        record(device.user, TrustAction.DEVICE_VERIFIED, by=by, device=device, reason=reason)
    signals.device_verified.send(
        sender=Device,
        user=device.user,
        device=device,
        method=VerificationMethod.ADMIN,
        request=request,
    )


def forget_verifications(user: Any) -> int:
    """Clear the verification of all of ``user``'s devices (their password changed).

    Sessions are left to Django, which already ends the other sessions of a user whose
    password changed and keeps the one that changed it.
    """
    devices = list(Device.objects.filter(user=user, verified_at__isnull=False))
    for device in devices:
        revoke(device, end_its_sessions=False, reason="password changed")
    return len(devices)


def detach(external_id: str) -> int:
    """The provider detached a device (its ``device.detached`` webhook): revoke it for every
    account that has it and end its sessions. Nothing is pushed back to the provider."""
    devices = list(Device.objects.filter(external_id=external_id).select_related("user"))
    for device in devices:
        revoke(device, tell_provider=False, reason="detached by the provider")
    return len(devices)
