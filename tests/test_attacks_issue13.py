"""Hostile review of issue 13: the security page, the factors API, the step-up, staff resets.

Each test asserts the *safe* behaviour. The ones that fail today show a weakness (their
docstring says the attack and what should happen instead); the ones that pass pin down a
defence that held against the attack tried.
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from rupt_guard.api import factors as api_factors
from rupt_guard.choices import TrustAction
from rupt_guard.gate.mark import SESSION_KEY
from rupt_guard.models import Device, TrustEvent
from rupt_guard.testing import login_verified
from rupt_guard.trust import enrolment, recovery

from .conftest import PASSWORD
from .factors_kit import age_factor, code_for, secret_on

pytestmark = pytest.mark.django_db

User = get_user_model()

SECURITY = "/rupt-guard/security/"
TOTP_SETUP = "/rupt-guard/security/app/"
BACKUP = "/rupt-guard/security/backup-codes/"
REAUTH = "/rupt-guard/security/confirm/"
CHALLENGE = "/rupt-guard/challenge/"
LOGOUT = "/rupt-guard/logout/"
API = "/api/rupt-guard/"
REASON = "ticket 9001: lost phone, identity checked by video call"


# -- helpers -----------------------------------------------------------------------------


def remove_url(device) -> str:
    return f"/rupt-guard/security/factors/{device.persistent_id}/remove/"


def fresh_factor(client) -> None:
    """The session verified a factor just now (as a step-up would leave it)."""
    session = client.session
    session[SESSION_KEY] = {**session[SESSION_KEY], "factor_at": time.time()}
    session.save()


def device_code(device, steps_ahead: int = 0) -> str:
    return f"{TOTP(device.bin_key, drift=steps_ahead).token():06d}"


def code_from(mailoutbox) -> str:
    return re.search(r"\b(\d{6})\b", mailoutbox[-1].body).group(1)


def make_user(username: str, email: str = "") -> object:
    return User.objects.create_user(username, email, PASSWORD)


@pytest.fixture
def signed_in(client, user, login, pass_challenge):
    """alice, signed in from a new device and confirmed just now with an email code."""
    assert login(device="laptop").status_code == 302
    assert pass_challenge().status_code == 302
    assert client.session[SESSION_KEY]["state"] == "passed"
    return user


def api_sign_in(rupt_server, mailoutbox, username="alice", device="spa") -> APIClient:
    """Signed in through the API, confirmed just now with an email code."""
    api = APIClient()
    body = {
        "username": username,
        "password": PASSWORD,
        "rupt_identification": rupt_server.identify(device),
    }
    response = api.post(f"{API}login/", body, format="json")
    (method,) = response.json()["challenge"]["methods"]
    api.post(f"{API}challenge/send/", {"device": method["device"]}, format="json")
    done = api.post(
        f"{API}challenge/verify/",
        {"device": method["device"], "token": code_from(mailoutbox)},
        format="json",
    )
    assert done.status_code == 200, done.content
    return api


# == Findings: each fails today ==========================================================


def test_an_api_token_does_not_borrow_the_step_up_of_another_accounts_session(
    user, rupt_server, mailoutbox, guard_settings_override, monkeypatch
):
    """Attack: a site issues DRF tokens after the gate (TOKEN_AUTHENTICATION_CLASSES, the
    README's way) and lists TokenAuthentication before SessionAuthentication. Mallory holds
    alice's leaked token and no factor of hers. She signs in to her *own* account, steps up
    with her own factor, then calls the factors API with alice's token and her own session
    cookie: ``HasRecentFactor`` reads ``recently_verified(request._request)``, which checks
    only that the session's mark is fresh and that ``request.user`` (alice, from the token)
    is authenticated, never that the session is alice's. Mallory gets a fresh set of
    alice's backup codes (then any of alice's factors: add her app, remove alice's).

    Safe: a step-up counts only for the account whose session verified it (the session's
    own user, as ``IsDeviceVerified`` already checks), and only for a session-authenticated
    request: a token carries no step-up.
    """
    guard_settings_override(
        TOKEN_AUTHENTICATION_CLASSES=["rest_framework.authentication.TokenAuthentication"]
    )
    # The site's DEFAULT_AUTHENTICATION_CLASSES, as DRF reads them when the views are made.
    monkeypatch.setattr(
        api_factors.FactorView,
        "authentication_classes",
        [TokenAuthentication, SessionAuthentication],
    )
    TOTPDevice.objects.create(user=user, name="alice's phone", confirmed=True)
    alice_token = Token.objects.create(user=user)
    make_user("mallory", "mallory@example.com")
    mallory = api_sign_in(rupt_server, mailoutbox, "mallory", device="mallory-laptop")

    mallory.credentials(HTTP_AUTHORIZATION=f"Token {alice_token.key}")
    response = mallory.post(f"{API}factors/backup-codes/", format="json")

    assert response.status_code == 403, response.content
    assert not StaticDevice.objects.filter(user=user).exists()


def test_an_api_token_alone_lists_factors_but_changes_none(
    user, rupt_server, guard_settings_override, monkeypatch
):
    """The README's promise that held: a trusted token with no session may list the
    factors, not change them (the step-up lives in a session)."""
    guard_settings_override(
        TOKEN_AUTHENTICATION_CLASSES=["rest_framework.authentication.TokenAuthentication"]
    )
    monkeypatch.setattr(
        api_factors.FactorView,
        "authentication_classes",
        [TokenAuthentication, SessionAuthentication],
    )
    phone = TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    mobile = APIClient()
    mobile.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert mobile.get(f"{API}factors/").status_code == 200
    assert mobile.post(f"{API}factors/backup-codes/", format="json").status_code == 403
    assert mobile.post(f"{API}factors/totp/", format="json").status_code == 403
    assert mobile.delete(f"{API}factors/{phone.persistent_id}/").status_code == 403
    assert TOTPDevice.objects.filter(pk=phone.pk).exists()
    assert not StaticDevice.objects.exists()


def test_a_session_cookie_copied_before_a_step_up_does_not_share_it(client, signed_in, mailoutbox):
    """Attack: Mallory copies alice's session cookie (an old one: no step-up in it, so she
    cannot touch the factors). She waits. Alice, on her own, confirms it is her on the
    security page (a step-up) to make backup codes. The step-up is written into the same
    session under the same key, so for the next STEP_UP_TIMEOUT seconds Mallory's copy can
    make backup codes (and add her authenticator app) too: the step-up meant to make a
    stolen cookie useless hands the thief the privilege.

    Safe: a step-up raises the session's privilege, so it gets a new session key, as passing
    the challenge does (``lifecycle._complete``: ``cycle_key`` and the tracked row moved):
    the copied cookie is worthless afterwards.
    """
    age_factor(client)
    thief = Client()
    thief.cookies = client.cookies.__class__(client.cookies)  # a copy of alice's cookie
    assert thief.post(BACKUP)["Location"].startswith(REAUTH)  # stale: refused

    page = client.get(REAUTH, {"next": BACKUP})
    (email,) = page.context["devices"]
    client.post(REAUTH, {"otp_device": email.persistent_id, "otp_challenge": "1"})
    stepped_up = client.post(
        REAUTH, {"otp_device": email.persistent_id, "otp_token": code_from(mailoutbox)}
    )
    assert stepped_up.status_code == 302
    assert client.post(BACKUP)["Location"] == BACKUP  # alice herself may

    stolen = thief.post(BACKUP)
    assert stolen["Location"] != BACKUP, "the copied cookie got alice's step-up"
    StaticDevice.objects.get(user=signed_in)  # one set, alice's own


@pytest.mark.parametrize("token", ["²²²²²²", "12345²", "①②③④⑤⑥"])
def test_a_unicode_digit_in_the_app_code_is_not_a_500(client, signed_in, token):
    """Attack: post a code made of characters ``str.isdigit()`` accepts but ``int()``
    does not (superscripts, circled digits) to the authenticator-app form.
    ``enrolment.confirm_totp`` checks ``token.isdigit()`` and then calls ``int(token)``,
    which raises ValueError: a 500 from a page anyone signed in can post to.

    Safe: the form says the code does not match (200), nothing is created.
    """
    client.raise_request_exception = False
    client.get(TOTP_SETUP)
    response = client.post(TOTP_SETUP, {"name": "Phone", "otp_token": token})
    assert response.status_code == 200
    assert not TOTPDevice.objects.filter(user=signed_in).exists()


def test_a_unicode_digit_in_the_api_app_code_is_not_a_500(user, rupt_server, mailoutbox):
    """The same through the API's ``factors/totp/confirm/``: 400, never a 500."""
    api = api_sign_in(rupt_server, mailoutbox)
    api.raise_request_exception = False
    assert api.post(f"{API}factors/totp/", format="json").status_code == 200
    response = api.post(f"{API}factors/totp/confirm/", {"token": "²²²²²²"}, format="json")
    assert response.status_code == 400
    assert not TOTPDevice.objects.filter(user=user).exists()


