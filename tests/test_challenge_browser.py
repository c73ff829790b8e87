"""The challenge in headless Chromium, walked as a person would on the demo site: the code
sent on arrival, a cooldown, each code method through the chooser, "Trust this browser"
unticked, and a mail server that is down."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .conftest import CHROMIUM

if not os.path.exists(CHROMIUM):
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)


from django_otp.oath import TOTP
from playwright.sync_api import Page

from .test_demo_browser import Demo, browser, on_challenge, running_demo, sign_in

pytestmark = pytest.mark.browser
__all__ = ["browser"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("challenge-demo")
    (folder / "mail").mkdir()
    with running_demo(folder, folder / "mail") as demo:
        yield demo


@pytest.fixture(scope="module")
def site_without_mail(tmp_path_factory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("no-mail-demo")
    (folder / "mail").write_text("not a folder: every email fails to send")
    with running_demo(folder, folder / "mail") as demo:
        yield demo


def add_totp(demo: Demo, page: Page) -> str:
    """Enrol an authenticator app on the security page; return its secret."""
    page.goto(f"{demo.url}/rupt-guard/security/app/")
    secret = page.inner_text("[data-rupt-guard-secret]").replace(" ", "")
    page.fill("#id_otp_token", f"{TOTP(_key(secret)).token():06d}")
    with page.expect_navigation():
        page.click("button:has-text('Add the app')")
    return secret


def _key(secret: str) -> bytes:
    from base64 import b32decode

    return b32decode(secret + "=" * (-len(secret) % 8))


def test_the_code_comes_on_arrival_then_a_cooldown_tells_the_truth(browser, site):
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    sent = site.emails()
    sign_in(page, site)
    assert on_challenge(page)
    # The one method, email, needs a code: it was sent as the page opened.
    assert page.is_visible("text=Code sent (Email to d***@example.com)")
    assert page.locator("text=Other ways to confirm").count() == 0
    assert page.get_attribute("#id_otp_token", "inputmode") == "numeric"
    code = site.latest_code(after=sent)
    page.reload()
    assert site.emails() == sent + 1  # a reload sends nothing more
    with page.expect_navigation():
        page.click("text=Send a new code")
    assert page.is_visible("text=/You can ask for a new one in \\d+ seconds?/")
    assert site.emails() == sent + 1
    page.fill("#id_otp_token", code)
    with page.expect_navigation():
        page.click("button:has-text('Confirm')")
    assert page.url == f"{site.url}/private/"
    page.context.close()


def test_each_method_through_the_chooser_and_an_untrusted_browser(browser, site):
    owner = browser.new_context().new_page()
    sent = site.emails()
    sign_in(owner, site)
    owner.fill("#id_otp_token", site.latest_code(after=sent))
    with owner.expect_navigation():
        owner.click("button:has-text('Confirm')")
    secret = add_totp(site, owner)
    owner.goto(f"{site.url}/rupt-guard/security/backup-codes/")
    with owner.expect_navigation():
        owner.click("button:has-text('Get backup codes')")
    backup = owner.locator("[data-rupt-guard-codes] code").all_inner_texts()
    owner.context.close()

    # A shared computer: the app, "Trust this browser" unticked.
    shared = browser.new_context().new_page()
    sign_in(shared, site)
    assert on_challenge(shared)
    assert shared.is_visible("text=Code from your authenticator app")  # strongest first
    assert shared.is_visible("a:has-text('Backup code')")
    shared.fill("#id_otp_token", f"{TOTP(_key(secret), drift=1).token():06d}")
    shared.uncheck("#id_trust_browser")
    with shared.expect_navigation():
        shared.click("button:has-text('Confirm')")
    assert shared.url == f"{site.url}/private/"
    with shared.expect_navigation():
        shared.click("text=Sign out")
    sign_in(shared, site)
    assert on_challenge(shared)  # not trusted: asked again

    # The same browser, this time with a backup code, chosen from the other ways.
    with shared.expect_navigation():
        shared.click("a:has-text('Backup code')")
    assert shared.get_attribute("#id_otp_token", "inputmode") == "text"
    shared.fill("#id_otp_token", backup[0])
    with shared.expect_navigation():
        shared.click("button:has-text('Confirm')")
    assert shared.url == f"{site.url}/private/"
    shared.context.close()


def test_a_mail_server_that_is_down_is_said_in_plain_words(browser, site_without_mail):
    page = browser.new_context().new_page()
    sign_in(page, site_without_mail)
    assert on_challenge(page)
    alert = page.inner_text("[role=alert]")
    assert "We couldn't send the email; try another way or again in a minute." in alert
    assert "Errno" not in page.content() and "Traceback" not in page.content()
    # No cooldown was spent: "Send code" is offered and answers at once, as truthfully.
    with page.expect_navigation():
        page.click("button:has-text('Send code')")
    assert page.is_visible("text=We couldn't send the email")
    assert not page.is_visible("text=/ask for a new one in/")
    page.context.close()
