"""The testing kit (rupt_guard.testing): each fixture gives what it says, through the gate.

The suite's own fixtures (``user``, ``pass_challenge``) are the conftest's; the kit's are
reached by their own names (``fake_rupt``, ``rupt_sign_in``, ``verified_client``...) or
imported from ``rupt_guard.testing``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.core import mail
from django.test import Client, TestCase
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from rupt_guard.choices import ChallengeResult, Decision, Reason, TrustAction
from rupt_guard.gate.mark import read_mark
from rupt_guard.models import Device, LoginCheck, TrustEvent
from rupt_guard.testing import (
    RuptGuardTestMixin,
    SignInError,
    TestEnvironmentRequired,
    login_pending,
    login_verified,
    pass_challenge,
    sign_in,
    verified_force_login,
)

ROOT = Path(__file__).resolve().parent.parent
PRIVATE = "/private/"  # tests/urls.py: a login_required page behind the gate


def signed_in_as(client: Client, user) -> bool:
    """What a page behind the gate shows: the request's user is this user."""
    response = client.get(PRIVATE)
    return response.status_code == 200 and response.content.decode().endswith(f" {user.username}")


def held_at_challenge(client: Client) -> bool:
    response = client.get(PRIVATE)
    return response.status_code == 302 and response["Location"].startswith("/rupt-guard/challenge/")


def test_the_private_page_shows_who_is_signed_in(client, user):
    login_verified(client, user)
    assert signed_in_as(client, user)


# -- the fixtures ----------------------------------------------------------------------------


def test_fake_rupt_points_the_provider_at_the_loopback_server(fake_rupt, settings):
    assert settings.RUPT_GUARD["API_BASE_URL"] == fake_rupt.url
    assert fake_rupt.url.startswith("http://127.0.0.1:")
    assert settings.RUPT_GUARD["PROVIDER"] == "rupt"


def test_verified_client_passed_the_gate_from_a_verified_device(verified_client, fake_rupt):
    user = LoginCheck.objects.get().user
    assert signed_in_as(verified_client, user)
    check = LoginCheck.objects.get()
    assert check.decision == Decision.CHALLENGE  # a new device, so the policy asked...
    assert check.challenge_result == ChallengeResult.PASSED  # ...and a code answered it
    device = Device.objects.get(user=user)
    assert device.is_verified and not device.is_blocked
    assert device.verification_method == "email"
    # Rupt was asked, as a sign-in asks it: the completion of a real token.
    assert any(seen.path.endswith("/complete") for seen in fake_rupt.requests)
    assert mail.outbox == []  # the code and "new device" emails were the kit's own


def test_pending_client_waits_at_the_challenge(pending_client):
    assert held_at_challenge(pending_client)
    check = LoginCheck.objects.get()
    assert (check.decision, check.reason) == (Decision.CHALLENGE, Reason.NEW_DEVICE)
    assert check.challenge_result == ChallengeResult.PENDING
    assert not Device.objects.get().is_verified


def test_blocked_client_was_refused_and_stays_signed_out(blocked_client):
    response = blocked_client.get(PRIVATE)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    device = Device.objects.get()
    assert device.is_blocked
    assert TrustEvent.objects.filter(action=TrustAction.DEVICE_BLOCKED, device=device).exists()
    refused = LoginCheck.objects.order_by("-pk").first()
    assert (refused.decision, refused.reason) == (Decision.BLOCK, Reason.BLOCKED_DEVICE)


def test_rupt_sign_in_signs_in_another_user_and_names_the_device(rupt_sign_in, user):
    signed = rupt_sign_in("verified", user=user)
    assert signed_in_as(signed.client, user)
    assert signed.device.is_verified
    # The same device again: the policy allows it with no question.
    again = rupt_sign_in(None, user=user, device=signed.device_id)
    assert again.check.decision == Decision.ALLOW
    assert signed_in_as(again.client, user)


def test_the_kits_pass_challenge_completes_a_pending_sign_in_with_an_emailed_code(
    rupt_sign_in, user, mailoutbox
):
    from rupt_guard.testing.clients import pass_challenge as kit_pass_challenge

    pending = rupt_sign_in("pending", user=user)
    response = kit_pass_challenge(pending.client, next="/private/")
    assert response.status_code == 302 and response["Location"] == "/private/"
    assert signed_in_as(pending.client, user)
    assert any(user.email in message.to for message in mailoutbox)  # the code went there
    pending.check.refresh_from_db()
    assert pending.check.challenge_result == ChallengeResult.PASSED