def test_trust_latest_device_does_not_vouch_for_an_attackers_later_sign_in(
    client, login, rupt_server
):
    """Attack: root lost their only factor and has no email. As the README says, root signs
    in once from their laptop (challenged, so the device is recorded) and support checks it
    is them by video call. Before support runs ``rupt_guard_reset_factors root
    --trust-latest-device``, Mallory, who has root's password (the very case a second factor
    exists for), signs in from her own laptop and is challenged too. "Latest" is now her
    device: support vouches for it and her next sign-in passes as root, no factor asked.

    Safe: staff name the device they checked (an id the command lists, or the one root reads
    out from their devices page), or the command refuses when the latest sign-ins come from
    more than one device; a device it did not check is never trusted.
    """
    root = User.objects.create_superuser("root", "", PASSWORD)
    TOTPDevice.objects.create(user=root, name="lost phone", confirmed=True)
    assert login("root", device="root-laptop").status_code == 302
    client.post(LOGOUT)
    # ... support checks root by video call; meanwhile:
    assert login("root", device="mallory-laptop").status_code == 302
    client.post(LOGOUT)

    # Support resets, reads the list of latest sign-ins and vouches for the device it checked
    # (root reads its label out from the call): the command never picks one by itself.
    out = io.StringIO()
    call_command("rupt_guard_reset_factors", "root", reason=REASON, stdout=out)
    roots = Device.objects.get(user=root, external_id__contains="root-laptop")
    assert f"{roots.pk:>6}" in out.getvalue()
    call_command("rupt_guard_reset_factors", "root", reason=REASON, trust_device=roots.pk)

    mallorys = Device.objects.get(user=root, external_id__contains="mallory-laptop")
    assert mallorys.verified_at is None, "support vouched for Mallory's laptop"
    login("root", device="mallory-laptop")
    assert client.session[SESSION_KEY]["state"] != "passed"


