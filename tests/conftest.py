from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from typing import Any

import pytest

from rupt_guard.providers import reset_provider
from rupt_guard.testing.fake_rupt import SECRET, FakeRupt, start_fake_rupt, stop_fake_rupt

# The testing kit's plugin, which its pytest11 entry point loads once the project is
# installed from this pyproject (tests/run.py does); an older install of the project
# (without the entry point) gets it here.
if not any(ep.value == "rupt_guard.testing.plugin" for ep in entry_points(group="pytest11")):
    pytest_plugins = ["rupt_guard.testing.plugin"]


@pytest.fixture(autouse=True)
def _fresh_shared_cache():
    """Throttles and limits live in the shared cache: each test starts with none."""
    from django.core.cache import caches

    for cache in caches.all(initialized_only=True):
        cache.clear()
    yield


@pytest.fixture(scope="session")
def _fake_rupt() -> Iterator[FakeRupt]:
    fake, server = start_fake_rupt()
    yield fake
    stop_fake_rupt(server)


@pytest.fixture
def rupt_server(_fake_rupt: FakeRupt, settings) -> Iterator[FakeRupt]:
    """A fake Rupt on loopback; the app's settings point at it for this test."""
    fake = _fake_rupt
    fake.reset()
    settings.RUPT_GUARD = {
        "CLIENT_ID": "test-client",
        "API_SECRET": SECRET,
        "API_BASE_URL": fake.url,
        "TIMEOUT": 1.0,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    yield fake
    reset_provider()


@pytest.fixture
def guard_settings_override(settings):
    """Merge keys into ``settings.RUPT_GUARD`` (which triggers a reload)."""

    def override(**values):
        settings.RUPT_GUARD = {**settings.RUPT_GUARD, **values}

    return override


def pytest_ignore_collect(collection_path, config):
    # tests/with_allauth/ is a site of its own (django-allauth installed), run as its own
    # pass under tests.with_allauth.settings (tests/run.py); the main pass leaves it out.
    from django.apps import apps

    if collection_path.name == "with_allauth" and not apps.is_installed("rupt_guard.allauth"):
        return True
    return None


def pytest_collection_modifyitems(config, items):
    # Concurrency tests need real row locks and concurrent transactions: they run in the
    # PostgreSQL pass of the suite (RUPT_GUARD_TEST_DB=postgres) and are left out of SQLite's.
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    kept = [item for item in items if "postgres" not in item.keywords]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if "postgres" in i.keywords])
        items[:] = kept


PASSWORD = "correct horse battery staple"
# A Standard Webhooks secret, as Rupt shows one: "whsec_" and base64.
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def user(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("alice", "alice@example.com", PASSWORD)


@pytest.fixture
def login(client, rupt_server):
    """Sign in through the login form as a browser would: credentials plus a token."""

    def sign_in(username="alice", password=PASSWORD, *, device=None, token=..., next=None, **extra):
        if token is ...:
            token = rupt_server.identify(device)
        data = {"username": username, "password": password}
        if token is not None:
            data["rupt_identification"] = token
        if next is not None:
            data["next"] = next
        return client.post("/accounts/login/", data, **extra)

    return sign_in


@pytest.fixture
def email_code(client, mailoutbox):
    """Ask the challenge page for an email code and return it, read from the outbox."""

    def request_code():
        """The page sends an emailed code on arrival when email is the method shown (once per
        pending sign-in); otherwise, or once it was sent, ask for one as a person would."""
        from django_otp import devices_for_user

        sent = len(mailoutbox)
        page = client.get("/rupt-guard/challenge/")
        assert page.status_code == 200
        (device,) = [d for d in page.context["devices"] if "email" in d.persistent_id]
        if len(mailoutbox) == sent and page.context["code_sent"]:
            # Sent on an earlier visit of this sign-in: that email holds the code.
            assert mailoutbox, "the page says a code was sent, but none was"
            sent -= 1
        elif len(mailoutbox) == sent:
            response = client.post(
                "/rupt-guard/challenge/",
                {"otp_device": device.persistent_id, "otp_challenge": "1"},
            )
            assert response.status_code == 200
        assert len(mailoutbox) == sent + 1
        code = re.search(r"\b(\d{6})\b", mailoutbox[-1].body).group(1)
        assert devices_for_user(device.user)
        return device.persistent_id, code

    return request_code


@pytest.fixture
def pass_challenge(client, email_code):
    """Complete a pending challenge with an email code; return the response."""

    def complete(next=None):
        device_id, code = email_code()
        data = {"otp_device": device_id, "otp_token": code}
        if next is not None:
            data["next"] = next
        return client.post("/rupt-guard/challenge/", data)

    return complete


# Debian's Chromium; Playwright's own browser download is not available here.
CHROMIUM = os.environ.get("RUPT_GUARD_CHROMIUM", "/usr/bin/chromium")


@contextmanager
def chromium(**launch: Any) -> Iterator[Any]:
    """Debian's Chromium under Playwright, for a module's ``browser`` fixture.

    Playwright's sync API runs an asyncio event loop in this thread (in a greenlet); while it
    is alive Django's async-safety check sees a "running event loop" and refuses the database
    work of the tests and of pytest-django's transactional teardown
    (SynchronousOnlyOperation). Nothing here is async code, so the check is off meanwhile.
    """
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=chromium_args(), **launch
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def chromium_args() -> list[str]:
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]


@pytest.fixture
def outside_the_test_environment():
    """The checks as ``manage.py check --deploy`` or ``rupt_guard_check`` run them: not
    under a test runner (which E009 leaves alone)."""
    from django.test.utils import _TestState

    saved = _TestState.saved_data
    del _TestState.saved_data
    yield
    _TestState.saved_data = saved
