"""Erase what rupt_guard keeps about a user who stays (deleting a user erases it by itself)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from rupt_guard.trust.personal_data import erase


class Command(BaseCommand):
    help = (
        "Delete a user's devices, sign-in checks, trust events and tracked sessions, keep "
        "the account, and queue the removal of its entries from the provider's device "
        "metadata (rupt_guard_sync retries what the provider does not accept at once)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--user", required=True, metavar="USERNAME", help="the account's USERNAME_FIELD value"
        )
        parser.add_argument(
            "--keep-user",
            action="store_true",
            default=True,
            help="keep the account itself (the default, and the only mode: to delete an "
            "account, delete it; its rupt_guard data goes with it)",
        )

    def handle(self, *args: Any, user: str, **options: Any) -> None:
        users = get_user_model()._default_manager
        try:
            account = users.get_by_natural_key(user)
        except users.model.DoesNotExist:
            raise CommandError(f"No user {user!r}.") from None
        counts = erase(account, keep_user=True)
        self.stdout.write(
            f"Erased for {account.get_username()}: {counts['devices']} device(s), "
            f"{counts['login_checks']} sign-in check(s), {counts['trust_events']} trust "
            f"event(s), {counts['sessions']} session(s) ended; "
            f"{counts['queued_at_provider']} provider erasure(s) queued."
        )
        if counts["queued_at_provider"]:
            self.stdout.write("rupt_guard_sync retries any the provider has not accepted.")
