"""Async and ASGI (issue #15): the gate on an async stack, aauthenticate() and alogin().

On an async middleware stack RuptGuardMiddleware runs on the event loop: an ordinary
request costs it no thread hop, and only the rare steps that write to the database go to a
worker thread. A sign-in through ``aauthenticate()`` and ``alogin()`` goes through the same
lifecycle as the sync pair. The same flow under a real ASGI server is in
tests/test_asgi_server.py.
"""

from __future__ import annotations

import threading
import time

import pytest
from asgiref.sync import async_to_sync, iscoroutinefunction
from django.contrib.auth import get_user_model
from django.core.handlers.base import BaseHandler
from django.http import HttpResponse
from django.test import AsyncClient

from rupt_guard.choices import ChallengeResult, Decision, Reason
from rupt_guard.conf import DEFAULTS
from rupt_guard.gate import middleware as gate_middleware
from rupt_guard.gate.mark import SESSION_KEY
from rupt_guard.middleware import RuptGuardMiddleware
from rupt_guard.models import Device, LoginCheck
from rupt_guard.trust import devices as device_actions

from .conftest import PASSWORD
from .realistic_site import ANONYMOUS

pytestmark = pytest.mark.django_db

CHALLENGE = "/rupt-guard/challenge/"
LOGIN_PAGE = "/accounts/login/"
AUTH_KEYS = ("_auth_user_id", "_auth_user_backend", "_auth_user_hash")
# The test site's own middleware is sync-only, as many sites' are: below the gate it would
# put the gate in its sync mode too. Without it, every middleware below the gate is async.
SITE_SYNC_MIDDLEWARE = "tests.realistic_site.SiteUserMiddleware"


def async_stack(settings) -> list[str]:
    return [name for name in settings.MIDDLEWARE if name != SITE_SYNC_MIDDLEWARE]


@pytest.fixture
def browser(client, settings):
    """An ASGI client on an async middleware stack, sharing ``client``'s cookies."""
    settings.MIDDLEWARE = async_stack(settings)
    browser = AsyncClient()
    browser.cookies = client.cookies
    return browser


@pytest.fixture
def open_whoami(guard_settings_override):
    """The async "who am I" page is open to a pending session (only the session can hide
    the user there)."""
    guard_settings_override(
        PENDING_ALLOWED_URL_NAMES=[*DEFAULTS["PENDING_ALLOWED_URL_NAMES"], "async-whoami"]
    )


@pytest.fixture
def gate_threads(monkeypatch):
    """Where the gate read the session mark on each request: ("async" or "sync", thread)."""
    seen: list[tuple[str, int]] = []
    read_sync, read_async = gate_middleware.read_mark, gate_middleware.aread_mark

    def read_mark(session):
        seen.append(("sync", threading.get_ident()))
        return read_sync(session)

    async def aread_mark(session):
        seen.append(("async", threading.get_ident()))
        return await read_async(session)

    monkeypatch.setattr(gate_middleware, "read_mark", read_mark)
    monkeypatch.setattr(gate_middleware, "aread_mark", aread_mark)
    return seen


@pytest.fixture
def gate_hops(monkeypatch):
    """The functions the gate itself sent to a worker thread."""
    sent: list[str] = []
    real = gate_middleware.sync_to_async

    def sync_to_async(func, *args, **kwargs):
        sent.append(func.__name__)
        return real(func, *args, **kwargs)

    monkeypatch.setattr(gate_middleware, "sync_to_async", sync_to_async)
    return sent


def visit(browser, path, method="get", **data):
    """Request ``path`` from a coroutine; return the response and the event loop's thread."""

    async def run():
        response = await getattr(browser, method)(path, data)
        return response, threading.get_ident()

    return async_to_sync(run)()


def async_sign_in(browser, rupt_server, device=None, password=PASSWORD):
    response, _ = visit(
        browser,
        "/async/sign-in/",
        "post",
        username="alice",
        password=password,
        rupt_identification=rupt_server.identify(device),
    )
    return response


