"""The same site tested unittest-style: Django's ``TestCase`` with ``RuptGuardTestMixin``."""

from django.contrib.auth import get_user_model
from django.test import TestCase

from rupt_guard.testing import RuptGuardTestMixin


class PrivatePageTests(RuptGuardTestMixin, TestCase):
    verified_force_login = True  # this class's force_login() signs in past the gate

    @classmethod
    def setUpTestData(cls):
        cls.user = get_user_model().objects.create_user(
            "demo", "demo@example.com", "demo-pass-2026"
        )

    def test_force_login_reaches_the_private_page(self):
        self.client.force_login(self.user)
        self.assertContains(self.client.get("/private/"), "Signed in as <strong>demo</strong>")

    def test_a_pending_sign_in_passes_its_challenge(self):
        client = self.pending_client(self.user)
        held = client.get("/private/")
        self.assertEqual(held.status_code, 302)
        self.assertTrue(held["Location"].startswith("/rupt-guard/challenge/"))
        self.pass_challenge(client)
        self.assertEqual(client.get("/private/").status_code, 200)

    def test_a_blocked_device_stays_signed_out(self):
        client = self.blocked_client(self.user)
        self.assertEqual(client.get("/private/").status_code, 302)
