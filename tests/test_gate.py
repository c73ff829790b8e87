"""The gate: a pending session reaches the challenge, logout and files, nothing else."""

from __future__ import annotations

import re
import time

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from rupt_guard.gate.mark import SESSION_KEY

CHALLENGE = "/rupt-guard/challenge/"
OPEN_WHILE_PENDING = {
    "rupt_guard:challenge",
    "logout",
    "admin:logout",
    "rupt_guard:logout",
    "rupt_guard:not_me",
    "rupt_guard_api:login",
    "rupt_guard_api:challenge-send",
    "rupt_guard_api:challenge-verify",
    # The passkey ceremony of the challenge, and the translations its script needs.
    "rupt_guard:passkey_challenge_begin",
    "rupt_guard:passkey_challenge_complete",
    "rupt_guard:passkey_js_catalog",
    "media",
    # The test site's async sign-out, marked pending_allowed as a logout view should be.
    "async-sign-out",
}

pytestmark = pytest.mark.django_db


def every_url(patterns=None, prefix="", namespace=""):
    """(path, view name) for every pattern of the URLconf, arguments filled with '1'."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        route = re.sub(r"<[^>]+>", "1", str(entry.pattern))
        route = route.replace("^", "").replace("$", "").replace("\\Z", "")
        route = re.sub(r"\(\?P<[^>]+>[^)]*\)", "1", route).replace("\\", "")
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from every_url(entry.url_patterns, prefix + route, inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else ""
            yield "/" + prefix + route, name


URLS = sorted(set(every_url()))


@pytest.fixture
def pending(client, user, login):
    response = login()
    assert response.status_code == 302
    assert client.session[SESSION_KEY]["state"] == "pending"
    return client


def test_the_walk_covers_the_site():
    names = {name for _, name in URLS}
    assert {"private", "otp-setup", "admin:index", "admin:auth_user_changelist"} <= names
    assert len(URLS) > 30


def is_api(path):
    view = resolve(path).func
    return hasattr(getattr(view, "cls", None), "permission_classes")


@pytest.mark.parametrize(("path", "name"), [u for u in URLS if u[1] not in OPEN_WHILE_PENDING])
def test_every_other_url_redirects_a_pending_session(pending, path, name):
    for method in (pending.get, pending.post):
        response = method(path)
        if is_api(path):
            # API clients get JSON naming the challenge, whatever they send as Accept.
            assert response.status_code == 403, (path, name)
            assert response.json()["code"] == "challenge_required"
        else:
            assert response.status_code == 302, (path, name)
            assert response["Location"].startswith(CHALLENGE)
    json_response = pending.get(path, HTTP_ACCEPT="application/json")
    assert json_response.status_code == 403
    assert json_response.json()["challenge_url"] == CHALLENGE


def test_the_walk_includes_api_views():
    assert {"api-profile", "rupt_guard_api:device-list"} <= {name for _, name in URLS}
    assert is_api("/api/profile/")


def test_the_walk_opens_after_verification(pending, pass_challenge):
    assert pass_challenge().status_code == 302
    for path, name in URLS:
        response = pending.get(path)
        location = response.get("Location", "")
        assert not location.startswith(CHALLENGE), (path, name)


def test_redirect_carries_the_page_as_next(pending):
    response = pending.get("/private/data.json?x=1")
    assert response["Location"] == f"{CHALLENGE}?next=%2Fprivate%2Fdata.json%3Fx%3D1"


def test_allowed_urls_stay_reachable(pending):
    assert pending.get(CHALLENGE).status_code == 200
    assert pending.get("/media/report.pdf").status_code == 200
    # A protected view that merely lives under MEDIA_URL is gated like any other.
    assert pending.get("/media/private/x.pdf")["Location"].startswith(CHALLENGE)
    assert pending.post("/accounts/logout/").status_code == 302
    assert "_auth_user_id" not in pending.session
    assert SESSION_KEY not in pending.session


def test_pending_session_is_not_verified(pending, user):
    pending.get(CHALLENGE)
    response = pending.get(CHALLENGE)
    assert response.wsgi_request.user.is_verified() is False


def test_pending_state_expires_and_signs_out(pending, guard_settings_override):
    session = pending.session
    mark = session[SESSION_KEY]
    mark["expires_at"] = time.time() - 1
    session[SESSION_KEY] = mark
    session.save()
    response = pending.get("/private/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert "_auth_user_id" not in pending.session
    expired_json = pending.get("/private/", HTTP_ACCEPT="application/json")
    assert expired_json.status_code == 302  # signed out now: plain login_required


@pytest.mark.parametrize("path", [CHALLENGE, "/media/report.pdf"])
def test_an_expired_challenge_is_closed_too(pending, path, pass_challenge):
    session = pending.session
    session[SESSION_KEY] = {**session[SESSION_KEY], "expires_at": time.time() - 1}
    session.save()
    response = pending.get(path)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert "_auth_user_id" not in pending.session


def test_challenge_timeout_setting_sets_the_expiry(client, user, login, guard_settings_override):
    guard_settings_override(CHALLENGE_TIMEOUT=30)
    before = time.time()
    login()
    expires_at = client.session[SESSION_KEY]["expires_at"]
    assert before + 29 <= expires_at <= time.time() + 31


def test_gate_adds_no_query_to_an_ordinary_request(client, user, login, pass_challenge):
    login()
    pass_challenge()
    with CaptureQueriesContext(connection) as guarded:
        assert client.get("/private/").status_code == 200
    plain = [m for m in settings.MIDDLEWARE if "rupt_guard" not in m]
    with override_settings(MIDDLEWARE=plain), CaptureQueriesContext(connection) as unguarded:
        assert client.get("/private/").status_code == 200
    assert len(guarded) == len(unguarded)
