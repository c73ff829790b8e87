"""Sightings: each (user, device) the provider identified, created or refreshed race-safely."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone

from rupt_guard.client import ClientInfo
from rupt_guard.models import Device
from rupt_guard.trust.user_agents import label_for

LABEL_LENGTH = Device._meta.get_field("label").max_length
# What a sighting refreshes on a row that exists; the rest is kept as it was.
REFRESHED = ("last_seen_at", "last_ip", "last_user_agent", "metadata")


def record_sighting(
    user: Any,
    external_id: str,
    *,
    client: ClientInfo,
    metadata: dict[str, list[str]] | None = None,
) -> tuple[Device, bool]:
    """Create or refresh the (user, device) row; return it and whether it was created.

    Safe under concurrent logins: two sign-ins from one new device never make two rows.
    """
    now = timezone.now()
    fields: dict[str, Any] = {
        "last_seen_at": now,
        "last_ip": client.ip,
        "last_user_agent": client.user_agent,
    }
    if metadata is not None:
        fields["metadata"] = metadata
    row = Device(
        user=user,
        external_id=external_id,
        first_seen_at=now,
        label=label_for(client.user_agent)[:LABEL_LENGTH],
        **fields,
    )
    db = router.db_for_write(Device)
    if _upserts(db):
        return _upsert(row, [name for name in REFRESHED if name in fields], db)
    return _select_then_write(row, fields, db)


def _upserts(db: str) -> bool:
    # INSERT ... ON CONFLICT ... RETURNING, spelled alike by PostgreSQL and SQLite 3.35+.
    connection = connections[db]
    return connection.vendor in {"postgresql", "sqlite"} and bool(
        connection.features.can_return_columns_from_insert
    )


def _upsert(row: Device, refreshed: list[str], db: str) -> tuple[Device, bool]:
    """One statement: the row as it is after the sighting, whether it existed or not."""
    connection = connections[db]
    quote = connection.ops.quote_name
    fields = [f for f in Device._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(row, add=True), connection) for f in fields]
    unique = (Device._meta.get_field("user").column, Device._meta.get_field("external_id").column)
    updates = ", ".join(
        f"{quote(column)} = EXCLUDED.{quote(column)}"
        for column in (Device._meta.get_field(name).column for name in refreshed)
    )
    sql = (
        f"INSERT INTO {quote(Device._meta.db_table)} "  # noqa: S608 - names from _meta
        f"({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({quote(unique[0])}, {quote(unique[1])}) DO UPDATE SET {updates} "
        f"RETURNING {', '.join(quote(f.column) for f in Device._meta.concrete_fields)}"
    )
    (device,) = Device.objects.using(db).raw(sql, values)
    device.user = row.user
    # A row created by this statement has the first-seen time it was given.
    return device, device.first_seen_at == row.first_seen_at


def _select_then_write(row: Device, fields: dict[str, Any], db: str) -> tuple[Device, bool]:
    """For databases without that statement: read, then update or insert."""
    device = Device.objects.using(db).filter(user=row.user, external_id=row.external_id).first()
    # A row that rupt_guard_prune deleted since the SELECT updates nothing: create it anew.
    if device is not None and Device.objects.using(db).filter(pk=device.pk).update(**fields):
        return _refreshed(device, fields), False
    try:
        with transaction.atomic(using=db):
            row.save(using=db, force_insert=True)
        return row, True
    except IntegrityError:
        # Another sign-in created it between our SELECT and INSERT.
        device = Device.objects.using(db).get(user=row.user, external_id=row.external_id)
    Device.objects.using(db).filter(pk=device.pk).update(**fields)
    return _refreshed(device, fields), False


def _refreshed(device: Device, fields: dict[str, Any]) -> Device:
    for name, value in fields.items():
        setattr(device, name, value)
    return device
