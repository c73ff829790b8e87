"""Retry the device-metadata updates and erasures the provider did not accept yet."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from rupt_guard.models import Device
from rupt_guard.trust.personal_data import drain
from rupt_guard.trust.verification import sync_metadata


class Command(BaseCommand):
    help = (
        "Record pending device verifications at the identification provider, and remove "
        "erased accounts' entries from its device metadata (retries)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--limit", type=int, default=1000, help="devices per run")

    def handle(self, *args: Any, limit: int, **options: Any) -> None:
        pending = list(
            Device.objects.filter(metadata_sync_pending=True)
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        synced = sum(1 for pk in pending if sync_metadata(pk))
        failed = len(pending) - synced
        self.stdout.write(f"{synced} device(s) synced, {failed} still pending.")
        erased, erase_failed = drain(limit=limit)
        self.stdout.write(
            f"{erased} erasure(s) done at the provider, {erase_failed} still pending."
        )
        if failed or erase_failed:
            self.stderr.write("Some updates failed; see the warnings in the log and run again.")
