"""The security page: add an authenticator app, backup codes, remove a factor, the step-up.

Driven as a user meets it: sign in, pass the challenge (the email fallback, since a new
account has no factor), then manage factors; each new factor then passes a challenge.
"""

from __future__ import annotations

import re
from base64 import b32decode

import pytest
from django.contrib.auth import get_user_model
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from rupt_guard.choices import TrustAction
from rupt_guard.gate.mark import SESSION_KEY
from rupt_guard.models import Device, TrustEvent

from .factors_kit import age_factor, code_for, secret_on

pytestmark = pytest.mark.django_db

SECURITY = "/rupt-guard/security/"
TOTP_SETUP = "/rupt-guard/security/app/"
BACKUP = "/rupt-guard/security/backup-codes/"
REAUTH = "/rupt-guard/security/confirm/"
CHALLENGE = "/rupt-guard/challenge/"


def remove_url(device):
    return f"/rupt-guard/security/factors/{device.persistent_id}/remove/"


@pytest.fixture
def signed_in(client, user, login, pass_challenge):
    """Signed in from a new device and confirmed just now with an email code."""
    assert login(device="laptop").status_code == 302
    assert pass_challenge().status_code == 302
    assert client.session[SESSION_KEY]["state"] == "passed"
    return user


def enrol_totp(client, name="Phone"):
    page = client.get(TOTP_SETUP)
    assert page.status_code == 200
    secret = secret_on(page)
    response = client.post(TOTP_SETUP, {"name": name, "otp_token": code_for(secret)})
    assert response.status_code == 302, response.content
    return secret


def test_the_security_page_needs_a_signed_in_session(client, user):
    response = client.get(SECURITY)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_new_account_sees_the_email_fallback(client, signed_in):
    page = client.get(SECURITY).content.decode()
    assert "code sent to" in page
    assert "Add an authenticator app" in page


def test_enrolling_an_app_takes_a_first_valid_code(client, signed_in):
    page = client.get(TOTP_SETUP)
    secret = secret_on(page)
    assert "<svg" in page.content.decode()  # the QR code, drawn on the server
    wrong = client.post(TOTP_SETUP, {"name": "Phone", "otp_token": "000000"})
    assert wrong.status_code == 200
    assert "does not match" in wrong.content.decode()
    assert not TOTPDevice.objects.filter(user=signed_in).exists()  # nothing before the code
    assert secret_on(wrong) == secret  # the QR code just scanned stays valid
    response = client.post(TOTP_SETUP, {"name": "Phone", "otp_token": code_for(secret)})
    assert response.status_code == 302
    (device,) = TOTPDevice.objects.filter(user=signed_in)
    assert device.confirmed and device.name == "Phone"
    raw = secret.replace(" ", "")
    assert b32decode(raw + "=" * (-len(raw) % 8)) == device.bin_key
    event = TrustEvent.objects.get(user=signed_in, action=TrustAction.FACTOR_ADDED)
    assert event.actor == signed_in and "Phone" in event.device_label


def test_the_enrolment_code_cannot_be_used_again_at_the_next_challenge(client, signed_in, login):
    secret = secret_on(client.get(TOTP_SETUP))
    code = code_for(secret)
    client.post(TOTP_SETUP, {"name": "Phone", "otp_token": code})
    device = TOTPDevice.objects.get(user=signed_in)
    client.logout()
    login(device="tablet")
    replay = client.post(CHALLENGE, {"otp_device": device.persistent_id, "otp_token": code})
    assert replay.status_code == 200
    assert client.session[SESSION_KEY]["state"] == "pending"


def test_a_new_app_passes_the_next_challenge_and_replaces_the_email_fallback(
    client, signed_in, login
):
    secret = enrol_totp(client)
    device = TOTPDevice.objects.get(user=signed_in)
    client.logout()
    assert login(device="tablet").status_code == 302
    page = client.get(CHALLENGE)
    offered = {d.persistent_id for d in page.context["devices"]}
    assert offered == {device.persistent_id}  # no email fallback beside a real factor
    next_step = code_for(secret, steps_ahead=1)  # the enrolment used this step's code
    response = client.post(CHALLENGE, {"otp_device": device.persistent_id, "otp_token": next_step})
    assert response.status_code == 302
    assert client.session[SESSION_KEY]["state"] == "passed"
    assert (
        Device.objects.get(user=signed_in, external_id__contains="tablet").verification_method
        == "totp"
    )


def test_changes_need_a_recent_second_factor(client, signed_in):
    age_factor(client)
    for url in (TOTP_SETUP, remove_url(EmailDevice.objects.get(user=signed_in))):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(REAUTH)
    posted = client.post(BACKUP)
    assert posted["Location"].startswith(REAUTH)
    assert not StaticDevice.objects.filter(user=signed_in).exists()


def test_a_step_up_with_a_code_opens_the_changes_again(client, signed_in, mailoutbox):
    age_factor(client)
    page = client.get(REAUTH, {"next": TOTP_SETUP})
    (email,) = page.context["devices"]
    client.post(REAUTH, {"otp_device": email.persistent_id, "otp_challenge": "1"})
    code = re.search(r"\b(\d{6})\b", mailoutbox[-1].body).group(1)
    assert client.get(TOTP_SETUP).status_code == 302  # a code sent is not a code verified
    response = client.post(
        REAUTH, {"otp_device": email.persistent_id, "otp_token": code, "next": TOTP_SETUP}
    )
    assert response.status_code == 302
    assert response["Location"] == TOTP_SETUP
    assert client.get(TOTP_SETUP).status_code == 200


