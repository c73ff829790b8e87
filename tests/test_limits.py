"""Limits shared by every worker: wrong codes per account, sign-ins that reach the provider."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from rupt_guard.models import LoginCheck

from .conftest import PASSWORD

CHALLENGE = "/rupt-guard/challenge/"
API_LOGIN = "/api/rupt-guard/login/"
API_VERIFY = "/api/rupt-guard/challenge/verify/"

pytestmark = pytest.mark.django_db


def totp_now(device):
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def form_sign_in(browser, rupt_server, device):
    return browser.post(
        "/accounts/login/",
        {
            "username": "alice",
            "password": PASSWORD,
            "rupt_identification": rupt_server.identify(device),
        },
    )


class TestWrongCodes:
    @pytest.fixture
    def factor(self, user, rupt_server, guard_settings_override):
        guard_settings_override(WRONG_CODE_RATE="3/15m")
        return TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)

    def test_the_limit_is_per_account_across_sessions_and_surfaces(self, factor, rupt_server, user):
        html, api = Client(), APIClient()
        form_sign_in(html, rupt_server, "dev-a")
        response = api.post(
            API_LOGIN,
            {
                "username": "alice",
                "password": PASSWORD,
                "rupt_identification": rupt_server.identify("dev-b"),
            },
            format="json",
        )
        assert response.status_code == 202
        wrong = {"otp_device": factor.persistent_id, "otp_token": "000000"}
        for _ in range(2):
            assert html.post(CHALLENGE, wrong).status_code == 200
        refused = api.post(
            API_VERIFY, {"device": factor.persistent_id, "token": "000000"}, format="json"
        )
        assert refused.status_code == 400
        factor.refresh_from_db()
        failures_at_limit = factor.throttling_failure_count

        # The window is full: even the right code is refused, in both surfaces, with the
        # time left, and django-otp never reads it (the factor's own throttle stays put).
        right = {"otp_device": factor.persistent_id, "otp_token": totp_now(factor)}
        page = html.post(CHALLENGE, right)
        assert page.status_code == 200
        assert re.search(
            r"Too many wrong codes for this account\. Try again in \d+ minutes?\.",
            page.content.decode(),
        )
        locked = api.post(
            API_VERIFY, {"device": factor.persistent_id, "token": totp_now(factor)}, format="json"
        )
        assert locked.status_code == 429
        assert int(locked["Retry-After"]) > 0
        factor.refresh_from_db()
        assert factor.throttling_failure_count == failures_at_limit
        assert html.get("/private/")["Location"].startswith(CHALLENGE)

    def test_the_owners_verified_session_is_never_held(self, factor, rupt_server, user):
        owner = Client()
        form_sign_in(owner, rupt_server, "dev-owner")
        owner.post(CHALLENGE, {"otp_device": factor.persistent_id, "otp_token": totp_now(factor)})
        assert owner.get("/private/").status_code == 200

        attacker = Client()
        form_sign_in(attacker, rupt_server, "dev-attacker")
        for _ in range(5):
            attacker.post(CHALLENGE, {"otp_device": factor.persistent_id, "otp_token": "111111"})
        assert owner.get("/private/").status_code == 200
        # The owner's verified device still signs in at once: no code is asked.
        owner.post("/accounts/logout/")
        assert form_sign_in(owner, rupt_server, "dev-owner").status_code == 302
        assert owner.get("/private/").status_code == 200

    def test_no_limit_when_the_setting_is_none(self, factor, rupt_server, guard_settings_override):
        guard_settings_override(WRONG_CODE_RATE=None)
        browser = Client()
        form_sign_in(browser, rupt_server, "dev-a")
        for _ in range(4):
            browser.post(CHALLENGE, {"otp_device": factor.persistent_id, "otp_token": "222222"})
        TOTPDevice.objects.filter(pk=factor.pk).update(throttling_failure_count=0)
        right = {"otp_device": factor.persistent_id, "otp_token": totp_now(factor)}
        assert browser.post(CHALLENGE, right).status_code == 302


class TestSignInLimits:
    def test_form_sign_ins_per_account_stop_before_the_provider(
        self, user, rupt_server, guard_settings_override
    ):
        guard_settings_override(SIGN_IN_RATES={"account": "2/h", "address": None})
        browser = Client()
        for n in range(2):
            assert form_sign_in(browser, rupt_server, f"dev-{n}").status_code == 302
            browser.post("/accounts/logout/")
        completions = len(rupt_server.requests)
        refused = form_sign_in(browser, rupt_server, "dev-3")
        assert refused.status_code == 200  # the login form again, with its error
        assert "Too many sign-in attempts. Try again in" in refused.content.decode()
        assert len(rupt_server.requests) == completions  # the provider was not called
        assert "_auth_user_id" not in browser.session
        assert LoginCheck.objects.count() == 2

    def test_api_sign_ins_per_address_answer_429(self, user, rupt_server, guard_settings_override):
        from django.contrib.auth import get_user_model

        get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
        guard_settings_override(
            SIGN_IN_RATES={"account": None, "address": "2/h"},
            API_THROTTLE_RATES={"login": None, "login_account": None, "challenge": None},
        )
        api = APIClient()
        statuses = []
        for name in ("alice", "bob", "alice"):
            body = {
                "username": name,
                "password": PASSWORD,
                "rupt_identification": rupt_server.identify(),
            }
            statuses.append(api.post(API_LOGIN, body, format="json").status_code)
            api.logout()
        assert statuses == [202, 202, 429]
        assert len([r for r in rupt_server.requests if r.path.endswith("/complete")]) == 2

    def test_a_sign_in_without_a_token_never_counts(
        self, user, rupt_server, guard_settings_override
    ):
        guard_settings_override(SIGN_IN_RATES={"account": "1/h", "address": "1/h"})
        browser = Client()
        for _ in range(3):
            response = browser.post(
                "/accounts/login/",
                {"username": "alice", "password": PASSWORD, "rupt_identification": ""},
            )
            assert response.status_code == 302
            browser.post("/accounts/logout/")
