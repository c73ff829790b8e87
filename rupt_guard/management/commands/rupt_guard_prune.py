"""Delete what rupt_guard no longer needs, in small batches that never lock a big table
(the batches and what is past its time: ``trust.retention``)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from rupt_guard.conf import guard_settings
from rupt_guard.models import Device, LoginCheck
from rupt_guard.trust import retention


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
        if dry_run:
            self.stdout.write("Dry run: nothing is deleted.")
        found = {
            target.model: target
            for target in retention.targets(checks_days=checks_days, devices_days=devices_days)
        }
        for model in (LoginCheck, Device):
            if model not in found:
                self.stdout.write(f"{model._meta.label}: kept (no retention limit)")
        for target in found.values():
            self.prune(target)

    def prune(self, target: retention.Target) -> None:
        label = target.model._meta.label
        if self.dry_run:
            count = target.model._default_manager.filter(target.condition).count()
            self.stdout.write(f"{label}: {count} would be deleted ({target.why})")
            return
        deleted, batches, after = 0, 0, None
        cascaded: Counter[str] = Counter()
        cleared: Counter[str] = Counter()
        while True:
            batch = retention.delete_batch(target, self.batch_size, after)
            if batch.picked:
                batches += 1
                after = batch.last
                deleted += batch.deleted.rows
                cascaded.update(batch.deleted.cascaded)
                cleared.update(batch.deleted.cleared)
            if batch.picked < self.batch_size:
                break  # a short batch found all that was left
        line = f"{label}: {deleted} deleted in {batches} batch(es) ({target.why})"
        with_them = ", ".join(f"{n} {other}" for other, n in sorted(cascaded.items()) if n)
        if with_them:
            line += f"; with them {with_them}"
        unlinked = ", ".join(f"{n} {field}" for field, n in sorted(cleared.items()) if n)
        if unlinked:
            line += f"; set to NULL: {unlinked}"
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
