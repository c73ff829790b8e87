"""Passkeys (rupt_guard.passkeys) through the Django test client, with a software authenticator.

The authenticator below answers the WebAuthn ceremonies as a real one does (a P-256 key,
attestation "none", signed assertions), so every ceremony here is verified for real by
django-otp-webauthn and py_webauthn: enrolment after a step-up, the challenge of a pending
sign-in, a step-up, and each refusal, which must be a JSON error and never a server error.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import time
from base64 import urlsafe_b64decode, urlsafe_b64encode

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.contrib.auth import get_user_model
from django.urls import include, path
from django.utils import timezone
from django_otp_webauthn.models import WebAuthnCredential

from rupt_guard.choices import ChallengeResult, TrustAction, VerificationMethod
from rupt_guard.gate.mark import SESSION_KEY
from rupt_guard.models import Device, LoginCheck, TrustEvent

from .conftest import PASSWORD
from .factors_kit import age_factor

pytestmark = pytest.mark.django_db

ORIGIN = "http://localhost"  # tests/settings.py: OTP_WEBAUTHN_ALLOWED_ORIGINS
BASE = "/rupt-guard/passkeys/"
CHALLENGE_BEGIN = f"{BASE}challenge/begin/"
CHALLENGE_COMPLETE = f"{BASE}challenge/complete/"
STEP_UP_BEGIN = f"{BASE}confirm/begin/"
STEP_UP_COMPLETE = f"{BASE}confirm/complete/"
REGISTER_BEGIN = f"{BASE}add/begin/"
REGISTER_COMPLETE = f"{BASE}add/complete/"
CATALOG = f"{BASE}jsi18n/"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def b64(raw: bytes) -> str:
    return urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    """A passkey in software: what a browser's authenticator answers to
    ``navigator.credentials.create()`` and ``.get()``."""

    def __init__(self, credential_id: bytes | None = None) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = credential_id or os.urandom(32)
        self.sign_count = 0

    def cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    @staticmethod
    def client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin}).encode()

    def create(self, options: dict, origin: str = ORIGIN, extensions: object = None) -> dict:
        client_data = self.client_data("webauthn.create", options["challenge"], origin)
        rp_hash = hashlib.sha256(options["rp"]["id"].encode()).digest()
        flags = 0x01 | 0x04 | 0x40  # user present, user verified, attested credential data
        attested = (
            bytes(16)  # AAGUID
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + self.cose_public_key()
        )
        auth_data = rp_hash + bytes([flags]) + struct.pack(">I", self.sign_count) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64(self.credential_id),
            "rawId": b64(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(client_data),
                "attestationObject": b64(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": (
                {"credProps": {"rk": True}} if extensions is None else extensions
            ),
            "authenticatorAttachment": "platform",
        }

    def get(self, options: dict, origin: str = ORIGIN) -> dict:
        self.sign_count += 1
        client_data = self.client_data("webauthn.get", options["challenge"], origin)
        rp_hash = hashlib.sha256(options["rpId"].encode()).digest()
        auth_data = rp_hash + bytes([0x01 | 0x04]) + struct.pack(">I", self.sign_count)
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64(self.credential_id),
            "rawId": b64(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(client_data),
                "authenticatorData": b64(auth_data),
                "signature": b64(signature),
                "userHandle": None,
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def offered_in(self, options: dict) -> bool:
        return b64(self.credential_id) in [c["id"] for c in options["allowCredentials"]]


def post_json(client, url: str, body: object, **extra):
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


def begin(client, url: str):
    # As the script asks: a POST with no body, the CSRF token in a header.
    return client.post(url, HTTP_ACCEPT="application/json")


def refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == code, response.json()


def state(client) -> str:
    return client.session[SESSION_KEY]["state"]


@pytest.fixture
def signed_in(client, user, login, pass_challenge):
    """alice, signed in on a laptop just now with an email code (her step-up is fresh)."""
    assert login(device="laptop").status_code == 302
    assert pass_challenge().status_code == 302
    assert state(client) == "passed"
    return client


def enrol(client, authenticator: SoftAuthenticator, **extra):
    options = begin(client, REGISTER_BEGIN)
    assert options.status_code == 200, options.content
    return post_json(client, REGISTER_COMPLETE, authenticator.create(options.json()), **extra)


def credential_for(user, authenticator: SoftAuthenticator, *, confirmed: bool = True):
    """A passkey of ``user`` made directly (as if enrolled earlier)."""
    return WebAuthnCredential.objects.create(
        user=user,
        name="Security key",
        confirmed=confirmed,
        credential_id=authenticator.credential_id,
        public_key=authenticator.cose_public_key(),
        aaguid="00000000-0000-0000-0000-000000000000",
    )


@pytest.fixture
def passkey(user):
    authenticator = SoftAuthenticator()
    credential_for(user, authenticator)
    return authenticator


@pytest.fixture
def pending(client, user, login, passkey):
    """alice, who has a passkey, signing in from a new phone: challenged."""
    assert login(device="phone").status_code == 302
    assert state(client) == "pending"
    return client


# -- the whole way: enrol after a challenge, then pass the next challenge with it ----------


def test_a_passkey_added_on_the_security_page_passes_the_next_challenge(
    client, user, login, signed_in, mailoutbox, django_capture_on_commit_callbacks
):
    authenticator = SoftAuthenticator()
    before = len(mailoutbox)
    with django_capture_on_commit_callbacks(execute=True):
        done = enrol(client, authenticator, HTTP_USER_AGENT=CHROME)
    # The owner hears of it, as of any factor added.
    (email,) = mailoutbox[before:]
    assert email.to == ["alice@example.com"]
    assert email.subject.startswith("Your second factors changed")
    assert "A second factor was added to your account: Passkey: Chrome on Linux." in email.body
    assert done.status_code == 200, done.content
    credential = WebAuthnCredential.objects.get(user=user)
    assert done.json() == {"id": credential.pk}
    assert credential.name == "Chrome on Linux"
    assert credential.confirmed
    event = TrustEvent.objects.get(user=user, action=TrustAction.FACTOR_ADDED)
    assert event.device_label == "Passkey: Chrome on Linux"
    assert event.actor == user
    page = client.get("/rupt-guard/security/")
    assert "Passkey" in page.content.decode() and "Chrome on Linux" in page.content.decode()

    client.post("/rupt-guard/logout/")
    assert login(device="phone", next="/private/data.json").status_code == 302
    assert state(client) == "pending"
    page = client.get("/rupt-guard/challenge/")
    assert page.context["passkeys"] == [credential]
    # The passkey is the user's factor now: no email code is offered beside it.
    assert page.context["code_devices"] == []

    options = begin(client, CHALLENGE_BEGIN)
    assert options.status_code == 200, options.content
    assert authenticator.offered_in(options.json())
    assert len(options.json()["allowCredentials"]) == 1
    assertion = authenticator.get(options.json())
    done = post_json(client, f"{CHALLENGE_COMPLETE}?next=/private/data.json", assertion)
    assert done.status_code == 200, done.content
    assert done.json() == {"id": credential.pk, "redirect_url": "/private/data.json"}

    assert client.get("/private/").status_code == 200
    assert state(client) == "passed"
    assert client.session["otp_device_id"] == credential.persistent_id
    phone = Device.objects.get(user=user, external_id="phone")
    assert phone.is_verified
    assert phone.verification_method == VerificationMethod.PASSKEY
    assert phone.verified_with == credential.persistent_id
    check = LoginCheck.objects.filter(user=user).latest("pk")
    assert check.challenge_result == ChallengeResult.PASSED
    credential.refresh_from_db()
    assert credential.sign_count == 1
    assert credential.last_used_at is not None


def test_without_next_the_passkey_leads_to_login_redirect_url(pending, passkey):
    options = begin(pending, CHALLENGE_BEGIN).json()
    done = post_json(pending, CHALLENGE_COMPLETE, passkey.get(options))
    assert done.json()["redirect_url"] == "/private/"
    assert state(pending) == "passed"


def test_a_next_to_another_site_is_not_followed(pending, passkey):
    options = begin(pending, CHALLENGE_BEGIN).json()
    done = post_json(
        pending, f"{CHALLENGE_COMPLETE}?next=https://evil.example/", passkey.get(options)
    )
    assert done.json()["redirect_url"] == "/private/"


# -- the challenge refuses ------------------------------------------------------------------


@pytest.mark.parametrize("url", [CHALLENGE_BEGIN, CHALLENGE_COMPLETE])
def test_nothing_pending_is_refused(client, user, url):
    refused(post_json(client, url, {}), 403, "no_challenge_pending")


@pytest.mark.parametrize("url", [CHALLENGE_BEGIN, CHALLENGE_COMPLETE])
def test_a_signed_in_session_has_no_challenge_to_pass(signed_in, url):
    refused(post_json(signed_in, url, {}), 403, "no_challenge_pending")


def test_a_pending_user_without_a_passkey_is_refused_not_offered_any_credential(
    client, user, login
):
    assert login(device="phone").status_code == 302
    response = begin(client, CHALLENGE_BEGIN)
    refused(response, 403, "no_passkey")
    assert "allowCredentials" not in response.json()
    assert state(client) == "pending"


def test_another_users_passkey_is_refused(pending, passkey, user):
    bob = get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
    bobs = SoftAuthenticator()
    credential_for(bob, bobs)
    options = begin(pending, CHALLENGE_BEGIN).json()
    assert passkey.offered_in(options) and not bobs.offered_in(options)
    refused(post_json(pending, CHALLENGE_COMPLETE, bobs.get(options)), 403, "passkey_not_accepted")
    assert state(pending) == "pending"
    assert pending.get("/private/").status_code == 302


def test_an_unknown_passkey_is_refused_in_the_same_words(pending):
    options = begin(pending, CHALLENGE_BEGIN).json()
    stranger = post_json(pending, CHALLENGE_COMPLETE, SoftAuthenticator().get(options))
    refused(stranger, 403, "passkey_not_accepted")
    assert state(pending) == "pending"


def test_a_disabled_passkey_is_neither_offered_nor_accepted(client, user, login):
    disabled, enabled = SoftAuthenticator(), SoftAuthenticator()
    credential_for(user, disabled, confirmed=False)
    credential_for(user, enabled)
    assert login(device="phone").status_code == 302
    options = begin(client, CHALLENGE_BEGIN).json()
    assert enabled.offered_in(options) and not disabled.offered_in(options)
    refused(
        post_json(client, CHALLENGE_COMPLETE, disabled.get(options)), 403, "passkey_not_accepted"
    )
    assert state(client) == "pending"


def test_only_disabled_passkeys_are_no_passkey(client, user, login):
    credential_for(user, SoftAuthenticator(), confirmed=False)
    assert login(device="phone").status_code == 302
    refused(begin(client, CHALLENGE_BEGIN), 403, "no_passkey")


def test_a_forged_signature_is_refused(pending, passkey):
    options = begin(pending, CHALLENGE_BEGIN).json()
    assertion = passkey.get(options)
    assertion["response"]["signature"] = b64(b"\x30\x06\x02\x01\x01\x02\x01\x01")
    refused(
        post_json(pending, CHALLENGE_COMPLETE, assertion), 422, "invalid_authentication_response"
    )
    assert state(pending) == "pending"


def test_an_assertion_for_another_origin_is_refused(pending, passkey):
    options = begin(pending, CHALLENGE_BEGIN).json()
    assertion = passkey.get(options, origin="https://evil.example")
    refused(
        post_json(pending, CHALLENGE_COMPLETE, assertion), 422, "invalid_authentication_response"
    )


def test_each_begin_is_used_once(pending, passkey):
    options = begin(pending, CHALLENGE_BEGIN).json()
    assertion = passkey.get(options)
    # Completing without a begin, or replaying one: the state is gone.
    first = post_json(pending, CHALLENGE_COMPLETE, {"bad": "data"})
    refused(first, 422, "invalid_json_structure")
    refused(post_json(pending, CHALLENGE_COMPLETE, assertion), 400, "invalid_state")
    assert state(pending) == "pending"


def test_a_replayed_assertion_is_refused_after_the_sign_in_passed(pending, passkey, login, user):
    options = begin(pending, CHALLENGE_BEGIN).json()
    assertion = passkey.get(options)
    assert post_json(pending, CHALLENGE_COMPLETE, assertion).status_code == 200
    pending.post("/rupt-guard/logout/")
    assert login(device="tablet").status_code == 302
    begin(pending, CHALLENGE_BEGIN)  # a new challenge: the old assertion signed another
    refused(
        post_json(pending, CHALLENGE_COMPLETE, assertion), 422, "invalid_authentication_response"
    )


def test_a_sign_in_withdrawn_while_waiting_ends_with_a_json_error(pending, passkey, user):
    options = begin(pending, CHALLENGE_BEGIN).json()
    check = LoginCheck.objects.filter(user=user).latest("pk")
    # "This wasn't me" from the email, while the passkey was being used.
    LoginCheck.objects.filter(pk=check.pk).update(reported_at=timezone.now())
    response = post_json(pending, CHALLENGE_COMPLETE, passkey.get(options))
    refused(response, 401, "challenge_expired")
    assert "sign in again" in response.json()["detail"]
    check.refresh_from_db()
    assert check.challenge_result == ChallengeResult.ENDED
    assert SESSION_KEY not in pending.session
    assert pending.get("/private/").status_code == 302
    assert not Device.objects.filter(user=user, external_id="phone", verified_at__isnull=False)


def test_a_blocked_device_ends_the_sign_in(pending, passkey, user):
    options = begin(pending, CHALLENGE_BEGIN).json()
    Device.objects.filter(user=user, external_id="phone").update(blocked_at=timezone.now())
    refused(post_json(pending, CHALLENGE_COMPLETE, passkey.get(options)), 401, "challenge_expired")
    check = LoginCheck.objects.filter(user=user).latest("pk")
    assert check.challenge_result == ChallengeResult.ENDED


def test_a_password_changed_while_pending_ends_the_sign_in(pending, passkey, user):
    user.set_password("a new password entirely")
    user.save()
    refused(begin(pending, CHALLENGE_BEGIN), 401, "challenge_expired")
    check = LoginCheck.objects.filter(user=user).latest("pk")
    assert check.challenge_result == ChallengeResult.ENDED
    refused(begin(pending, CHALLENGE_BEGIN), 403, "no_challenge_pending")


def test_an_expired_challenge_answers_json(pending, passkey, user):
    options = begin(pending, CHALLENGE_BEGIN).json()
    session = pending.session
    session[SESSION_KEY] = {**session[SESSION_KEY], "expires_at": time.time() - 1}
    session.save()
    refused(post_json(pending, CHALLENGE_COMPLETE, passkey.get(options)), 401, "challenge_expired")
    check = LoginCheck.objects.filter(user=user).latest("pk")
    assert check.challenge_result == ChallengeResult.EXPIRED


GARBAGE = [
    (b"not json", "application/json"),
    (b"\xff\xfe\x00", "application/json"),
    (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    (b"[]", "application/json"),
    (b'"a string"', "application/json"),
    (b"null", "application/json"),
    (b"{}", "application/json"),
    (b'{"id": "AA", "rawId": "AA", "type": "public-key", "response": {}}', "application/json"),
    (b"id=AA&rawId=AA", "application/x-www-form-urlencoded"),
]


def assert_clean_refusal(response) -> None:
    assert 400 <= response.status_code < 500, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"]


@pytest.mark.parametrize(("body", "content_type"), GARBAGE)
def test_garbage_completing_a_challenge_is_a_json_error(pending, body, content_type):
    assert begin(pending, CHALLENGE_BEGIN).status_code == 200
    assert_clean_refusal(pending.post(CHALLENGE_COMPLETE, body, content_type=content_type))
    assert state(pending) == "pending"


@pytest.mark.parametrize(("body", "content_type"), GARBAGE)
def test_garbage_completing_a_registration_is_a_json_error(fresh, body, content_type):
    assert begin(fresh, REGISTER_BEGIN).status_code == 200
    assert_clean_refusal(fresh.post(REGISTER_COMPLETE, body, content_type=content_type))
    assert WebAuthnCredential.objects.count() == 1  # the passkey she had


def test_a_site_that_requires_login_everywhere_can_pass_the_challenge_with_a_passkey(
    client, user, login, passkey, settings
):
    # A pending session is anonymous: under Django's LoginRequiredMiddleware the ceremony
    # and the script's translations must stay open to it.
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "django.contrib.auth.middleware.LoginRequiredMiddleware",
    ]
    assert login(device="phone").status_code == 302
    assert client.get(CATALOG).status_code == 200
    options = begin(client, CHALLENGE_BEGIN)
    assert options.status_code == 200
    done = post_json(client, CHALLENGE_COMPLETE, passkey.get(options.json()))
    assert done.status_code == 200, done.content
    assert client.get("/private/").status_code == 200
    # The signed-in ceremonies stay behind the login.
    client.post("/rupt-guard/logout/")
    assert client.post(STEP_UP_BEGIN)["Location"].startswith("/accounts/login/")
    assert client.post(REGISTER_BEGIN)["Location"].startswith("/accounts/login/")


# -- step-up with a passkey ------------------------------------------------------------------


@pytest.fixture
def fresh(pending, passkey):
    """alice, signed in with her passkey just now."""
    options = begin(pending, CHALLENGE_BEGIN).json()
    assert post_json(pending, CHALLENGE_COMPLETE, passkey.get(options)).status_code == 200
    return pending


@pytest.fixture
def signed_in_with_passkey(fresh):
    """alice, signed in with her passkey an hour ago: changing factors needs a step-up."""
    age_factor(fresh)
    return fresh


def test_a_step_up_with_a_passkey_makes_the_session_recently_verified(
    signed_in_with_passkey, passkey, user
):
    client = signed_in_with_passkey
    refused(begin(client, REGISTER_BEGIN), 403, "step_up_required")
    assert client.get("/rupt-guard/security/app/").status_code == 302

    page = client.get("/rupt-guard/security/confirm/?next=/rupt-guard/security/app/")
    assert page.status_code == 200
    config = page_config(page)
    assert config["beginAuthenticationUrl"] == STEP_UP_BEGIN
    assert config["completeAuthenticationUrl"] == STEP_UP_COMPLETE
    options = begin(client, STEP_UP_BEGIN)
    assert options.status_code == 200
    assert passkey.offered_in(options.json())
    done = post_json(
        client, f"{STEP_UP_COMPLETE}?next=/rupt-guard/security/app/", passkey.get(options.json())
    )
    assert done.status_code == 200, done.content
    assert done.json()["redirect_url"] == "/rupt-guard/security/app/"
    assert time.time() - client.session[SESSION_KEY]["factor_at"] < 5
    assert client.get("/rupt-guard/security/app/").status_code == 200
    assert begin(client, REGISTER_BEGIN).status_code == 200


def test_a_step_up_refuses_another_users_passkey(signed_in_with_passkey):
    bob = get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
    bobs = SoftAuthenticator()
    credential_for(bob, bobs)
    options = begin(signed_in_with_passkey, STEP_UP_BEGIN).json()
    refused(
        post_json(signed_in_with_passkey, STEP_UP_COMPLETE, bobs.get(options)),
        403,
        "passkey_not_accepted",
    )
    refused(begin(signed_in_with_passkey, REGISTER_BEGIN), 403, "step_up_required")


@pytest.mark.parametrize("url", [STEP_UP_BEGIN, STEP_UP_COMPLETE])
def test_a_step_up_needs_a_signed_in_session(client, user, url):
    refused(post_json(client, url, {}), 403, "not_authenticated")


@pytest.mark.parametrize(
    "url", [STEP_UP_BEGIN, STEP_UP_COMPLETE, REGISTER_BEGIN, REGISTER_COMPLETE]
)
def test_a_pending_session_reaches_only_the_challenge(pending, url):
    response = post_json(pending, url, {})
    assert response.status_code == 403
    assert response.json()["code"] == "challenge_required"
    assert state(pending) == "pending"


def test_a_challenge_begun_cannot_be_completed_as_a_step_up(pending, passkey):
    """The state is bound to its purpose: an assertion made for the challenge's options does
    not count as a step-up once the sign-in passed (here by an earlier assertion)."""
    first = begin(pending, CHALLENGE_BEGIN).json()
    assert post_json(pending, CHALLENGE_COMPLETE, passkey.get(first)).status_code == 200
    # Signed in now; a challenge state left in the session (begun in another tab) ...
    session = pending.session
    session["_rupt_guard_passkey_state"] = {
        "purpose": "challenge",
        "user": str(session["_auth_user_id"]),
        "state": {"challenge": first["challenge"], "require_user_verification": False},
    }
    session.save()
    refused(post_json(pending, STEP_UP_COMPLETE, passkey.get(first)), 400, "invalid_state")


def test_a_user_without_a_passkey_has_no_passkey_step_up(signed_in):
    refused(begin(signed_in, STEP_UP_BEGIN), 403, "no_passkey")


# -- enrolment -------------------------------------------------------------------------------


def test_adding_a_passkey_needs_a_recent_second_factor(signed_in, user):
    age_factor(signed_in)
    refused(begin(signed_in, REGISTER_BEGIN), 403, "step_up_required")
    assert not WebAuthnCredential.objects.exists()


def test_a_step_up_that_ran_out_during_the_ceremony_is_refused_at_its_end(signed_in, user):
    options = begin(signed_in, REGISTER_BEGIN).json()
    age_factor(signed_in)
    refused(
        post_json(signed_in, REGISTER_COMPLETE, SoftAuthenticator().create(options)),
        403,
        "step_up_required",
    )
    assert not WebAuthnCredential.objects.exists()
    assert not TrustEvent.objects.filter(action=TrustAction.FACTOR_ADDED).exists()


@pytest.mark.parametrize("url", [REGISTER_BEGIN, REGISTER_COMPLETE])
def test_adding_a_passkey_needs_a_signed_in_session(client, user, url):
    refused(post_json(client, url, {}), 403, "not_authenticated")


def test_a_session_django_otp_verified_long_ago_is_not_enough(signed_in, user):
    """django-otp-webauthn's own rule lets a django-otp verified session register; ours asks
    for a factor within STEP_UP_TIMEOUT."""
    age_factor(signed_in)
    assert signed_in.session.get("otp_device_id")
    refused(begin(signed_in, REGISTER_BEGIN), 403, "step_up_required")


def test_a_credential_id_already_registered_is_refused_cleanly(
    signed_in, user, mailoutbox, django_capture_on_commit_callbacks
):
    bob = get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
    bobs = SoftAuthenticator()
    credential_for(bob, bobs)
    copy = SoftAuthenticator(credential_id=bobs.credential_id)
    before = len(mailoutbox)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        refused(enrol(signed_in, copy), 409, "passkey_exists")
    assert callbacks == [] and len(mailoutbox) == before
    assert not WebAuthnCredential.objects.filter(user=user).exists()
    assert not TrustEvent.objects.filter(action=TrustAction.FACTOR_ADDED).exists()


@pytest.mark.parametrize("extensions", [{"credProps": "rk"}, {"credProps": ["rk"]}, "rk", []])
def test_malformed_extension_results_are_ignored(signed_in, user, extensions):
    options = begin(signed_in, REGISTER_BEGIN).json()
    response = post_json(
        signed_in, REGISTER_COMPLETE, SoftAuthenticator().create(options, extensions=extensions)
    )
    assert response.status_code == 200, response.content
    assert WebAuthnCredential.objects.get(user=user).discoverable is None


def test_a_registration_for_another_origin_is_refused(signed_in):
    options = begin(signed_in, REGISTER_BEGIN).json()
    response = post_json(
        signed_in,
        REGISTER_COMPLETE,
        SoftAuthenticator().create(options, origin="https://evil.example"),
    )
    refused(response, 422, "invalid_registration_response")
    assert not WebAuthnCredential.objects.exists()


def test_the_passkeys_already_made_are_excluded_and_names_are_numbered(signed_in, user):
    first = SoftAuthenticator()
    assert enrol(signed_in, first, HTTP_USER_AGENT=CHROME).status_code == 200
    options = begin(signed_in, REGISTER_BEGIN).json()
    assert [c["id"] for c in options["excludeCredentials"]] == [b64(first.credential_id)]
    second = post_json(
        signed_in, REGISTER_COMPLETE, SoftAuthenticator().create(options), HTTP_USER_AGENT=CHROME
    )
    assert second.status_code == 200
    names = sorted(WebAuthnCredential.objects.filter(user=user).values_list("name", flat=True))
    assert names == ["Chrome on Linux", "Chrome on Linux (2)"]


def test_a_registration_begun_cannot_be_completed_by_another_user(signed_in, user):
    options = begin(signed_in, REGISTER_BEGIN).json()
    session = signed_in.session
    saved = session["_rupt_guard_passkey_state"]
    assert saved["purpose"] == "register" and saved["user"] == str(user.pk)
    session["_rupt_guard_passkey_state"] = {**saved, "user": str(user.pk + 1)}
    session.save()
    refused(
        post_json(signed_in, REGISTER_COMPLETE, SoftAuthenticator().create(options)),
        400,
        "invalid_state",
    )


# -- the pages -------------------------------------------------------------------------------


def page_config(response) -> dict:
    html = response.content.decode()
    match = re.search(
        r'<script type="application/json" id="otp_webauthn_config">(.*?)</script>', html
    )
    assert match, html
    return json.loads(match.group(1))


def executable_scripts(response) -> list[str]:
    """Every <script> a browser would run: each must come from a file (no inline script)."""
    html = response.content.decode()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    inline = [body for attrs, body in scripts if "application/json" not in attrs and body.strip()]
    assert inline == []
    return [attrs for attrs, _ in scripts if "application/json" not in attrs]


def test_the_challenge_page_offers_the_passkey_with_rupt_guards_ceremony(pending):
    page = pending.get("/rupt-guard/challenge/?next=/private/")
    config = page_config(page)
    assert config["beginAuthenticationUrl"] == CHALLENGE_BEGIN
    assert config["completeAuthenticationUrl"] == CHALLENGE_COMPLETE
    assert config["csrfToken"]
    assert config["nextFieldSelector"] == "#rupt-guard-passkey-next"
    html = page.content.decode()
    assert 'id="rupt-guard-passkey-next" value="/private/"' in html
    assert 'id="passkey-verification-button"' in html
    sources = executable_scripts(page)
    assert any(CATALOG in attrs for attrs in sources)
    assert any("otp_webauthn_auth.js" in attrs and 'type="module"' in attrs for attrs in sources)


def test_the_script_translations_are_open_to_a_pending_session(pending):
    response = pending.get(CATALOG)
    assert response.status_code == 200
    assert "gettext" in response.content.decode()
    assert state(pending) == "pending"


def test_the_security_page_adds_a_passkey_only_after_a_step_up(signed_in):
    page = signed_in.get("/rupt-guard/security/")
    config = page_config(page)
    assert config["beginRegistrationUrl"] == REGISTER_BEGIN
    assert config["completeRegistrationUrl"] == REGISTER_COMPLETE
    assert 'id="passkey-register-button"' in page.content.decode()
    assert any("otp_webauthn_register.js" in attrs for attrs in executable_scripts(page))

    age_factor(signed_in)
    page = signed_in.get("/rupt-guard/security/")
    html = page.content.decode()
    assert "otp_webauthn_config" not in html
    assert "/rupt-guard/security/confirm/?next=/rupt-guard/security/" in html


# -- system checks ---------------------------------------------------------------------------


def check_ids() -> set[str]:
    from django.core import checks

    return {message.id for message in checks.run_checks(tags=[checks.Tags.security])}


def test_the_test_site_passes_the_passkey_checks():
    ids = check_ids()
    assert "rupt_guard.E014" not in ids and "rupt_guard.W016" not in ids


def test_passwordless_login_is_an_error(settings):
    settings.OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = True
    assert "rupt_guard.E014" in check_ids()


def test_passwordless_login_is_django_otp_webauthns_default(settings):
    del settings.OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN
    assert "rupt_guard.E014" in check_ids()


class WithItsOwnUrls:
    """A URLconf that also routes django-otp-webauthn's own views."""

    urlpatterns = [
        path("", include("tests.urls")),
        path("webauthn/", include("django_otp_webauthn.urls", namespace="otp_webauthn")),
    ]


