"""django-allauth's own pages, as a user meets them, with rupt_guard's stages and form."""

from __future__ import annotations

import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from django.contrib.messages import get_messages

from rupt_guard.choices import ChallengeResult, Decision, Reason, VerificationMethod
from rupt_guard.models import Device, LoginCheck
from rupt_guard.trust.devices import forget_verifications
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
CHALLENGE = "/rupt-guard/challenge/"
PRIVATE = "/private/"
SIGNED_IN = "Successfully signed in"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def allauth_login(client, rupt_server):
    """allauth's login form, posted as its page and the identify script would."""

    def sign_in(login="alice", password=PASSWORD, *, device=None, token=..., **extra):
        data = {"login": login, "password": password}
        if token is ...:
            token = rupt_server.identify(device)
        if token is not None:
            data["rupt_identification"] = token
        return client.post(LOGIN, data, **extra)

    return sign_in


def totp_code(secret: str = SECRET, *, step: int = 0) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30 + step))


def test_allauths_own_login_page_carries_the_field_and_the_script(client, user):
    page = client.get(LOGIN)
    assert page.status_code == 200
    assert "account/login.html" in [t.name for t in page.templates]  # allauth's own template
    html = page.content.decode()
    assert 'name="rupt_identification"' in html
    assert 'name="rupt_identification_error"' in html
    assert "/static/rupt_guard/identify.js" in html
    assert 'data-client-id="test-client"' in html


def test_a_new_device_is_held_with_no_signed_in_message_until_the_challenge_passes(
    client, user, allauth_login, pass_challenge
):
    response = allauth_login()
    assert response.status_code == 302
    assert response["Location"].startswith(CHALLENGE)
    assert SIGNED_IN not in " ".join(messages_of(response))
    assert "_auth_user_id" not in client.session  # held: anonymous until the factor
    assert client.get(PRIVATE)["Location"].startswith(CHALLENGE)

    passed = pass_challenge()
    assert passed.status_code == 302
    assert client.get(passed["Location"]).status_code == 200
    assert client.get(PRIVATE).content.decode() == "private page of alice"
    check = LoginCheck.objects.get()  # one check for the whole flow
    assert (check.decision, check.reason) == (Decision.CHALLENGE, Reason.NEW_DEVICE)
    assert check.challenge_result == ChallengeResult.PASSED
    assert Device.objects.get().verified_at is not None


def test_a_known_verified_device_signs_in_as_allauth_says(client, user, allauth_login, rupt_server):
    rupt_server.pairs.add((str(user.pk), "dev-known"))
    rupt_server.metadata["dev-known"] = {}
    Device.objects.create(user=user, external_id="dev-known", verified_at="2026-01-01T00:00:00Z")
    response = allauth_login(device="dev-known")
    assert response.status_code == 302
    assert response["Location"] == PRIVATE
    assert any(SIGNED_IN in m for m in messages_of(response))
    assert client.get(PRIVATE).status_code == 200
    assert LoginCheck.objects.get().reason == Reason.VERIFIED_DEVICE


def test_a_blocked_device_gets_the_forms_wrong_credentials(
    client, user, allauth_login, rupt_server
):
    rupt_server.pairs.add((str(user.pk), "dev-bad"))
    rupt_server.metadata["dev-bad"] = {}
    Device.objects.create(user=user, external_id="dev-bad", blocked_at="2026-01-01T00:00:00Z")
    response = allauth_login(device="dev-bad")
    assert response.status_code == 200
    assert response.context["form"].errors
    assert "_auth_user_id" not in client.session
    assert LoginCheck.objects.get().decision == Decision.BLOCK