def known_device(rupt_server, user, *, verified=True):
    rupt_server.pairs.add((str(user.pk), "dev-known"))
    rupt_server.metadata["dev-known"] = {}
    return Device.objects.create(
        user=user, external_id="dev-known", verified_at="2026-01-01T00:00:00Z" if verified else None
    )


# -- the middleware's two modes -------------------------------------------------------------


def test_the_middleware_takes_the_mode_of_the_stack_below_it():
    async def async_below(request):
        return HttpResponse()

    def sync_below(request):
        return HttpResponse()

    on_async = RuptGuardMiddleware(async_below)
    on_sync = RuptGuardMiddleware(sync_below)
    assert RuptGuardMiddleware.sync_capable and RuptGuardMiddleware.async_capable
    assert iscoroutinefunction(on_async) and iscoroutinefunction(on_async.process_view)
    assert not iscoroutinefunction(on_sync) and not iscoroutinefunction(on_sync.process_view)
    # What Django's handler does with process_view on an ASGI stack: a coroutine is awaited
    # as it is, a plain method would be wrapped in sync_to_async (a thread per request).
    adapt = BaseHandler().adapt_method_mode
    assert adapt(True, on_async.process_view) == on_async.process_view
    assert adapt(True, on_sync.process_view) != on_sync.process_view


def test_an_ordinary_request_costs_the_gate_no_thread(
    client, browser, user, login, pass_challenge, gate_threads, gate_hops
):
    assert login().status_code == 302
    assert pass_challenge().status_code == 302
    gate_threads.clear()
    response, loop_thread = visit(browser, "/async/whoami/")
    assert response.json() == {"user": "alice"}
    # Read once on the way in and once for the view, both on the event loop's own thread.
    assert gate_threads == [("async", loop_thread), ("async", loop_thread)]
    assert gate_hops == []


def test_a_sync_middleware_below_puts_the_gate_in_its_sync_mode(
    client, user, login, gate_threads, settings
):
    # The test site's stack as shipped: still correct, with Django's thread hops.
    assert SITE_SYNC_MIDDLEWARE in settings.MIDDLEWARE
    browser = AsyncClient()
    browser.cookies = client.cookies
    assert login().status_code == 302
    gate_threads.clear()
    response, loop_thread = visit(browser, "/private/")
    assert response["Location"].startswith(CHALLENGE)
    assert [how for how, _ in gate_threads] == ["sync", "sync"]
    assert loop_thread not in {thread for _, thread in gate_threads}


# -- aauthenticate() and alogin(): allow, challenge, block ----------------------------------


def test_alogin_from_a_verified_device_signs_in(client, browser, user, rupt_server, gate_hops):
    device = known_device(rupt_server, user)
    response = async_sign_in(browser, rupt_server, device="dev-known")
    assert response.json() == {"signed_in": True, "user": "alice"}
    check = LoginCheck.objects.get()
    assert (check.decision, check.device) == (Decision.ALLOW, device)
    assert client.session[SESSION_KEY]["state"] == "passed"
    assert visit(browser, "/async/whoami/")[0].json() == {"user": "alice"}
    assert visit(browser, "/private/")[0].content == b"private page of alice"
    assert gate_hops == []


def test_alogin_from_a_new_device_waits_at_the_challenge(
    client, browser, user, rupt_server, open_whoami, pass_challenge, mailoutbox
):
    response = async_sign_in(browser, rupt_server)
    # Right after alogin(), in the same view, await request.auser() is anonymous.
    assert response.json() == {"signed_in": True, "user": ANONYMOUS}
    check = LoginCheck.objects.get()
    assert (check.decision, check.reason) == (Decision.CHALLENGE, Reason.NEW_DEVICE)
    assert client.session[SESSION_KEY]["state"] == "pending"
    assert not set(AUTH_KEYS) & set(client.session.keys())
    assert visit(browser, "/async/whoami/")[0].json() == {"user": ANONYMOUS}
    assert visit(browser, "/private/")[0]["Location"] == f"{CHALLENGE}?next=%2Fprivate%2F"
    assert pass_challenge().status_code == 302
    assert visit(browser, "/async/whoami/")[0].json() == {"user": "alice"}
    check.refresh_from_db()
    assert check.challenge_result == ChallengeResult.PASSED


