"""The challenge page: each second factor, throttling, redirects, and the record at Rupt."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from rupt_guard.gate.mark import SESSION_KEY
from rupt_guard.models import Device

CHALLENGE = "/rupt-guard/challenge/"

pytestmark = pytest.mark.django_db


def totp_now(device):
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


@pytest.fixture
def challenged(client, user, login, rupt_server):
    """Signed in from a new device; returns that device's Rupt id."""
    device = "dev-challenged"
    assert login(device=device).status_code == 302
    assert client.session[SESSION_KEY]["state"] == "pending"
    return device


def submit(client, device, token, next=None):
    data = {"otp_device": device.persistent_id, "otp_token": token}
    if next is not None:
        data["next"] = next
    return client.post(CHALLENGE, data)


def test_email_code_verifies_and_marks_the_device(
    client, user, challenged, pass_challenge, rupt_server
):
    key_before = client.session.session_key
    response = pass_challenge()
    assert response.status_code == 302
    assert response["Location"] == "/private/"
    assert client.session.session_key != key_before
    assert client.session[SESSION_KEY]["state"] == "passed"
    device = Device.objects.get(user=user)
    assert device.verification_method == "email"
    assert device.verified_with.startswith("otp_email.emaildevice/")
    assert device.verified_at is not None
    page = client.get("/private/")
    assert page.status_code == 200
    assert page.wsgi_request.user.is_verified()


def test_totp_verifies_and_a_reused_code_fails(client, user, challenged, login):
    device = TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    code = totp_now(device)
    assert submit(client, device, code).status_code == 302
    assert Device.objects.get(user=user).verification_method == "totp"
    client.logout()
    login(device="another-device")
    reused = submit(client, device, code)
    assert reused.status_code == 200
    assert "not valid" in reused.content.decode()


def test_backup_code_verifies_once(client, user, challenged, login):
    device = StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    device.token_set.create(token="backup123")
    assert submit(client, device, "backup123").status_code == 302
    assert Device.objects.get(user=user).verification_method == "backup_code"
    client.logout()
    login(device="another-device")
    assert submit(client, device, "backup123").status_code == 200
    assert not device.token_set.exists()


def test_wrong_code_says_so_without_saying_why(client, user, challenged):
    phone = TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    bob = get_user_model().objects.create_user("bob", "bob@example.com", "x")
    bobs_phone = TOTPDevice.objects.create(user=bob, name="Bob's", confirmed=True)
    wrong = submit(client, phone, "000000").content.decode()
    # Bob's valid code on Alice's challenge: the form must not accept another user's device.
    foreign = submit(client, bobs_phone, totp_now(bobs_phone))
    assert "That code is not valid" in wrong
    assert foreign.status_code == 200
    assert client.session[SESSION_KEY]["state"] == "pending"


def test_throttling_engages(client, user, challenged):
    phone = TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    for _ in range(3):
        submit(client, phone, "000000")
    blocked = submit(client, phone, totp_now(phone))
    assert blocked.status_code == 200
    assert re.search(
        r"Too many wrong codes for this method. Try again in \d+ seconds?\.",
        blocked.content.decode(),
    )
    assert client.session[SESSION_KEY]["state"] == "pending"


@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.example/",
        "https://evil.example/",
        "http://evil.example/private/",
        "javascript:alert(1)",
        "\\\\evil.example",
    ],
)
def test_next_to_another_site_is_refused(client, challenged, pass_challenge, next_url):
    response = pass_challenge(next=next_url)
    assert response.status_code == 302
    assert response["Location"] == "/private/"


def test_next_on_this_site_is_followed(client, challenged, pass_challenge):
    assert pass_challenge(next="/private/data.json")["Location"] == "/private/data.json"


def test_user_without_any_factor_or_email_cannot_pass(client, user, challenged):
    user.email = ""
    user.save()
    page = client.get(CHALLENGE)
    assert page.status_code == 200
    assert "contact" in page.content.decode()
    assert page.context["devices"] == []
    assert client.post(CHALLENGE, {"otp_token": "123456"}).status_code == 200
    assert client.get("/account/2fa/setup/")["Location"].startswith(CHALLENGE)


