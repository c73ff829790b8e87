"""The user's own devices: listing, "this device", rename, revoke; and password changes."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session

from rupt_guard.gate.mark import SESSION_KEY
from rupt_guard.models import Device, DeviceSession
from rupt_guard.testing import login_verified

from .conftest import PASSWORD

DEVICES = "/rupt-guard/devices/"
FIREFOX_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:132.0) Gecko/20100101 Firefox/132.0"

pytestmark = pytest.mark.django_db


def place_for_ip(ip):
    return {"203.0.113.7": "Lyon, France"}.get(ip)


@pytest.fixture
def verified(client, user, login, pass_challenge):
    """Signed in from a new device, challenge passed: a trusted session."""
    login(device="dev-laptop", HTTP_USER_AGENT=FIREFOX_MAC, REMOTE_ADDR="203.0.113.7")
    assert pass_challenge().status_code == 302
    return Device.objects.get(user=user, external_id="dev-laptop")


def test_page_lists_only_my_devices_and_marks_this_one(
    client, user, verified, guard_settings_override
):
    guard_settings_override(PLACE_FOR_IP="tests.test_devices_page.place_for_ip")
    bob = get_user_model().objects.create_user("bob", "bob@example.com", "x")
    Device.objects.create(user=bob, external_id="bobs", label="Bob's phone")
    Device.objects.create(user=user, external_id="old", label="Old tablet")
    page = client.get(DEVICES)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Firefox on macOS" in text
    assert "Old tablet" in text
    assert "Bob's phone" not in text
    assert "Lyon, France" in text
    current = [row for row in page.context["rows"] if row["is_current"]]
    assert [row["device"] for row in current] == [verified]


def test_page_needs_a_session_that_passed_the_gate(client, user, login):
    assert client.get(DEVICES)["Location"].startswith("/accounts/login/")
    login()  # new device: pending
    assert client.get(DEVICES)["Location"].startswith("/rupt-guard/challenge/")


def test_session_without_a_mark_must_pass_a_challenge(client, user):
    # Signed in before rupt_guard was installed: no mark in the session.
    login_verified(client, user)
    session = client.session
    del session[SESSION_KEY]
    session.save()
    response = client.get(DEVICES)
    assert response["Location"] == "/rupt-guard/confirm/?next=%2Frupt-guard%2Fdevices%2F"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert SESSION_KEY not in client.session  # a GET (say, a cross-site image) changes nothing
    started = client.post("/rupt-guard/confirm/", {"next": DEVICES})
    assert started["Location"] == "/rupt-guard/challenge/?next=%2Frupt-guard%2Fdevices%2F"
    assert client.session[SESSION_KEY]["state"] == "pending"


def test_rename(client, verified):
    response = client.post(
        f"/rupt-guard/devices/{verified.pk}/rename/", {f"d{verified.pk}-label": "Work laptop"}
    )
    assert response.status_code == 302
    verified.refresh_from_db()
    assert verified.label == "Work laptop"


def test_cannot_touch_another_users_device(client, verified):
    bob = get_user_model().objects.create_user("bob", "bob@example.com", "x")
    bobs = Device.objects.create(user=bob, external_id="bobs", verified_at="2026-11-01T00:00Z")
    assert client.post(f"/rupt-guard/devices/{bobs.pk}/revoke/").status_code == 404
    assert client.post(f"/rupt-guard/devices/{bobs.pk}/rename/", {"label": "x"}).status_code == 404
    bobs.refresh_from_db()
    assert bobs.verified_at is not None


def test_revoke_asks_first_then_ends_that_devices_sessions(
    client, user, verified, rupt_server, django_capture_on_commit_callbacks
):
    from django.test import Client

    # The same account signed in on another computer, verified too.
    other = Client()
    other.post(
        "/accounts/login/",
        {
            "username": "alice",
            "password": PASSWORD,
            "rupt_identification": rupt_server.identify("dev-desk"),
        },
    )
    other_device = Device.objects.get(external_id="dev-desk")
    Device.objects.filter(pk=other_device.pk).update(verified_at="2026-11-01T00:00Z")
    other_key = other.session.session_key
    assert DeviceSession.objects.filter(device=other_device, session_key=other_key).exists()

    confirm = client.get(f"/rupt-guard/devices/{other_device.pk}/revoke/")
    assert confirm.status_code == 200
    assert b"Sign out and forget" in confirm.content
    other_device.refresh_from_db()
    assert other_device.verified_at is not None  # a GET changes nothing

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/rupt-guard/devices/{other_device.pk}/revoke/")
    assert response["Location"] == DEVICES
    other_device.refresh_from_db()
    assert other_device.verified_at is None
    assert not Session.objects.filter(session_key=other_key).exists()
    assert other.get("/private/")["Location"].startswith("/accounts/login/")
    assert client.get("/private/").status_code == 200  # my own session goes on


def test_revoke_needs_csrf(user, verified, client):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.cookies = client.cookies
    assert strict.post(f"/rupt-guard/devices/{verified.pk}/revoke/").status_code == 403
    verified.refresh_from_db()
    assert verified.verified_at is not None


@pytest.mark.parametrize("save_every_request", [False, True])
def test_revoking_this_device_signs_me_out(client, verified, settings, save_every_request):
    settings.SESSION_SAVE_EVERY_REQUEST = save_every_request
    response = client.post(f"/rupt-guard/devices/{verified.pk}/revoke/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert client.get("/private/")["Location"].startswith("/accounts/login/")


def test_password_change_clears_every_verification(client, user, verified, guard_settings_override):
    user.refresh_from_db()
    user.set_password("a brand new password 42")
    user.save()
    verified.refresh_from_db()
    assert verified.verified_at is None

    guard_settings_override(REVOKE_ON_PASSWORD_CHANGE=False)
    Device.objects.filter(pk=verified.pk).update(verified_at="2026-11-01T00:00Z")
    user.set_password("and another one 43")
    user.save()
    verified.refresh_from_db()
    assert verified.verified_at is not None


def test_saving_a_user_without_a_new_password_keeps_trust(user, verified):
    user.refresh_from_db()
    user.first_name = "Alice"
    user.save()
    verified.refresh_from_db()
    assert verified.verified_at is not None


def test_a_sign_in_over_another_users_session_stays_revocable(
    client, user, login, rupt_server, guard_settings_override
):
    from rupt_guard.trust import devices

    guard_settings_override(ON_NEW_DEVICE="allow")
    get_user_model().objects.create_user("bob", "bob@example.com", "bob-password-1")
    client.post(
        "/accounts/login/",
        {
            "username": "bob",
            "password": "bob-password-1",
            "rupt_identification": rupt_server.identify("family"),
        },
    )
    login(device="family")  # Alice signs in over Bob's session: login() flushes it
    alices = Device.objects.get(user=user, external_id="family")
    assert DeviceSession.objects.filter(
        device=alices, session_key=client.session.session_key
    ).exists()
    devices.block(alices)
    assert client.get("/private/")["Location"].startswith("/accounts/login/")


def test_a_password_change_does_not_make_the_session_unrevocable(client, user, verified):
    from rupt_guard.trust import devices

    old_key = client.session.session_key
    response = client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "brand new pass 42!",
            "new_password2": "brand new pass 42!",
        },
    )
    assert response.status_code == 302
    assert client.session.session_key != old_key  # update_session_auth_hash rotated it
    assert client.get("/private/").status_code == 200  # the gate follows the new key
    assert DeviceSession.objects.filter(session_key=client.session.session_key).exists()
    devices.block(Device.objects.get(pk=verified.pk))
    assert client.get("/private/")["Location"].startswith("/accounts/login/")
