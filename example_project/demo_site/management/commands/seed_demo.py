"""Create (or reset) the demo user and say how to sign in."""

import base64
import io

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django_otp.plugins.otp_totp.models import TOTPDevice

USERNAME = "demo"
PASSWORD = "demo-pass-2026"
EMAIL = "demo@example.com"


class Command(BaseCommand):
    help = "Create the demo user (an admin too) with a known password and email address."

    def add_arguments(self, parser):
        parser.add_argument("--totp", action="store_true", help="also give it a TOTP device")
        parser.add_argument(
            "--migrate", action="store_true", help="first apply the migrations not applied yet"
        )

    def handle(self, *args, totp=False, migrate=False, **options):
        if migrate and self.unapplied_migrations():
            call_command("migrate", verbosity=0)
        users = get_user_model()
        demo, _ = users.objects.get_or_create(username=USERNAME)
        # Reset what the demo promises, writing only when something differs.
        if not (
            demo.email == EMAIL
            and demo.is_staff
            and demo.is_superuser
            and demo.check_password(PASSWORD)
        ):
            demo.email = EMAIL
            demo.is_staff = demo.is_superuser = True
            demo.set_password(PASSWORD)
            demo.save()
        self.stdout.write(f"Demo user: {USERNAME} / {PASSWORD} ({EMAIL}), also an admin.")
        if totp:
            device, _ = TOTPDevice.objects.get_or_create(
                user=demo, name="Demo authenticator", defaults={"confirmed": True}
            )
            secret = base64.b32encode(device.bin_key).decode()
            self.stdout.write(f"TOTP secret (add it to an authenticator app): {secret}")
            self.stdout.write(f"  or scan: {device.config_url}")
            self.print_qr(device.config_url)

    @staticmethod
    def unapplied_migrations():
        """The plan ``migrate`` would run: empty on every run after the first."""
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        return executor.migration_plan(executor.loader.graph.leaf_nodes())

    def print_qr(self, url):
        # The demo extra brings qrcode, so a phone can scan the authenticator straight
        # from the terminal.
        try:
            import qrcode
        except ImportError:
            return
        code = qrcode.QRCode(border=1)
        code.add_data(url)
        drawing = io.StringIO()
        code.print_ascii(out=drawing, invert=True)
        self.stdout.write(drawing.getvalue(), ending="")