def _leave_a_pending_sign_in_behind(client, login) -> None:
    """alice signs in again over her own session (another browser identity), so it is
    challenged: Django's login() kept the session's data (same user: ``cycle_key``), and
    she walks away from the challenge, as from a shared computer."""
    assert login(device="library-pc-2").status_code == 302
    assert client.session[SESSION_KEY]["state"] == "pending"


def _bob_signs_in_through_the_api(client, rupt_server, mailoutbox) -> APIClient:
    """Bob, at the same browser, signs in through the site's single-page app: the API's
    login stays open while a challenge is pending (README), so it logs in over alice's
    pending session; he passes his own challenge with an email code."""
    make_user("bob", "bob@example.com")
    bob = APIClient()
    bob.cookies = client.cookies  # the same browser
    body = {
        "username": "bob",
        "password": PASSWORD,
        "rupt_identification": rupt_server.identify("library-pc"),
    }
    response = bob.post(f"{API}login/", body, format="json")
    assert response.status_code == 202, response.content
    (method,) = response.json()["challenge"]["methods"]
    bob.post(f"{API}challenge/send/", {"device": method["device"]}, format="json")
    done = bob.post(
        f"{API}challenge/verify/",
        {"device": method["device"], "token": code_from(mailoutbox)},
        format="json",
    )
    assert done.status_code == 200, done.content
    assert bob.session[SESSION_KEY]["state"] == "passed"
    assert bob.session["_auth_user_id"] == str(User.objects.get(username="bob").pk)
    return bob


def test_an_offered_app_secret_does_not_pass_to_the_next_account_on_the_browser(
    client, signed_in, login, rupt_server, mailoutbox
):
    """Attack (a shared computer): Mallory, signed in as herself (alice here), opens "add an
    authenticator app" and scans the secret offered. She signs in again so that the session
    is pending, and leaves. Bob signs in on that browser through the site's API login
    (open while a challenge is pending). A pending session has no Django auth keys, so
    Django's ``login()`` does not flush it (``cycle_key`` keeps everything), and
    ``lifecycle._replace_pending`` gives the old sign-in up without clearing the session
    either: the offered secret (``_rupt_guard_totp_key``: kept until confirmed, no expiry,
    not tied to an account) is now offered to Bob. If Bob adds an app, his second factor is
    a secret Mallory has in her phone.

    Safe: the offered secret belongs to the account it was offered to (stored with the
    user's id and ignored for anyone else), or a login() of another account over a pending
    session starts from an empty session, as Django's own login() does over a signed-in one.
    """
    planted = secret_on(client.get(TOTP_SETUP))
    _leave_a_pending_sign_in_behind(client, login)
    bob = _bob_signs_in_through_the_api(client, rupt_server, mailoutbox)
    offered_to_bob = bob.post(f"{API}factors/totp/", format="json").json()["secret"]
    assert offered_to_bob != planted, "Bob is offered the secret Mallory scanned"


