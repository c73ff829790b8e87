"""The sign-in lifecycle: what holds a pending sign-in, and what no race can undo."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import authenticate, get_user_model, login
from django.contrib.sessions.middleware import SessionMiddleware
from django.db import connection
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import path
from django_otp.plugins.otp_totp.models import TOTPDevice

from rupt_guard import signals
from rupt_guard.choices import ChallengeResult, Decision, Reason, VerificationMethod
from rupt_guard.gate.lifecycle import pending_user
from rupt_guard.gate.mark import SESSION_KEY
from rupt_guard.gate.middleware import pending_allowed
from rupt_guard.models import Device, LoginCheck
from rupt_guard.trust import devices

from . import urls as site_urls
from .conftest import PASSWORD

PRIVATE = "/private/"
CHALLENGE = "/rupt-guard/challenge/"

pytestmark = pytest.mark.django_db


def verified_device(rupt_server, user, external_id="dev-verified", **fields):
    rupt_server.pairs.add((str(user.pk), external_id))
    rupt_server.metadata[external_id] = {}
    return Device.objects.create(
        user=user, external_id=external_id, verified_at="2026-11-01T00:00:00Z", **fields
    )


def session_request(data):
    request = RequestFactory().post("/accounts/login/", data)
    SessionMiddleware(lambda r: None).process_request(request)
    return request


def test_a_factor_verified_by_the_login_form_is_the_second_factor(user, rupt_server):
    # django-otp's OTPAuthenticationForm (and OTPAdminSite) verify a code with the password
    # and leave the factor on user.otp_device: the user is not asked twice.
    token = rupt_server.identify("dev-new")
    request = session_request(
        {"username": "alice", "password": PASSWORD, "rupt_identification": token}
    )
    authenticated = authenticate(request, username="alice", password=PASSWORD)
    factor = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    authenticated.otp_device = factor
    login(request, authenticated)

    assert request.session[SESSION_KEY]["state"] == "passed"
    assert request.session["_auth_user_id"] == str(user.pk)
    assert request.user == user
    device = Device.objects.get(external_id="dev-new")
    assert device.verification_method == VerificationMethod.TOTP
    check = LoginCheck.objects.get()
    assert (check.decision, check.challenge_result) == (Decision.CHALLENGE, ChallengeResult.PASSED)


def test_a_factor_of_another_user_does_not_count(user, rupt_server):
    bob = get_user_model().objects.create_user("bob", "b@example.com", "x")
    request = session_request(
        {"username": "alice", "password": PASSWORD, "rupt_identification": rupt_server.identify()}
    )
    authenticated = authenticate(request, username="alice", password=PASSWORD)
    authenticated.otp_device = TOTPDevice.objects.create(user=bob, name="bob's", confirmed=True)
    login(request, authenticated)
    assert request.session[SESSION_KEY]["state"] == "pending"
    assert "_auth_user_id" not in request.session
    assert not request.user.is_authenticated


def test_a_password_change_while_pending_ends_the_pending_sign_in(client, user, login):
    login()
    assert client.get(CHALLENGE).status_code == 200
    user.set_password("a new password entirely")
    user.save()
    response = client.get(CHALLENGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_pending_user_is_the_one_place_that_knows(client, user, login):
    login()
    response = client.get(CHALLENGE)
    assert response.wsgi_request.user.is_anonymous
    assert pending_user(response.wsgi_request) == user


def test_completion_signal_fires_once_when_the_factor_passes(client, user, login, pass_challenge):
    completed = []

    def receiver(sender, user, check, request, **kwargs):
        completed.append((user.pk, check.pk if check else None))

    signals.sign_in_completed.connect(receiver)
    try:
        login()
        assert completed == []
        pass_challenge()
    finally:
        signals.sign_in_completed.disconnect(receiver)
    assert completed == [(user.pk, LoginCheck.objects.get().pk)]


class TestMetadataTrust:
    """TRUST_RUPT_METADATA: Rupt's record can vouch, but never over a withdrawal here."""

    def entry(self, account, when="2026-11-20T10:00:00Z"):
        return f"{account}:{when}"

    def test_metadata_alone_verifies_a_device_this_site_never_saw(
        self, client, user, login, rupt_server, guard_settings_override
    ):
        # Another site (or a mobile back end) on the same Rupt project verified it.
        guard_settings_override(TRUST_RUPT_METADATA=True)
        token = rupt_server.identify("dev-elsewhere")
        rupt_server.metadata["dev-elsewhere"] = {"2fa_verified": [self.entry(user.pk)]}
        login(token=token)
        assert client.get(PRIVATE).status_code == 200
        device = Device.objects.get(external_id="dev-elsewhere")
        assert device.verification_method == VerificationMethod.RUPT_METADATA
        check = LoginCheck.objects.get()
        assert (check.decision, check.reason) == (Decision.ALLOW, Reason.VERIFIED_DEVICE)

    def test_an_entry_older_than_a_withdrawal_does_not_restore_trust(
        self, client, user, login, rupt_server, guard_settings_override
    ):
        guard_settings_override(TRUST_RUPT_METADATA=True)
        device = verified_device(rupt_server, user)
        devices.revoke(device)
        # Rupt still has the old entry (a stale copy pushed back, another site's cache...),
        # and our own push is not pending any more: only the time of the withdrawal decides.
        rupt_server.metadata[device.external_id] = {"2fa_verified": [self.entry(user.pk)]}
        Device.objects.filter(pk=device.pk).update(metadata_sync_pending=False)
        login(device=device.external_id)
        assert client.get(PRIVATE)["Location"].startswith(CHALLENGE)
        device.refresh_from_db()
        assert device.verified_at is None

    def test_an_entry_newer_than_the_withdrawal_counts(
        self, client, user, login, rupt_server, guard_settings_override
    ):
        guard_settings_override(TRUST_RUPT_METADATA=True)
        device = verified_device(rupt_server, user, trust_revoked_at="2026-11-01T00:00:00Z")
        Device.objects.filter(pk=device.pk).update(verified_at=None)
        rupt_server.metadata[device.external_id] = {"2fa_verified": [self.entry(user.pk)]}
        login(device=device.external_id)
        assert client.get(PRIVATE).status_code == 200


