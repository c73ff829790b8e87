"""Delete what rupt_guard no longer needs, in small batches that never lock a big table.

Each batch selects at most ``--batch-size`` primary keys through the indexed column's filter
(ordered by pk, rows locked where the database can), then deletes those rows in its own
short transaction. The filter is applied again at delete time, so a row that changed in
the meantime (a device seen again) stays.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import models, router, transaction
from django.utils import timezone

from rupt_guard.conf import guard_settings
from rupt_guard.models import Device, DeviceSession, LoginCheck, UsedIdentification


class Command(BaseCommand):
    help = (
        "Delete login checks and devices older than the retention settings, expired device "
        "sessions and expired local identifications, in batches."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="rows per transaction (default 1000)"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be deleted, delete nothing"
        )
        parser.add_argument(
            "--checks-days",
            type=int,
            default=None,
            help="keep login checks this many days (default LOGIN_CHECK_RETENTION_DAYS)",
        )
        parser.add_argument(
            "--devices-days",
            type=int,
            default=None,
            help="keep devices not seen for this many days (default DEVICE_RETENTION_DAYS)",
        )

    def handle(
        self,
        *args: Any,
        batch_size: int,
        dry_run: bool,
        checks_days: int | None,
        devices_days: int | None,
        **options: Any,
    ) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        checks_days = _days(checks_days, "LOGIN_CHECK_RETENTION_DAYS", "--checks-days")
        devices_days = _days(devices_days, "DEVICE_RETENTION_DAYS", "--devices-days")
        self.batch_size = batch_size
        self.dry_run = dry_run
        now = timezone.now()
        if dry_run:
            self.stdout.write("Dry run: nothing is deleted.")

        # Expired rows first: a device deleted later then has fewer sessions to cascade to.
        self.prune(DeviceSession, models.Q(expires_at__lt=now), f"expired before {_at(now)}")
        # Identification tokens live minutes; a day of memory outlasts any of them.
        remembered = now - timedelta(days=1)
        self.prune(
            UsedIdentification, models.Q(used_at__lt=remembered), f"used before {_at(remembered)}"
        )
        if apps.is_installed("rupt_guard.local"):
            local = apps.get_model("rupt_guard_local", "LocalIdentification")
            self.prune(local, models.Q(expires_at__lt=now), f"expired before {_at(now)}")
        if checks_days is None:
            self.stdout.write(f"{LoginCheck._meta.label}: kept (no retention limit)")
        else:
            cutoff = now - timedelta(days=checks_days)
            self.prune(
                LoginCheck,
                models.Q(created_at__lt=cutoff),
                f"created before {_at(cutoff)}, {checks_days} days",
            )
        if devices_days is None:
            self.stdout.write(f"{Device._meta.label}: kept (no retention limit)")
        else:
            cutoff = now - timedelta(days=devices_days)
            # A blocked device stays: forgetting it would let it back in as a new device.
            self.prune(
                Device,
                models.Q(last_seen_at__lt=cutoff, blocked_at__isnull=True),
                f"last seen before {_at(cutoff)}, {devices_days} days, not blocked",
            )

    def prune(self, model: type[models.Model], condition: models.Q, why: str) -> None:
        label = model._meta.label
        manager = model._default_manager
        if self.dry_run:
            count = manager.filter(condition).count()
            self.stdout.write(f"{label}: {count} would be deleted ({why})")
            return
        db = router.db_for_write(model)
        deleted: Counter[str] = Counter()
        batches = 0
        after = None
        while True:
            rows = manager.using(db).filter(condition)
            if after is not None:
                rows = rows.filter(pk__gt=after)  # always forward, even if a row stayed
            with transaction.atomic(using=db):
                batch = list(
                    rows.select_for_update()
                    .order_by("pk")
                    .values_list("pk", flat=True)[: self.batch_size]
                )
                if not batch:
                    break
                # The condition again: a row changed since the select stays.
                _, per_model = manager.using(db).filter(condition, pk__in=batch).delete()
            batches += 1
            after = batch[-1]
            deleted.update(per_model)
        count = deleted.pop(label, 0)
        line = f"{label}: {count} deleted in {batches} batch(es) ({why})"
        cascaded = ", ".join(f"{n} {other}" for other, n in sorted(deleted.items()) if n)
        if cascaded:
            line += f"; with them {cascaded}"
        self.stdout.write(line)


def _days(value: int | None, setting: str, option: str) -> int | None:
    if value is None:
        try:
            return getattr(guard_settings, setting)  # validated by the settings object
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
    if value < 1:
        raise CommandError(f"{option} must be a whole number of days, at least 1.")
    return value


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z")
