"""Create (or reset) the demo user and say how to sign in."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

USERNAME = "demo"
PASSWORD = "demo-pass-2026"
EMAIL = "demo@example.com"


class Command(BaseCommand):
    help = "Create the demo user (and a staff user for the admin) with known passwords."

    def handle(self, *args, **options):
        users = get_user_model()
        demo, _ = users.objects.get_or_create(username=USERNAME, defaults={"email": EMAIL})
        demo.email = EMAIL
        demo.is_staff = True
        demo.is_superuser = True
        demo.set_password(PASSWORD)
        demo.save()
        self.stdout.write(f"Demo user: {USERNAME} / {PASSWORD} ({EMAIL}), also an admin.")
