"""Signing in through the login form, against the fake Rupt on loopback."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.signals import user_login_failed
from django.test import RequestFactory

from rupt_guard.choices import CheckSource, Decision, Reason
from rupt_guard.gate.backend import gated_sign_in
from rupt_guard.gate.mark import SESSION_KEY
from rupt_guard.models import Device, LoginCheck

from .conftest import PASSWORD

PRIVATE = "/private/"
CHALLENGE = "/rupt-guard/challenge/"

pytestmark = pytest.mark.django_db


def session_state(client):
    return client.session.get(SESSION_KEY, {}).get("state")


def outcome_of(response, client):
    """What a user sees after posting the login form: allowed, challenged or refused.

    Refused is the form's own error, or (for a form without the identify tag, checked
    only after login()) a session that is already gone.
    """
    if response.status_code == 200:
        assert "_auth_user_id" not in client.session
        assert response.context["form"].errors
        return "block"
    assert response.status_code == 302
    follow = client.get(PRIVATE)
    if follow.status_code == 200:
        return "allow"
    assert follow.status_code == 302
    if follow["Location"].startswith("/accounts/login/"):
        assert "_auth_user_id" not in client.session
        return "block"
    assert follow["Location"].startswith(CHALLENGE)
    return "challenge"


def known_device(rupt_server, user, *, verified):
    """A device Rupt has seen on this account before (new_device will be false)."""
    device_id = "dev-known"
    rupt_server.pairs.add((str(user.pk), device_id))
    rupt_server.metadata[device_id] = {}
    Device.objects.create(
        user=user,
        external_id=device_id,
        verified_at="2026-01-01T00:00:00Z" if verified else None,
    )
    return device_id


@pytest.mark.parametrize("action", ["allow", "challenge", "block"])
def test_new_device_rule(client, user, login, guard_settings_override, action):
    guard_settings_override(ON_NEW_DEVICE=action)
    assert outcome_of(login(), client) == action
    check = LoginCheck.objects.get()
    assert (check.decision, check.reason, check.new_device) == (action, Reason.NEW_DEVICE, True)
    assert check.device.user == user


@pytest.mark.parametrize("action", ["allow", "challenge", "block"])
def test_unverified_device_rule(client, user, login, rupt_server, guard_settings_override, action):
    guard_settings_override(ON_UNVERIFIED_DEVICE=action)
    device = known_device(rupt_server, user, verified=False)
    assert outcome_of(login(device=device), client) == action
    check = LoginCheck.objects.get()
    assert (check.reason, check.new_device) == (Reason.UNVERIFIED_DEVICE, False)


@pytest.mark.parametrize("action", ["allow", "challenge", "block"])
@pytest.mark.parametrize("token", [None, "", "not a token", "../device/x/metadata"])
def test_missing_or_malformed_token_rule(
    client, user, login, guard_settings_override, action, token, rupt_server
):
    guard_settings_override(ON_MISSING_TOKEN=action)
    assert outcome_of(login(token=token), client) == action
    check = LoginCheck.objects.get()
    assert check.reason in (Reason.MISSING_TOKEN, Reason.BAD_TOKEN)
    assert check.device is None
    assert rupt_server.requests == []


def test_token_unknown_to_rupt_follows_the_missing_token_rule(
    client, user, login, guard_settings_override
):
    guard_settings_override(ON_MISSING_TOKEN="block", ON_PROVIDER_ERROR="allow")
    assert outcome_of(login(token="00000000-0000-4000-8000-000000000000"), client) == "block"
    check = LoginCheck.objects.get()
    assert (check.reason, check.provider_error, check.provider_status) == (
        Reason.BAD_TOKEN,
        "token_rejected",
        404,
    )


@pytest.mark.parametrize("action", ["allow", "challenge", "block"])
@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"status": 500}, "http_status"),
        ({"status": 401}, "configuration"),
        ({"status": 200, "body": b"{oops"}, "bad_response"),
    ],
)
def test_provider_error_rule(
    client, user, login, rupt_server, guard_settings_override, action, fault, error
):
    guard_settings_override(ON_PROVIDER_ERROR=action)
    token = rupt_server.identify()
    rupt_server.fail_next(**fault)
    assert outcome_of(login(token=token), client) == action
    check = LoginCheck.objects.get()
    assert (check.reason, check.provider_error) == (Reason.PROVIDER_ERROR, error)
    assert check.provider_ms is not None


def test_provider_timeout_and_refusal_are_provider_errors(
    client, user, login, rupt_server, guard_settings_override
):
    guard_settings_override(TIMEOUT=0.3)
    rupt_server.delay = 1
    assert outcome_of(login(), client) == "challenge"
    rupt_server.delay = 0
    client.logout()
    guard_settings_override(API_BASE_URL="http://127.0.0.1:9")
    assert outcome_of(login(), client) == "challenge"
    errors = list(
        LoginCheck.objects.order_by("created_at").values_list("provider_error", flat=True)
    )
    assert errors == ["timeout", "connection"]


@pytest.mark.parametrize("action", ["allow", "challenge", "block"])
def test_blocked_device_rule(client, user, login, rupt_server, guard_settings_override, action):
    guard_settings_override(ON_BLOCKED_DEVICE=action)
    device = known_device(rupt_server, user, verified=True)
    Device.objects.filter(external_id=device).update(blocked_at="2026-11-01T00:00:00Z")
    assert outcome_of(login(device=device), client) == action
    assert LoginCheck.objects.get().reason == Reason.BLOCKED_DEVICE


def test_verified_device_signs_in_like_plain_django(client, user, login, rupt_server):
    device = known_device(rupt_server, user, verified=True)
    response = login(device=device, next="/private/data.json")
    assert response.status_code == 302
    assert response["Location"] == "/private/data.json"
    assert client.get("/private/data.json").json() == {"user": "alice"}
    assert session_state(client) == "passed"
    assert LoginCheck.objects.get().decision == Decision.ALLOW


def test_blocked_login_is_indistinguishable_from_a_wrong_password(
    client, user, login, guard_settings_override
):
    failures = []
    user_login_failed.connect(lambda **kw: failures.append(kw), weak=False, dispatch_uid="t")
    try:
        wrong = login(password="wrong password")
        guard_settings_override(ON_NEW_DEVICE="block")
        blocked = login()
    finally:
        user_login_failed.disconnect(dispatch_uid="t")
    assert wrong.status_code == blocked.status_code == 200
    assert wrong.context["form"].errors == blocked.context["form"].errors
    assert "_auth_user_id" not in client.session
    assert len(failures) == 2
    assert LoginCheck.objects.get().decision == Decision.BLOCK


def test_abandoned_challenge_is_challenged_again_until_verified(
    client, user, login, rupt_server, pass_challenge
):
    device = "dev-abandoned"
    assert outcome_of(login(device=device), client) == "challenge"
    client.logout()  # the user walks away from the challenge
    assert outcome_of(login(device=device), client) == "challenge"
    assert list(LoginCheck.objects.order_by("created_at").values_list("reason", "new_device")) == [
        (Reason.NEW_DEVICE, True),
        (Reason.UNVERIFIED_DEVICE, False),
    ]
    assert pass_challenge().status_code == 302
    client.logout()
    assert outcome_of(login(device=device), client) == "allow"
    assert LoginCheck.objects.order_by("-created_at").first().reason == Reason.VERIFIED_DEVICE
    assert Device.objects.filter(user=user).count() == 1


def test_verification_max_age(client, user, login, rupt_server, guard_settings_override):
    device = known_device(rupt_server, user, verified=True)  # verified 2026-01-01
    guard_settings_override(VERIFICATION_MAX_AGE=3600)
    assert outcome_of(login(device=device), client) == "challenge"
    assert LoginCheck.objects.get().reason == Reason.VERIFICATION_EXPIRED


class TestRuptMetadata:
    def entry(self, account):
        return f"{account}:2026-11-20T10:00:00Z"

    def test_another_accounts_entry_never_verifies(
        self, client, user, login, rupt_server, guard_settings_override
    ):
        guard_settings_override(TRUST_RUPT_METADATA=True)
        device = known_device(rupt_server, user, verified=False)
        bob = get_user_model().objects.create_user("bob", "b@example.com", "x")
        rupt_server.metadata[device] = {"2fa_verified": [self.entry(bob.pk), f"{user.pk}0:x"]}
        assert outcome_of(login(device=device), client) == "challenge"

    def test_this_accounts_entry_verifies_only_when_trusted(
        self, client, user, login, rupt_server, guard_settings_override
    ):
        device = known_device(rupt_server, user, verified=False)
        rupt_server.metadata[device] = {"2fa_verified": [self.entry(user.pk)]}
        assert outcome_of(login(device=device), client) == "challenge"
        client.logout()
        guard_settings_override(TRUST_RUPT_METADATA=True)
        assert outcome_of(login(device=device), client) == "allow"
        stored = Device.objects.get(external_id=device)
        assert stored.verification_method == "rupt_metadata"
        assert stored.verified_at.isoformat() == "2026-11-20T10:00:00+00:00"

    def test_a_revocation_not_yet_at_rupt_is_not_undone_by_its_metadata(
        self, client, user, login, rupt_server, guard_settings_override
    ):
        from rupt_guard.trust import devices

        guard_settings_override(TRUST_RUPT_METADATA=True)
        device = known_device(rupt_server, user, verified=True)
        rupt_server.metadata[device] = {"2fa_verified": [self.entry(user.pk)]}
        rupt_server.fail_next(503)  # Rupt is down when staff revoke the device
        stored = Device.objects.get(external_id=device)
        devices.revoke(stored)
        from rupt_guard.trust.verification import sync_metadata

        assert sync_metadata(stored.pk) is False  # the on-commit push, failing
        assert outcome_of(login(device=device), client) == "challenge"
        stored.refresh_from_db()
        assert stored.verified_at is None and stored.metadata_sync_pending

    def test_a_shared_devices_stale_copy_cannot_restore_a_revoked_entry(
        self, client, user, login, rupt_server, guard_settings_override
    ):
        from rupt_guard.trust import devices
        from rupt_guard.trust.verification import sync_metadata

        guard_settings_override(TRUST_RUPT_METADATA=True)
        bob = get_user_model().objects.create_user("bob", "b@example.com", "x")
        rupt_server.metadata["family-pc"] = {}
        alice_pc = Device.objects.create(user=user, external_id="family-pc")
        bob_pc = Device.objects.create(user=bob, external_id="family-pc")
        rupt_server.pairs |= {(str(user.pk), "family-pc"), (str(bob.pk), "family-pc")}
        for row in (alice_pc, bob_pc):  # both verify; each push carries both entries
            Device.objects.filter(pk=row.pk).update(verified_at="2026-11-20T10:00:00Z")
            assert sync_metadata(row.pk)
        assert len(rupt_server.metadata["family-pc"]["2fa_verified"]) == 2
        for row in (alice_pc, bob_pc):  # Alice revokes, then Bob does, from his old copy
            row.refresh_from_db()
            devices.revoke(row)
            assert sync_metadata(row.pk)
        assert rupt_server.metadata["family-pc"]["2fa_verified"] == []
        assert outcome_of(login(device="family-pc"), client) == "challenge"

    @pytest.mark.parametrize(
        "entry", ["{pk}:0001-01-01T00:00:00+14:00", "{pk}:2026-11-20T10:00:00", "{pk}:9999"]
    )
    def test_odd_entries_for_this_account_are_ignored(
        self, client, user, login, rupt_server, guard_settings_override, entry
    ):
        guard_settings_override(TRUST_RUPT_METADATA=True)
        device = known_device(rupt_server, user, verified=False)
        rupt_server.metadata[device] = {"2fa_verified": [entry.format(pk=user.pk)]}
        assert outcome_of(login(device=device), client) == "challenge"


def test_a_password_alone_outside_a_sign_in_is_refused(user, rupt_server):
    # Requests with no session (no login() can follow) and no request at all: a password
    # alone there is not a sign-in the gate will ever see.
    request = RequestFactory().post("/api/", {"data": 1})
    assert authenticate(request, username="alice", password=PASSWORD) is None
    assert authenticate(None, username="alice", password=PASSWORD) is None
    assert rupt_server.requests == []
    assert not LoginCheck.objects.exists()


def test_a_caller_marked_as_a_sign_in_gets_the_user(user, rupt_server):
    with gated_sign_in():
        assert authenticate(None, username="alice", password=PASSWORD) == user
    assert authenticate(None, username="alice", password=PASSWORD) is None


def test_force_login_does_not_skip_the_gate(client, user, rupt_server):
    client.force_login(user)
    response = client.get(PRIVATE)
    assert response.status_code == 302
    assert response["Location"].startswith(CHALLENGE)
    check = LoginCheck.objects.get()
    assert (check.source, check.reason) == (CheckSource.LOGIN, Reason.MISSING_TOKEN)


def test_login_by_another_path_with_missing_token_blocked(client, user, guard_settings_override):
    guard_settings_override(ON_MISSING_TOKEN="block")
    client.force_login(user)
    assert "_auth_user_id" not in client.session
    assert client.get(PRIVATE).status_code == 302
    assert LoginCheck.objects.get().decision == Decision.BLOCK


def test_form_without_the_tag_is_checked_after_login(client, user, rupt_server):
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(PRIVATE)["Location"].startswith(CHALLENGE)
    assert LoginCheck.objects.get().source == CheckSource.LOGIN


def test_admin_login_goes_through_the_gate(client, rupt_server, db):
    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    page = client.get("/admin/login/")
    assert b'name="rupt_identification"' in page.content
    assert b'form="login-form"' in page.content
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "root", "password": PASSWORD, "rupt_identification": rupt_server.identify()},
    )
    assert response.status_code == 302
    admin_index = client.get("/admin/")
    assert admin_index.status_code == 302
    assert admin_index["Location"].startswith(CHALLENGE)
    assert LoginCheck.objects.get().source == CheckSource.FORM


@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice", "password": PASSWORD, "rupt_identification": "\x00" * 50},
        {"username": "alice", "password": PASSWORD, "rupt_identification": "é" * 5000},
        {"username": "alice", "password": PASSWORD, "rupt_identification": ["a", "b"]},
    ],
)
def test_garbage_from_the_browser_never_answers_500(client, user, rupt_server, body):
    response = client.post(
        "/accounts/login/", body, HTTP_USER_AGENT="\x00" * 2000, REMOTE_ADDR="not-an-ip"
    )
    assert response.status_code == 302
    check = LoginCheck.objects.get()
    assert check.reason == Reason.BAD_TOKEN
    assert check.ip is None


def test_a_replayed_token_is_refused_without_asking_rupt(
    client, user, login, rupt_server, guard_settings_override
):
    guard_settings_override(ON_MISSING_TOKEN="block")
    token = rupt_server.identify("dev-replayed")
    assert outcome_of(login(token=token), client) == "challenge"
    client.logout()
    assert outcome_of(login(token=token.upper()), client) == "block"
    last = LoginCheck.objects.order_by("-created_at").first()
    assert (last.reason, last.provider_error) == (Reason.BAD_TOKEN, "token_rejected")
    assert len(rupt_server.requests) == 1
