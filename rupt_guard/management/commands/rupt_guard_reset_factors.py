"""Reset a user's second factors from the command line: the way back for a locked-out
superuser, who cannot reach the admin."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from rupt_guard.trust.recovery import reset_factors


class Command(BaseCommand):
    help = (
        "Delete every second factor of a user (their next sign-in from a new device falls "
        "back to an email code), record why, and email them."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username", help="the account's USERNAME_FIELD value")
        parser.add_argument("--reason", required=True, help="why (kept in the audit trail)")
        parser.add_argument(
            "--by", default="", help="the staff account doing this (its username), if any"
        )
        parser.add_argument(
            "--forget-devices",
            action="store_true",
            help="also forget every device's verification and end its sessions",
        )
        parser.add_argument(
            "--trust-latest-device",
            action="store_true",
            help=(
                "mark the device of the user's latest sign-in verified (for an account with "
                "no email: have them sign in once, check it is them, then run this)"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model()._default_manager
        user = self._user(users, options["username"])
        by = self._user(users, options["by"]) if options["by"] else None
        reason = options["reason"].strip()
        if not reason:
            raise CommandError("--reason must say why.")
        reset = reset_factors(
            user,
            by=by,
            reason=reason,
            forget_devices=options["forget_devices"],
            trust_latest_device=options["trust_latest_device"],
        )
        self.stdout.write(f"Removed {reset.factors} second factor(s) of {user.get_username()}.")
        if options["forget_devices"]:
            self.stdout.write(f"Forgot the verification of {reset.devices_revoked} device(s).")
        if options["trust_latest_device"]:
            if reset.device_trusted is None:
                self.stdout.write(
                    "The latest sign-in has no known device (none yet, or it sent no "
                    "identification token): nothing was trusted."
                )
            else:
                self.stdout.write(f"Trusted the device {reset.device_trusted}.")

    @staticmethod
    def _user(users: Any, username: str) -> Any:
        try:
            return users.get_by_natural_key(username)
        except users.model.DoesNotExist:
            raise CommandError(f"No user {username!r}.") from None
