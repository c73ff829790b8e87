"""Sightings: each (user, device) the provider identified, created or refreshed race-safely."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Field
from django.db.models.options import Options
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

    Safe under concurrent logins: two sign-ins from one new device never make two rows,
    and exactly one of them is told it created it.
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
    # UPDATE ... RETURNING and INSERT ... ON CONFLICT DO NOTHING RETURNING, spelled alike
    # by PostgreSQL and SQLite 3.35+.
    connection = connections[db]
    return connection.vendor in {"postgresql", "sqlite"} and bool(
        connection.features.can_return_columns_from_insert
    )


def concrete_field(meta: Options[Any], name: str) -> Field[Any, Any]:
    """``meta.get_field(name)`` for a field with a column of this table (``get_field`` may
    also answer a relation's reverse side or a generic key, which have none)."""
    field = meta.get_field(name)
    if not isinstance(field, Field) or not field.concrete:
        raise TypeError(f"{meta.label}.{name} is not a column of {meta.db_table}")
    return field


def _upsert(row: Device, refreshed: list[str], db: str) -> tuple[Device, bool]:
    """A known device (most sign-ins) in one statement, a new one in two.

    Whether the row was created is what the database says (the INSERT returned a row),
    never a comparison of times: two sightings in one clock tick stay two sightings.
    """
    connection = connections[db]
    quote = connection.ops.quote_name
    meta = Device._meta
    returning = ", ".join(quote(f.column) for f in meta.concrete_fields)
    key = [concrete_field(meta, "user"), concrete_field(meta, "external_id")]
    key_values = [f.get_db_prep_save(f.pre_save(row, add=False), connection) for f in key]
    changed = [concrete_field(meta, name) for name in refreshed]
    update = (
        f"UPDATE {quote(meta.db_table)} "  # noqa: S608 - names from _meta
        f"SET {', '.join(f'{quote(f.column)} = %s' for f in changed)} "
        f"WHERE {quote(key[0].column)} = %s AND {quote(key[1].column)} = %s "
        f"RETURNING {returning}"
    )
    update_values = [f.get_db_prep_save(f.pre_save(row, add=False), connection) for f in changed]
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    insert = (
        f"INSERT INTO {quote(meta.db_table)} "  # noqa: S608 - names from _meta
        f"({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({quote(key[0].column)}, {quote(key[1].column)}) DO NOTHING "
        f"RETURNING {returning}"
    )
    insert_values = [f.get_db_prep_save(f.pre_save(row, add=True), connection) for f in fields]
    objects = Device.objects.using(db)
    # Once more after a lost race: the racer's INSERT committed between our two statements.
    for _attempt in range(2):
        if found := list(objects.raw(update, [*update_values, *key_values])):
            return _with_user(found[0], row), False
        if created := list(objects.raw(insert, insert_values)):
            return _with_user(created[0], row), True
    raise RuntimeError("A device row kept appearing and disappearing")  # pragma: no cover


def _with_user(device: Device, row: Device) -> Device:
    device.user = row.user  # already loaded: no query when the signals read it
    return device


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
