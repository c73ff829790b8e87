"""Rupt in production, part 1: the browser's reason for no token, the SDK's options and
sources, and the checks that say why every sign-in is challenged."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.template import Context, Template
from django.test import RequestFactory
from rest_framework.test import APIClient

from rupt_guard.choices import Reason, TokenError
from rupt_guard.csp import csp_sources
from rupt_guard.models import LoginCheck
from rupt_guard.testing import login_verified

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db


def check_ids():
    return {m.id for m in run_checks() if m.id.startswith("rupt_guard")}


class TestTheBrowsersReason:
    @pytest.mark.parametrize("reason", TokenError.values)
    def test_a_known_reason_is_recorded_with_the_missing_token(self, client, user, reason):
        client.post(
            "/accounts/login/",
            {
                "username": "alice",
                "password": PASSWORD,
                "rupt_identification": "",
                "rupt_identification_error": reason,
            },
        )
        check = LoginCheck.objects.get()
        assert (check.reason, check.token_error) == (Reason.MISSING_TOKEN, reason)

    @pytest.mark.parametrize("garbage", ["x" * 5000, "<script>", "Timeout", "timeout\x00"])
    def test_anything_else_is_dropped_never_refused(self, client, user, garbage):
        response = client.post(
            "/accounts/login/",
            {
                "username": "alice",
                "password": PASSWORD,
                "rupt_identification": "",
                "rupt_identification_error": garbage,
            },
        )
        assert response.status_code == 302  # the sign-in goes on (and is challenged)
        assert LoginCheck.objects.get().token_error == ""

    def test_a_reason_beside_a_token_is_ignored(self, client, user, rupt_server):
        client.post(
            "/accounts/login/",
            {
                "username": "alice",
                "password": PASSWORD,
                "rupt_identification": rupt_server.identify(),
                "rupt_identification_error": "timeout",
            },
        )
        check = LoginCheck.objects.get()
        assert (check.reason, check.token_error) == (Reason.NEW_DEVICE, "")

    def test_the_reason_never_changes_the_decision(self, client, user, guard_settings_override):
        guard_settings_override(ON_MISSING_TOKEN="block")
        client.post(
            "/accounts/login/",
            {
                "username": "alice",
                "password": PASSWORD,
                "rupt_identification_error": "sdk_unavailable",
            },
        )
        assert LoginCheck.objects.get().decision == "block"

    def test_the_api_records_it_too(self, user, rupt_server):
        api = APIClient()
        body = {
            "username": "alice",
            "password": PASSWORD,
            "rupt_identification_error": "identify_error",
        }
        assert api.post("/api/rupt-guard/login/", body, format="json").status_code == 202
        assert LoginCheck.objects.get().token_error == "identify_error"


class TestTheTag:
    def render(self):
        request = RequestFactory().get("/accounts/login/")
        return Template("{% load rupt_guard %}{% rupt_guard_identify %}").render(
            Context({"request": request})
        )

    def test_sdk_options_are_rendered_only_when_set(self, rupt_server, guard_settings_override):
        html = self.render()
        assert 'name="rupt_identification_error"' in html and "data-rupt-guard-error" in html
        assert "data-domain" not in html and "data-tolerance" not in html
        assert "data-sdk-integrity" not in html
        guard_settings_override(
            DOMAIN="rupt.example.com", TOLERANCE="strict", SDK_INTEGRITY="sha384-abc"
        )
        html = self.render()
        assert 'data-domain="rupt.example.com"' in html
        assert 'data-tolerance="strict"' in html
        assert 'data-sdk-integrity="sha384-abc"' in html

    @pytest.mark.parametrize(
        ("key", "value"), [("TOLERANCE", "paranoid"), ("DOMAIN", "https://rupt.example.com/x")]
    )
    def test_bad_sdk_options_are_a_check_error(
        self, rupt_server, guard_settings_override, key, value
    ):
        guard_settings_override(**{key: value})
        assert "rupt_guard.E002" in check_ids()


class TestSources:
    def test_csp_sources_name_the_sdk_and_its_api(self):
        assert csp_sources() == {
            "script-src": ["https://cdn.rupt.dev"],
            "connect-src": ["https://api.rupt.dev"],
        }
        assert csp_sources("https://unpkg.com/rupt@2.24.1/index.js", "rupt.example.com") == {
            "script-src": ["https://unpkg.com"],
            "connect-src": ["https://rupt.example.com"],
        }

    @pytest.mark.parametrize(
        ("url", "warned"),
        [
            ("https://cdn.rupt.dev/js/rupt.js", False),
            ("https://unpkg.com/rupt@latest/index", False),
            ("https://unpkg.com/rupt@2.24.1/index.js", False),
            ("https://unpkg.com/rupt@2.24.1", True),  # the package's main: index.mjs
            ("https://cdn.jsdelivr.net/npm/rupt@2.24.1/index.mjs", True),
            ("https://cdn.jsdelivr.net/npm/rupt@2.24.1", True),  # jsDelivr's bare package
            ("https://cdn.jsdelivr.net/npm/rupt@2.24.1/index.js", False),
            ("https://cdn.example.com/rupt/common.cjs", True),
        ],
    )
    def test_a_module_build_of_the_sdk_is_flagged(self, settings, url, warned):
        settings.RUPT_GUARD = {"API_SECRET": "s", "CLIENT_ID": "c", "SDK_URL": url}
        assert ("rupt_guard.W012" in check_ids()) is warned

    def test_a_django_csp_policy_without_the_api_is_flagged(self, settings):
        settings.RUPT_GUARD = {"API_SECRET": "s", "CLIENT_ID": "c"}
        settings.MIDDLEWARE = [*settings.MIDDLEWARE, "csp.middleware.CSPMiddleware"]
        settings.CONTENT_SECURITY_POLICY = {
            "DIRECTIVES": {
                "default-src": ["'self'"],
                "script-src": ["'self'", "https://cdn.rupt.dev"],
            }
        }
        (warning,) = [m for m in run_checks() if m.id == "rupt_guard.W013"]
        assert "connect-src https://api.rupt.dev" in warning.msg
        sources = csp_sources()
        settings.CONTENT_SECURITY_POLICY = {
            "DIRECTIVES": {
                "default-src": ["'self'"],
                "script-src": ["'self'", *sources["script-src"]],
                "connect-src": ["'self'", *sources["connect-src"]],
            }
        }
        assert "rupt_guard.W013" not in check_ids()


def make_checks(user, count, reason, token_error=""):
    LoginCheck.objects.bulk_create(
        LoginCheck(
            user=user, source="form", decision="challenge", reason=reason, token_error=token_error
        )
        for _ in range(count)
    )


def test_the_admin_shows_the_missing_token_rate_by_reason(client, user, db):
    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    login_verified(client, staff)
    make_checks(user, 3, Reason.MISSING_TOKEN, "sdk_unavailable")
    make_checks(user, 1, Reason.MISSING_TOKEN, "identify_error")
    make_checks(user, 4, Reason.NEW_DEVICE)
    page = client.get("/admin/rupt_guard/logincheck/").content.decode()
    assert "Last 24 hours: 8 sign-ins, 4 without an identification token." in page
    assert "SDK could not load (blocked, CSP, network)</td><td>3</td>" in page
    assert "identify() answered an error (client id?)</td><td>1</td>" in page


def test_rupt_guard_check_warns_when_most_sign_ins_carry_no_token(user, rupt_server):
    make_checks(user, 9, Reason.MISSING_TOKEN, "identify_error")
    make_checks(user, 3, Reason.NEW_DEVICE)
    out = StringIO()
    call_command("rupt_guard_check", "--skip-live", stdout=out, stderr=StringIO())
    line = next(line for line in out.getvalue().splitlines() if "recent sign-ins" in line)
    assert line.startswith("WARN")
    assert "9 of 12 in 24 h came without a token" in line
    assert "identify() answered an error (client id?): 9" in line
    assert "CLIENT_ID" in line
    # With DEBUG off, runserver does not serve the script: every sign-in lacks a token.
    assert "rupt_guard/identify.js is served" in line
