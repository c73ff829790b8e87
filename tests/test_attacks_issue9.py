"""Adversarial review of issue 9 (a pending sign-in is not signed in; one lifecycle; no
password-only back doors; trust no race can undo).

Each ``xfail(strict=True)`` test asserts the *secure* behaviour and fails today: it shows a
weakness, and it turns into an XPASS (a failure, so the marker gets removed) once fixed.
The plain tests are regressions for attacks that the code holds and that nothing else in
the suite pins down.
"""

from __future__ import annotations

import base64
import re
import time
from importlib import import_module

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, login
from django.contrib.auth.views import LoginView
from django.contrib.sessions.middleware import SessionMiddleware
from django.core import checks
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.test import Client, RequestFactory
from django.urls import path
from django_otp.forms import OTPAuthenticationForm
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from rupt_guard.choices import ChallengeResult
from rupt_guard.gate.mark import SESSION_KEY
from rupt_guard.gate.notifications import not_me_token
from rupt_guard.gate.sign_in import gated_sign_in
from rupt_guard.models import Device, LoginCheck
from rupt_guard.trust import devices as device_actions
from rupt_guard.trust.factors import EMAIL_FALLBACK_NAME
from rupt_guard.views.forms import ChallengeForm

from . import urls as site_urls
from .conftest import PASSWORD

CHALLENGE = "/rupt-guard/challenge/"
LOGIN_PAGE = "/accounts/login/"
PRIVATE = "/private/"
API_LOGIN = "/api/rupt-guard/login/"
API_SEND = "/api/rupt-guard/challenge/send/"
API_VERIFY = "/api/rupt-guard/challenge/verify/"
AUTH_KEYS = ("_auth_user_id", "_auth_user_backend", "_auth_user_hash")

pytestmark = pytest.mark.django_db


# -- a few views a real site has, for @pytest.mark.urls("tests.test_attacks_issue9") ----------


