"""The local provider: Rupt's semantics from the site's own database and endpoint."""

from __future__ import annotations

import secrets
import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from rupt_guard.local.models import LocalIdentification
from rupt_guard.local.provider import LocalProvider
from rupt_guard.local.views import device_id_for
from rupt_guard.models import LoginCheck
from rupt_guard.providers import ProviderHTTPError, TokenRejected, get_provider

from .conftest import PASSWORD

IDENTIFY = "/rupt-guard/local/identify/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def local(settings):
    settings.RUPT_GUARD = {"PROVIDER": "local"}
    provider = get_provider()
    assert isinstance(provider, LocalProvider)
    return provider


def browser_secret():
    return secrets.token_urlsafe(32)


def mint(client, secret):
    response = client.post(IDENTIFY, {"secret": secret}, content_type="application/json")
    assert response.status_code == 200
    return response.json()["identification"]


def test_endpoint_answers_only_an_opaque_token(client, local):
    secret = browser_secret()
    response = client.post(IDENTIFY, {"secret": secret}, content_type="application/json")
    assert set(response.json()) == {"identification"}
    token = response.json()["identification"]
    assert str(uuid.UUID(token)) == token
    assert device_id_for(secret) not in response.content.decode()
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"secret": "short"},
        {"secret": "x" * 200},
        {"secret": "bad chars !!!!!!!!!!!!!!!"},
        {"secret": 42},
        [],
        "not json",
    ],
)
def test_endpoint_refuses_bad_secrets(client, local, body):
    if body == "not json":
        response = client.post(IDENTIFY, "{nope", content_type="application/json")
    else:
        response = client.post(IDENTIFY, body, content_type="application/json")
    assert response.status_code == 400
    assert not LocalIdentification.objects.exists()


def test_endpoint_is_post_only(client, local):
    assert client.get(IDENTIFY).status_code == 405


def test_sdk_is_served_as_javascript(client, local):
    response = client.get(local.sdk_url())
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert b"window.Rupt" in response.content


def test_new_device_only_the_first_time_per_account(client, local):
    secret = browser_secret()
    first = local.complete(mint(client, secret), "1")
    again = local.complete(mint(client, secret), "1")
    other_account = local.complete(mint(client, secret), "2")
    other_browser = local.complete(mint(client, browser_secret()), "1")
    assert (first.new_device, again.new_device, other_account.new_device) == (True, False, True)
    assert first.device_id == again.device_id == device_id_for(secret)
    assert secret not in first.device_id
    assert other_browser.device_id != first.device_id
    assert other_browser.new_device


def test_tokens_are_single_use_for_any_account(client, local):
    token = mint(client, browser_secret())
    local.complete(token, "1")
    for account in ("1", "2"):
        with pytest.raises(TokenRejected):
            local.complete(token, account)


def test_tokens_expire(client, local, settings):
    token = mint(client, browser_secret())
    LocalIdentification.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(TokenRejected):
        local.complete(token, "1")
    with pytest.raises(TokenRejected):
        local.complete(str(uuid.uuid4()), "1")


def test_metadata_round_trip(client, local):
    secret = browser_secret()
    device = local.complete(mint(client, secret), "1").device_id
    local.update_metadata(device, {"2fa_verified": ["1:2026-11-25T10:00:00Z"]})
    local.update_metadata(device, {"other": ["x"]})
    result = local.complete(mint(client, secret), "2")
    assert result.metadata_fields == {"2fa_verified": ["1:2026-11-25T10:00:00Z"], "other": ["x"]}
    with pytest.raises(ProviderHTTPError):
        local.update_metadata("unknown", {"k": ["v"]})


def test_whole_login_with_the_local_provider(client, user, local, pass_challenge):
    secret = browser_secret()

    def sign_in():
        token = mint(client, secret)
        data = {"username": "alice", "password": PASSWORD, "rupt_identification": token}
        return client.post("/accounts/login/", data)

    sign_in()
    assert client.get("/private/")["Location"].startswith("/rupt-guard/challenge/")
    assert pass_challenge().status_code == 302
    client.logout()
    sign_in()
    assert client.get("/private/").status_code == 200
    assert list(LoginCheck.objects.order_by("created_at").values_list("reason", flat=True)) == [
        "new_device",
        "verified_device",
    ]


def test_login_page_loads_the_local_sdk(client, local):
    page = client.get("/accounts/login/")
    assert b'data-sdk-url="/rupt-guard/local/sdk.js"' in page.content


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_completions_of_one_token_succeed_once(settings):
    settings.RUPT_GUARD = {"PROVIDER": "local"}
    provider = get_provider()
    tokens = []
    for _ in range(10):
        token = uuid.uuid4()
        LocalIdentification.objects.create(
            token=token, device_id="d" * 32, expires_at=timezone.now() + timedelta(minutes=5)
        )
        tokens.append(str(token))
    results: list[str] = []
    lock = threading.Lock()

    def complete(token, account, barrier):
        barrier.wait()
        try:
            provider.complete(token, account)
            outcome = "ok"
        except TokenRejected:
            outcome = "rejected"
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    for token in tokens:
        barrier = threading.Barrier(3)
        workers = [
            threading.Thread(target=complete, args=(token, str(n), barrier)) for n in range(3)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert results.count("ok") == len(tokens)
    assert results.count("rejected") == 2 * len(tokens)
