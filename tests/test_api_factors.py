"""The REST API's second factors: list, step-up, enrol an app, backup codes, remove, and each
new factor then passes an API challenge."""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.auth import get_user_model
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from rupt_guard.choices import TrustAction
from rupt_guard.models import TrustEvent

from .conftest import PASSWORD
from .factors_kit import age_factor, code_for

API = "/api/rupt-guard/"
pytestmark = pytest.mark.django_db


def code_from(mailoutbox):
    return re.search(r"\b(\d{6})\b", mailoutbox[-1].body).group(1)


def sign_in(api, rupt_server, device):
    body = {
        "username": "alice",
        "password": PASSWORD,
        "rupt_identification": rupt_server.identify(device),
    }
    return api.post(f"{API}login/", body, format="json")


@pytest.fixture
def api(user, rupt_server, mailoutbox):
    """Signed in through the API and confirmed just now with an email code."""
    client = APIClient()
    response = sign_in(client, rupt_server, "spa")
    (method,) = response.json()["challenge"]["methods"]
    client.post(f"{API}challenge/send/", {"device": method["device"]}, format="json")
    done = client.post(
        f"{API}challenge/verify/",
        {"device": method["device"], "token": code_from(mailoutbox)},
        format="json",
    )
    assert done.status_code == 200
    return client


def enrol(api, name="Phone"):
    offered = api.post(f"{API}factors/totp/", format="json")
    assert offered.status_code == 200
    secret = offered.json()["secret"]
    done = api.post(
        f"{API}factors/totp/confirm/", {"token": code_for(secret), "name": name}, format="json"
    )
    assert done.status_code == 201, done.content
    return secret, done.json()


def test_listing_shows_the_email_fallback_and_a_recent_factor(api):
    body = api.get(f"{API}factors/").json()
    assert body["factors"] == []
    assert body["email_fallback"] is True
    assert body["recent_until"] is not None


def test_enrolling_an_app_and_passing_an_api_challenge_with_it(api, user, rupt_server):
    offered = api.post(f"{API}factors/totp/", format="json").json()
    assert offered["otpauth_url"].startswith("otpauth://totp/")
    assert offered["qr_svg"].startswith("<svg")
    again = api.post(f"{API}factors/totp/", format="json").json()
    assert again["secret"] == offered["secret"]  # the same secret until it is confirmed
    wrong = api.post(f"{API}factors/totp/confirm/", {"token": "000000"}, format="json")
    assert wrong.status_code == 400 and "token" in wrong.json()
    assert not TOTPDevice.objects.exists()
    secret = offered["secret"]
    factor = api.post(
        f"{API}factors/totp/confirm/", {"token": code_for(secret), "name": "Pixel"}, format="json"
    ).json()
    assert factor["type"] == "totp" and factor["name"] == "Pixel"
    listed = api.get(f"{API}factors/").json()
    assert [f["id"] for f in listed["factors"]] == [factor["id"]]
    assert listed["email_fallback"] is False

    other = APIClient()
    challenge = sign_in(other, rupt_server, "second-spa").json()["challenge"]
    assert [m["device"] for m in challenge["methods"]] == [factor["id"]]
    done = other.post(
        f"{API}challenge/verify/",
        {"device": factor["id"], "token": code_for(secret, steps_ahead=1)},
        format="json",
    )
    assert done.status_code == 200


def test_backup_codes_are_returned_once_and_pass_an_api_challenge(api, user, rupt_server):
    first = api.post(f"{API}factors/backup-codes/", format="json").json()["codes"]
    second = api.post(f"{API}factors/backup-codes/", format="json").json()["codes"]
    assert len(second) == 10 and not set(first) & set(second)
    (listed,) = api.get(f"{API}factors/").json()["factors"]
    assert listed["type"] == "backup_code" and listed["codes_left"] == 10
    assert "codes" not in listed  # never shown again
    other = APIClient()
    sign_in(other, rupt_server, "second-spa")
    stale = other.post(
        f"{API}challenge/verify/", {"device": listed["id"], "token": first[0]}, format="json"
    )
    assert stale.status_code == 400
    time.sleep(1.1)  # django-otp's back-off after a wrong code
    done = other.post(
        f"{API}challenge/verify/", {"device": listed["id"], "token": second[0]}, format="json"
    )
    assert done.status_code == 200


def test_changes_need_a_step_up_and_the_api_gives_one(api, user, mailoutbox):
    age_factor(api)
    refused = api.post(f"{API}factors/backup-codes/", format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "step_up_required"
    assert not StaticDevice.objects.exists()
    assert api.get(f"{API}factors/").json()["recent_until"] is None
    sent = api.post(f"{API}reauthenticate/send/", {}, format="json")
    assert sent.status_code == 200
    wrong = api.post(
        f"{API}reauthenticate/", {"device": sent.json()["device"], "token": "x"}, format="json"
    )
    assert wrong.status_code == 400
    time.sleep(1.1)  # django-otp's back-off after a wrong code
    done = api.post(
        f"{API}reauthenticate/",
        {"device": sent.json()["device"], "token": code_from(mailoutbox)},
        format="json",
    )
    assert done.status_code == 200 and done.json()["recent_until"]
    assert api.post(f"{API}factors/backup-codes/", format="json").status_code == 201


def test_removing_a_factor_and_not_another_users(api, user):
    _secret, factor = enrol(api)
    bob = get_user_model().objects.create_user("bob", "bob@example.com", "x")
    bobs = TOTPDevice.objects.create(user=bob, name="Bob's", confirmed=True)
    assert api.delete(f"{API}factors/{bobs.persistent_id}/").status_code == 404
    assert api.delete(f"{API}factors/auth.user/1/").status_code == 404
    assert api.delete(f"{API}factors/{factor['id']}/").status_code == 204
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert TOTPDevice.objects.filter(pk=bobs.pk).exists()
    actions = set(TrustEvent.objects.filter(user=user).values_list("action", flat=True))
    assert {TrustAction.FACTOR_ADDED, TrustAction.FACTOR_REMOVED} <= actions


def test_a_pending_or_anonymous_client_reaches_none_of_it(user, rupt_server):
    pending = APIClient()
    assert sign_in(pending, rupt_server, "new").status_code == 202
    for client in (pending, APIClient()):
        assert client.get(f"{API}factors/").status_code == 403
        assert client.post(f"{API}factors/totp/", format="json").status_code == 403
        assert client.post(f"{API}reauthenticate/send/", {}, format="json").status_code == 403
    assert not TOTPDevice.objects.exists()


def test_http_basic_with_the_password_cannot_manage_factors(user):
    basic = APIClient()
    basic.credentials(HTTP_AUTHORIZATION="Basic " + _basic("alice", PASSWORD))
    assert basic.post(f"{API}factors/backup-codes/", format="json").status_code in (401, 403)
    assert not StaticDevice.objects.exists()


def _basic(username, password):
    import base64

    return base64.b64encode(f"{username}:{password}".encode()).decode()