def test_backup_codes_on_show_do_not_pass_to_the_next_account_on_the_browser(
    client, signed_in, login, rupt_server, mailoutbox
):
    """Attack (a shared computer): alice makes backup codes, is shown them, and does not
    press "I saved them". She signs in again (challenged: the session is pending) and
    leaves. Bob signs in on that browser through the API login within STEP_UP_TIMEOUT: the
    session's data survives (see the test above), and the backup-codes page shows Bob
    alice's codes, and offers them as a download, from a stash not tied to an account.

    Safe: Bob's page shows no codes (the stash carries the user's id and is dropped for
    anyone else, or the session is emptied when another account logs in over it).
    """
    client.post(BACKUP)
    alices = client.get(BACKUP).context["codes"]
    assert len(alices) == 10
    _leave_a_pending_sign_in_behind(client, login)
    bob = _bob_signs_in_through_the_api(client, rupt_server, mailoutbox)
    page = bob.get(BACKUP)
    assert page.status_code == 200
    assert page.context["user"].get_username() == "bob"
    assert not set(page.context["codes"]) & set(alices), "Bob is shown alice's backup codes"
    download = bob.get(BACKUP, {"format": "txt"}).content.decode()
    assert alices[0] not in download


def test_a_factor_name_cannot_write_paragraphs_into_the_owners_email(
    client, signed_in, mailoutbox, django_capture_on_commit_callbacks
):
    """Attack: Mallory, with a session stolen inside the step-up window, adds her
    authenticator app. The owner is emailed ("A second factor was added ... If this was
    not you, ...", commit 12218f8): that email is what makes the theft noticed. The app's
    name is hers to choose and reaches the plain-text email as typed, line breaks
    included, so she writes a paragraph of her own into it telling alice all is well.

    Safe: a factor's name is one line (control characters refused or folded to spaces),
    so the email says what happened and nothing Mallory wrote can pass for the site's words.
    """
    name = "Phone.\r\n\r\nThis was our routine update. No action needed."
    assert len(name) <= 64
    secret = secret_on(client.get(TOTP_SETUP))
    before = len(mailoutbox)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(TOTP_SETUP, {"name": name, "otp_token": code_for(secret)})
    for mail in mailoutbox[before:]:
        assert "\nThis was our routine update" not in mail.body, mail.body
    for device in TOTPDevice.objects.filter(user=signed_in):
        assert "\n" not in device.name and "\r" not in device.name


def test_guessing_step_up_codes_warns_the_owner(
    client, signed_in, mailoutbox, django_capture_on_commit_callbacks
):
    """Attack: Mallory holds alice's session cookie (stale: no step-up). To change alice's
    factors she guesses codes of alice's app at the step-up, spread under WRONG_CODE_RATE
    (10 per 15 minutes, every window, for as long as the session lives). The same guesses at
    a challenge email the owner after FAILED_CODES_BEFORE_NOTICE (3); at a step-up nothing
    is sent (``gate/codes.py`` ``_verify``: ``notify_unconfirmed`` needs a pending sign-in),
    although wrong codes typed in a signed-in session say that someone other than alice may
    be using it.

    Safe: FAILED_CODES_BEFORE_NOTICE wrong step-up codes email the owner too (once per
    session), so that she ends that session before a guess lands.
    """
    phone = TOTPDevice.objects.create(user=signed_in, name="Phone", confirmed=True)
    age_factor(client)
    before = len(mailoutbox)
    with django_capture_on_commit_callbacks(execute=True):
        for guess in ("000000", "111111", "222222", "333333"):
            client.post(REAUTH, {"otp_device": phone.persistent_id, "otp_token": guess})
    assert client.get(TOTP_SETUP)["Location"].startswith(REAUTH)  # no guess landed
    warnings = [m for m in mailoutbox[before:] if m.to == [signed_in.email]]
    assert warnings, "four wrong step-up codes and the owner heard nothing"


# -- concurrency (PostgreSQL) ------------------------------------------------------------


def _api_with_fresh_factor(user) -> APIClient:
    api = APIClient()
    login_verified(api, user)
    fresh_factor(api)
    return api


