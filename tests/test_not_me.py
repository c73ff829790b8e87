"""The "this wasn't me" page: what blocking does, "it was me" as a way out, and the way to
the site's password pages. (The link itself, its signature and its single use are in
tests/test_notifications.py.)"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth import views as auth_views
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import include, path

from rupt_guard.choices import CheckSource, Decision, Reason
from rupt_guard.gate.notifications import not_me_token
from rupt_guard.models import Device, DeviceSession, LoginCheck
from rupt_guard.testing import login_verified

from .conftest import PASSWORD

FIREFOX_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:132.0) Gecko/20100101 Firefox/132.0"

pytestmark = pytest.mark.django_db


def place_for_ip(ip):
    return {"198.51.100.4": "Lyon, France"}.get(ip)


class OnlyPasswordReset:
    """A site with a password reset but no password change page."""

    urlpatterns = [
        path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
        path("accounts/reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
        path("rupt-guard/", include("rupt_guard.urls")),
    ]


class NoPasswordPages:
    """A site whose passwords are managed elsewhere (single sign-on, say)."""

    urlpatterns = [
        path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
        path("rupt-guard/", include("rupt_guard.urls")),
    ]


@pytest.fixture
def thief(user, rupt_server, guard_settings_override):
    """Someone with Alice's password signed in from a new device the policy let through."""
    guard_settings_override(ON_NEW_DEVICE="allow")
    browser = Client(HTTP_USER_AGENT=FIREFOX_MAC, REMOTE_ADDR="198.51.100.4")
    browser.post(
        "/accounts/login/",
        {
            "username": "alice",
            "password": PASSWORD,
            "rupt_identification": rupt_server.identify("dev-thief"),
        },
    )
    assert browser.get("/private/").status_code == 200
    return browser


@pytest.fixture
def link(thief, user):
    check = LoginCheck.objects.filter(user=user).latest("pk")
    return f"/rupt-guard/not-me/{not_me_token(check)}/"


def test_the_link_of_the_new_device_email_opens_this_page(
    user, rupt_server, guard_settings_override, mailoutbox, django_capture_on_commit_callbacks
):
    guard_settings_override(ON_NEW_DEVICE="allow")
    with django_capture_on_commit_callbacks(execute=True):
        Client().post(
            "/accounts/login/",
            {
                "username": "alice",
                "password": PASSWORD,
                "rupt_identification": rupt_server.identify("dev-thief"),
            },
        )
    (mail,) = mailoutbox
    link = re.search(r"https://example\.com(/rupt-guard/not-me/[^/\s]+/)", mail.body).group(1)
    assert b"It was me" in Client().get(link).content


def test_the_page_says_what_happened_and_what_blocking_does(
    link, guard_settings_override, settings
):
    guard_settings_override(PLACE_FOR_IP="tests.test_not_me.place_for_ip")
    settings.TIME_ZONE = "Europe/Paris"
    LoginCheck.objects.update(created_at=datetime(2026, 7, 1, 12, 0, tzinfo=UTC))
    page = Client().get(link)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Someone signed in to your account with your password" in text
    assert "July 1, 2026, 2 p.m. (Europe/Paris)" in text  # the site's time, labelled
    assert "198.51.100.4 (Lyon, France)" in text
    assert "<li>Firefox 132 on macOS</li>" in text
    assert "refuses every sign-in from it to your account" in text
    assert "Your other devices are not affected." in text
    assert "Block that device" in text and "It was me" in text

    # A device the owner renamed shows under that name.
    Device.objects.filter(external_id="dev-thief").update(label="Old laptop")
    assert "<li>Old laptop (Firefox 132 on macOS)</li>" in Client().get(link).content.decode()

    guard_settings_override(ON_BLOCKED_DEVICE="challenge")
    text = Client().get(link).content.decode()
    assert "every sign-in from it must pass your second factor" in text


def test_it_was_me_changes_nothing_and_the_link_still_works(link, thief):
    kept = Client().post(link, {"answer": "it_was_me"})
    assert kept.status_code == 200
    text = kept.content.decode()
    assert "Nothing was changed" in text
    assert 'href="/accounts/login/">Sign in<' in text
    device = Device.objects.get(external_id="dev-thief")
    assert device.blocked_at is None
    assert LoginCheck.objects.get().reported_at is None
    assert thief.get("/private/").status_code == 200  # its session goes on
    # Thinking again, the owner can still block it with the same link.
    done = Client().post(link)
    assert b"that device is blocked" in done.content
    assert thief.get("/private/")["Location"].startswith("/accounts/login/")


def test_it_was_me_from_the_owners_signed_in_browser_leads_to_the_devices_page(link, user):
    owner = Client()
    login_verified(owner, user)
    text = owner.post(link, {"answer": "it_was_me"}).content.decode()
    assert 'href="/rupt-guard/devices/">See your devices<' in text


def test_it_was_me_after_the_report_changes_nothing_either(link):
    Client().post(link)
    again = Client().post(link, {"answer": "it_was_me"})
    assert b"already used" in again.content
    assert Device.objects.get(external_id="dev-thief").blocked_at is not None


def test_it_was_me_needs_a_valid_link():
    response = Client().post("/rupt-guard/not-me/nonsense/", {"answer": "it_was_me"})
    assert response.status_code == 400


def test_a_mail_scanner_changes_nothing(link, thief):
    for _ in range(3):
        assert Client().get(link).status_code == 200
    assert Device.objects.get(external_id="dev-thief").blocked_at is None
    assert thief.get("/private/").status_code == 200


def test_it_was_me_needs_csrf(link):
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(link, {"answer": "it_was_me"}).status_code == 403


def test_after_the_report_the_sites_password_change_and_reset(link):
    text = Client().post(link).content.decode()
    assert 'href="/accounts/password/">Change your password<' in text
    assert 'href="/accounts/password/reset/">Cannot sign in? Reset your password<' in text


def test_a_site_with_only_a_password_reset(link, settings):
    settings.ROOT_URLCONF = OnlyPasswordReset
    text = Client().post(link).content.decode()
    assert 'href="/accounts/reset/">Reset your password<' in text
    assert "Change your password<" not in text


def test_a_site_without_password_pages(link, settings):
    settings.ROOT_URLCONF = NoPasswordPages
    response = Client().post(link)
    assert response.status_code == 200
    text = response.content.decode()
    assert "that device is blocked" in text
    assert "Reset your password" not in text and "Change your password<" not in text


def test_a_sign_in_without_a_device_says_it_cannot_be_blocked(user):
    check = LoginCheck.objects.create(
        user=user,
        source=CheckSource.FORM,
        decision=Decision.CHALLENGE,
        reason=Reason.MISSING_TOKEN,
        ip="198.51.100.4",
    )
    attacker = Client()
    login_verified(attacker, user)
    key = attacker.session.session_key
    DeviceSession.objects.create(
        session_key=key, sign_in=check, expires_at=attacker.session.get_expiry_date()
    )
    link = f"/rupt-guard/not-me/{not_me_token(check)}/"
    text = Client().get(link).content.decode()
    assert "could not be identified, so it cannot be blocked" in text
    assert "End that sign-in" in text
    Client().post(link)
    assert not Session.objects.filter(session_key=key).exists()
