"""allauth's stock login page in headless Chromium: the identify script fills the token."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import CHROMIUM, PASSWORD, chromium

if not os.path.exists(CHROMIUM):
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

from rupt_guard.choices import Decision, Reason
from rupt_guard.models import LoginCheck

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with chromium() as launched:
        yield launched


def test_the_script_fills_the_token_on_allauths_stock_login_page(
    browser, live_server, transactional_db, settings
):
    from django.contrib.auth import get_user_model

    # The local provider: its SDK is served by the site itself, so no Rupt is needed.
    settings.RUPT_GUARD = {
        "PROVIDER": "local",
        "PASSWORD_BACKEND": settings.ALLAUTH_PASSWORD_BACKEND,
    }
    get_user_model().objects.create_user("alice", "alice@example.com", PASSWORD)
    page = browser.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", "alice")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation(url="**/rupt-guard/challenge/**"):
        page.click("button[type=submit]")
    check = LoginCheck.objects.get()
    # A token came (the device was identified): not the missing-token rule.
    assert (check.decision, check.reason) == (Decision.CHALLENGE, Reason.NEW_DEVICE)
    assert check.device is not None
    assert page.is_visible("text=Confirm")  # the challenge page, not allauth's "signed in"
    page.close()