def _race(monkeypatch, name: str, count: int, requests) -> list:
    """Run ``requests`` in threads that all meet inside ``enrolment.<name>`` before any
    of them goes on: the interleaving two tabs (or a double click) get."""
    from django.db import connection

    barrier = threading.Barrier(count)
    real = getattr(enrolment, name)

    def meet(*args, **kwargs):
        result = real(*args, **kwargs) if name == "find_factor" else None
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=5)
        return result if name == "find_factor" else real(*args, **kwargs)

    monkeypatch.setattr(enrolment, name, meet)
    results: list = []

    def run(request):
        try:
            results.append(request())
        finally:
            connection.close()

    workers = [threading.Thread(target=run, args=(request,)) for request in requests]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_removing_one_factor_twice_at_once_records_it_once(user, monkeypatch):
    """Attack (or a double click): two DELETEs of the same factor at once. Both find it
    (``find_factor``, before any lock), then ``remove_factor`` locks the user and deletes:
    the second deletes nothing but still records a FACTOR_REMOVED TrustEvent, answers 204
    and emails the owner a second time. The audit trail says a factor was removed twice.

    Safe: under the lock, the factor is looked up again; one removal is recorded, the other
    request answers 404.
    """
    phone = TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    TOTPDevice.objects.create(user=user, name="Tablet", confirmed=True)
    tabs = [_api_with_fresh_factor(user) for _ in range(2)]
    url = f"{API}factors/{phone.persistent_id}/"
    statuses = _race(
        monkeypatch, "find_factor", 2, [lambda api=api: api.delete(url).status_code for api in tabs]
    )
    assert sorted(statuses) == [204, 404]
    assert TrustEvent.objects.filter(user=user, action=TrustAction.FACTOR_REMOVED).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_offered_secret_confirmed_twice_at_once_is_one_factor(user, monkeypatch):
    """Attack (or a double click): the offered secret confirmed by two requests at once.
    Both read it from the session before either forgets it; ``confirm_totp`` checks the
    code before any row exists and nothing under the user's lock looks for the same key:
    two TOTP factors share one secret, each with its own ``last_t``, so one observed code
    passes twice (once per twin), and the audit trail and the owner see two apps added.

    Safe: one factor; the second request is refused (the key is claimed under the lock).
    """
    api = _api_with_fresh_factor(user)
    secret = api.post(f"{API}factors/totp/", format="json").json()["secret"]
    twin = APIClient()
    twin.cookies = api.cookies.__class__(api.cookies)
    code = code_for(secret)
    _race(
        monkeypatch,
        "confirm_totp",
        2,
        [
            lambda c=c: (
                c.post(
                    f"{API}factors/totp/confirm/", {"token": code, "name": "Phone"}, format="json"
                ).status_code
            )
            for c in (api, twin)
        ],
    )
    assert TOTPDevice.objects.filter(user=user).count() == 1


