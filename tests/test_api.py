"""The REST API: sign-in, challenge, devices, and the gate for a site's own API views."""

from __future__ import annotations

import base64
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.cache import cache
from rest_framework.test import APIClient

from rupt_guard.gate.mark import SESSION_KEY
from rupt_guard.models import Device, LoginCheck

from .conftest import PASSWORD

LOGIN = "/api/rupt-guard/login/"
SEND = "/api/rupt-guard/challenge/send/"
VERIFY = "/api/rupt-guard/challenge/verify/"
DEVICES = "/api/rupt-guard/devices/"

pytestmark = pytest.mark.django_db

issued = []


def issue_token(request, user):
    """The LOGIN_RESPONSE hook of these tests: a site's own API token."""
    issued.append(user.pk)
    return {"token": f"site-token-{user.pk}"}


@pytest.fixture(autouse=True)
def fresh_state(rupt_server, guard_settings_override):
    cache.clear()  # throttle counters
    issued.clear()
    guard_settings_override(LOGIN_RESPONSE="tests.test_api.issue_token")


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def sign_in(api, rupt_server):
    def post(device=None, password=PASSWORD, token=..., client=None):
        body = {"username": "alice", "password": password}
        if token is ...:
            token = rupt_server.identify(device)
        if token is not None:
            body["rupt_identification"] = token
        return (client or api).post(LOGIN, body, format="json")

    return post


def code_from(mailoutbox):
    return re.search(r"\b(\d{6})\b", mailoutbox[-1].body).group(1)


@pytest.fixture
def verified_api(api, user, sign_in, mailoutbox):
    """An API client whose session passed the challenge."""
    response = sign_in(device="dev-spa")
    assert response.status_code == 202
    (method,) = response.json()["challenge"]["methods"]
    assert api.post(SEND, {"device": method["device"]}, format="json").status_code == 200
    done = api.post(
        VERIFY, {"device": method["device"], "token": code_from(mailoutbox)}, format="json"
    )
    assert done.status_code == 200
    return api


def test_config_for_the_client_and_a_csrf_cookie(api):
    response = api.get(LOGIN)
    assert response.json() == {
        "sdk_url": "https://cdn.rupt.dev/js/rupt.js",
        "client_id": "test-client",
        "token_field": "rupt_identification",
        "username_field": "username",
        "identify": True,  # CONSENT allows identifying this browser (the default)
    }
    assert "csrftoken" in response.cookies


def test_allowed_sign_in_is_a_session_and_the_hook_runs(api, user, sign_in, rupt_server):
    rupt_server.pairs.add((str(user.pk), "dev-known"))
    Device.objects.create(user=user, external_id="dev-known", verified_at="2026-11-01T00:00Z")
    response = sign_in(device="dev-known")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "user": {"id": user.pk, "username": "alice"},
        "token": f"site-token-{user.pk}",
    }
    assert api.get("/api/profile/").json() == {"user": "alice"}
    assert api.get("/api/verified-only/").status_code == 200
    assert LoginCheck.objects.get().source == "api"


def test_challenged_sign_in_gets_nothing_until_verified(api, user, sign_in, mailoutbox, settings):
    settings.OTP_EMAIL_THROTTLE_FACTOR = 0  # django-otp's delay after a wrong code
    response = sign_in(device="dev-new")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "challenge_required"
    assert "token" not in body and issued == []  # nothing issued before the gate
    (method,) = body["challenge"]["methods"]
    assert method["type"] == "email" and method["sends_code"] is True
    assert body["challenge"]["expires_at"].endswith("+00:00")

    for path in ("/api/profile/", "/api/verified-only/", DEVICES):
        denied = api.get(path)
        assert denied.status_code == 403, path
        assert denied.json()["challenge_url"] == "/rupt-guard/challenge/"

    assert api.post(SEND, {}, format="json").json()["status"] == "sent"
    key_before = api.session.session_key
    wrong = api.post(VERIFY, {"device": method["device"], "token": "000000"}, format="json")
    assert wrong.status_code == 400
    right = api.post(
        VERIFY, {"device": method["device"], "token": code_from(mailoutbox)}, format="json"
    )
    assert right.status_code == 200
    assert right.json()["token"] == f"site-token-{user.pk}"
    assert api.session.session_key != key_before
    assert api.get("/api/profile/").status_code == 200
    assert Device.objects.get(external_id="dev-new").verification_method == "email"


def test_totp_through_the_api(api, user, sign_in):
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    phone = TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    body = sign_in().json()
    assert [m["type"] for m in body["challenge"]["methods"]] == ["totp"]
    code = f"{totp(phone.bin_key, phone.step, phone.t0, phone.digits, phone.drift):06d}"
    assert (
        api.post(VERIFY, {"device": phone.persistent_id, "token": code}, format="json").status_code
        == 200
    )


