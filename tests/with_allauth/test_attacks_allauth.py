"""A hostile user against the django-allauth integration, through allauth's real views."""

from __future__ import annotations

import pytest
from allauth.mfa.totp.internal.auth import TOTP

from rupt_guard.choices import ChallengeResult, Decision
from rupt_guard.models import Device, LoginCheck
from tests.conftest import PASSWORD
from tests.with_allauth.test_allauth_login import (
    CHALLENGE,
    PRIVATE,
    SECRET,
    messages_of,
    totp_code,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def allauth_login(client, rupt_server):
    """allauth's login form, posted with a token of ``device`` as the identify script would."""

    def sign_in(login="alice", password=PASSWORD, *, device=None):
        data = {"login": login, "password": password}
        data["rupt_identification"] = rupt_server.identify(device)
        return client.post("/accounts/login/", data)

    return sign_in


HEADLESS_LOGIN = "/_allauth/browser/v1/auth/login"
APP_LOGIN = "/_allauth/app/v1/auth/login"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'"alice"',
        b"\xff\xfe",
        b'{"username": "alice", "password": "%s", "rupt_identification": ["x"]}',
        b'{"username": "alice", "password": "%s", "rupt_identification": {"a": 1}}',
        b'{"username": "alice", "password": "%s", "rupt_identification": "'
        + b"A" * 100_000
        + b'"}',
        b'{"username": "alice", "password": "%s", "rupt_identification": "\\u0000"}',
        b'{"username": "alice", "password": "%s", "rupt_identification_error": {"x": []}}',
        b'{"username": ["alice"], "password": "%s"}',
    ],
)
@pytest.mark.parametrize("path", [HEADLESS_LOGIN, APP_LOGIN])
def test_odd_headless_bodies_never_answer_500_nor_sign_in(client, user, body, path):
    if b"%s" in body:
        body = body.replace(b"%s", PASSWORD.encode())
    response = client.post(path, body, content_type="application/json")
    assert response.status_code < 500
    assert "_auth_user_id" not in client.session
    assert client.get(PRIVATE).status_code == 302


def test_an_app_client_held_sign_in_is_anonymous_with_its_session_token(client, user, rupt_server):
    response = client.post(
        APP_LOGIN,
        {"username": "alice", "password": PASSWORD, "rupt_identification": rupt_server.identify()},
        content_type="application/json",
    )
    assert response.status_code == 401
    token = response.json().get("meta", {}).get("session_token")
    headers = {"HTTP_X_SESSION_TOKEN": token} if token else {}
    session = client.get("/_allauth/app/v1/auth/session", **headers)
    assert session.status_code in (401, 410)
    assert LoginCheck.objects.get().decision == Decision.CHALLENGE


def test_a_totp_code_spent_at_allauths_stage_is_refused_at_the_challenge(
    client, user, allauth_login, settings
):
    """One code, two sign-ins: allauth's stage then our challenge (same time step)."""
    TOTP.activate(user, SECRET)
    code = totp_code()
    allauth_login(device="dev-1")
    client.post("/accounts/2fa/authenticate/", {"code": code})
    client.post("/accounts/2fa/trust/", {"action": "trust"})
    assert client.get(PRIVATE).status_code == 200
    client.post("/accounts/logout/")
    # allauth trusts this browser now (its stage is skipped); the device is new to us.
    response = allauth_login(device="dev-2")
    assert response["Location"].startswith(CHALLENGE)
    page = client.get(CHALLENGE)
    replay = client.post(CHALLENGE, {"otp_device": page.context["method"].id, "otp_token": code})
    assert replay.status_code == 200
    assert client.get(PRIVATE)["Location"].startswith(CHALLENGE)


def test_a_login_form_posted_again_while_allauths_mfa_waits_records_one_sign_in(
    client, user, allauth_login
):
    TOTP.activate(user, SECRET)
    allauth_login(device="dev-1")  # allauth's MFA page, left
    allauth_login(device="dev-1")  # the password again: allauth resumes its pending stage
    client.post("/accounts/2fa/authenticate/", {"code": totp_code()})
    response = client.post("/accounts/2fa/trust/", {"action": "no"})
    assert response["Location"] == PRIVATE
    assert Device.objects.count() == 1
    assert LoginCheck.objects.get().challenge_result == ChallengeResult.PASSED


