"""New-device and unconfirmed sign-in emails, the "this wasn't me" link, and the signals."""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.sessions.models import Session
from django.core import signing
from django.test import Client

from rupt_guard import signals
from rupt_guard.gate.mark import SESSION_KEY
from rupt_guard.gate.notifications import NOT_ME_SALT
from rupt_guard.models import Device, LoginCheck

FIREFOX_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:132.0) Gecko/20100101 Firefox/132.0"

pytestmark = pytest.mark.django_db


def link_in(message) -> str:
    # The Sites framework's domain: the test site's current Site is example.com.
    return re.search(r"https://example\.com(/rupt-guard/not-me/[^/\s]+/)", message.body).group(1)


def only_mail(mailoutbox, subject_part):
    found = [m for m in mailoutbox if subject_part in m.subject]
    assert len(found) == 1, [m.subject for m in mailoutbox]
    return found[0]


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_new_device_email_after_the_challenge_once(
    client, user, login, pass_challenge, mailoutbox, on_commit
):
    login(device="dev-new", HTTP_USER_AGENT=FIREFOX_MAC, REMOTE_ADDR="198.51.100.4")
    with on_commit() as callbacks:
        pass_challenge()
    assert callbacks  # sent on commit, not before
    mail = only_mail(mailoutbox, "New sign-in")
    assert mail.to == ["alice@example.com"]
    assert "Firefox on macOS" in mail.body
    assert "198.51.100.4" in mail.body
    assert link_in(mail) in mail.alternatives[0][0]
    client.logout()
    with on_commit():
        login(device="dev-new")  # verified now: no second email
    assert len([m for m in mailoutbox if "New sign-in" in m.subject]) == 1


def test_new_device_email_when_the_first_challenge_was_given_up(
    client, user, login, pass_challenge, mailoutbox, on_commit
):
    login(device="dev-twice")
    client.post("/accounts/logout/")  # gave up: Rupt will not say new_device again
    login(device="dev-twice")
    with on_commit():
        pass_challenge()
    mail = only_mail(mailoutbox, "New sign-in")
    assert "this wasn't me" in mail.alternatives[0][0].lower()


def test_new_device_email_when_policy_allows_it(
    client, user, login, mailoutbox, on_commit, guard_settings_override
):
    guard_settings_override(ON_NEW_DEVICE="allow")
    with on_commit():
        login(device="dev-allowed")
    only_mail(mailoutbox, "New sign-in")


def test_emails_can_be_switched_off(
    client, user, login, pass_challenge, mailoutbox, on_commit, guard_settings_override
):
    guard_settings_override(NOTIFY_NEW_DEVICE=False, NOTIFY_UNCONFIRMED_SIGN_IN=False)
    login()
    with on_commit():
        pass_challenge()
    client.logout()
    with on_commit():
        login()
        client.post("/accounts/logout/")
    ours = [m for m in mailoutbox if "New sign-in" in m.subject or "password" in m.subject]
    assert ours == []
    assert mailoutbox  # the email code itself still went out


def test_no_email_when_the_transaction_rolls_back(user, login, mailoutbox, guard_settings_override):
    # Without a commit (the test's transaction never commits) nothing is sent.
    guard_settings_override(ON_NEW_DEVICE="allow")
    login()
    assert mailoutbox == []


def test_signing_out_of_the_challenge_emails_nobody(client, user, login, mailoutbox, on_commit):
    """The owner on a computer they did not mean to trust signs out: no alarm for that."""
    login()
    with on_commit():
        client.post("/accounts/logout/")
    assert mailoutbox == []