def basic_auth_api(request):
    """A site's own (non-DRF) JSON endpoint with HTTP Basic, as countless snippets write it:
    ``authenticate(request, ...)`` and no ``login()``."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        username, _, password = base64.b64decode(header[6:]).decode().partition(":")
        user = authenticate(request, username=username, password=password)
        if user is not None:
            return JsonResponse({"user": user.get_username()})
    return JsonResponse({"detail": "unauthorized"}, status=401)


def revoke_in_flight(request):
    """A request of a trusted session that is in flight when its device is revoked (the
    revocation runs in another worker between this request's session load and save)."""
    request.session.get("anything")  # the session is loaded
    device_actions.revoke(Device.objects.get(external_id="dev-trusted"))
    request.session["last_page"] = "in-flight"  # ... and saved on the way out
    return HttpResponse("ok")


urlpatterns = [
    # django-otp's own login form (what OTPAdminSite uses), as the README says sites wire it.
    path("otp-login/", LoginView.as_view(authentication_form=OTPAuthenticationForm)),
    path("basic-api/", basic_auth_api),
    path("in-flight/", revoke_in_flight),
    *site_urls.urlpatterns,
]


# -- helpers -----------------------------------------------------------------------------------


class DirectoryBackend:
    """A password backend that is not a ModelBackend (django-auth-ldap's LDAPBackend, a
    RADIUS or SSO-password backend...): the directory knows alice's password, the local
    password column does not."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username == "alice" and password == "directory password":
            return get_user_model().objects.get(username="alice")
        return None

    def get_user(self, user_id):
        return get_user_model().objects.filter(pk=user_id).first()


def basic(username, password):
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {credentials}"}


def trusted_session(client, login, pass_challenge, device="dev-trusted"):
    """A browser that signed in from ``device`` and passed the challenge."""
    assert login(device=device).status_code == 302
    assert pass_challenge().status_code == 302
    assert client.get(PRIVATE).status_code == 200
    return Device.objects.get(external_id=device)


def login_page_is_reached(client, start, hops=4):
    """Follow redirects from ``start``; True when the login form itself renders."""
    url = start
    for _ in range(hops):
        response = client.get(url)
        if response.status_code != 302:
            return response.status_code == 200 and url.startswith(LOGIN_PAGE)
        url = response["Location"]
    return False


def expire_while_the_code_is_checked(monkeypatch):
    """The pending sign-in's CHALLENGE_TIMEOUT runs out after the gate and the challenge
    view let the request in, while the code is being verified (django-otp locks the factor
    row with SELECT ... FOR UPDATE, so this can take as long as another request holds it)."""
    import rupt_guard.gate.mark

    late = {"by": 0.0}
    real_time = time.time
    monkeypatch.setattr(
        rupt_guard.gate.mark,
        "time",
        type("Clock", (), {"time": staticmethod(lambda: real_time() + late["by"])}),
    )
    original = ChallengeForm.clean

    def clean(self):
        data = original(self)
        late["by"] = 24 * 3600.0  # the clock the mark is read with is now past expires_at
        return data

    monkeypatch.setattr(ChallengeForm, "clean", clean)


def code_from(mailoutbox):
    return re.search(r"\b(\d{6})\b", mailoutbox[-1].body).group(1)


# == 1. password-only back doors =============================================================


# Channels runs login() through database_sync_to_async, which closes the connection: commit
# for real, as tests/test_security_model.py's Channels tests do.
@pytest.mark.django_db(transaction=True)
def test_a_channels_login_is_refused(client, user, rupt_server):
    # README, "A site's own caller": authenticate inside gated_sign_in(), then log in.
    # A Channels consumer would do that with channels.auth.login, which sends
    # user_logged_in with no request: no session the gate could hold, so it is refused.
    from channels.auth import login as channels_login

    session = import_module(settings.SESSION_ENGINE).SessionStore()
    with gated_sign_in():
        alice = authenticate(username="alice", password=PASSWORD)
    assert alice is not None
    with pytest.raises(PermissionDenied):
        async_to_sync(channels_login)({"session": session}, alice)
    # The refusal propagates out of login(), so a consumer never reaches its session.save().
    assert not LoginCheck.objects.exists()


def test_a_non_modelbackend_password_backend_beside_ours_is_an_error(
    client, user, rupt_server, settings
):
    settings.AUTHENTICATION_BACKENDS = [
        "rupt_guard.backends.RuptGuardBackend",
        "tests.test_attacks_issue9.DirectoryBackend",
    ]
    # What it opens today, on the directory password alone: DRF Basic and a token.
    assert client.get("/api/whoami/", **basic("alice", "directory password")).json() == {
        "user": "alice"
    }
    token = client.post("/api/token/", {"username": "alice", "password": "directory password"})
    assert token.status_code == 200
    errors = [
        message
        for message in checks.run_checks()
        if message.id and message.id.startswith("rupt_guard.") and message.is_serious()
    ]
    assert errors


@pytest.mark.urls("tests.test_attacks_issue9")
def test_a_site_view_that_takes_a_password_alone_is_reported(client, user, rupt_server, caplog):
    # A documented limit: authenticate(request, ...) on a request with a session is
    # accepted, because login() may follow. When none does, the gate says so in the log.
    response = client.get("/basic-api/", **basic("alice", PASSWORD))
    assert response.status_code == 200
    assert any(
        "no login() followed" in record.getMessage() and record.levelname == "WARNING"
        for record in caplog.records
    )
    # A sign-in that does call login() is not reported.
    caplog.clear()
    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert not any("no login() followed" in record.getMessage() for record in caplog.records)


# == 2. keeping a session after its device was blocked =======================================


@pytest.mark.parametrize("how", ["staff block", "this wasn't me"])
def test_a_block_while_the_code_is_checked_wins(client, user, login, email_code, monkeypatch, how):
    assert login(device="dev-stolen").status_code == 302
    device_id, code = email_code()
    check = LoginCheck.objects.get()
    original = ChallengeForm.clean

    def clean(self):
        # The block commits (another request, another worker) after the code was read.
        data = original(self)
        if how == "staff block":
            device_actions.block(Device.objects.get(external_id="dev-stolen"))
        else:
            owner = Client()  # the owner's mail client follows the link in the email
            assert owner.post(f"/rupt-guard/not-me/{not_me_token(check)}/").status_code == 200
        return data

    monkeypatch.setattr(ChallengeForm, "clean", clean)
    client.post(CHALLENGE, {"otp_device": device_id, "otp_token": code})
    assert Device.objects.get(external_id="dev-stolen").is_blocked
    assert client.get(PRIVATE).status_code != 200  # today: the private page


def test_a_block_right_after_a_session_key_rotation_ends_the_session(
    client, user, login, pass_challenge
):
    device = trusted_session(client, login, pass_challenge)
    # The session changes its key (here Django's password change; any cycle_key() does),
    # and does not follow the redirect yet.
    changed = client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "brand new pass 42!",
            "new_password2": "brand new pass 42!",
        },
    )
    assert changed.status_code == 302
    device_actions.block(Device.objects.get(pk=device.pk))
    assert client.get(PRIVATE).status_code != 200  # today: "private page of alice"


@pytest.mark.urls("tests.test_attacks_issue9")
@pytest.mark.parametrize(
    "engine",
    ["django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cache"],
)
def test_a_request_in_flight_cannot_bring_back_a_revoked_session(
    client, user, login, pass_challenge, settings, engine
):
    # Revocation ends sessions by deleting them; a request of that session that was already
    # running saves it on the way out. Django's server-side stores refuse to re-create a
    # deleted key (UpdateError), which is what revocation relies on.
    settings.SESSION_ENGINE = engine
    trusted_session(client, login, pass_challenge)
    assert client.get("/in-flight/").status_code == 400  # SessionInterrupted
    assert client.get(PRIVATE)["Location"].startswith(LOGIN_PAGE)


# == 3. login paths answering 500 ============================================================


def test_a_challenge_expiring_while_its_code_is_checked_is_no_500(
    client, user, login, email_code, monkeypatch
):
    assert login().status_code == 302
    device_id, code = email_code()
    expire_while_the_code_is_checked(monkeypatch)
    client.raise_request_exception = False
    response = client.post(CHALLENGE, {"otp_device": device_id, "otp_token": code})
    assert response.status_code < 500  # today: 500
    assert client.get(PRIVATE).status_code != 200


def test_an_api_challenge_expiring_while_its_code_is_checked_is_no_500(
    client, user, login, mailoutbox, monkeypatch
):
    assert login().status_code == 302
    (method,) = client.get(CHALLENGE).context["devices"]  # the page sends its code
    assert len(mailoutbox) == 1
    expire_while_the_code_is_checked(monkeypatch)
    client.raise_request_exception = False
    response = client.post(
        API_VERIFY,
        {"device": method.persistent_id, "token": code_from(mailoutbox)},
        content_type="application/json",
    )
    assert response.status_code < 500  # today: 500


# == 4. pending / passed states that cannot go anywhere ======================================


def deactivate(user, settings):
    user.is_active = False
    user.save()


def delete(user, settings):
    user.delete()


def change_password(user, settings):
    user.set_password("changed from the phone meanwhile")
    user.save()


def remove_backend(user, settings):
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]


@pytest.mark.parametrize(
    "what_happened", [change_password, deactivate, delete, remove_backend], ids=lambda f: f.__name__
)
def test_a_pending_sign_in_that_can_no_longer_pass_ends_instead_of_looping(
    client, user, login, settings, what_happened
):
    assert login().status_code == 302
    assert client.get(CHALLENGE).status_code == 200
    what_happened(user, settings)
    assert login_page_is_reached(client, CHALLENGE)  # today: challenge <-> login forever
    assert not LoginCheck.objects.filter(challenge_result=ChallengeResult.PENDING).exists()


def test_a_deactivated_pending_user_cannot_pass_the_challenge(client, user, login, email_code):
    # pending_user() loads the user like Django's get_user(): ModelBackend.get_user refuses
    # an inactive user, so a valid code of a deactivated account signs nobody in.
    assert login().status_code == 302
    device_id, code = email_code()
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    response = client.post(CHALLENGE, {"otp_device": device_id, "otp_token": code})
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN_PAGE)
    assert not set(AUTH_KEYS) & set(client.session.keys())
    # The sign-in that can no longer pass is over, not left pending.
    assert SESSION_KEY not in client.session
    assert LoginCheck.objects.get().challenge_result == ChallengeResult.ENDED


def test_an_api_sign_in_over_a_pending_one_gives_the_pending_one_up(
    client, user, login, rupt_server, mailoutbox, django_capture_on_commit_callbacks
):
    bob = get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
    rupt_server.pairs.add((str(bob.pk), "dev-bob"))
    rupt_server.metadata["dev-bob"] = {}
    Device.objects.create(user=bob, external_id="dev-bob", verified_at="2026-11-01T00:00:00Z")
    with django_capture_on_commit_callbacks(execute=True):
        assert login(device="dev-x").status_code == 302  # alice's password, no factor
        response = client.post(
            API_LOGIN,
            {
                "username": "bob",
                "password": PASSWORD,
                "rupt_identification": rupt_server.identify("dev-bob"),
            },
            content_type="application/json",
        )
    assert response.status_code == 200
    alices = LoginCheck.objects.get(user=user)
    assert alices.challenge_result == ChallengeResult.GIVEN_UP  # today: "pending" forever
    assert [m.to for m in mailoutbox] == [["alice@example.com"]]


def test_wrong_codes_spread_over_sign_ins_still_warn_the_owner(
    user, rupt_server, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for attempt in range(3):
            attacker = Client()  # a fresh browser (or cookie jar) for every sign-in
            attacker.post(
                LOGIN_PAGE,
                {
                    "username": "alice",
                    "password": PASSWORD,
                    "rupt_identification": rupt_server.identify(f"dev-attacker-{attempt}"),
                },
            )
            (factor,) = attacker.get(CHALLENGE).context["devices"]
            for _ in range(2):
                attacker.post(CHALLENGE, {"otp_device": factor.persistent_id, "otp_token": "0"})
    # Six wrong codes on alice's account; FAILED_CODES_BEFORE_NOTICE is 3.
    assert any(m.to == ["alice@example.com"] for m in mailoutbox)  # today: no email at all


# == 5. django-otp's own login form ==========================================================


@pytest.mark.urls("tests.test_attacks_issue9")
def test_the_otp_login_form_does_not_take_the_email_fallback_over_a_real_factor(
    client, user, rupt_server, mailoutbox
):
    # Left over from a sign-in before alice enrolled her authenticator app.
    fallback = EmailDevice.objects.create(user=user, name=EMAIL_FALLBACK_NAME, confirmed=True)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    form = {"username": "alice", "password": PASSWORD, "otp_device": fallback.persistent_id}
    client.post("/otp-login/", {**form, "otp_challenge": "1"})
    code = code_from(mailoutbox)  # the mailbox (same password?), not the phone
    client.post(
        "/otp-login/",
        {**form, "otp_token": code, "rupt_identification": rupt_server.identify("dev-o")},
    )
    assert client.get(PRIVATE).status_code != 200  # today: signed in, device verified
    assert Device.objects.get(external_id="dev-o").verified_at is None


def login_request(data):
    request = RequestFactory().post(LOGIN_PAGE, data)
    SessionMiddleware(lambda r: None).process_request(request)
    return request


def test_an_unconfirmed_factor_on_the_login_form_is_no_second_factor(user, rupt_server):
    request = login_request(
        {"username": "alice", "password": PASSWORD, "rupt_identification": rupt_server.identify()}
    )
    alice = authenticate(request, username="alice", password=PASSWORD)
    # A factor whose enrolment never finished (the attacker may have started it).
    alice.otp_device = TOTPDevice.objects.create(user=user, name="half-set-up", confirmed=False)
    login(request, alice)
    assert request.session[SESSION_KEY]["state"] == "pending"
    assert not set(AUTH_KEYS) & set(request.session.keys())
    assert not request.user.is_authenticated


def test_a_check_made_for_one_user_never_lets_another_in(user, rupt_server):
    # authenticate() of alice from her verified device, then login() of bob in the same
    # request: bob must get his own check, not alice's "allow".
    bob = get_user_model().objects.create_user("bob", "bob@example.com", "bob password 1")
    rupt_server.pairs.add((str(user.pk), "dev-alice"))
    rupt_server.metadata["dev-alice"] = {}
    Device.objects.create(user=user, external_id="dev-alice", verified_at="2026-11-01T00:00Z")
    request = login_request(
        {
            "username": "alice",
            "password": PASSWORD,
            "rupt_identification": rupt_server.identify("dev-alice"),
        }
    )
    assert authenticate(request, username="alice", password=PASSWORD) == user
    bob.backend = "rupt_guard.backends.RuptGuardBackend"
    login(request, bob)
    assert request.session[SESSION_KEY]["state"] == "pending"
    assert request.session[SESSION_KEY]["auth"]["_auth_user_id"] == str(bob.pk)
    assert not request.user.is_authenticated
    assert LoginCheck.objects.filter(user=bob).count() == 1
