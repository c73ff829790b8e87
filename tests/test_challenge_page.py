"""The challenge page a person meets first: the first thing to do is the primary action,
a chooser only when there is a choice, sends that tell the truth, "Trust this browser"."""

from __future__ import annotations

import re
import socket
from datetime import timedelta

import pytest
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from rupt_guard import signals
from rupt_guard.gate.mark import SESSION_KEY
from rupt_guard.models import Device, LoginCheck

CHALLENGE = "/rupt-guard/challenge/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def challenged(client, user, login):
    assert login(device="laptop").status_code == 302
    assert client.session[SESSION_KEY]["state"] == "pending"


def code_in(mail: EmailMultiAlternatives) -> str:
    return re.search(r"Your sign-in code: (\d{6})", mail.body).group(1)


@pytest.fixture
def smtp_down(settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2


def test_an_email_only_user_gets_the_code_on_arrival_once(client, challenged, mailoutbox):
    page = client.get(CHALLENGE)
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.subject.startswith("Your sign-in code")
    assert "valid for 5 minutes" in mail.body and "Never share it" in mail.body
    assert "/rupt-guard/not-me/" in mail.body  # "not you?" for a sign-in
    html = page.content.decode()
    assert "Code sent (Email to a***@example.com)" in html
    assert 'name="otp_token"' in html and 'inputmode="numeric"' in html
    assert "Other ways to confirm" not in html  # no chooser without a choice
    client.get(CHALLENGE)  # a reload sends nothing more
    assert len(mailoutbox) == 1
    device = page.context["method"].device
    response = client.post(
        CHALLENGE,
        {"otp_device": device.persistent_id, "otp_token": code_in(mail)},
    )
    assert response.status_code == 302
    assert client.session[SESSION_KEY]["state"] == "passed"


def test_a_new_code_within_the_cooldown_says_when_and_sends_nothing(client, challenged, mailoutbox):
    page = client.get(CHALLENGE)
    device = page.context["method"].device
    again = client.post(CHALLENGE, {"otp_device": device.persistent_id, "otp_challenge": "1"})
    html = again.content.decode()
    assert len(mailoutbox) == 1
    assert "A code was sent a moment ago" in html
    seconds = int(re.search(r"new one in (\d+) second", html).group(1))
    assert 50 <= seconds <= 60
    assert "We sent" not in html and "Code sent" not in html
    # Once the cooldown is over, a new code leaves.
    EmailDevice.objects.filter(pk=device.pk).update(
        last_generated_timestamp=timezone.now() - timedelta(seconds=61)
    )
    later = client.post(CHALLENGE, {"otp_device": device.persistent_id, "otp_challenge": "1"})
    assert len(mailoutbox) == 2
    assert "Code sent" in later.content.decode()


def test_a_failed_send_says_so_plainly_logs_signals_and_spends_no_cooldown(
    client, challenged, smtp_down, settings, caplog
):
    failures = []

    def failed(sender, **kwargs):
        failures.append(kwargs)

    signals.code_send_failed.connect(failed)
    try:
        page = client.get(CHALLENGE)
    finally:
        signals.code_send_failed.disconnect(failed)
    html = page.content.decode()
    assert "We couldn't send the email; try another way or again in a minute." in html
    assert "Errno" not in html and "refused" not in html.lower()
    assert "Send code" in html  # the primary action is to try again
    assert len(failures) == 1 and failures[0]["error"] is not None
    assert "Could not send a code" in caplog.text
    # The cooldown was not spent: with the mail server back, a new code leaves at once.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    device = page.context["method"].device
    from django.core import mail

    mail.outbox = []
    retry = client.post(CHALLENGE, {"otp_device": device.persistent_id, "otp_challenge": "1"})
    assert len(mail.outbox) == 1
    assert "Code sent" in retry.content.decode()


def test_with_debug_on_a_failed_send_tells_the_developer_the_fix(
    client, challenged, smtp_down, settings
):
    """A new site's only superuser, with Django's default SMTP backend and no mail server:
    the page says why and what to change, and after the change the code leaves."""
    settings.DEBUG = True
    page = client.get(CHALLENGE)
    html = page.content.decode()
    assert "We couldn't send the email" in html
    assert "Shown because DEBUG is on: sending failed with ConnectionRefusedError" in html
    assert "django.core.mail.backends.console.EmailBackend" in html
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from django.core import mail

    mail.outbox = []
    device = page.context["method"].device
    retry = client.post(CHALLENGE, {"otp_device": device.persistent_id, "otp_challenge": "1"})
    assert len(mail.outbox) == 1
    assert "Code sent" in retry.content.decode()
    assert "DEBUG" not in retry.content.decode()


def test_the_strongest_method_first_and_the_others_in_words(client, user, challenged):
    TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    page = client.get(CHALLENGE)
    html = page.content.decode()
    assert page.context["method"].label == "Authenticator app"
    assert [m.label for m in page.context["other_methods"]] == ["Backup code"]
    assert 'inputmode="numeric"' in html
    backup = page.context["other_methods"][0]
    chosen = client.get(CHALLENGE, {"method": backup.id})
    assert chosen.context["method"].label == "Backup code"
    assert 'inputmode="text"' in chosen.content.decode()


def test_two_factors_of_one_kind_are_told_apart(client, user, challenged):
    TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    TOTPDevice.objects.create(user=user, name="Tablet", confirmed=True)
    page = client.get(CHALLENGE)
    labels = [m.label for m in page.context["methods"]]
    assert sorted(labels) == ["Authenticator app (Phone)", "Authenticator app (Tablet)"]


def test_an_untrusted_browser_passes_but_its_device_stays_unverified(
    client, user, challenged, login, rupt_server, django_capture_on_commit_callbacks, mailoutbox
):
    phone = TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    code = f"{totp(phone.bin_key):06d}"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            CHALLENGE,
            {"otp_device": phone.persistent_id, "otp_token": code, "trust_browser_shown": "1"},
        )
    assert response.status_code == 302
    assert client.session[SESSION_KEY]["state"] == "passed"
    assert client.get("/private/").status_code == 200
    device = Device.objects.get(user=user)
    assert device.verified_at is None and not device.metadata_sync_pending
    check = LoginCheck.objects.get()
    assert check.trusted_browser is False and check.challenge_result == "passed"
    assert not any("New sign-in" in m.subject for m in mailoutbox)  # no first-verification
    # Its next sign-in follows ON_UNVERIFIED_DEVICE: challenged again.
    client.post("/accounts/logout/")
    login(device="laptop")
    assert client.session[SESSION_KEY]["state"] == "pending"


def test_a_trusted_browser_is_the_default(client, user, challenged):
    phone = TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    client.post(
        CHALLENGE,
        {
            "otp_device": phone.persistent_id,
            "otp_token": f"{totp(phone.bin_key):06d}",
            "trust_browser_shown": "1",
            "trust_browser": "1",
        },
    )
    assert Device.objects.get(user=user).verified_at is not None
    assert LoginCheck.objects.get().trusted_browser is True


def test_the_api_can_leave_the_browser_untrusted(user, rupt_server):
    from rest_framework.test import APIClient

    from .conftest import PASSWORD

    api = APIClient()
    phone = TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    body = {"username": "alice", "password": PASSWORD}
    body["rupt_identification"] = rupt_server.identify("spa")
    started = api.post("/api/rupt-guard/login/", body, format="json").json()
    assert started["challenge"]["methods"][0]["label"] == "Authenticator app"
    done = api.post(
        "/api/rupt-guard/challenge/verify/",
        {
            "device": phone.persistent_id,
            "token": f"{totp(phone.bin_key):06d}",
            "trust_browser": False,
        },
        format="json",
    )
    assert done.status_code == 200
    assert Device.objects.get(user=user).verified_at is None