def test_an_abandoned_challenge_is_found_by_the_sweep_and_told_once(
    client, user, login, mailoutbox, on_commit, guard_settings_override
):
    """The attacker with the password closes the tab: the session never comes back, so the
    sweep (cron) closes the challenge as expired and tells the owner, once."""
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from rupt_guard.choices import ChallengeResult
    from rupt_guard.models import LoginCheck

    login()
    check = LoginCheck.objects.get()
    assert check.challenge_result == ChallengeResult.PENDING
    with on_commit():
        call_command("rupt_guard_expire_challenges")
    assert mailoutbox == []  # not yet stale
    LoginCheck.objects.filter(pk=check.pk).update(
        created_at=timezone.now() - timedelta(seconds=601)
    )
    with on_commit():
        call_command("rupt_guard_expire_challenges")
        call_command("rupt_guard_expire_challenges")
    only_mail(mailoutbox, "Someone used your password")
    check.refresh_from_db()
    assert check.challenge_result == ChallengeResult.EXPIRED
    assert check.owner_notified_at is not None
    # The session itself coming back later does not tell the owner a second time.
    session = client.session
    session[SESSION_KEY] = {**session[SESSION_KEY], "expires_at": time.time() - 1}
    session.save()
    with on_commit():
        client.get("/private/")
    assert len(mailoutbox) == 1


def test_the_accounts_next_sign_in_closes_its_stale_challenges(
    client, user, login, mailoutbox, on_commit
):
    from datetime import timedelta

    from django.utils import timezone

    from rupt_guard.choices import ChallengeResult
    from rupt_guard.models import LoginCheck

    login(device="attacker")
    client.cookies.clear()  # the attacker walks away
    stale = LoginCheck.objects.get()
    LoginCheck.objects.filter(pk=stale.pk).update(
        created_at=timezone.now() - timedelta(seconds=601)
    )
    with on_commit():
        login(device="owner")
    stale.refresh_from_db()
    assert stale.challenge_result == ChallengeResult.EXPIRED
    only_mail(mailoutbox, "Someone used your password")


def test_expired_challenge_emails(client, user, login, mailoutbox, on_commit):
    login()
    session = client.session
    session[SESSION_KEY] = {**session[SESSION_KEY], "expires_at": time.time() - 1}
    session.save()
    with on_commit():
        client.get("/private/")
    only_mail(mailoutbox, "Someone used your password")


def test_repeated_wrong_codes_email_once(client, user, login, mailoutbox, on_commit, email_code):
    login()
    device_id, _ = email_code()
    with on_commit():
        for _ in range(5):
            client.post("/rupt-guard/challenge/", {"otp_device": device_id, "otp_token": "000000"})
        client.post("/accounts/logout/")
    only_mail(mailoutbox, "Someone used your password")  # for the wrong codes, not the logout


class TestNotMeLink:
    @pytest.fixture
    def link(self, client, user, login, pass_challenge, mailoutbox, on_commit):
        login(device="dev-thief")
        with on_commit():
            pass_challenge()
        return link_in(only_mail(mailoutbox, "New sign-in"))

    def test_get_only_asks(self, client, link):
        page = Client().get(link)
        assert page.status_code == 200
        assert b"Block that device" in page.content
        assert Device.objects.get(external_id="dev-thief").blocked_at is None

    def test_post_blocks_ends_sessions_and_works_once(self, client, link, rupt_server):
        thief_session = client.session.session_key
        owner = Client()
        done = owner.post(link)
        assert done.status_code == 200
        assert b"Change your password" in done.content
        device = Device.objects.get(external_id="dev-thief")
        assert device.blocked_at is not None
        assert not Session.objects.filter(session_key=thief_session).exists()
        assert LoginCheck.objects.filter(reported_at__isnull=False).count() == 1
        again = owner.post(link)
        assert b"already used" in again.content
        # The blocked device cannot sign in again.
        client.logout()
        response = client.post(
            "/accounts/login/",
            {
                "username": "alice",
                "password": "correct horse battery staple",
                "rupt_identification": rupt_server.identify("dev-thief"),
            },
        )
        assert response.status_code == 200
        assert "_auth_user_id" not in client.session

    def test_forged_or_altered_links_fail(self, link):
        token = link.split("/")[-2]
        forged = signing.dumps({"check": 1}, salt="another-salt", compress=True)
        for bad in (token[:-2] + "xx", forged, "nonsense"):
            response = Client().post(f"/rupt-guard/not-me/{bad}/")
            assert response.status_code == 400
        assert Device.objects.get(external_id="dev-thief").blocked_at is None

    def test_expired_link_fails(self, link, guard_settings_override):
        guard_settings_override(NOT_ME_LINK_MAX_AGE=1)
        token = link.split("/")[-2]
        payload = signing.loads(token, salt=NOT_ME_SALT)
        signer = signing.TimestampSigner(salt=NOT_ME_SALT)
        old = signer.sign_object(payload, compress=True)
        time.sleep(2)
        assert Client().post(f"/rupt-guard/not-me/{old}/").status_code == 400