def test_aauthenticate_refuses_a_blocked_device(client, browser, user, rupt_server):
    device = known_device(rupt_server, user)
    device_actions.block(device)
    response = async_sign_in(browser, rupt_server, device="dev-known")
    assert response.status_code == 401
    check = LoginCheck.objects.get()
    assert (check.decision, check.reason) == (Decision.BLOCK, Reason.BLOCKED_DEVICE)
    assert not set(AUTH_KEYS) & set(client.session.keys())
    assert SESSION_KEY not in client.session


def test_aauthenticate_with_a_wrong_password_runs_no_check(browser, user, rupt_server):
    response = async_sign_in(browser, rupt_server, password="wrong")
    assert response.status_code == 401
    assert not LoginCheck.objects.exists()


def test_alogout_gives_up_a_pending_challenge(client, browser, user, rupt_server, mailoutbox):
    async_sign_in(browser, rupt_server)
    assert client.session[SESSION_KEY]["state"] == "pending"
    response, _ = visit(browser, "/async/sign-out/", "post")
    assert response.json() == {"user": ANONYMOUS}
    check = LoginCheck.objects.get()
    assert check.challenge_result == ChallengeResult.GIVEN_UP
    assert SESSION_KEY not in client.session
    assert mailoutbox == []  # signing out is the owner's own doing: no alarm


# -- the rare steps, on the async stack ------------------------------------------------------


def test_a_challenge_that_ran_out_of_time_ends_on_the_async_stack(
    client,
    browser,
    user,
    rupt_server,
    guard_settings_override,
    gate_hops,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    async_sign_in(browser, rupt_server)
    guard_settings_override(CHALLENGE_TIMEOUT=1)
    session = client.session
    session[SESSION_KEY] = {**session[SESSION_KEY], "expires_at": time.time() - 1}
    session.save()
    with django_capture_on_commit_callbacks(execute=True):
        response, _ = visit(browser, "/async/whoami/")
    assert response.status_code == 302
    assert response["Location"] == LOGIN_PAGE
    assert gate_hops == ["expire"]
    assert LoginCheck.objects.get().challenge_result == ChallengeResult.EXPIRED
    assert [m.to for m in mailoutbox] == [["alice@example.com"]]  # the owner is told
    assert SESSION_KEY not in client.session


def rotate_the_session_key(client):
    """Django's password change cycles the session key (any cycle_key() does)."""
    changed = client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "brand new pass 42!",
            "new_password2": "brand new pass 42!",
        },
    )
    assert changed.status_code == 302


def test_a_rotated_session_key_is_followed_on_the_async_stack(
    client, browser, user, login, pass_challenge, gate_hops
):
    assert login().status_code == 302
    assert pass_challenge().status_code == 302
    rotate_the_session_key(client)
    assert visit(browser, "/async/whoami/")[0].json() == {"user": "alice"}
    assert gate_hops == ["follow_new_session_key"]
    # Followed once: the next request is an ordinary one again.
    assert visit(browser, "/async/whoami/")[0].json() == {"user": "alice"}
    assert gate_hops == ["follow_new_session_key"]


def test_a_revocation_during_a_key_rotation_ends_the_session_on_the_async_stack(
    client, browser, user, login, pass_challenge, gate_hops
):
    assert login().status_code == 302
    assert pass_challenge().status_code == 302
    rotate_the_session_key(client)
    device_actions.block(Device.objects.get(user=user))
    response, _ = visit(browser, "/async/whoami/")
    assert response["Location"] == LOGIN_PAGE
    assert gate_hops == ["follow_new_session_key", "end_revoked_session"]
    assert "_auth_user_id" not in client.session
    assert get_user_model().objects.filter(username="alice").exists()
