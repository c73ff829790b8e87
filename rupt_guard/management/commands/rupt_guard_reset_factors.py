"""Reset a user's second factors from the command line: the way back for a locked-out
superuser, who cannot reach the admin."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from rupt_guard.models import Device
from rupt_guard.trust.recovery import recent_sign_ins, reset_factors


class Command(BaseCommand):
    help = (
        "Delete every second factor of a user (their next sign-in from a new device falls "
        "back to an email code), record why, and email them. Lists their latest sign-ins."
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
            "--trust-device",
            type=int,
            metavar="ID",
            help=(
                "mark this device of the user verified (for an account with no email: have "
                "them sign in once, check it is them, find the device in the list this "
                "command prints, then run it again with its ID)"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model()._default_manager
        user = self._user(users, options["username"])
        by = self._user(users, options["by"]) if options["by"] else None
        reason = options["reason"].strip()
        if not reason:
            raise CommandError("--reason must say why.")
        trusted = None
        if options["trust_device"] is not None:
            trusted = Device.objects.filter(pk=options["trust_device"], user=user).first()
            if trusted is None:
                raise CommandError(
                    f"{user.get_username()} has no device {options['trust_device']}."
                )
        reset = reset_factors(
            user,
            by=by,
            reason=reason,
            forget_devices=options["forget_devices"],
            trust_device=trusted,
        )
        self.stdout.write(f"Removed {reset.factors} second factor(s) of {user.get_username()}.")
        if options["forget_devices"]:
            self.stdout.write(f"Forgot the verification of {reset.devices_revoked} device(s).")
        if trusted is not None:
            self.stdout.write(f"Trusted device {trusted.pk}: {trusted}.")
        self.stdout.write("Latest sign-ins (device ID, device, when, address):")
        for check in recent_sign_ins(user):
            device = check.device
            self.stdout.write(
                f"  {device.pk if device else '-':>6}  {device or 'no device token'}  "
                f"{check.created_at:%Y-%m-%d %H:%M:%S %Z}  {check.ip or '-'}"
            )

    @staticmethod
    def _user(users: Any, username: str) -> Any:
        try:
            return users.get_by_natural_key(username)
        except users.model.DoesNotExist:
            raise CommandError(f"No user {username!r}.") from None