def test_allauths_mfa_page_posted_from_another_session_signs_nobody_in(
    client, user, allauth_login, django_user_model
):
    from django.test import Client

    TOTP.activate(user, SECRET)
    allauth_login()
    other = Client()
    response = other.post("/accounts/2fa/authenticate/", {"code": totp_code()})
    assert response.status_code in (302, 200)
    assert other.get(PRIVATE).status_code == 302
    assert client.get(PRIVATE).status_code == 302


@pytest.fixture
def login_by_code(settings):
    """allauth's login-by-code pages (allauth builds its URLs from the setting at import)."""
    import importlib

    import allauth.account.urls
    import allauth.urls
    from django.urls import clear_url_caches

    import tests.with_allauth.urls

    def rebuild():
        for module in (allauth.account.urls, allauth.urls, tests.with_allauth.urls):
            importlib.reload(module)
        clear_url_caches()

    settings.ACCOUNT_LOGIN_BY_CODE_ENABLED = True
    rebuild()
    yield
    settings.ACCOUNT_LOGIN_BY_CODE_ENABLED = False
    rebuild()


def emailed_code(mailoutbox) -> str:
    import re

    return re.findall(r"^\s*([A-Z0-9-]{6,9})\s*$", mailoutbox[-1].body, re.M)[0]


def test_a_login_by_code_is_held_for_the_challenge(client, user, login_by_code, mailoutbox):
    response = client.post("/accounts/login/code/", {"email": user.email})
    assert response.status_code == 302
    response = client.post("/accounts/login/code/confirm/", {"code": emailed_code(mailoutbox)})
    assert response["Location"].startswith(CHALLENGE)
    assert "_auth_user_id" not in client.session
    assert client.get(PRIVATE)["Location"].startswith(CHALLENGE)
    assert LoginCheck.objects.get().decision == Decision.CHALLENGE


def test_a_password_reset_that_signs_in_is_held_for_the_challenge(
    client, user, settings, mailoutbox
):
    import re

    settings.ACCOUNT_LOGIN_ON_PASSWORD_RESET = True
    client.post("/accounts/password/reset/", {"email": user.email})
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+)", mailoutbox[-1].body)
    page = client.get(link.group(1), follow=True)
    response = client.post(
        page.redirect_chain[-1][0],
        {"password1": "N3w-long-passw0rd!", "password2": "N3w-long-passw0rd!"},
    )
    assert response.status_code == 302
    assert response["Location"].startswith(CHALLENGE)
    assert client.get(PRIVATE)["Location"].startswith(CHALLENGE)
    assert LoginCheck.objects.get().decision == Decision.CHALLENGE


def test_a_blocked_device_at_allauths_headless_login_is_refused_without_500(
    client, user, rupt_server
):
    rupt_server.pairs.add((str(user.pk), "dev-bad"))
    rupt_server.metadata["dev-bad"] = {}
    Device.objects.create(user=user, external_id="dev-bad", blocked_at="2026-01-01T00:00:00Z")
    response = client.post(
        HEADLESS_LOGIN,
        {
            "username": "alice",
            "password": PASSWORD,
            "rupt_identification": rupt_server.identify("dev-bad"),
        },
        content_type="application/json",
    )
    assert 400 <= response.status_code < 500
    assert client.get(PRIVATE).status_code == 302
    assert LoginCheck.objects.get().decision == Decision.BLOCK
    assert Device.objects.count() == 1


@pytest.mark.parametrize(
    "extra",
    [
        {"rupt_identification": "\x00"},
        {"rupt_identification": ["a", "b"]},
        {"rupt_identification": "A" * 200_000},
        {"rupt_identification": "tok", "rupt_identification_error": "x" * 10_000},
        {"login": "alice\x00"},
    ],
)
def test_odd_login_form_fields_never_answer_500_nor_sign_in(client, user, extra):
    data = {"login": "alice", "password": PASSWORD, **extra}
    response = client.post("/accounts/login/", data)
    assert response.status_code < 500
    assert "_auth_user_id" not in client.session


