"""Consent refused, in headless Chromium: the login page carries no script, the browser never
asks for the identification SDK, and the sign-in is recorded with the reason ``no_consent``.

The site is the test site's login page plus the fake SDKs of ``tests/browser_urls.py``,
served by one live server; every request the page makes is watched from Playwright.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests import browser_urls
from tests import urls as site_urls

from .conftest import CHROMIUM, PASSWORD, chromium

if not os.path.exists(CHROMIUM):
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.urls("tests.test_consent_browser"),
    pytest.mark.django_db(transaction=True),
]

# The test site's pages and the fake SDKs, on one live server.
urlpatterns = [*site_urls.urlpatterns, *browser_urls.urlpatterns]


def refuse(request):
    return False


def agree(request):
    return True


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def site(live_server, rupt_server, guard_settings_override, django_user_model):
    """The live server with the Rupt provider, its SDK served by the same server."""
    browser_urls.reset()
    django_user_model.objects.create_user("alice", "alice@example.com", PASSWORD)
    guard_settings_override(
        PROVIDER="rupt", SDK_URL=f"{live_server.url}/sdk/fake-sdk.js", IDENTIFY_TIMEOUT_MS=3000
    )
    yield live_server
    browser_urls.reset()


def sign_in(page: Page, url: str, requested: list[str]) -> None:
    page.on("request", lambda request: requested.append(request.url))
    page.set_default_timeout(10_000)
    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.wait_for_url("**/rupt-guard/challenge/**")


def identification_calls(rupt_server) -> list[str]:
    return [seen.path for seen in rupt_server.requests if "/identification/" in seen.path]


def test_no_sdk_request_and_the_reason_recorded(
    browser, site, rupt_server, guard_settings_override
):
    from rupt_guard.models import LoginCheck

    guard_settings_override(CONSENT="tests.test_consent_browser.refuse")
    page = browser.new_context().new_page()
    requested: list[str] = []
    page.goto(f"{site.url}/accounts/login/")
    assert page.locator("script").count() == 0
    assert page.locator("[data-rupt-guard-field], [data-rupt-guard-error]").count() == 0
    sign_in(page, site.url, requested)
    page.wait_for_timeout(300)  # time for a late script to ask, if one ran
    assert not [url for url in requested if "/sdk/" in url or "identify.js" in url]
    assert browser_urls.SDK_REQUESTS == []
    assert identification_calls(rupt_server) == []
    check = LoginCheck.objects.get()
    assert (check.reason, check.decision) == ("no_consent", "challenge")
    page.context.close()


def test_with_consent_the_same_page_loads_the_sdk(
    browser, site, rupt_server, guard_settings_override
):
    # The control: the same page and watch do see the SDK when consent is given.
    from rupt_guard.models import LoginCheck

    guard_settings_override(CONSENT="tests.test_consent_browser.agree")
    page = browser.new_context().new_page()
    requested: list[str] = []
    sign_in(page, site.url, requested)
    assert [url for url in requested if "/sdk/" in url] == [f"{site.url}/sdk/fake-sdk.js"]
    assert browser_urls.SDK_REQUESTS == ["fake-sdk.js"]
    # The fake SDK's token is not one the fake Rupt minted: a bad token, not a refusal.
    assert LoginCheck.objects.get().reason == "bad_token"
    page.context.close()