def signup(client):
    return client.post(
        "/accounts/signup/",
        {
            "username": "bob",
            "email": "bob@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )


def test_the_sign_in_right_after_signup_is_not_challenged(client, db, rupt_server):
    response = signup(client)
    assert response.status_code == 302
    assert not response["Location"].startswith(CHALLENGE)
    assert client.get(PRIVATE).content.decode() == "private page of bob"
    check = LoginCheck.objects.get()
    assert (check.decision, check.reason) == (Decision.ALLOW, Reason.SIGNED_UP)


def test_on_signup_challenge_holds_the_new_account_too(client, db, guard_settings_override):
    guard_settings_override(ON_SIGNUP="challenge")
    response = signup(client)
    assert response["Location"].startswith(CHALLENGE)
    assert SIGNED_IN not in " ".join(messages_of(response))
    assert client.get(PRIVATE)["Location"].startswith(CHALLENGE)
    assert LoginCheck.objects.get().reason == Reason.SIGNED_UP


def test_a_totp_user_passes_on_allauths_own_mfa_stage_once(client, user, allauth_login):
    totp = TOTP.activate(user, SECRET)
    response = allauth_login()
    assert response["Location"] == "/accounts/2fa/authenticate/"  # allauth.mfa asks first
    assert "_auth_user_id" not in client.session

    response = client.post("/accounts/2fa/authenticate/", {"code": totp_code()})
    assert response["Location"] == "/accounts/2fa/trust/"  # allauth's next stage
    response = client.post("/accounts/2fa/trust/", {"action": "no"})
    assert response.status_code == 302
    assert response["Location"] == PRIVATE  # not asked again, by us
    assert any(SIGNED_IN in m for m in messages_of(response))
    assert client.get(PRIVATE).status_code == 200
    check = LoginCheck.objects.get()
    assert (check.decision, check.challenge_result) == (Decision.CHALLENGE, ChallengeResult.PASSED)
    device = Device.objects.get()
    assert device.verification_method == VerificationMethod.TOTP
    assert device.verified_with == f"allauth.mfa:{totp.instance.pk}"
    # django-otp's middleware is not confused by a factor that is not one of its devices.
    assert client.get(PRIVATE).status_code == 200


def test_a_wrong_code_at_allauths_mfa_stage_signs_nobody_in(client, user, allauth_login):
    TOTP.activate(user, SECRET)
    allauth_login()
    response = client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert response.status_code == 200
    assert client.get(PRIVATE).status_code == 302
    assert LoginCheck.objects.get().challenge_result == ChallengeResult.PENDING


def test_recovery_codes_are_offered_and_spent_at_the_challenge(client, user, allauth_login):
    codes = RecoveryCodes.activate(user)
    code = codes.get_unused_codes()[0]
    response = allauth_login()
    assert response["Location"].startswith(CHALLENGE)  # no TOTP: allauth's stage skipped
    page = client.get(CHALLENGE)
    assert page.context["method"].label == "Backup code"  # not the email fallback
    assert not page.context["email_devices"]

    factor_id = page.context["method"].id
    wrong = client.post(CHALLENGE, {"otp_device": factor_id, "otp_token": "nope-nope"})
    assert wrong.status_code == 200
    passed = client.post(CHALLENGE, {"otp_device": factor_id, "otp_token": code})
    assert passed.status_code == 302
    assert client.get(PRIVATE).status_code == 200
    assert code not in RecoveryCodes(Authenticator.objects.get()).get_unused_codes()
    assert Device.objects.get().verification_method == VerificationMethod.BACKUP_CODE


def test_allauths_headless_login_is_held_and_completed_through_the_rest_api(
    client, user, rupt_server
):
    codes = RecoveryCodes.activate(user)
    client.get("/api/rupt-guard/login/")  # the csrftoken cookie, as an SPA gets it
    csrf = {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}
    response = client.post(
        "/_allauth/browser/v1/auth/login",
        {"username": "alice", "password": PASSWORD},
        content_type="application/json",
        **csrf,
    )
    assert response.status_code == 401
    (flow,) = response.json()["data"]["flows"]
    assert (flow["id"], flow["is_pending"]) == ("rupt_guard_challenge", True)
    (method,) = flow["methods"]
    assert method["type"] == VerificationMethod.BACKUP_CODE
    session = client.get("/_allauth/browser/v1/auth/session", HTTP_ACCEPT="application/json")
    assert session.status_code in (401, 403)  # nobody signed in meanwhile

    verified = client.post(
        "/api/rupt-guard/challenge/verify/",
        {"device": method["device"], "token": codes.get_unused_codes()[0]},
        content_type="application/json",
        **csrf,
    )
    assert verified.status_code == 200
    session = client.get("/_allauth/browser/v1/auth/session", HTTP_ACCEPT="application/json")
    assert session.status_code == 200
    assert session.json()["data"]["user"]["username"] == "alice"
    assert LoginCheck.objects.get().challenge_result == ChallengeResult.PASSED


def test_a_headless_client_sends_the_token_beside_allauths_fields(client, user, rupt_server):
    rupt_server.pairs.add((str(user.pk), "dev-known"))
    rupt_server.metadata["dev-known"] = {}
    Device.objects.create(user=user, external_id="dev-known", verified_at="2026-01-01T00:00:00Z")
    response = client.post(
        "/_allauth/browser/v1/auth/login",
        {
            "username": "alice",
            "password": PASSWORD,
            "rupt_identification": rupt_server.identify("dev-known"),
        },
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["data"]["user"]["username"] == "alice"
    assert LoginCheck.objects.get().reason == Reason.VERIFIED_DEVICE


def test_a_totp_user_allauth_trusts_is_offered_totp_by_the_challenge(
    client, user, allauth_login, settings
):
    """allauth's "trust this browser" skips its MFA stage while rupt_guard no longer
    trusts the device (revoked here): the challenge asks for the user's authenticator."""
    settings.MFA_TOTP_TOLERANCE = 1  # the next period's code, for the second sign-in
    TOTP.activate(user, SECRET)
    allauth_login(device="dev-1")
    client.post("/accounts/2fa/authenticate/", {"code": totp_code()})
    client.post("/accounts/2fa/trust/", {"action": "trust"})
    assert client.get(PRIVATE).status_code == 200
    client.post("/accounts/logout/")
    forget_verifications(user)  # e.g. the owner revoked the device on the devices page

    response = allauth_login(device="dev-1")
    assert response["Location"].startswith(CHALLENGE)  # allauth trusted it, we did not
    page = client.get(CHALLENGE)
    assert page.context["method"].label == "Authenticator app"
    assert not page.context["email_devices"]  # never the email fallback
    passed = client.post(
        CHALLENGE, {"otp_device": page.context["method"].id, "otp_token": totp_code(step=1)}
    )
    assert passed.status_code == 302
    assert client.get(PRIVATE).status_code == 200
    assert [c.challenge_result for c in LoginCheck.objects.order_by("pk")] == [
        ChallengeResult.PASSED,
        ChallengeResult.PASSED,
    ]


def test_a_check_closed_while_allauths_mfa_waited_is_replaced_not_skipped(
    client, user, allauth_login
):
    TOTP.activate(user, SECRET)
    allauth_login()
    # CHALLENGE_TIMEOUT ran out at allauth's MFA page: the sweep closed the check.
    LoginCheck.objects.update(challenge_result=ChallengeResult.EXPIRED)
    client.post("/accounts/2fa/authenticate/", {"code": totp_code()})
    response = client.post("/accounts/2fa/trust/", {"action": "no"})
    assert response["Location"] == PRIVATE  # allauth's MFA is this new check's factor
    assert client.get(PRIVATE).status_code == 200
    first, second = LoginCheck.objects.order_by("pk")
    assert first.challenge_result == ChallengeResult.EXPIRED
    assert (second.reason, second.challenge_result) == (
        Reason.MISSING_TOKEN,
        ChallengeResult.PASSED,
    )
