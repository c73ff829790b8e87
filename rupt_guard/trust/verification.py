"""What counts as a verified device, and recording a verification here and at the provider.

Rupt's metadata belongs to the device, not to the account: one browser shared by Alice
and Bob has one metadata map. Each verification entry therefore names its account,
``"<account id>:<UTC ISO-8601 time>"``, and only an entry for *this* account counts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from rupt_guard.choices import VerificationMethod
from rupt_guard.conf import guard_settings
from rupt_guard.models import Device
from rupt_guard.providers import ProviderError, breaker, get_provider

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerificationState:
    verified: bool
    expired: bool = False
    # Set when only the provider's metadata vouched for the device.
    metadata_time: datetime | None = None


def account_id(user: Any) -> str:
    return str(guard_settings.ACCOUNT_ID(user))


def format_entry(account: str, when: datetime) -> str:
    when = when.astimezone(UTC).replace(microsecond=0)
    return f"{account}:{when.isoformat().replace('+00:00', 'Z')}"


def entry_time(entry: str, account: str) -> datetime | None:
    """The time of ``entry`` if it records a verification of ``account``, else None."""
    prefix = f"{account}:"
    if not entry.startswith(prefix):
        return None
    try:
        when = datetime.fromisoformat(entry[len(prefix) :])
        # Naive times are refused; year 1 with a +14:00 offset cannot even become UTC.
        return when.astimezone(UTC) if when.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None  # e.g. account "a" meeting an entry of account "a:b"


def kept_metadata(metadata: Any, account: str) -> dict[str, list[str]]:
    """The part of a device's provider metadata stored on this account's row.

    Only the verification field, and in it only this account's entries: the rest of the
    map is about other people on the same device, and the push rewrites the field from
    our rows anyway. With ``TRUST_RUPT_METADATA`` the site shares the field with other
    back ends of its Rupt project on purpose, so entries of accounts it has no row for
    are kept too: the push would otherwise erase another site's verifications.
    """
    entries = [
        entry
        for entry in field_entries(metadata)
        # "alice" must not keep "alice:bob:<time>", an entry of account "alice:bob".
        if guard_settings.TRUST_RUPT_METADATA or entry_time(entry, account) is not None
    ]
    return {guard_settings.METADATA_VERIFIED_FIELD: entries} if entries else {}


def field_entries(metadata: Any) -> list[str]:
    """The string entries of the verification field; rows written before this release, or
    by a provider plugin, may hold anything there."""
    values = (
        metadata.get(guard_settings.METADATA_VERIFIED_FIELD) if isinstance(metadata, dict) else None
    )
    return [entry for entry in values if isinstance(entry, str)] if isinstance(values, list) else []


def _fresh(when: datetime, now: datetime) -> bool:
    max_age = guard_settings.VERIFICATION_MAX_AGE
    return max_age is None or now - when <= max_age


def verification_state(
    device: Device, account: str, metadata: dict[str, list[str]] | None
) -> VerificationState:
    now = timezone.now()
    expired = False
    if device.verified_at is not None:
        if _fresh(device.verified_at, now):
            return VerificationState(verified=True)
        expired = True
    # While our own change (a revocation, say) has not reached the provider, its metadata
    # is older than our record and must not vouch for the device.
    if guard_settings.TRUST_RUPT_METADATA and metadata and not device.metadata_sync_pending:
        times = [
            when
            for entry in field_entries(metadata)
            if (when := entry_time(entry, account)) is not None
            and when <= now
            # An entry written before trust was withdrawn here must not restore it.
            and (device.trust_revoked_at is None or when > device.trust_revoked_at)
        ]
        if times:
            latest = max(times)
            if _fresh(latest, now):
                return VerificationState(verified=True, metadata_time=latest)
            expired = True
    return VerificationState(verified=False, expired=expired)


def mark_verified(
    device: Device,
    method: VerificationMethod,
    *,
    verified_with: str = "",
    when: datetime | None = None,
    push: bool = True,
) -> None:
    """Record the verification; tell the provider once the transaction commits."""
    record_verification(
        device,
        at=when or timezone.now(),
        method=method,
        verified_with=verified_with,
        sync_pending=push,
    )
    if push:
        schedule_sync(device.pk)


def record_verification(
    device: Device,
    *,
    at: datetime | None,
    method: str = "",
    verified_with: str = "",
    sync_pending: bool,
) -> None:
    """Write the verification fields (``at=None`` clears them and notes the withdrawal)."""
    fields = ["verified_at", "verification_method", "verified_with", "metadata_sync_pending"]
    if at is None:
        device.trust_revoked_at = timezone.now()
        fields.append("trust_revoked_at")
    device.verified_at = at
    device.verification_method = method
    device.verified_with = verified_with[:255]
    device.metadata_sync_pending = sync_pending
    device.save(update_fields=fields)


def schedule_sync(device_pk: int) -> None:
    """Tell the provider about this device's verification once the transaction commits."""
    transaction.on_commit(lambda: sync_metadata(device_pk))


def sync_metadata(device_pk: int) -> bool:
    """Make the provider's metadata for this device say what our records say.

    Rupt keeps one metadata map per device, shared by every account that uses it. The
    entries of every account we have a row for on that device are written from those rows
    (verified: an entry; revoked: none), so no account's stale copy can bring back a trust
    withdrawn here. Entries of accounts we have no row for are kept only when the site
    shares the field (``TRUST_RUPT_METADATA``); otherwise they are not stored, and go. A
    failure is logged and leaves ``metadata_sync_pending`` set for ``rupt_guard_sync``; it
    never changes our record.
    """
    device = Device.objects.filter(pk=device_pk).first()
    if device is None:
        return False
    field = guard_settings.METADATA_VERIFIED_FIELD
    rows = list(Device.objects.filter(external_id=device.external_id).select_related("user"))
    accounts = {row.pk: account_id(row.user) for row in rows}
    # Only a row of a site sharing the field (TRUST_RUPT_METADATA) holds other entries.
    foreign = [
        entry
        for entry in field_entries(device.metadata)
        if all(entry_time(entry, account) is None for account in accounts.values())
    ]
    own = {
        row.pk: [format_entry(accounts[row.pk], row.verified_at)] if row.verified_at else []
        for row in rows
    }
    entries = [*foreign, *(entry for row in rows for entry in own[row.pk])]
    permit = breaker.permit()
    if not permit.allowed:
        logger.info("Device %s: metadata push deferred, the circuit breaker is open.", device.pk)
        return False  # still pending: rupt_guard_sync retries
    try:
        get_provider().update_metadata(device.external_id, {field: entries})
    except (ProviderError, ValueError) as exc:
        breaker.record(permit, outage=isinstance(exc, ProviderError) and exc.is_outage)
        logger.warning(
            "Could not record the verification state of device %s at the provider (%s); "
            "rupt_guard_sync will retry.",
            device.pk,
            getattr(exc, "reason", type(exc).__name__),
        )
        return False
    breaker.record(permit, outage=False)
    # The push carried every row's current state, so none of them is pending any more.
    for row in rows:
        kept = [*foreign, *own[row.pk]] if guard_settings.TRUST_RUPT_METADATA else own[row.pk]
        Device.objects.filter(pk=row.pk, verified_at=row.verified_at).update(
            metadata={field: kept} if kept else {}, metadata_sync_pending=False
        )
    return True
