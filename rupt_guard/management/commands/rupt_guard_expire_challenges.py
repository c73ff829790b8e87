"""Close the challenges nobody answered within CHALLENGE_TIMEOUT and email their owners."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from rupt_guard.gate.expiry import expire_stale_challenges


class Command(BaseCommand):
    help = (
        "Close the sign-in challenges left unanswered past CHALLENGE_TIMEOUT as expired and "
        "email each account's owner once (run it from cron every few minutes)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--limit", type=int, default=1000, help="at most this many a run")

    def handle(self, *args: Any, limit: int, **options: Any) -> None:
        closed = expire_stale_challenges(limit=limit)
        self.stdout.write(f"Expired {closed} unanswered challenge(s).")
