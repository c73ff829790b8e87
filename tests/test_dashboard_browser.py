"""The admin's dashboard in headless Chromium, under a strict Content-Security-Policy:
its charts draw with no script and no inline style, and the README's screenshot is taken
here (RUPT_GUARD_SCREENSHOTS=1 retakes it, as tests/test_demo_browser.py's)."""

from __future__ import annotations

import os

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client

from rupt_guard.testing import login_verified

from .conftest import CHROMIUM, PASSWORD, chromium
from .dashboard_data import seed

if not os.path.exists(CHROMIUM):
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

from .test_demo_browser import README_SCREENSHOTS
from .test_passkeys_browser import CSP, with_csp

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def test_the_dashboard_draws_under_a_strict_csp(browser, live_server, monkeypatch, user):
    httpd = live_server.thread.httpd
    monkeypatch.setattr(httpd, "application", with_csp(httpd.application))
    seed(user)
    staff = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    client = Client()
    login_verified(client, staff)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))

    response = page.goto(f"{live_server.url}/admin/rupt_guard/dashboard/?period=7d")
    assert response is not None and response.status == 200
    page.wait_for_load_state("networkidle")
    assert response.headers["content-security-policy"] == CSP
    assert page.locator("svg[role=img]").count() == 4
    # The stylesheet applied (a blocked one would leave the bars black): the patterns'
    # grounds have the series' colours.
    fill = page.eval_on_selector(
        "#rupt-guard-decisions-allow rect", "el => getComputedStyle(el).fill"
    )
    assert fill == "rgb(111, 178, 122)", fill
    box = page.locator("#rupt-guard-decisions-title").evaluate("el => el.textContent")
    assert box == "Sign-ins by decision, per day"
    assert not [p for p in problems if "Content Security Policy" in p], problems

    README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(README_SCREENSHOTS / "admin-dashboard.png"), full_page=True)
    context.close()