def test_a_revocation_between_check_and_login_wins(client, user, login, rupt_server):
    """The device is revoked after the check read it verified, before login() ties the
    session to it: the sign-in is challenged, and its audit row says so."""
    device = verified_device(rupt_server, user)

    def revoke_now(sender, device, **kwargs):
        devices.revoke(Device.objects.get(pk=device.pk))

    signals.device_seen.connect(revoke_now)
    try:
        login(device=device.external_id)
    finally:
        signals.device_seen.disconnect(revoke_now)
    assert client.get(PRIVATE)["Location"].startswith(CHALLENGE)
    check = LoginCheck.objects.get()
    assert (check.decision, check.reason) == (Decision.CHALLENGE, Reason.UNVERIFIED_DEVICE)
    assert check.challenge_result == ChallengeResult.PENDING


def test_a_block_between_check_and_login_wins(client, user, login, rupt_server):
    device = verified_device(rupt_server, user)

    def block_now(sender, device, **kwargs):
        devices.block(Device.objects.get(pk=device.pk))

    signals.device_seen.connect(block_now)
    try:
        response = login(device=device.external_id)
    finally:
        signals.device_seen.disconnect(block_now)
    assert response.status_code == 302  # login() ran; the session was ended right after
    assert "_auth_user_id" not in client.session
    assert client.get(PRIVATE)["Location"].startswith("/accounts/login/")
    assert LoginCheck.objects.get().decision == Decision.BLOCK


def race_sign_in_against_revocation(rupt_server, user, device, errors) -> Client:
    """One sign-in from ``device`` and one revocation of it, started together."""
    browser = Client()
    token = rupt_server.identify(device.external_id)
    barrier = threading.Barrier(2)

    def run(action) -> None:
        try:
            barrier.wait()
            action()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def sign_in() -> None:
        browser.post(
            "/accounts/login/",
            {"username": user.username, "password": PASSWORD, "rupt_identification": token},
        )

    def revoke() -> None:
        devices.revoke(Device.objects.get(pk=device.pk))

    workers = [threading.Thread(target=run, args=(action,)) for action in (sign_in, revoke)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return browser


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_revocations_never_leave_a_trusted_session(rupt_server):
    """Sign-ins from a verified device race revocations of it, on real row locks. Whatever
    the interleaving, no session that passed survives a revocation that finished."""
    user = get_user_model().objects.create_user("racer", "r@example.com", PASSWORD)
    errors: list[BaseException] = []
    for round_no in range(8):
        device = verified_device(rupt_server, user, f"dev-race-{round_no}")
        browser = race_sign_in_against_revocation(rupt_server, user, device, errors)
        assert errors == []
        response = browser.get(PRIVATE)
        # Challenged (the revocation came first) or signed out (it ended the session):
        # never the private page.
        assert response.status_code == 302, round_no
        assert Device.objects.get(pk=device.pk).verified_at is None
        assert LoginCheck.objects.filter(device=device).count() == 1


@pending_allowed
def help_page(request):
    return HttpResponse(f"help for {request.user}")


urlpatterns = [path("help/", help_page, name="help"), *site_urls.urlpatterns]


@pytest.mark.urls("tests.test_lifecycle")
def test_a_view_marked_pending_allowed_is_reached_still_anonymous(client, user, login):
    login()
    response = client.get("/help/")
    assert response.status_code == 200
    assert response.content == b"help for AnonymousUser"
    assert client.get(PRIVATE)["Location"].startswith(CHALLENGE)


def test_a_site_that_requires_login_everywhere_can_still_finish_a_sign_in(
    client, user, login, pass_challenge, settings
):
    # Django's LoginRequiredMiddleware sends every anonymous request to LOGIN_URL; a
    # pending session is anonymous, so the challenge must be open to it (no loop).
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "django.contrib.auth.middleware.LoginRequiredMiddleware",
    ]
    login()
    assert client.get(CHALLENGE).status_code == 200
    assert pass_challenge().status_code == 302
    assert client.get(PRIVATE).status_code == 200
