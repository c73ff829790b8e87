"""Factors in headless Chromium on the demo site: enrol an authenticator app by reading the
secret the page shows, make backup codes (twice: the first set stops working), download
them, and pass a challenge from a new browser with each."""

from __future__ import annotations

import os

import pytest

from .conftest import CHROMIUM
from .factors_kit import code_for

if not os.path.exists(CHROMIUM):
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Page

from .test_demo_browser import ARTIFACTS, Demo, browser, demo, on_challenge, sign_in

pytestmark = pytest.mark.browser
__all__ = ["browser", "demo"]  # the demo site and Chromium, as fixtures of this module


def pass_with_email(page: Page, demo: Demo) -> None:
    # The challenge sent the code as it opened: the newest email holds it.
    assert page.is_visible("text=Code sent")
    page.fill("#id_otp_token", demo.latest_code(after=demo.emails() - 1))
    with page.expect_navigation():
        page.click("button:has-text('Confirm')")


def choose(page: Page, method: str) -> None:
    """Pick a method from "Other ways to confirm" unless it is the one shown."""
    link = page.locator(".rupt-guard-methods a", has_text=method)
    if link.count():
        with page.expect_navigation():
            link.click()


def pass_with(page: Page, demo: Demo, method: str, code: str) -> None:
    assert on_challenge(page)
    choose(page, method)
    page.fill("#id_otp_token", code)
    with page.expect_navigation():
        page.click("button:has-text('Confirm')")
    assert page.url == f"{demo.url}/private/"


def test_enrol_an_app_and_backup_codes_then_pass_challenges_with_them(browser, demo, tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, accept_downloads=True)
    page = context.new_page()
    sign_in(page, demo)
    pass_with_email(page, demo)
    page.click("text=Security: your second factors")
    assert page.is_visible("text=code sent to your email address")

    page.click("text=Add an authenticator app")
    assert page.locator(".rupt-guard-qr svg").count() == 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "totp-setup.png"), full_page=True)
    secret = page.inner_text("[data-rupt-guard-secret]")
    page.fill("#id_name", "Test phone")
    page.fill("#id_otp_token", code_for(secret))
    with page.expect_navigation():
        page.click("button:has-text('Add the app')")
    assert page.is_visible("text=Your authenticator app was added.")
    assert page.is_visible("text=Test phone")

    page.click("a:has-text('Get backup codes')")
    with page.expect_navigation():
        page.click("button:has-text('Get backup codes')")
    first = page.locator("[data-rupt-guard-codes] code").all_inner_texts()
    assert len(first) == 10
    with page.expect_navigation():
        page.click("text=I have saved them")
    page.click("a:has-text('Backup codes')")
    assert page.is_visible("text=You have 10 unused backup codes.")
    with page.expect_navigation():
        page.click("text=Make new backup codes")
    second = page.locator("[data-rupt-guard-codes] code").all_inner_texts()
    assert len(second) == 10 and not set(first) & set(second)
    with page.expect_download() as download:
        page.click("text=Download as a text file")
    saved = tmp_path / "codes.txt"
    download.value.save_as(saved)
    assert all(code in saved.read_text() for code in second)
    page.screenshot(path=str(ARTIFACTS / "backup-codes.png"), full_page=True)
    context.close()

    # A new browser (a new device) passes its challenge with the app...
    with_app = browser.new_context()
    page = with_app.new_page()
    sign_in(page, demo)
    assert page.is_visible("text=Code from your authenticator app")  # the strongest first
    pass_with(page, demo, "Authenticator app", code_for(secret, steps_ahead=1))
    with_app.close()

    # ... and another with a backup code of the second set; one of the first is refused.
    with_code = browser.new_context()
    page = with_code.new_page()
    sign_in(page, demo)
    choose(page, "Backup code")
    page.fill("#id_otp_token", first[0])
    with page.expect_navigation():
        page.click("button:has-text('Confirm')")
    assert on_challenge(page) and page.is_visible("text=That code is not valid")
    # Refused, the page stays on the method chosen and offers the others by name only
    # (never the leftover email fallback).
    assert page.is_visible("text=One of your backup codes")
    assert page.locator(".rupt-guard-methods a").all_inner_texts() == ["Authenticator app"]
    page.wait_for_timeout(1100)  # django-otp's back-off after a wrong code
    pass_with(page, demo, "Backup code", second[0])
    with_code.close()