def test_an_app_clients_totp_counts_once_and_its_replay_from_another_session_fails(
    client, user, rupt_server, settings
):
    """allauth.headless's app client: its MFA stage is the second factor, once."""
    from django.test import Client

    settings.MFA_TOTP_TOLERANCE = 1  # a step boundary between the two sign-ins
    TOTP.activate(user, SECRET)
    code = totp_code()
    body = {
        "username": "alice",
        "password": PASSWORD,
        "rupt_identification": rupt_server.identify(),
    }
    response = client.post(APP_LOGIN, body, content_type="application/json")
    assert response.status_code == 401
    token = response.json()["meta"]["session_token"]
    done = client.post(
        "/_allauth/app/v1/auth/2fa/authenticate",
        {"code": code},
        content_type="application/json",
        HTTP_X_SESSION_TOKEN=token,
    )
    assert done.status_code == 200
    assert done.json()["meta"]["is_authenticated"] is True
    check = LoginCheck.objects.get()
    assert check.challenge_result == ChallengeResult.PASSED

    # The attacker with the password replays the code the user just typed.
    attacker = Client()
    body["rupt_identification"] = rupt_server.identify("dev-attacker")
    response = attacker.post(APP_LOGIN, body, content_type="application/json")
    token = response.json()["meta"]["session_token"]
    replay = attacker.post(
        "/_allauth/app/v1/auth/2fa/authenticate",
        {"code": code},
        content_type="application/json",
        HTTP_X_SESSION_TOKEN=token,
    )
    assert replay.status_code == 400
    session = attacker.get("/_allauth/app/v1/auth/session", HTTP_X_SESSION_TOKEN=token)
    assert session.status_code == 401
    assert [c.challenge_result for c in LoginCheck.objects.order_by("pk")] == [
        ChallengeResult.PASSED,
        ChallengeResult.PENDING,
    ]
    assert Device.objects.filter(verified_at__isnull=False).count() == 1


@pytest.fixture
def stage_waits(client, user, settings, rupt_server, mailoutbox):
    """A sign-in from alice's verified device, allowed by the check, that allauth's email
    verification stage stops; returns the function that completes that stage."""
    import re

    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    settings.ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = True
    rupt_server.pairs.add((str(user.pk), "dev-known"))
    rupt_server.metadata["dev-known"] = {}
    Device.objects.create(user=user, external_id="dev-known", verified_at="2026-01-01T00:00:00Z")
    data = {"login": "alice", "password": PASSWORD}
    data["rupt_identification"] = rupt_server.identify("dev-known")
    response = client.post("/accounts/login/", data)
    assert response["Location"] == "/accounts/confirm-email/"
    assert LoginCheck.objects.get().decision == Decision.ALLOW

    def complete():
        code = re.findall(r"^\s*([A-Z0-9-]{6,9})\s*$", mailoutbox[-1].body, re.M)[0]
        return client.post("/accounts/confirm-email/", {"code": code})

    return complete


def test_a_device_blocked_while_allauths_stage_waited_is_refused_not_500(client, user, stage_waits):
    """The owner blocks the device while the sign-in waits at allauth's email stage: the
    lifecycle's re-read refuses the login() that follows, and allauth's post_login() used
    to assert the user signed in (500)."""
    Device.objects.update(blocked_at="2026-11-25T00:00:00Z")
    response = stage_waits()
    assert response.status_code == 302
    assert not response["Location"].startswith(PRIVATE)
    assert "Successfully signed in" not in " ".join(messages_of(response))
    assert client.get(PRIVATE).status_code == 302
    assert "_auth_user_id" not in client.session


def test_a_device_revoked_while_allauths_stage_waited_is_held_not_500(client, user, stage_waits):
    from rupt_guard.trust.devices import forget_verifications

    forget_verifications(user)  # the owner revoked the device on the devices page
    response = stage_waits()
    assert response.status_code == 302
    assert response["Location"].startswith(CHALLENGE)
    assert "Successfully signed in" not in " ".join(messages_of(response))
    assert client.get(PRIVATE)["Location"].startswith(CHALLENGE)
    assert LoginCheck.objects.count() == 1