# == Defences that held ==================================================================


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_regenerations_at_once_leave_one_valid_set(user, monkeypatch):
    """Two "new backup codes" at once (HTML tab and API, say): both wait on the user's
    lock; the second replaces the first's set. Exactly one set of codes works."""
    api = _api_with_fresh_factor(user)
    html = Client()
    login_verified(html, user)
    fresh_factor(html)
    from django.db import connection

    barrier = threading.Barrier(2)
    real_lock = enrolment._lock_user

    def meet_then_lock(who):
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=5)
        real_lock(who)

    monkeypatch.setattr(enrolment, "_lock_user", meet_then_lock)
    answers: list = []

    def from_api():
        try:
            answers.append(api.post(f"{API}factors/backup-codes/", format="json").json()["codes"])
        finally:
            connection.close()

    def from_html():
        try:
            html.post(BACKUP)
            answers.append(html.get(BACKUP).context["codes"])
        finally:
            connection.close()

    workers = [threading.Thread(target=f) for f in (from_api, from_html)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(answers) == 2
    (device,) = StaticDevice.objects.filter(user=user)
    stored = set(device.token_set.values_list("token", flat=True))
    assert len(stored) == 10
    assert sum(set(codes) == stored for codes in answers) == 1
    assert not any(set(codes) & stored for codes in answers if set(codes) != stored)


def test_the_html_forms_need_the_csrf_token(client, signed_in):
    """A cross-site form cannot make codes, add an app or remove a factor."""
    TOTPDevice.objects.create(user=signed_in, name="Phone", confirmed=True)
    client.get(TOTP_SETUP)
    client.handler.enforce_csrf_checks = True
    phone = TOTPDevice.objects.get(user=signed_in)
    assert client.post(BACKUP).status_code == 403
    assert client.post(BACKUP, {"action": "done"}).status_code == 403
    assert client.post(TOTP_SETUP, {"name": "x", "otp_token": "123456"}).status_code == 403
    assert client.post(remove_url(phone)).status_code == 403
    assert client.post(REAUTH, {"otp_device": "x", "otp_token": "1"}).status_code == 403
    assert not StaticDevice.objects.exists()
    assert TOTPDevice.objects.filter(pk=phone.pk).exists()


def test_the_api_needs_the_csrf_token_with_a_session(user, rupt_server, mailoutbox):
    api = api_sign_in(rupt_server, mailoutbox)
    api.handler.enforce_csrf_checks = True
    assert api.post(f"{API}factors/backup-codes/", format="json").status_code == 403
    assert api.post(f"{API}factors/totp/", format="json").status_code == 403
    assert not StaticDevice.objects.exists()


def test_a_sign_in_allowed_without_a_factor_must_step_up(client, user, login, rupt_server):
    """alice has an app; her laptop is verified, so her sign-in there passes with ALLOW and
    verifies no factor: a fresh sign-in alone must not open the changes (someone with her
    password on her laptop would otherwise add their own app)."""
    phone = TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    login(device="laptop")
    client.post(CHALLENGE, {"otp_device": phone.persistent_id, "otp_token": device_code(phone)})
    assert client.session[SESSION_KEY]["state"] == "passed"
    client.post(LOGOUT)
    login(device="laptop")
    mark = client.session[SESSION_KEY]
    assert mark["state"] == "passed" and "factor_at" not in mark
    assert client.get(TOTP_SETUP)["Location"].startswith(REAUTH)
    assert client.post(BACKUP)["Location"].startswith(REAUTH)
    assert client.post(remove_url(phone))["Location"].startswith(REAUTH)
    api = APIClient()
    api.cookies = client.cookies
    assert api.post(f"{API}factors/backup-codes/", format="json").status_code == 403
    assert api.delete(f"{API}factors/{phone.persistent_id}/").status_code == 403
    assert TOTPDevice.objects.filter(pk=phone.pk).exists()
    assert not StaticDevice.objects.exists()


def test_a_user_with_no_factor_at_all_gets_only_a_fresh_sign_in(client, rupt_server):
    """No factor and no email (nothing to step up with): a sign-in within STEP_UP_TIMEOUT
    counts, an older session does not."""
    nobody = make_user("nobody")
    login_verified(client, nobody)
    assert client.get(TOTP_SETUP).status_code == 200
    age_factor(client)
    assert client.get(TOTP_SETUP)["Location"].startswith(REAUTH)
    assert client.post(BACKUP)["Location"].startswith(REAUTH)


def test_the_enrolment_code_of_the_next_step_cannot_be_replayed(client, signed_in, login):
    """The app's code one step ahead (inside the tolerance) confirms the enrolment; it is
    then spent: neither a step-up nor the next challenge takes it again."""
    secret = secret_on(client.get(TOTP_SETUP))
    ahead = code_for(secret, steps_ahead=1)
    assert client.post(TOTP_SETUP, {"name": "Phone", "otp_token": ahead}).status_code == 302
    phone = TOTPDevice.objects.get(user=signed_in)
    age_factor(client)
    client.post(REAUTH, {"otp_device": phone.persistent_id, "otp_token": ahead})
    assert client.get(TOTP_SETUP)["Location"].startswith(REAUTH)
    client.post(LOGOUT)
    login(device="tablet")
    time.sleep(1.1)  # past django-otp's back-off, so only the replay can refuse it
    client.post(CHALLENGE, {"otp_device": phone.persistent_id, "otp_token": ahead})
    assert client.session[SESSION_KEY]["state"] == "pending"


def test_a_secret_offered_to_one_session_cannot_be_confirmed_from_another(
    client, signed_in, rupt_server, mailoutbox
):
    shown = secret_on(client.get(TOTP_SETUP))
    other = api_sign_in(rupt_server, mailoutbox, device="second-browser")
    response = other.post(
        f"{API}factors/totp/confirm/", {"token": code_for(shown), "name": "x"}, format="json"
    )
    assert response.status_code == 400
    assert not TOTPDevice.objects.exists()


def test_the_email_fallback_is_not_the_users_to_remove(client, signed_in, rupt_server):
    fallback = EmailDevice.objects.get(user=signed_in)
    assert client.get(remove_url(fallback)).status_code == 404
    assert client.post(remove_url(fallback)).status_code == 404
    api = APIClient()
    api.cookies = client.cookies
    assert api.delete(f"{API}factors/{fallback.persistent_id}/").status_code == 404
    assert api.get(f"{API}factors/{fallback.persistent_id}/").status_code == 404
    assert EmailDevice.objects.filter(pk=fallback.pk).exists()


@pytest.mark.parametrize(
    "template",
    [
        "{id}",
        "{id}/",
        "{kind}/../{kind}/{pk}",
        "{kind}/%2e%2e/{kind}/{pk}",
        "{kind}%2F{pk}",
        "{kind}/{pk}%00",
        "{kind}/0{pk}",
        "{kind}/{pk}.0",
        "{kind}/ {pk}",
        "{kind_upper}/{pk}",
    ],
)
def test_another_users_factor_cannot_be_read_or_removed_by_a_crafted_id(
    client, signed_in, template
):
    bob = make_user("bob", "bob@example.com")
    bobs = TOTPDevice.objects.create(user=bob, name="Bob's", confirmed=True)
    kind, pk = bobs.persistent_id.rsplit("/", 1)
    crafted = template.format(id=bobs.persistent_id, kind=kind, pk=pk, kind_upper=kind.upper())
    client.raise_request_exception = False
    api = APIClient(raise_request_exception=False)
    api.cookies = client.cookies
    assert api.get(f"{API}factors/{crafted}/").status_code in (404, 405)
    assert api.delete(f"{API}factors/{crafted}/").status_code in (404, 405)
    assert client.post(f"/rupt-guard/security/factors/{crafted}/remove/").status_code == 404
    assert TOTPDevice.objects.filter(pk=bobs.pk).exists()
    assert not TrustEvent.objects.filter(user=bob).exists()


def test_logout_and_login_forget_the_shown_codes_and_the_offered_secret(
    client, signed_in, login, pass_challenge
):
    offered = secret_on(client.get(TOTP_SETUP))
    client.post(BACKUP)
    codes = client.get(BACKUP).context["codes"]
    client.post(LOGOUT)
    login(device="laptop")  # verified just now: passes with ALLOW
    assert client.session[SESSION_KEY]["state"] == "passed"
    assert client.get(BACKUP).context["codes"] == []
    assert codes[0] not in client.get(BACKUP, {"format": "txt"}).content.decode()
    fresh_factor(client)
    assert secret_on(client.get(TOTP_SETUP)) != offered


def test_the_shown_codes_stay_in_the_session_that_made_them(
    client, signed_in, rupt_server, mailoutbox
):
    client.post(BACKUP)
    other = Client()
    login_verified(other, signed_in)
    assert other.get(BACKUP).context["codes"] == []
    assert "attachment" not in other.get(BACKUP, {"format": "txt"}).get("Content-Disposition", "")


def test_the_download_is_never_cached_and_gone_after_done(client, signed_in):
    client.post(BACKUP)
    codes = client.get(BACKUP).context["codes"]
    download = client.get(BACKUP, {"format": "txt"})
    assert "no-store" in download["Cache-Control"] and "private" in download["Cache-Control"]
    assert "no-store" in client.get(BACKUP)["Cache-Control"]
    client.post(BACKUP, {"action": "done"})
    after = client.get(BACKUP, {"format": "txt"})
    assert after["Content-Type"].startswith("text/html")
    assert not any(code in after.content.decode() for code in codes)


def test_a_step_up_is_not_open_to_a_pending_session(client, user, login, mailoutbox):
    """A challenged session (anonymous until its factor passes) cannot step up instead:
    the step-up page and API send it away, send no code, and its sign-in stays pending."""
    login(device="new")
    assert client.session[SESSION_KEY]["state"] == "pending"
    client.get(CHALLENGE)  # makes the email fallback it offers (and sends its code)
    fallback = EmailDevice.objects.get(user=user)
    mailoutbox.clear()  # the challenge's own code: only what follows must send nothing
    response = client.post(REAUTH, {"otp_device": fallback.persistent_id, "otp_challenge": "1"})
    assert response.status_code == 302 and not response["Location"].startswith(REAUTH)
    api = APIClient()
    api.cookies = client.cookies
    assert api.post(f"{API}reauthenticate/send/", {}, format="json").status_code == 403
    assert mailoutbox == []
    assert client.session[SESSION_KEY]["state"] == "pending"


def test_a_failed_reset_keeps_the_factors_and_leaves_no_record_nor_email(
    user, monkeypatch, mailoutbox, django_capture_on_commit_callbacks
):
    """An exception in the middle of a reset (the session store down while the second
    device's sessions end): the factors, the first device's verification, every TrustEvent
    and the owner's email go together: nothing half done, nothing recorded that did not
    happen."""
    from django.utils import timezone

    TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    for name in ("a", "b"):
        Device.objects.create(user=user, external_id=name, verified_at=timezone.now())
    real_end = recovery.device_actions.end_sessions
    calls = []

    def flaky_end_sessions(device):
        calls.append(device)
        if len(calls) == 2:
            raise ConnectionError("session store down")
        return real_end(device)

    monkeypatch.setattr(recovery.device_actions, "end_sessions", flaky_end_sessions)
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(ConnectionError),
        transaction.atomic(),
    ):
        recovery.reset_factors(user, by=None, reason=REASON, forget_devices=True)
    assert TOTPDevice.objects.filter(user=user).count() == 1
    assert StaticDevice.objects.filter(user=user).count() == 1
    assert Device.objects.filter(user=user, verified_at__isnull=True).count() == 0
    assert not TrustEvent.objects.exists()
    assert mailoutbox == []


