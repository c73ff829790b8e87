"""The demo's private page behind rupt_guard, tested with rupt_guard's testing kit.

Written as a site writes its tests: the kit's pytest fixtures (``fake_rupt``,
``verified_client``, ``pending_client``, ``blocked_client``, ``pass_challenge``,
``verified_force_login``) come with rupt_guard; ``rupt_guard_user`` is ours (conftest.py).
"""

import pytest
from django.core import mail

from rupt_guard.models import Device, LoginCheck

PASSWORD = "demo-pass-2026"  # conftest.py's user
PRIVATE = "/private/"
CHALLENGE = "/rupt-guard/challenge/"


def test_a_verified_user_sees_the_private_page(verified_client):
    response = verified_client.get(PRIVATE)
    assert response.status_code == 200
    assert "Signed in as <strong>demo</strong>" in response.content.decode()
    assert "verified (Email code)" in response.content.decode()  # the device list


def test_a_pending_sign_in_is_sent_to_the_challenge(pending_client):
    response = pending_client.get(PRIVATE)
    assert response.status_code == 302
    assert response["Location"].startswith(CHALLENGE)


def test_passing_the_challenge_opens_the_private_page(pending_client, pass_challenge):
    response = pass_challenge(pending_client, next=PRIVATE)
    assert response["Location"] == PRIVATE
    assert pending_client.get(PRIVATE).status_code == 200
    assert Device.objects.get().verified_at is not None


def test_a_blocked_device_cannot_get_in(blocked_client):
    response = blocked_client.get(PRIVATE)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_login_form_refuses_a_blocked_device(rupt_sign_in, fake_rupt, client):
    blocked = rupt_sign_in("blocked")
    # The same browser tries the login form: Rupt's script posts a token of that device.
    response = client.post(
        "/accounts/login/",
        {
            "username": "demo",
            "password": PASSWORD,
            "rupt_identification": fake_rupt.identify(blocked.device_id),
        },
    )
    assert response.status_code == 200  # the form again, with its usual error
    assert client.get(PRIVATE).status_code == 302
    assert LoginCheck.objects.filter(decision="block").count() == 2


def test_a_new_device_signing_in_through_the_form_is_asked_for_a_code(
    rupt_guard_user, fake_rupt, client, pass_challenge
):
    response = client.post(
        "/accounts/login/",
        {"username": "demo", "password": PASSWORD, "rupt_identification": fake_rupt.identify()},
    )
    assert response["Location"] == PRIVATE  # the login view's redirect, as ever...
    assert client.get(PRIVATE)["Location"].startswith(CHALLENGE)  # ...held at the gate
    pass_challenge(client)
    assert client.get(PRIVATE).status_code == 200
    # Our users hear of a new device signing in.
    assert any("demo@example.com" in message.to for message in mail.outbox)


@pytest.mark.usefixtures("verified_force_login")
def test_older_tests_keep_using_force_login(client, rupt_guard_user):
    client.force_login(rupt_guard_user)
    assert client.get(PRIVATE).status_code == 200


def test_without_the_switch_force_login_is_challenged(client, rupt_guard_user):
    client.force_login(rupt_guard_user)
    assert client.get(PRIVATE)["Location"].startswith(CHALLENGE)