def test_its_own_urls_routed_are_a_warning(settings):
    settings.ROOT_URLCONF = WithItsOwnUrls
    assert "rupt_guard.W016" in check_ids()


# -- a single-page app: the API's challenge names the passkey ceremony ---------------------


def test_an_api_sign_in_passes_its_challenge_with_a_passkey(
    user, passkey, rupt_server, guard_settings_override
):
    from rest_framework.test import APIClient

    from .conftest import PASSWORD

    guard_settings_override(LOGIN_RESPONSE="tests.test_api.issue_token")
    api = APIClient(enforce_csrf_checks=True)
    api.get("/api/rupt-guard/login/")  # the csrftoken cookie, as an SPA gets it
    csrf = {"HTTP_X_CSRFTOKEN": api.cookies["csrftoken"].value}
    body = {
        "username": "alice",
        "password": PASSWORD,
        "rupt_identification": rupt_server.identify("spa-phone"),
    }
    started = api.post("/api/rupt-guard/login/", body, format="json", **csrf)
    assert started.status_code == 202
    (method,) = started.json()["challenge"]["methods"]
    assert method["type"] == "passkey" and method["sends_code"] is False
    assert method["begin_url"] == CHALLENGE_BEGIN
    assert method["complete_url"] == CHALLENGE_COMPLETE
    csrf = {"HTTP_X_CSRFTOKEN": api.cookies["csrftoken"].value}
    options = api.post(method["begin_url"], HTTP_ACCEPT="application/json", **csrf)
    assert options.status_code == 200, options.content
    done = api.post(method["complete_url"], passkey.get(options.json()), format="json", **csrf)
    assert done.status_code == 200, done.content
    # The site's own token, as the API's sign-in would have given it.
    assert done.json()["token"] == f"site-token-{user.pk}"
    assert api.get("/api/rupt-guard/devices/").status_code == 200