def test_a_reset_needs_a_reason_everywhere(user):
    TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    for reason in ("", "   ", "\n\t"):
        with pytest.raises(ValueError):
            recovery.reset_factors(user, by=None, reason=reason)
        with pytest.raises(CommandError):
            call_command("rupt_guard_reset_factors", "alice", reason=reason)
    assert TOTPDevice.objects.filter(user=user).exists()
    assert not TrustEvent.objects.exists()


def test_the_reset_email_leaves_only_after_commit(
    user, mailoutbox, django_capture_on_commit_callbacks
):
    TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    with django_capture_on_commit_callbacks(execute=True) as on_commit:
        recovery.reset_factors(user, by=None, reason=REASON)
        assert mailoutbox == []  # nothing before the commit
    assert on_commit
    assert len(mailoutbox) == 1


def test_staff_with_only_user_permissions_cannot_reset_from_the_user_admin(client, user):
    """A staff member who may edit users but not devices gets no reset, even by posting
    the action's second step (with a reason) directly."""
    from django.contrib.auth.models import Permission

    TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    laptop = Device.objects.create(user=user, external_id="laptop")
    helpdesk = User.objects.create_user("helpdesk", "h@example.com", PASSWORD, is_staff=True)
    helpdesk.user_permissions.set(
        Permission.objects.filter(codename__in=["view_user", "change_user", "view_device"])
    )
    login_verified(client, helpdesk)
    for url, action, pk in (
        ("/admin/auth/user/", "reset_users_factors", user.pk),
        ("/admin/rupt_guard/device/", "reset_owners_factors", laptop.pk),
    ):
        client.post(
            url, {"action": action, "_selected_action": [pk], "apply": "1", "reason": REASON}
        )
    assert TOTPDevice.objects.filter(user=user).exists()
    assert not TrustEvent.objects.exists()


