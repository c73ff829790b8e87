"""Hostile review of issue #15's two parts: the async gate and the testing kit.

Each test is what a site observes; each failed on main before its fix (or is a strict xfail
naming the line at fault).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest
from django.conf import settings
from django.test import TestCase, override_settings

from rupt_guard.gate.mark import read_mark
from rupt_guard.testing import RuptGuardTestMixin

from .test_testing_kit import PRIVATE, ROOT, plugin_args, run_pytest

# -- the kit's state must not leak from one test of a site's suite to the next --------------

SITE_INI = "[pytest]\nDJANGO_SETTINGS_MODULE = tests.settings\n"


def test_a_site_suite_of_many_signed_in_tests_does_not_run_into_sign_in_rates(tmp_path):
    """Every ``verified_client`` is a sign-in of the same user from 127.0.0.1. Counted
    against ``SIGN_IN_RATES`` (20 an hour per account) in a cache no one clears between a
    site's tests, the 21st test of the suite errors ("wrote no LoginCheck"), and with a
    shared cache (Redis) the next run within the hour fails from its first test."""
    (tmp_path / "test_site.py").write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.parametrize("n", range(25))
            def test_private_page(verified_client, n):
                assert verified_client.get("/private/").status_code == 200
            """
        )
    )
    (tmp_path / "pytest.ini").write_text(SITE_INI)
    result = run_pytest(tmp_path, *plugin_args(), "-q", ini_written=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "25 passed" in result.stdout


def test_an_open_circuit_breaker_does_not_outlive_the_test_that_opened_it(tmp_path):
    """The fake's fault injection is a documented feature: a site's test of an outage opens
    rupt_guard's circuit breaker (state in the shared cache). The next test's fake Rupt is
    reset, yet its sign-ins never reach it: the breaker is still open."""
    (tmp_path / "test_site.py").write_text(
        textwrap.dedent(
            """
            from rupt_guard.providers import breaker

            def test_1_an_outage(fake_rupt, rupt_sign_in):
                for _ in range(20):
                    fake_rupt.fail_next(503)
                for _ in range(6):
                    rupt_sign_in(None)
                assert breaker.status().state == breaker.State.OPEN

            def test_2_a_blocked_device(blocked_client, fake_rupt):
                assert blocked_client.get("/private/").status_code == 302
                assert fake_rupt.requests  # the sign-ins reached the fake
            """
        )
    )
    (tmp_path / "pytest.ini").write_text(SITE_INI)
    result = run_pytest(tmp_path, *plugin_args(), "-q", "-p", "no:randomly", ini_written=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout


# -- the mixin under a site's own class-level override_settings ------------------------------


@override_settings(RUPT_GUARD={**settings.RUPT_GUARD, "ON_NEW_DEVICE": "challenge"})
class MixinUnderClassOverrideTests(RuptGuardTestMixin, TestCase):
    """A site tunes the policy for a class, as Django's docs show. Django applies the class's
    override in ``SimpleTestCase.setUpClass``, after the mixin pointed the provider at the
    fake: the site's own provider settings come back (here nothing listens; on a site, the
    real Rupt API with the site's test keys)."""

    @classmethod
    def setUpTestData(cls):
        from django.contrib.auth import get_user_model

        cls.user = get_user_model().objects.create_user("erin", "erin@example.com", "pw-erin-26")

    def test_the_provider_still_points_at_the_fake(self):
        self.assertEqual(settings.RUPT_GUARD["API_BASE_URL"], self.fake_rupt.url)
        self.assertEqual(settings.RUPT_GUARD["ON_NEW_DEVICE"], "challenge")  # the site's kept

    def test_a_pending_client_is_held_at_the_challenge(self):
        client = self.pending_client(self.user)
        self.assertTrue(read_mark(client.session).pending)
        self.assertEqual(client.get(PRIVATE).status_code, 302)
        self.assertTrue(self.fake_rupt.requests)


# -- the mixin under Django's own test runner --------------------------------------------------


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="the demo's tests use its own database, SQLite: they run in the SQLite pass",
)
@pytest.mark.parametrize("parallel", ["1", "2"])
def test_the_demo_sites_unittest_tests_run_under_manage_py_test(parallel):
    """docs/testing.md's unittest story is ``manage.py test``. Django's runner turns DEBUG
    off before it runs the system checks, so rupt_guard.E009 refused the test settings' own
    LocMemCache (Django's default cache) and not one test ran, in the demo site as in any
    site whose test settings keep the default cache."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("DJANGO_SETTINGS_MODULE", "RUPT_CLIENT_ID", "RUPT_API_SECRET"):
        env.pop(name, None)
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "test",
            "tests",  # by directory: rupt_guard's own tests package is on the path too
            "--pattern",
            "test_private_page_unittest.py",
            "--parallel",
            parallel,
            "--noinput",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT / "example_project",
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"Ran [1-9]\d* tests", result.stderr), result.stderr[-2000:]
    assert "\nOK" in result.stderr


# -- pass_challenge with an authenticator app, twice in a row --------------------------------


def test_two_sign_ins_of_an_authenticator_app_user_in_one_time_step_both_pass(rupt_sign_in, user):
    """django-otp refuses a TOTP code of a time step already used (``last_t``), as it
    should. The kit answered every challenge with the current step's code, so a test's
    second verified sign-in of the same user within 30 seconds was refused (and counted as
    a wrong code against the account)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    first = rupt_sign_in("verified", user=user)
    second = rupt_sign_in("verified", user=user)
    for signed in (first, second):
        assert signed.client.get(PRIVATE).status_code == 200
        assert signed.device.verification_method == "totp"
