"""A user's personal data: its export as JSON, and its erasure here and at the provider.

Erasure deletes our rows at once and queues the provider's part (``PendingErasure``):
Rupt's metadata is the device's, shared by every account on it, and its API has no
delete, so the field is rewritten without this account's entries, later and with retries
(``rupt_guard_sync``), never holding up the deletion. Rupt's own access history and its
account-device pairs stay with Rupt: its API offers no way to remove them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from django.db import models, router, transaction
from django.db.models import Q
from django.utils import timezone

from rupt_guard.conf import guard_settings
from rupt_guard.models import Device, DeviceSession, LoginCheck, PendingErasure, TrustEvent
from rupt_guard.providers import ProviderError, breaker, get_provider
from rupt_guard.trust.devices import end_other_sessions
from rupt_guard.trust.enrolment import user_factors
from rupt_guard.trust.verification import account_id, format_entry

logger = logging.getLogger(__name__)

EXPORT_VERSION = 1
DEVICE_FIELDS = (
    "id",
    "external_id",
    "label",
    "first_seen_at",
    "last_seen_at",
    "last_ip",
    "last_user_agent",
    "verified_at",
    "verification_method",
    "verified_with",
    "blocked_at",
    "trust_revoked_at",
    "metadata",
)
LOGIN_CHECK_FIELDS = (
    "id",
    "device",
    "created_at",
    "source",
    "decision",
    "reason",
    "new_device",
    "provider_error",
    "token_error",
    "provider_status",
    "provider_ms",
    "access_id",
    "ip",
    "user_agent",
    "challenge_result",
    "challenge_ended_at",
    "trusted_browser",
    "owner_notified_at",
    "reported_at",
)
TRUST_EVENT_FIELDS = ("action", "actor_name", "device", "device_label", "reason", "created_at")


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _row(obj: models.Model, names: Iterable[str]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name in names:
        field = obj._meta.get_field(name)
        # A foreign key is exported as the id it holds (the device's "id" in "devices").
        row[name] = _value(getattr(obj, field.attname))  # type: ignore[union-attr]
    return row


def export_for(user: Any) -> dict[str, Any]:
    """Everything rupt_guard keeps about ``user``, JSON-serialisable: devices, sign-in checks,
    trust events, how many sessions are tracked, and a summary of the second factors
    (names and kinds, never a secret or a code)."""
    devices = Device.objects.filter(user=user).order_by("pk")
    checks = LoginCheck.objects.filter(user=user).order_by("pk")
    events = TrustEvent.objects.filter(user=user).order_by("pk")
    sessions = DeviceSession.objects.filter(Q(device__user=user) | Q(sign_in__user=user))
    factors = [
        {
            "kind": factor.method.value,
            "label": factor.label,
            "name": factor.name,
            "last_used_at": _value(factor.last_used_at),
            "codes_left": factor.codes_left,
        }
        for factor in user_factors(user)
    ]
    return {
        "format": "rupt_guard.personal_data",
        "version": EXPORT_VERSION,
        "exported_at": timezone.now().isoformat(),
        "account": {"username": user.get_username(), "account_id": account_id(user)},
        "devices": [_row(device, DEVICE_FIELDS) for device in devices],
        "login_checks": [_row(check, LOGIN_CHECK_FIELDS) for check in checks],
        "trust_events": [_row(event, TRUST_EVENT_FIELDS) for event in events],
        "sessions": sessions.distinct().count(),
        "factors": factors,
    }


def erase(user: Any, *, keep_user: bool) -> Counter[str]:
    """Delete every row rupt_guard keeps about ``user`` and queue the removal of its entries
    from the provider's device metadata; return how many rows of each kind went.

    ``keep_user=False`` is the user's deletion (the ``pre_delete`` receiver): the account's
    own row is Django's to delete. With ``keep_user=True`` the account stays and signs in
    again as on a new device; its tracked sessions end either way, since no device would be
    left to end them from. Their second factors are django-otp's, deleted with the account
    and kept with a kept one. Trust events another account's staff recorded with this
    user's name as the actor stay in that account's audit trail.
    """
    account = account_id(user)
    counts: Counter[str] = Counter()
    with transaction.atomic(using=router.db_for_write(Device)):
        external_ids = set(Device.objects.filter(user=user).values_list("external_id", flat=True))
        counts["sessions"] = end_other_sessions(user, keep=())
        for model, key in (
            (TrustEvent, "trust_events"),
            (LoginCheck, "login_checks"),
            (Device, "devices"),
        ):
            counts[key] = model.objects.filter(user=user).delete()[1].get(model._meta.label, 0)
        queued = []
        for external_id in sorted(external_ids):
            row, _ = PendingErasure.objects.get_or_create(
                external_id=external_id, account_id=account
            )
            queued.append(row.pk)
        counts["queued_at_provider"] = len(queued)
        if queued:
            # After commit, a first try; a failure stays queued for rupt_guard_sync.
            transaction.on_commit(lambda: drain(queued))
    logger.info(
        "Erased rupt_guard's data of an account being %s: %s.",
        "kept" if keep_user else "deleted",
        ", ".join(f"{key} {count}" for key, count in sorted(counts.items())),
    )
    return counts


def drain(pks: Iterable[int] | None = None, *, limit: int = 1000) -> tuple[int, int]:
    """Try the queued provider erasures (those in ``pks``, or the oldest ``limit``); return
    (done, still pending). A failure is counted on its row and left for the next run."""
    rows = PendingErasure.objects.order_by("pk")
    rows = rows.filter(pk__in=list(pks)) if pks is not None else rows
    done = failed = 0
    for row in rows[:limit]:
        if erase_at_provider(row):
            done += 1
        else:
            failed += 1
    return done, failed


def erase_at_provider(row: PendingErasure) -> bool:
    """Rewrite the provider's metadata of ``row``'s device without its account's entries.

    What is written is what our remaining rows for that device say (the same as
    ``verification.sync_metadata``), so another account's verification survives and no
    stale copy of the erased account's entry comes back. Deletes the row on success.
    """
    field = guard_settings.METADATA_VERIFIED_FIELD
    others = list(Device.objects.filter(external_id=row.external_id).select_related("user"))
    accounts = {device.pk: account_id(device.user) for device in others}
    entries = [
        format_entry(accounts[device.pk], device.verified_at)
        for device in others
        if device.verified_at and accounts[device.pk] != row.account_id
    ]
    permit = breaker.permit()
    if not permit.allowed:
        _failed(row, "breaker_open")
        return False
    try:
        get_provider().erase_account(row.external_id, row.account_id, {field: entries})
    except (ProviderError, ValueError) as exc:
        breaker.record(permit, outage=isinstance(exc, ProviderError) and exc.is_outage)
        reason = str(getattr(exc, "reason", type(exc).__name__))
        logger.warning(
            "Could not erase an account's entries from device %s at the provider (%s); "
            "rupt_guard_sync will retry.",
            row.pk,
            reason,
        )
        _failed(row, reason)
        return False
    breaker.record(permit, outage=False)
    # The push carried every remaining row's state: none of them is pending any more.
    for device in others:
        own = [format_entry(accounts[device.pk], device.verified_at)] if device.verified_at else []
        Device.objects.filter(pk=device.pk, verified_at=device.verified_at).update(
            metadata={field: own} if own else {}, metadata_sync_pending=False
        )
    PendingErasure.objects.filter(pk=row.pk).delete()
    return True


def _failed(row: PendingErasure, reason: str) -> None:
    PendingErasure.objects.filter(pk=row.pk).update(
        attempts=models.F("attempts") + 1, last_error=reason[:40]
    )
