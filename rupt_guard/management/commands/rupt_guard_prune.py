"""Delete what rupt_guard no longer needs, in short batches that never lock a table, and say
how it goes (the batches and what is past its time: ``trust.retention``)."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import connections, router
from django.utils import timezone

from rupt_guard.conf import guard_settings
from rupt_guard.models import Device, LoginCheck
from rupt_guard.stats import figures, rollup
from rupt_guard.trust import retention
from rupt_guard.trust.bulk_delete import NotInSetForm

# A dry run counts exactly up to here, then says "more than" and, on PostgreSQL, gives the
# planner's estimate: counting a hundred million rows would take as long as deleting them.
DRY_RUN_COUNT_LIMIT = 1_000_000


class Command(BaseCommand):
    help = (
        "Delete login checks and devices older than the retention settings, expired device "
        "sessions and expired local identifications, in batches. Safe to stop at any time "
        "and run again: it goes on where it stopped."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=10_000, help="rows per transaction (default 10000)"
        )
        parser.add_argument(
            "--max-batches",
            type=int,
            default=None,
            help="stop each table after this many batches (run again to go on)",
        )
        parser.add_argument(
            "--progress-every",
            type=float,
            default=5.0,
            help="seconds between progress lines (default 5; 0: after every batch)",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=f"count what would be deleted (exactly up to {DRY_RUN_COUNT_LIMIT}), "
            "delete nothing",
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
        max_batches: int | None,
        progress_every: float,
        dry_run: bool,
        checks_days: int | None,
        devices_days: int | None,
        verbosity: int = 1,
        **options: Any,
    ) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if max_batches is not None and max_batches < 1:
            raise CommandError("--max-batches must be at least 1.")
        if progress_every < 0:
            raise CommandError("--progress-every must be 0 or more seconds.")
        checks_days = _days(checks_days, "LOGIN_CHECK_RETENTION_DAYS", "--checks-days")
        devices_days = _days(devices_days, "DEVICE_RETENTION_DAYS", "--devices-days")
        self.batch_size = batch_size
        self.max_batches = max_batches
        self.progress_every = progress_every
        self.verbosity = verbosity
        if dry_run:
            self.say("Dry run: nothing is deleted.")
        # The cut-offs are fixed here, once: a row written while the run goes on is newer
        # than them, so no batch ever touches it.
        found = {
            target.model: target
            for target in retention.targets(checks_days=checks_days, devices_days=devices_days)
        }
        for model in (LoginCheck, Device):
            if model not in found:
                self.say(f"{model._meta.label}: kept (no retention limit)")
        if LoginCheck in found and not dry_run and figures.unavailable() is None:
            # The dashboard's rollup counts the settled hours first: a check deleted before
            # it was counted would be missing from the figures for good.
            rollup.refresh(timezone.now())
        started, total = time.monotonic(), 0
        for target in found.values():
            if dry_run:
                self.count(target)
                continue
            try:
                total += self.prune(target)
            except NotInSetForm as exc:  # a site's model points here with on_delete=PROTECT...
                raise CommandError(f"{target.model._meta.label}: {exc}") from exc
        if not dry_run:
            elapsed = time.monotonic() - started
            self.say(f"Done: {total} row(s) deleted in {elapsed:.1f} s{_rate(total, elapsed)}.")

    def say(self, line: str) -> None:
        if self.verbosity > 0:
            self.stdout.write(line)

    def prune(self, target: retention.Target) -> int:
        label = target.model._meta.label
        deleted, batches, after = 0, 0, None
        cascaded: Counter[str] = Counter()
        cleared: Counter[str] = Counter()
        started = last_said = time.monotonic()
        stopped = False
        while True:
            if self.max_batches is not None and batches == self.max_batches:
                stopped = True
                break
            batch = retention.delete_batch(target, self.batch_size, after)
            if batch.picked:
                batches += 1
                after = batch.last
                deleted += batch.deleted.rows
                cascaded.update(batch.deleted.cascaded)
                cleared.update(batch.deleted.cleared)
            if batch.picked < self.batch_size:
                break  # a short batch found all that was left
            now = time.monotonic()
            if now - last_said >= self.progress_every:
                last_said = now
                rate = _rate(deleted, now - started)
                self.say(f"  {label}: {deleted} deleted so far, {batches} batch(es){rate}")
        elapsed = time.monotonic() - started
        line = f"{label}: {deleted} deleted in {batches} batch(es) ({target.why})"
        with_them = ", ".join(f"{n} {other}" for other, n in sorted(cascaded.items()) if n)
        if with_them:
            line += f"; with them {with_them}"
        unlinked = ", ".join(f"{n} {field}" for field, n in sorted(cleared.items()) if n)
        if unlinked:
            line += f"; set to NULL: {unlinked}"
        line += f"; {elapsed:.1f} s{_rate(deleted, elapsed)}"
        if stopped:
            line += f"; stopped after --max-batches {self.max_batches}, run again to go on"
        self.say(line)
        return deleted

    def count(self, target: retention.Target) -> None:
        label = target.model._meta.label
        db = router.db_for_read(target.model)
        rows = target.model._base_manager.using(db).filter(target.condition)
        # COUNT(*) over a LIMIT: an index range read that stops at the limit.
        counted = rows.order_by()[: DRY_RUN_COUNT_LIMIT + 1].count()
        if counted <= DRY_RUN_COUNT_LIMIT:
            self.say(f"{label}: {counted} would be deleted ({target.why})")
            return
        estimate = _planner_estimate(rows)
        about = f", about {estimate} by the planner's estimate" if estimate else ""
        self.say(f"{label}: more than {DRY_RUN_COUNT_LIMIT} would be deleted{about} ({target.why})")


def _planner_estimate(rows: Any) -> int | None:
    """PostgreSQL's estimate of the rows a query returns (EXPLAIN, nothing run)."""
    if connections[rows.db].vendor != "postgresql":
        return None
    plan = json.loads(rows.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


def _rate(rows: int, seconds: float) -> str:
    return f", {rows / seconds:.0f} rows/s" if rows and seconds > 0 else ""


def _days(value: int | None, setting: str, option: str) -> int | None:
    if value is None:
        try:
            days: int | None = getattr(guard_settings, setting)  # validated by the settings
            return days
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
    if value < 1:
        raise CommandError(f"{option} must be a whole number of days, at least 1.")
    return value
