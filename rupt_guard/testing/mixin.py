"""``RuptGuardTestMixin``: the testing kit for unittest-style suites (Django's ``TestCase``).

One fake Rupt server per test class, the provider's settings pointed at it for the class,
and methods that sign a client in as verified, pending or blocked, or pass its challenge::

    class DashboardTests(RuptGuardTestMixin, TestCase):
        verified_force_login = True  # force_login() signs in past the gate here

        def test_dashboard(self):
            client = self.verified_client(self.user)
            self.assertEqual(client.get("/dashboard/").status_code, 200)
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.http import HttpResponseBase
from django.test import Client, override_settings

from rupt_guard.testing import clients
from rupt_guard.testing.fake_rupt import (
    FakeRupt,
    guard_settings_for,
    reset_for_test,
    start_fake_rupt,
    stop_fake_rupt,
)
from rupt_guard.testing.switch import verified_force_login

__all__ = ["RuptGuardTestMixin"]


class RuptGuardTestMixin:
    """Put before ``TestCase`` (or ``TransactionTestCase``) in the bases.

    ``fake_rupt`` is the class's fake Rupt, reset before each test. Set
    ``verified_force_login = True`` on the class to make every ``force_login()`` of its tests
    a verified sign-in.
    """

    verified_force_login: ClassVar[bool] = False
    fake_rupt: ClassVar[FakeRupt]

    @classmethod
    def setUpClass(cls) -> None:
        fake, server = start_fake_rupt()
        cls.addClassCleanup(stop_fake_rupt, server)  # type: ignore[attr-defined]
        cls.fake_rupt = fake
        pointed = override_settings(
            RUPT_GUARD=guard_settings_for(fake, getattr(settings, "RUPT_GUARD", {}))
        )
        pointed.enable()
        cls.addClassCleanup(pointed.disable)  # type: ignore[attr-defined]
        super().setUpClass()  # type: ignore[misc]

    def setUp(self) -> None:
        reset_for_test(self.fake_rupt)
        # Again for the test: Django applies a class's own @override_settings after
        # setUpClass pointed the provider, and a RUPT_GUARD there would unpoint it.
        self.enterContext(  # type: ignore[attr-defined]
            override_settings(RUPT_GUARD=guard_settings_for(self.fake_rupt, settings.RUPT_GUARD))
        )
        if self.verified_force_login:
            self.enterContext(verified_force_login())  # type: ignore[attr-defined]
        super().setUp()  # type: ignore[misc]

    def verified_client(self, user: Any, client: Client | None = None) -> Client:
        """A client signed in as ``user``, passed, from a device the user verified."""
        return clients.verified_sign_in(client or Client(), user, self.fake_rupt).client

    def pending_client(self, user: Any, client: Client | None = None) -> Client:
        """A client whose sign-in as ``user``, from a new device, waits at the challenge."""
        return clients.pending_sign_in(client or Client(), user, self.fake_rupt).client

    def blocked_client(self, user: Any, client: Client | None = None) -> Client:
        """A client whose sign-in as ``user`` was refused: its device is blocked."""
        return clients.blocked_sign_in(client or Client(), user, self.fake_rupt).client

    def sign_in(self, user: Any, client: Client | None = None, **kwargs: Any) -> clients.SignIn:
        """A sign-in through the gate, decided by the site's policy (``testing.sign_in``)."""
        return clients.sign_in(client or Client(), user, self.fake_rupt, **kwargs)

    def pass_challenge(self, client: Client, *, next: str | None = None) -> HttpResponseBase:
        """Complete ``client``'s pending challenge with a real code, as its user would."""
        return clients.pass_challenge(client, next=next)