def test_a_step_up_counts_wrong_codes_against_the_account(
    client, signed_in, guard_settings_override
):
    guard_settings_override(WRONG_CODE_RATE="2/15m")
    secret = enrol_totp(client)
    device = TOTPDevice.objects.get(user=signed_in)
    age_factor(client)
    for _ in range(2):
        client.post(REAUTH, {"otp_device": device.persistent_id, "otp_token": "000000"})
    locked = client.post(
        REAUTH, {"otp_device": device.persistent_id, "otp_token": code_for(secret, 1)}
    )
    assert "Too many wrong codes" in locked.content.decode()
    assert client.get(TOTP_SETUP).status_code == 302


def test_backup_codes_are_shown_once_downloadable_and_replace_the_old_set(client, signed_in):
    response = client.post(BACKUP)
    assert response.status_code == 302
    page = client.get(BACKUP)
    first = page.context["codes"]
    assert len(first) == 10 and len(set(first)) == 10
    download = client.get(BACKUP, {"format": "txt"})
    assert download["Content-Type"].startswith("text/plain")
    assert "attachment" in download["Content-Disposition"]
    assert all(code in download.content.decode() for code in first)
    client.post(BACKUP)
    second = client.get(BACKUP).context["codes"]
    assert not set(first) & set(second)
    device = StaticDevice.objects.get(user=signed_in)
    assert sorted(device.token_set.values_list("token", flat=True)) == sorted(second)
    assert not device.verify_token(first[0])  # the old set stopped working
    client.post(BACKUP, {"action": "done"})
    page = client.get(BACKUP)
    assert page.context["codes"] == []  # shown once: only their number from now on
    assert page.context["codes_left"] == 10
    assert TrustEvent.objects.filter(action=TrustAction.BACKUP_CODES_GENERATED).count() == 2


def test_a_backup_code_passes_the_next_challenge(client, signed_in, login):
    client.post(BACKUP)
    code = client.get(BACKUP).context["codes"][0]
    device = StaticDevice.objects.get(user=signed_in)
    client.logout()
    login(device="phone")
    response = client.post(CHALLENGE, {"otp_device": device.persistent_id, "otp_token": code})
    assert response.status_code == 302
    assert device.token_set.count() == 9


def test_removing_the_last_factor_says_the_email_fallback_comes_back(client, signed_in):
    enrol_totp(client)
    device = TOTPDevice.objects.get(user=signed_in)
    page = client.get(remove_url(device)).content.decode()
    assert "last second factor" in page and signed_in.email in page
    assert client.post(remove_url(device)).status_code == 302
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    assert TrustEvent.objects.filter(action=TrustAction.FACTOR_REMOVED).count() == 1


def test_removing_all_but_backup_codes_warns_they_run_out(client, signed_in):
    enrol_totp(client)
    client.post(BACKUP)
    page = client.get(remove_url(TOTPDevice.objects.get(user=signed_in))).content.decode()
    assert "Only your backup codes will be left" in page


def test_another_users_factor_cannot_be_removed(client, signed_in):
    bob = get_user_model().objects.create_user("bob", "bob@example.com", "x")
    bobs = TOTPDevice.objects.create(user=bob, name="Bob's", confirmed=True)
    assert client.get(remove_url(bobs)).status_code == 404
    assert client.post(remove_url(bobs)).status_code == 404
    assert TOTPDevice.objects.filter(pk=bobs.pk).exists()
    # Ids that name no factor at all, or another kind of object, are a plain 404.
    for bogus in ("auth.user/1", "nonsense", "otp_totp.totpdevice/abc", "a.b.c/1"):
        assert client.get(f"/rupt-guard/security/factors/{bogus}/remove/").status_code == 404


def test_a_pending_session_reaches_none_of_it(client, user, login):
    login(device="new")
    for url in (SECURITY, TOTP_SETUP, BACKUP, REAUTH):
        response = client.get(url)
        assert response.status_code == 302
        assert not response["Location"].startswith(url)
    assert not TOTPDevice.objects.exists()


def test_the_owner_is_emailed_when_factors_change(
    client, signed_in, mailoutbox, django_capture_on_commit_callbacks
):
    before = len(mailoutbox)
    with django_capture_on_commit_callbacks(execute=True):
        enrol_totp(client, name="Pixel")
        client.post(BACKUP)
    subjects = [m.subject for m in mailoutbox[before:]]
    assert all(s.startswith("Your second factors changed") for s in subjects)
    assert len(subjects) == 2
    assert "A second factor was added to your account: Authenticator app: Pixel." in (
        mailoutbox[before].body
    )
    assert "New backup codes were made" in mailoutbox[before + 1].body
    assert all(m.to == [signed_in.email] for m in mailoutbox[before:])


def test_factor_emails_can_be_turned_off(
    client, signed_in, mailoutbox, guard_settings_override, django_capture_on_commit_callbacks
):
    guard_settings_override(NOTIFY_FACTOR_CHANGES=False)
    before = len(mailoutbox)
    with django_capture_on_commit_callbacks(execute=True):
        enrol_totp(client)
    assert len(mailoutbox) == before