def test_blocked_is_the_same_400_as_a_wrong_password(api, user, sign_in, guard_settings_override):
    wrong = sign_in(password="nope")
    guard_settings_override(ON_NEW_DEVICE="block")
    blocked = sign_in()
    assert wrong.status_code == blocked.status_code == 400
    assert (
        wrong.json()
        == blocked.json()
        == {"non_field_errors": ["Unable to sign in with the given credentials."]}
    )
    assert SESSION_KEY not in api.session
    assert "_auth_user_id" not in api.session


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": PASSWORD}, "username"),
        ({"username": "alice"}, "password"),
        ({"username": ["a"], "password": PASSWORD}, "username"),
        ({"username": "a" * 300, "password": PASSWORD}, "username"),
        (
            {"username": "alice", "password": PASSWORD, "rupt_identification": {"x": 1}},
            "rupt_identification",
        ),
    ],
)
def test_malformed_requests_get_field_errors(api, user, body, field):
    response = api.post(LOGIN, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not LoginCheck.objects.exists()


@pytest.mark.parametrize("body", ["{nope", "[]", '"alice"', "1", "null", '[{"username": 1}]'])
def test_malformed_or_non_object_json_is_a_400(api, user, body):
    response = api.post(LOGIN, body, content_type="application/json")
    assert response.status_code == 400


def test_missing_token_follows_the_policy(api, user, sign_in):
    assert sign_in(token=None).status_code == 202
    assert LoginCheck.objects.get().reason == "missing_token"


def test_sign_in_is_throttled(api, user, sign_in, guard_settings_override):
    guard_settings_override(API_THROTTLE_RATES={"login": "3/min", "challenge": "3/min"})
    codes = [sign_in(password="wrong").status_code for _ in range(4)]
    assert codes == [400, 400, 400, 429]


def test_forged_forwarded_for_does_not_reset_the_throttle(api, user, guard_settings_override):
    guard_settings_override(API_THROTTLE_RATES={"login": "2/min"})
    codes = [
        api.post(
            LOGIN,
            {"username": "alice", "password": "wrong"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
        ).status_code
        for n in range(4)
    ]
    assert codes == [400, 400, 429, 429]


def test_a_numeric_username_is_throttled_like_its_string(api, guard_settings_override):
    get_user_model().objects.create_user("12345", "n@example.com", "x")
    guard_settings_override(API_THROTTLE_RATES={"login_account": "2/min"})
    codes = [
        api.post(
            LOGIN,
            {"username": name, "password": "wrong"},
            format="json",
            REMOTE_ADDR=f"198.51.100.{n}",
        ).status_code
        for n, name in enumerate([12345, "12345", 12345])
    ]
    assert codes == [400, 400, 429]


def test_guessing_one_account_from_many_addresses_is_throttled(api, user, guard_settings_override):
    guard_settings_override(API_THROTTLE_RATES={"login_account": "2/min"})
    codes = [
        api.post(
            LOGIN,
            {"username": "ALICE ", "password": "wrong"},
            format="json",
            REMOTE_ADDR=f"198.51.100.{n}",
        ).status_code
        for n in range(3)
    ]
    assert codes == [400, 400, 429]


def test_challenge_is_throttled(api, user, sign_in, guard_settings_override):
    guard_settings_override(API_THROTTLE_RATES={"challenge": "2/min"})
    method = sign_in().json()["challenge"]["methods"][0]
    codes = [
        api.post(VERIFY, {"device": method["device"], "token": "000000"}, format="json").status_code
        for _ in range(3)
    ]
    assert codes == [400, 400, 429]


def test_challenge_endpoints_need_a_pending_challenge(api, user, verified_api):
    response = verified_api.post(SEND, {}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "no_challenge_pending"
    assert APIClient().post(VERIFY, {"device": "x", "token": "1"}, format="json").status_code == 403


def test_basic_auth_on_a_site_view_never_calls_the_provider(api, user, rupt_server):
    credentials = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    # A password alone is not a sign-in: the backend refuses it, so the site's view (which
    # lists BasicAuthentication and asks only IsAuthenticated) never sees alice.
    response = api.get("/api/profile/", HTTP_AUTHORIZATION=f"Basic {credentials}")
    assert response.status_code in (401, 403)
    assert "alice" not in response.content.decode()
    assert rupt_server.requests == []
    assert not LoginCheck.objects.exists()
    refused = api.get("/api/verified-only/", HTTP_AUTHORIZATION=f"Basic {credentials}")
    assert refused.status_code == 401


def test_basic_auth_is_accepted_where_the_site_listed_the_view(
    api, user, rupt_server, guard_settings_override
):
    guard_settings_override(PASSWORD_ONLY_VIEWS=["api-profile"])
    credentials = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    response = api.get("/api/profile/", HTTP_AUTHORIZATION=f"Basic {credentials}")
    assert response.json() == {"user": "alice"}
    assert rupt_server.requests == []
    # Only there: IsDeviceVerified's view is not listed and still refuses the password.
    refused = api.get("/api/verified-only/", HTTP_AUTHORIZATION=f"Basic {credentials}")
    assert refused.status_code == 401


def test_csrf_is_enforced_for_sign_in_and_session_requests(user, rupt_server, verified_api):
    strict = APIClient(enforce_csrf_checks=True)
    body = {
        "username": "alice",
        "password": PASSWORD,
        "rupt_identification": rupt_server.identify(),
    }
    assert strict.post(LOGIN, body, format="json").status_code == 403
    token = strict.get(LOGIN).cookies["csrftoken"].value
    assert strict.post(LOGIN, body, format="json", HTTP_X_CSRFTOKEN=token).status_code == 202

    verified_api.enforce_csrf_checks = True
    device = Device.objects.get(external_id="dev-spa")
    verified_api.handler.enforce_csrf_checks = True
    assert verified_api.post(f"{DEVICES}{device.pk}/revoke/").status_code == 403
    device.refresh_from_db()
    assert device.verified_at is not None


def test_devices_list_rename_and_revoke(user, verified_api):
    bob = get_user_model().objects.create_user("bob", "bob@example.com", "x")
    bobs = Device.objects.create(user=bob, external_id="bobs", verified_at="2026-11-01T00:00Z")
    listing = verified_api.get(DEVICES).json()
    assert listing["count"] == 1
    (mine,) = listing["results"]
    assert mine["is_current"] is True and mine["username"] == "alice"

    renamed = verified_api.patch(f"{DEVICES}{mine['id']}/", {"label": "My laptop"}, format="json")
    assert renamed.json()["label"] == "My laptop"
    ignored = verified_api.patch(f"{DEVICES}{mine['id']}/", {"verified_at": None}, format="json")
    assert ignored.json()["verified_at"] is not None  # read-only

    assert verified_api.get(f"{DEVICES}{bobs.pk}/").status_code == 404
    assert verified_api.post(f"{DEVICES}{bobs.pk}/revoke/").status_code == 404
    assert verified_api.get(f"{DEVICES}?scope=all").status_code == 403

    assert verified_api.post(f"{DEVICES}{mine['id']}/revoke/").json()["status"] == "revoked"
    assert Device.objects.get(pk=mine["id"]).verified_at is None
    assert verified_api.get(DEVICES).status_code == 403  # that was this session's device


def test_staff_list_needs_the_admin_permission(user, verified_api):
    user.is_staff = True
    user.save()
    refused = verified_api.get(f"{DEVICES}?scope=all")
    assert refused.status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_device"))
    assert verified_api.get(f"{DEVICES}?scope=all").status_code == 200


def test_staff_list_across_users_with_filters_and_pages(user, verified_api):
    user.is_staff = True
    user.save()
    user.user_permissions.add(Permission.objects.get(codename="view_device"))
    bob = get_user_model().objects.create_user("bob", "bob@example.com", "x")
    for n in range(55):
        Device.objects.create(
            user=bob,
            external_id=f"b{n}",
            verified_at="2026-11-01T00:00Z" if n % 2 else None,
            blocked_at="2026-11-02T00:00Z" if n == 7 else None,
        )
    everyone = verified_api.get(f"{DEVICES}?scope=all").json()
    assert everyone["count"] == 56 and len(everyone["results"]) == 50
    assert everyone["next"] is not None
    assert verified_api.get(f"{DEVICES}?scope=all&user={bob.pk}").json()["count"] == 55
    assert (
        verified_api.get(f"{DEVICES}?scope=all&user={bob.pk}&verified=true").json()["count"] == 27
    )
    blocked = verified_api.get(f"{DEVICES}?scope=all&blocked=true").json()
    assert [d["label"] or d["id"] for d in blocked["results"]] == [
        Device.objects.get(external_id="b7").pk
    ]


def test_a_verified_session_does_not_vouch_for_another_users_password(
    user, rupt_server, verified_api
):
    # The attacker passed the challenge on their own account (the verified session, here
    # "alice"); they know only the victim's password and send it with their own cookie.
    get_user_model().objects.create_user("victim", "v@example.com", "victim-pass")
    assert verified_api.get("/api/verified-only/").json() == {"user": "alice"}
    victim = base64.b64encode(b"victim:victim-pass").decode()
    hijack = verified_api.get("/api/verified-only/", HTTP_AUTHORIZATION=f"Basic {victim}")
    assert hijack.status_code == 401
    assert "victim" not in hijack.content.decode()