def test_a_forged_host_never_reaches_the_owners_email(
    client, signed_in, settings, mailoutbox, django_capture_on_commit_callbacks
):
    """A careless site with ALLOWED_HOSTS = ["*"]: the request's Host is the attacker's, the
    email's link is still the site's own."""
    settings.ALLOWED_HOSTS = ["*"]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(BACKUP, HTTP_HOST="evil.example")
    assert mailoutbox
    assert all("evil.example" not in mail.body + mail.subject for mail in mailoutbox)
    for mail in mailoutbox:
        for body, _kind in getattr(mail, "alternatives", []):
            assert "evil.example" not in body


ODD_TEXT = [
    "",
    " ",
    "\x00",
    "0" * 5000,
    "\u202e123456",
    "\uff11\uff12\uff13\uff14\uff15\uff16",  # full-width digits
    "-1",
    "1e6",
    "123 456",
    "<script>",
]


def test_odd_input_to_the_security_pages_is_never_a_500(client, signed_in):
    client.raise_request_exception = False
    client.get(TOTP_SETUP)
    seen = set()
    for text in ODD_TEXT:
        for method, url, data in (
            ("post", TOTP_SETUP, {"name": text, "otp_token": text}),
            ("post", TOTP_SETUP, {"name": "Phone", "otp_token": text}),
            ("post", REAUTH, {"otp_device": text, "otp_token": text, "next": text}),
            ("post", BACKUP, {"action": text}),
            ("get", BACKUP, {"format": text}),
            ("get", REAUTH, {"next": text}),
            ("get", SECURITY, {"x": text}),
        ):
            response = getattr(client, method)(url, data)
            seen.add(response.status_code)
            assert response.status_code < 500, (method, url, data)
        fresh_factor(client)  # backup codes made above do not lock the rest out
    assert 200 in seen


def test_odd_input_to_the_factors_api_is_never_a_500(user, rupt_server, mailoutbox):
    api = api_sign_in(rupt_server, mailoutbox)
    api.raise_request_exception = False
    api.post(f"{API}factors/totp/", format="json")
    bodies = [
        *({"token": text, "name": text} for text in ODD_TEXT),
        {"token": 123456},
        {"token": ["123456"]},
        {"token": {"a": 1}},
        {"token": None},
        {"token": "123456", "name": None},
        {"token": "1" * 17},
        {"device": ["x"], "token": "1"},
        {"device": "x" * 300, "token": "1"},
    ]
    for body in bodies:
        for path in ("factors/totp/confirm/", "reauthenticate/", "reauthenticate/send/"):
            response = api.post(f"{API}{path}", body, format="json")
            assert response.status_code < 500, (path, body, response.status_code)
    for junk in (b"not json", b"[]", b'"x"', b"null"):
        response = api.generic("POST", f"{API}factors/totp/confirm/", junk, "application/json")
        assert response.status_code < 500


def test_the_stash_and_codes_never_reach_the_log(client, signed_in, caplog):
    import logging

    with caplog.at_level(logging.DEBUG):
        client.post(BACKUP)
        codes = client.get(BACKUP).context["codes"]
        client.get(BACKUP, {"format": "txt"})
    assert codes and not any(code in caplog.text for code in codes)


def test_the_api_never_shows_a_sets_codes_again(user, rupt_server, mailoutbox):
    """The API answers a set's codes once, in the POST; the listing never repeats them."""
    api = api_sign_in(rupt_server, mailoutbox)
    codes = api.post(f"{API}factors/backup-codes/", format="json").json()["codes"]
    listing = api.get(f"{API}factors/").content.decode()
    assert not any(code in listing for code in codes)
    (factor,) = api.get(f"{API}factors/").json()["factors"]
    detail = api.get(f"{API}factors/{factor['id']}/").content.decode()
    assert not any(code in detail for code in codes)
    assert StaticToken.objects.filter(device__user=user).count() == 10