def test_pass_challenge_uses_an_authenticator_app_when_the_user_has_one(rupt_sign_in, user):
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    pending = rupt_sign_in("pending", user=user)
    pass_challenge(pending.client)
    assert signed_in_as(pending.client, user)
    assert pending.device.verification_method == "totp"


def test_pass_challenge_uses_a_backup_code_as_a_last_resort(rupt_sign_in, user):
    codes = StaticDevice.objects.create(user=user, name="backup", confirmed=True)
    codes.token_set.create(token="abcd1234")
    pending = rupt_sign_in("pending", user=user)
    pass_challenge(pending.client)
    assert signed_in_as(pending.client, user)
    assert not codes.token_set.exists()  # the code was used, as a person uses it


def test_pass_challenge_refuses_a_client_with_nothing_pending(client, user):
    login_verified(client, user)
    with pytest.raises(SignInError, match="no pending sign-in"):
        pass_challenge(client)


def test_pending_sign_in_says_so_when_the_policy_does_not_challenge(
    rupt_sign_in, guard_settings_override
):
    guard_settings_override(ON_NEW_DEVICE="allow")
    with pytest.raises(SignInError, match="not a challenge"):
        rupt_sign_in("pending")


def test_a_sign_in_from_the_same_device_follows_the_policy(fake_rupt, user):
    first = sign_in(Client(), user, fake_rupt)
    assert first.check.decision == Decision.CHALLENGE
    assert held_at_challenge(first.client)


def test_login_pending_and_login_verified_still_work(client, user):
    login_pending(client, user)
    assert held_at_challenge(client)
    login_verified(client, user)
    assert signed_in_as(client, user)


# -- the force_login switch ------------------------------------------------------------------


def test_force_login_is_challenged_without_the_switch(client, user):
    client.force_login(user)
    assert held_at_challenge(client)


def test_the_switch_fixture_makes_force_login_verified(verified_force_login, client, user):
    client.force_login(user)
    assert signed_in_as(client, user)
    assert LoginCheck.objects.count() == 0  # no check: a test's sign-in, not a real one


def test_the_switch_covers_only_force_login_not_the_login_form(
    verified_force_login, client, user, rupt_server
):
    response = client.post(
        "/accounts/login/",
        {
            "username": user.username,
            "password": "correct horse battery staple",
            "rupt_identification": rupt_server.identify(),
        },
    )
    assert response.status_code == 302
    assert held_at_challenge(client)  # a real sign-in is still checked


def test_the_switch_is_off_again_after_its_block(client, user):
    from django.test.client import ClientMixin

    original = ClientMixin.force_login
    with verified_force_login(), verified_force_login():
        assert ClientMixin.force_login is not original
    assert ClientMixin.force_login is original
    client.force_login(user)
    assert held_at_challenge(client)


def test_the_switch_makes_aforce_login_verified_too(user):
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    client = AsyncClient()
    with verified_force_login():
        async_to_sync(client.aforce_login)(user)
    response = async_to_sync(client.get)(PRIVATE)
    assert response.status_code == 200


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    environ.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environ,
        cwd=ROOT,
        timeout=120,
    )


def test_the_switch_refuses_to_start_outside_a_test_environment():
    """A production process (Django set up, no test environment) cannot turn it on."""
    result = run_python(
        """
        import django
        django.setup()
        from rupt_guard.testing import TestEnvironmentRequired, verified_force_login
        try:
            with verified_force_login():
                print("switched on")
        except TestEnvironmentRequired:
            print("refused")
        """,
        DJANGO_SETTINGS_MODULE="tests.settings",
    )
    assert result.stdout.strip() == "refused", result.stderr


def test_every_public_name_of_the_kit_imports():
    import rupt_guard.testing as kit

    assert all(callable(getattr(kit, name)) for name in kit.__all__)
    assert issubclass(TestEnvironmentRequired, RuntimeError)
    with pytest.raises(AttributeError):
        kit.no_such_name  # noqa: B018


# -- the plugin in a pytest run without Django settings --------------------------------------