def test_not_me_ends_a_sign_in_that_had_no_device(
    client, user, login, mailoutbox, on_commit, email_code
):
    # The attacker sends no token: no device is known, yet the owner can still cut them off.
    login(token=None)
    device_id, _ = email_code()
    with on_commit():
        for _ in range(3):
            client.post("/rupt-guard/challenge/", {"otp_device": device_id, "otp_token": "000000"})
    link = link_in(only_mail(mailoutbox, "Someone used your password"))
    attacker_session = client.session.session_key
    done = Client().post(link)
    assert b"could not be identified" in done.content
    assert not Session.objects.filter(session_key=attacker_session).exists()
    assert client.get("/rupt-guard/challenge/")["Location"].startswith("/accounts/login/")


def test_signals_fire_with_their_arguments(
    client, user, login, pass_challenge, rupt_server, guard_settings_override
):
    seen = []

    def receiver(signal, **kwargs):
        seen.append((signal, kwargs))

    names = [
        "device_seen",
        "device_verified",
        "device_revoked",
        "device_blocked",
        "login_challenged",
        "login_blocked",
        "provider_failed",
    ]
    for name in names:
        getattr(signals, name).connect(receiver, dispatch_uid=f"test-{name}")
    try:
        login(device="dev-sig")
        pass_challenge()
        device = Device.objects.get(external_id="dev-sig")
        from rupt_guard.trust import devices

        devices.revoke(device, by=user)
        devices.block(device, by=user)
        client.logout()
        login(device="dev-sig")  # blocked
        rupt_server.fail_next(503)
        login()
    finally:
        for name in names:
            getattr(signals, name).disconnect(dispatch_uid=f"test-{name}")

    fired = {name: [kw for sig, kw in seen if sig is getattr(signals, name)] for name in names}
    assert fired["device_seen"][0]["device"] == device
    assert fired["device_seen"][0]["created"] is True
    assert fired["login_challenged"][0]["check"].reason == "new_device"
    assert fired["device_verified"][0]["method"] == "email"
    assert fired["device_revoked"][0]["by"] == user
    assert fired["device_blocked"][0]["device"] == device
    assert fired["login_blocked"][0]["check"].reason == "blocked_device"
    assert fired["provider_failed"][0]["error"].status == 503
    assert all(kw["user"] == user for kws in fired.values() for kw in kws)


def test_links_never_come_from_the_host_header(
    client, user, login, pass_challenge, mailoutbox, on_commit, settings, guard_settings_override
):
    settings.ALLOWED_HOSTS = ["*"]  # a site that accepts any Host still sends its own links
    client.defaults["HTTP_HOST"] = "evil.example.net"  # every request of this browser
    login(device="dev-host")
    with on_commit():
        pass_challenge()
    mail = only_mail(mailoutbox, "New sign-in")
    assert "evil.example.net" not in mail.body + mail.alternatives[0][0] + mail.subject
    assert link_in(mail)


def test_site_url_is_the_canonical_address(
    client, user, login, pass_challenge, mailoutbox, on_commit, guard_settings_override
):
    guard_settings_override(SITE_URL="https://accounts.example.org/")
    login(device="dev-site-url")
    with on_commit():
        pass_challenge()
    mail = only_mail(mailoutbox, "New sign-in")
    assert re.search(r"https://accounts\.example\.org/rupt-guard/not-me/[^/\s]+/", mail.body)
    assert "(accounts.example.org)" in mail.subject