def test_email_fallback_can_be_switched_off(client, user, challenged, guard_settings_override):
    guard_settings_override(EMAIL_FALLBACK=False)
    assert client.get(CHALLENGE).context["devices"] == []


def test_email_code_goes_to_the_account_address(client, user, challenged, email_code, mailoutbox):
    email_code()
    assert mailoutbox[-1].to == ["alice@example.com"]


def test_verification_is_recorded_at_rupt_leaving_other_fields(
    client, user, rupt_server, login, pass_challenge, django_capture_on_commit_callbacks
):
    rupt_server.metadata["dev-shared"] = {"other": ["kept"]}
    login(device="dev-shared")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        pass_challenge()
    assert len(callbacks) == 2  # the metadata update and the new-device email
    [entry] = rupt_server.metadata["dev-shared"]["2fa_verified"]
    assert re.fullmatch(rf"{user.pk}:\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry)
    assert rupt_server.metadata["dev-shared"]["other"] == ["kept"]
    device = Device.objects.get(user=user)
    assert not device.metadata_sync_pending
    assert device.metadata == {"2fa_verified": [entry]}


def test_rupt_failure_at_verification_is_retried_later(
    client, user, rupt_server, login, pass_challenge, django_capture_on_commit_callbacks
):
    login(device="dev-flaky")
    rupt_server.fail_next(503)  # the metadata update after the email code
    with django_capture_on_commit_callbacks(execute=True):
        response = pass_challenge()
    assert response.status_code == 302
    device = Device.objects.get(user=user)
    assert device.verified_at is not None
    assert device.metadata_sync_pending
    assert "2fa_verified" not in rupt_server.metadata["dev-flaky"]

    call_command("rupt_guard_sync")
    device.refresh_from_db()
    assert not device.metadata_sync_pending
    assert rupt_server.metadata["dev-flaky"]["2fa_verified"][0].startswith(f"{user.pk}:")


def test_challenge_page_without_pending_state_goes_on(client, user, login, rupt_server):
    device = "dev-ok"
    rupt_server.pairs.add((str(user.pk), device))
    Device.objects.create(user=user, external_id=device, verified_at="2026-11-01T00:00:00Z")
    login(device=device)
    assert client.get(CHALLENGE)["Location"] == "/private/"
    client.logout()
    assert client.get(CHALLENGE)["Location"].startswith("/accounts/login/")


def test_challenge_page_speaks_french(client, challenged):
    from django.utils import translation

    with translation.override("fr"):
        page = client.get(CHALLENGE).content.decode()
    assert "Confirmez votre identité" in page
    assert "Faire confiance à ce navigateur" in page


def test_email_fallback_is_not_offered_once_the_user_has_a_factor(
    client, user, challenged, email_code, login
):
    fallback_id, code = email_code()  # no factor yet: the fallback is offered and works
    phone = TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    page = client.get(CHALLENGE)
    assert [d.persistent_id for d in page.context["devices"]] == [phone.persistent_id]
    # Posting the fallback's id directly does not get around the stronger factor.
    refused = client.post(CHALLENGE, {"otp_device": fallback_id, "otp_token": code})
    assert refused.status_code == 200
    assert client.session[SESSION_KEY]["state"] == "pending"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_challenges_make_one_email_fallback():
    import threading

    from django.db import connection
    from django_otp.plugins.otp_email.models import EmailDevice

    from rupt_guard.trust.factors import challenge_devices

    for n in range(10):
        user = get_user_model().objects.create_user(f"racer{n}", f"r{n}@example.com", "x")
        barrier = threading.Barrier(4)
        offered = []

        def challenge(user=user, barrier=barrier, offered=offered):
            barrier.wait()
            try:
                offered.append(challenge_devices(user)[0].pk)
            finally:
                connection.close()

        workers = [threading.Thread(target=challenge) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert EmailDevice.objects.filter(user=user).count() == 1
        assert len(set(offered)) == 1 and len(offered) == 4