def run_pytest(
    tmp_path: Path, *args: str, ini_written: bool = False
) -> subprocess.CompletedProcess:
    # The child's test database is SQLite's in memory: on PostgreSQL it would create and
    # then drop the very test database this run is using.
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "RUPT_GUARD_TEST_DB": "sqlite"}
    for name in ("DJANGO_SETTINGS_MODULE", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        environ.pop(name, None)
    if not ini_written:
        (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not the project's ini
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=tmp_path,
        timeout=120,
    )


def plugin_args() -> list[str]:
    """The plugin by its module unless this install registers it by its entry point."""
    from importlib.metadata import entry_points

    registered = any(
        ep.value == "rupt_guard.testing.plugin" for ep in entry_points(group="pytest11")
    )
    return [] if registered else ["-p", "rupt_guard.testing.plugin"]


def test_the_plugin_loads_in_a_pytest_run_without_django_settings(tmp_path):
    (tmp_path / "test_plain.py").write_text(
        textwrap.dedent(
            """
            import sys

            def test_nothing_of_django_was_configured():
                from django.conf import settings
                assert not settings.configured
                assert "rupt_guard.testing.plugin" in sys.modules
                assert "rupt_guard.models" not in sys.modules
            """
        )
    )
    result = run_pytest(tmp_path, *plugin_args(), "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout

    listed = run_pytest(tmp_path, *plugin_args(), "--fixtures", "-q")
    for fixture in ("fake_rupt", "verified_client", "pending_client", "blocked_client"):
        assert fixture in listed.stdout
    assert "pass_challenge" in listed.stdout and "verified_force_login" in listed.stdout


def test_the_project_declares_the_pytest11_entry_point():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"rupt_guard": "rupt_guard.testing.plugin"}


# -- the TestCase mixin ----------------------------------------------------------------------


class MixinTests(RuptGuardTestMixin, TestCase):
    verified_force_login = True

    @classmethod
    def setUpTestData(cls):
        from django.contrib.auth import get_user_model

        cls.user = get_user_model().objects.create_user("bob", "bob@example.com", "pw-bob-2026")

    def test_the_class_has_its_fake_rupt_and_the_provider_points_at_it(self):
        from django.conf import settings

        self.assertEqual(settings.RUPT_GUARD["API_BASE_URL"], self.fake_rupt.url)

    def test_force_login_is_verified_in_this_class(self):
        self.client.force_login(self.user)
        self.assertTrue(signed_in_as(self.client, self.user))

    def test_clients_in_each_state(self):
        self.assertTrue(signed_in_as(self.verified_client(self.user), self.user))
        self.assertTrue(held_at_challenge(self.pending_client(self.user)))
        blocked = self.blocked_client(self.user)
        self.assertEqual(blocked.get(PRIVATE).status_code, 302)
        self.assertTrue(Device.objects.filter(user=self.user, blocked_at__isnull=False).exists())

    def test_pass_challenge(self):
        client = self.pending_client(self.user)
        response = self.pass_challenge(client, next="/private/")
        self.assertEqual(response["Location"], "/private/")
        self.assertFalse(read_mark(client.session).pending)
        self.assertTrue(signed_in_as(client, self.user))


def test_the_ini_option_turns_the_switch_on_for_every_test(tmp_path):
    """A site's suite full of force_login() keeps working with one line of configuration;
    the login form of the same run is still checked."""
    (tmp_path / "test_site.py").write_text(
        textwrap.dedent(
            """
            def test_force_login_reaches_a_page_behind_the_gate(client, django_user_model):
                user = django_user_model.objects.create_user("carol", "c@example.com", "pw")
                client.force_login(user)
                assert client.get("/private/").status_code == 200

            def test_the_login_form_is_still_checked(client, django_user_model):
                django_user_model.objects.create_user("dan", "d@example.com", "pw-dan")
                client.post("/accounts/login/", {"username": "dan", "password": "pw-dan"})
                assert client.get("/private/").status_code == 302
            """
        )
    )
    ini = "[pytest]\nDJANGO_SETTINGS_MODULE = tests.settings\n"
    (tmp_path / "pytest.ini").write_text(ini + "rupt_guard_verified_force_login = true\n")
    result = run_pytest(tmp_path, *plugin_args(), "-q", ini_written=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout

    (tmp_path / "pytest.ini").write_text(ini)  # without it, force_login is challenged
    result = run_pytest(tmp_path, *plugin_args(), "-q", ini_written=True)
    assert "1 failed, 1 passed" in result.stdout, result.stdout
