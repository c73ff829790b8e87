"""What is kept, for how long: the rows past the retention settings, deleted in batches.

``manage.py rupt_guard_prune`` drains every target; with ``PRUNE_AFTER_SIGN_IN`` a sign-in
also runs one small step at most once an hour (shared cache), so retention applies on a
site with no cron line. A batch is its own short transaction: it reads at most
``batch_size`` primary keys past the previous batch's (the filter, ordered by pk, rows
locked where the database can: a device seen again meanwhile is skipped, and a sign-in
that wants it waits for the commit), then deletes them in set form (``bulk_delete``): no
model instances, no signals, a fixed number of statements whatever the size.

Nothing is remembered between batches but the last key, so a run stopped anywhere (killed,
``--max-batches``) has deleted whole batches only, and the next run simply goes on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.db import models, router, transaction
from django.utils import timezone

from rupt_guard.cache import shared_cache
from rupt_guard.conf import guard_settings
from rupt_guard.models import Device, DeviceSession, LoginCheck, UsedIdentification
from rupt_guard.trust.bulk_delete import Deleted, delete_rows

logger = logging.getLogger(__name__)

STEP_KEY = "rupt_guard:prune_step"
STEP_EVERY = 3600  # seconds between two steps after sign-ins, across every worker
STEP_ROWS = 500  # rows per target in one step


@dataclass(frozen=True)
class Target:
    model: type[models.Model]
    condition: models.Q
    why: str


def targets(
    now: datetime | None = None,
    *,
    checks_days: int | None = None,
    devices_days: int | None = None,
) -> list[Target]:
    """What is past its time; ``None`` days: the setting's (still None: kept for ever)."""
    now = now or timezone.now()
    checks_days = guard_settings.LOGIN_CHECK_RETENTION_DAYS if checks_days is None else checks_days
    devices_days = guard_settings.DEVICE_RETENTION_DAYS if devices_days is None else devices_days
    # Expired rows first: a device deleted later then has fewer sessions to cascade to.
    found = [Target(DeviceSession, models.Q(expires_at__lt=now), f"expired before {_at(now)}")]
    # Identification tokens live minutes; a day of memory outlasts any of them.
    remembered = now - timedelta(days=1)
    found.append(
        Target(
            UsedIdentification, models.Q(used_at__lt=remembered), f"used before {_at(remembered)}"
        )
    )
    if apps.is_installed("rupt_guard.local"):
        local = apps.get_model("rupt_guard_local", "LocalIdentification")
        found.append(Target(local, models.Q(expires_at__lt=now), f"expired before {_at(now)}"))
    if checks_days is not None:
        cutoff = now - timedelta(days=checks_days)
        found.append(
            Target(
                LoginCheck,
                models.Q(created_at__lt=cutoff),
                f"created before {_at(cutoff)}, {checks_days} days",
            )
        )
    if devices_days is not None:
        cutoff = now - timedelta(days=devices_days)
        # A blocked device stays: forgetting it would let it back in as a new device.
        found.append(
            Target(
                Device,
                models.Q(last_seen_at__lt=cutoff, blocked_at__isnull=True),
                f"last seen before {_at(cutoff)}, {devices_days} days, not blocked",
            )
        )
    return found


@dataclass(frozen=True)
class Batch:
    picked: int  # rows the batch read: fewer than its size, and nothing was left
    last: Any  # the highest key read, where the next batch starts (None: none read)
    deleted: Deleted


def delete_batch(target: Target, size: int, after: Any = None) -> Batch:
    """Delete one batch of ``target`` past primary key ``after``, dependants included."""
    db = router.db_for_write(target.model)
    rows = target.model._base_manager.using(db).filter(target.condition)
    if after is not None:
        rows = rows.filter(pk__gt=after)  # always forward: never reads what it deleted
    with transaction.atomic(using=db):
        keys = list(rows.select_for_update().order_by("pk").values_list("pk", flat=True)[:size])
        deleted = delete_rows(target.model, keys, db)
    # max(), not the last: FOR UPDATE may hand back a row re-read after a wait out of order.
    return Batch(len(keys), max(keys) if keys else None, deleted)


def prune_after_sign_in() -> None:
    """One small step of retention, at most once every ``STEP_EVERY`` seconds across every
    worker (``PRUNE_AFTER_SIGN_IN``); a failure is logged, never the sign-in's."""
    if not guard_settings.PRUNE_AFTER_SIGN_IN:
        return
    try:
        if not shared_cache().add(STEP_KEY, 1, timeout=STEP_EVERY):
            return  # another sign-in ran it within the hour
        for target in targets():
            delete_batch(target, STEP_ROWS)
    except Exception:
        logger.exception("The retention step after a sign-in failed; rupt_guard_prune will do it.")


@dataclass(frozen=True)
class InForce:
    """The retention in force and the oldest rows kept, for the admin."""

    checks_days: int | None
    devices_days: int | None
    automatic: bool
    oldest_check: datetime | None
    oldest_device_seen: datetime | None


def in_force() -> InForce:
    """Two indexed lookups (created_at, and last_seen_at through the user index's order)."""
    oldest_check = (
        LoginCheck.objects.order_by("created_at").values_list("created_at", flat=True).first()
    )
    oldest_device = (
        Device.objects.order_by("last_seen_at").values_list("last_seen_at", flat=True).first()
    )
    return InForce(
        checks_days=guard_settings.LOGIN_CHECK_RETENTION_DAYS,
        devices_days=guard_settings.DEVICE_RETENTION_DAYS,
        automatic=bool(guard_settings.PRUNE_AFTER_SIGN_IN),
        oldest_check=oldest_check,
        oldest_device_seen=oldest_device,
    )


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z")
