"""The consent hook: ``CONSENT`` decides on the server whether a device is identified; when it
says no, nothing reaches the provider and ``ON_NO_CONSENT`` decides the sign-in."""

from __future__ import annotations

import logging

import pytest
from django.core.checks import WARNING, run_checks
from django.template import Context, Template
from django.test import RequestFactory
from rest_framework.test import APIClient

from rupt_guard.choices import CheckSource, Decision, Reason
from rupt_guard.gate.consent import consent_given
from rupt_guard.models import Device, LoginCheck

from .conftest import PASSWORD
from .test_login_flow import outcome_of

pytestmark = pytest.mark.django_db

API_LOGIN = "/api/rupt-guard/login/"


def refuse(request):
    return False


def agree(request):
    return True


def by_cookie(request):
    """A site's banner: identification only once the visitor said yes."""
    return request.COOKIES.get("consent") == "yes"


def broken(request):
    raise RuntimeError("the consent store is down")


@pytest.fixture
def consent(rupt_server, guard_settings_override):
    """Set ``CONSENT`` to one of this module's callables (and any other keys)."""

    def set_consent(name, **values):
        guard_settings_override(CONSENT=f"tests.test_consent.{name}", **values)

    return set_consent


def provider_calls(rupt_server):
    return [seen for seen in rupt_server.requests if "/identification/" in seen.path]


def test_no_consent_setting_means_always(rupt_server):
    assert consent_given(RequestFactory().get("/")) is True


def test_refused_consent_is_recorded_and_the_provider_is_never_asked(
    consent, user, login, rupt_server, client
):
    consent("refuse")
    # A token posted anyway (a stale page, a hand-made request) is not used.
    response = login(token=rupt_server.identify("dev-posted"))
    assert outcome_of(response, client) == "challenge"
    assert provider_calls(rupt_server) == []
    check = LoginCheck.objects.get()
    assert (check.reason, check.decision) == (Reason.NO_CONSENT, Decision.CHALLENGE)
    assert check.device is None and check.access_id == "" and check.provider_ms is None
    assert not Device.objects.exists()


def test_the_browser_cannot_claim_a_reason_for_no_token_without_consent(
    consent, user, login, rupt_server
):
    consent("refuse")
    login(token=None, rupt_identification_error="identify_error")
    assert LoginCheck.objects.get().token_error == ""


def test_consent_given_identifies_as_before(consent, user, login, rupt_server, client):
    consent("agree")
    assert outcome_of(login(device="dev-new"), client) == "challenge"
    assert len(provider_calls(rupt_server)) == 1
    assert LoginCheck.objects.get().reason == Reason.NEW_DEVICE


def test_consent_is_decided_per_request(consent, user, login, rupt_server, client):
    consent("by_cookie")
    login()
    client.cookies["consent"] = "yes"
    client.post("/accounts/logout/")
    login()
    reasons = list(LoginCheck.objects.order_by("pk").values_list("reason", flat=True))
    assert reasons == [Reason.NO_CONSENT, Reason.NEW_DEVICE]
    assert len(provider_calls(rupt_server)) == 1


@pytest.mark.parametrize("action", ["allow", "challenge", "block"])
def test_on_no_consent_decides(consent, user, login, rupt_server, client, action):
    consent("refuse", ON_NO_CONSENT=action, ACCEPTED_RISKS=["ON_NO_CONSENT"])
    assert outcome_of(login(token=None), client) == action
    check = LoginCheck.objects.get()
    assert (check.reason, check.decision) == (Reason.NO_CONSENT, action)


def test_on_no_consent_leaves_the_missing_token_rule_alone(consent, user, login, client):
    consent("agree", ON_NO_CONSENT="allow", ACCEPTED_RISKS=["ON_NO_CONSENT"])
    assert outcome_of(login(token=None), client) == "challenge"
    assert LoginCheck.objects.get().reason == Reason.MISSING_TOKEN


def test_missing_token_does_not_decide_a_refused_consent(consent, user, login, client):
    consent(
        "refuse", ON_MISSING_TOKEN="allow", ACCEPTED_RISKS=["ON_MISSING_TOKEN"]
    )  # the default ON_NO_CONSENT, "challenge", still decides
    assert outcome_of(login(token=None), client) == "challenge"
    assert LoginCheck.objects.get().reason == Reason.NO_CONSENT


def test_a_raising_callable_refuses_and_is_logged(consent, user, login, client, caplog):
    consent("broken")
    with caplog.at_level(logging.ERROR, logger="rupt_guard.gate.consent"):
        page = client.get("/accounts/login/")
        response = login(token=None)
    assert page.status_code == 200 and b"data-rupt-guard-field" not in page.content
    assert outcome_of(response, client) == "challenge"
    assert LoginCheck.objects.get().reason == Reason.NO_CONSENT
    assert any("CONSENT" in record.getMessage() for record in caplog.records)


def rupt_guard_checks():
    return {
        message.id
        for message in run_checks()
        if message.id.startswith("rupt_guard") and message.level >= WARNING
    }


def test_allowing_a_refused_consent_needs_an_acknowledgement(settings):
    base = {"API_SECRET": "s", "CLIENT_ID": "c", "CONSENT": "tests.test_consent.refuse"}
    settings.RUPT_GUARD = base
    assert rupt_guard_checks() == set()
    settings.RUPT_GUARD = {**base, "ON_NO_CONSENT": "allow"}
    assert rupt_guard_checks() == {"rupt_guard.E010"}
    (error,) = [m for m in run_checks() if m.id == "rupt_guard.E010"]
    assert "ON_NO_CONSENT" in error.msg and "decline consent" in error.msg
    settings.RUPT_GUARD = {**base, "ON_NO_CONSENT": "allow", "ACCEPTED_RISKS": ["ON_NO_CONSENT"]}
    assert rupt_guard_checks() == set()


class TestTheTag:
    def render(self, request):
        return Template("{% load rupt_guard %}{% rupt_guard_identify %}").render(
            Context({"request": request})
        )

    def test_nothing_is_rendered_without_consent(self, consent):
        consent("by_cookie")
        request = RequestFactory().get("/accounts/login/")
        assert self.render(request) == ""
        request.COOKIES["consent"] = "yes"
        html = self.render(request)
        assert "identify.js" in html and 'name="rupt_identification"' in html

    def test_the_login_page_has_no_script_and_no_field(self, consent, client):
        consent("refuse")
        page = client.get("/accounts/login/").content.decode()
        assert "<script" not in page and "rupt_identification" not in page


class TestTheApi:
    def test_the_client_config_says_whether_to_identify(self, consent):
        api = APIClient()
        assert api.get(API_LOGIN).json()["identify"] is True
        consent("by_cookie")
        assert api.get(API_LOGIN).json()["identify"] is False
        api.cookies["consent"] = "yes"
        assert api.get(API_LOGIN).json()["identify"] is True

    def test_an_api_sign_in_without_consent(self, consent, user, rupt_server):
        consent("refuse")
        body = {
            "username": "alice",
            "password": PASSWORD,
            "rupt_identification": rupt_server.identify("dev-api"),
        }
        response = APIClient().post(API_LOGIN, body, format="json")
        assert response.status_code == 202
        assert provider_calls(rupt_server) == []
        check = LoginCheck.objects.get()
        assert (check.source, check.reason) == (CheckSource.API, Reason.NO_CONSENT)
