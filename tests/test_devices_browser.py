"""The devices page and "this wasn't me" in headless Chromium, walked as a person would.

Django's live server at http://localhost:PORT with a strict Content-Security-Policy (as in
tests/test_passkeys_browser.py); the login form runs identify.js for real, its SDK answers
with tokens of the fake Rupt. Devices the person signs in from are verified beforehand, so
no challenge stands in the way: the challenge has browser tests of its own. The account
has 10,000 other devices (bulk_create), as in the performance issue.
"""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from rupt_guard.models import Device

from .conftest import CHROMIUM, PASSWORD

if not os.path.exists(CHROMIUM):
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page

from .test_demo_browser import ARTIFACTS
from .test_passkeys_browser import SDK_PATH, browser, site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
__all__ = ["browser", "site"]  # Chromium and the live server, as fixtures of this module

MANY = 10_000
# The links' accessible names end with the device's name (": Chrome 131 on Linux").
BLOCK = re.compile(r"^Block\b")
UNBLOCK = re.compile(r"^Unblock\b")


class Person:
    """One browser profile (a device, to Rupt) of someone using the site."""

    def __init__(self, browser: Browser, url: str, rupt_server, device: str, **options) -> None:
        self.context = browser.new_context(**options)
        self.url = url
        self.problems: list[str] = []
        self.context.route(
            f"**{SDK_PATH}",
            lambda route: route.fulfill(
                content_type="text/javascript",
                body=(
                    "window.Rupt = {identify: function () { return Promise.resolve("
                    f'{{identification: "{rupt_server.identify(device)}"}}); }}}};'
                ),
            ),
        )
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        # A CSP violation (an inline script or style of ours) is reported on the console.
        self.page.on(
            "console",
            lambda m: self.problems.append(m.text) if m.type in ("error", "warning") else None,
        )

    def sign_in(self, next_path: str = "/private/") -> None:
        page = self.page
        page.goto(f"{self.url}{next_path}")
        assert "/accounts/login/" in page.url
        page.fill("#id_username", "alice")
        page.fill("#id_password", PASSWORD)
        with page.expect_navigation():
            page.click("button:has-text('Sign in')")

    def open(self, path: str) -> float:
        """Go to ``path``; how long the page took to load, in milliseconds."""
        started = time.perf_counter()
        self.page.goto(f"{self.url}{path}")
        return (time.perf_counter() - started) * 1000

    def follow(self, selector: str) -> None:
        with self.page.expect_navigation():
            self.page.click(selector)

    def signed_in(self) -> bool:
        self.page.goto(f"{self.url}/private/")
        return "private page of alice" in self.page.content()


def verified_device(user, external_id: str) -> Device:
    device, _ = Device.objects.update_or_create(
        user=user, external_id=external_id, defaults={"verified_at": timezone.now()}
    )
    return device


def many_devices(user, count: int) -> None:
    agents = [
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/{v}.0.0.0 Safari/537.36",
    ]
    start = timezone.now() - timedelta(hours=2)
    Device.objects.bulk_create(
        (
            Device(
                user=user,
                external_id=f"old-{i}",
                label=f"Old device {i}" if i % 5 == 0 else "",
                last_user_agent=agents[i % 2].format(v=100 + i % 30),
                last_ip=f"10.0.{i // 256 % 256}.{i % 256}",
                last_seen_at=start - timedelta(minutes=i),
                verified_at=start if i % 3 == 0 else None,
            )
            for i in range(count)
        ),
        batch_size=2000,
    )


def fits_the_screen(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_devices_page_with_many_devices(browser, site, rupt_server, user):
    verified_device(user, "laptop")
    verified_device(user, "phone")
    many_devices(user, MANY)
    phone = Person(browser, site.url, rupt_server, "phone")
    phone.sign_in()
    assert phone.signed_in()

    laptop = Person(
        browser, site.url, rupt_server, "laptop", viewport={"width": 390, "height": 844}
    )
    laptop.sign_in()
    page = laptop.page
    took = laptop.open("/rupt-guard/devices/")
    print(f"\ndevices page, {MANY + 2} devices: loaded in {took:.0f} ms")
    # This device first, told apart by its browser and version; then the others, newest first.
    current = page.locator(".rupt-guard-current")
    assert "This device" in current.inner_text() and "Verified" in current.inner_text()
    assert re.search(r"Chrome \d+ on Linux", current.inner_text())
    names = page.locator("[aria-labelledby=rupt-guard-other-devices] strong").all_inner_texts()
    assert re.fullmatch(r"Chrome \d+ on Linux", names[0])  # the phone, seen a moment ago
    assert names[1] == "Old device 0"
    assert page.is_visible(f"text={MANY + 1} other devices")
    assert page.is_visible(f"text=Page 1 of {(MANY + 1 + 19) // 20}")
    assert fits_the_screen(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "devices-many.png"), full_page=True)

    # Paging through: next, then the last page.
    laptop.follow("a:has-text('Next')")
    assert page.url.endswith("?page=2") and page.is_visible("text=Page 2 of")
    assert page.locator(".rupt-guard-current").count() == 0  # it leads the first page only
    laptop.follow("a:has-text('Last')")
    assert page.is_visible(f"text=Page {(MANY + 1 + 19) // 20} of")
    took = laptop.open("/rupt-guard/devices/?page=50")
    print(f"devices page 50: loaded in {took:.0f} ms")

    # A device the person does not recognise, on page 50: block it, and come back there.
    row = page.locator(f"#{page.locator('.rupt-guard-device').first.get_attribute('id')}")
    with page.expect_navigation():
        row.get_by_role("link", name=BLOCK).click()
    assert page.is_visible("text=Block this device?")
    assert page.is_visible("text=refuses every sign-in from it")
    assert not page.is_visible("text=This is the device you are using")
    laptop.follow("button:has-text('Block')")
    assert page.url.endswith("?page=50")
    assert page.is_visible("text=The device was blocked and signed out.")
    assert "Blocked" in row.inner_text()
    assert row.get_by_role("link", name=BLOCK).count() == 0

    # It was theirs after all: unblock it (not trusted again).
    with page.expect_navigation():
        row.get_by_role("link", name=UNBLOCK).click()
    assert page.is_visible("text=unblocking does not make it trusted")
    laptop.follow("button:has-text('Unblock')")
    assert page.is_visible("text=The device was unblocked.")
    assert "Not verified" in row.inner_text()

    # Give it a name.
    row.locator("summary").click()
    row.locator("input[type=text]").fill("Grandma's tablet")
    with page.expect_navigation():
        row.locator("button:has-text('Save')").click()
    assert page.url.endswith("?page=50")
    assert page.is_visible("text=Grandma's tablet")

    # Sign out everywhere else: the phone is signed out, the laptop goes on.
    laptop.open("/rupt-guard/devices/")
    laptop.follow("button:has-text('Sign out everywhere else')")
    assert page.is_visible("text=You were signed out everywhere else.")
    assert not phone.signed_in()
    assert laptop.signed_in()

    # Finally, this very device: blocking it signs the person out, for good.
    laptop.open("/rupt-guard/devices/")
    with page.expect_navigation():
        page.locator(".rupt-guard-current").get_by_role("link", name=BLOCK).click()
    assert page.is_visible("text=This is the device you are using")
    laptop.follow("button:has-text('Block')")
    assert "/accounts/login/" in page.url
    assert not laptop.signed_in()
    laptop.sign_in()
    assert "/accounts/login/" in page.url  # refused: a blocked device
    assert Device.objects.get(user=user, external_id="laptop").blocked_at is not None
    assert laptop.problems == [] and phone.problems == []


def test_this_wasnt_me(browser, site, rupt_server, user, mailoutbox, guard_settings_override):
    # Someone with the password signs in from a device the policy lets through.
    guard_settings_override(ON_NEW_DEVICE="allow")
    thief = Person(browser, site.url, rupt_server, "stranger")
    thief.sign_in()
    assert thief.signed_in()
    deadline = time.monotonic() + 10
    while not mailoutbox:
        assert time.monotonic() < deadline, "no email arrived"
        time.sleep(0.05)
    link = re.search(r"https?://[^/\s]+(/rupt-guard/not-me/[^/\s]+/)", mailoutbox[-1].body)[1]

    # The owner reads the email on their phone and opens the link.
    verified_device(user, "owner-phone")
    owner = Person(
        browser, site.url, rupt_server, "owner-phone", viewport={"width": 390, "height": 844}
    )
    owner.open(link)
    page = owner.page
    assert page.is_visible("text=Someone signed in to your account with your password")
    assert page.is_visible("text=refuses every sign-in from it to your account")
    assert fits_the_screen(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "not-me.png"), full_page=True)

    # "It was me": nothing changes, a way to sign in is offered.
    owner.follow("button:has-text('It was me')")
    assert page.is_visible("text=Nothing was changed")
    assert page.is_visible("a:has-text('Sign in')")
    assert thief.signed_in()

    # Thinking again, the owner opens the link once more and blocks the device.
    owner.open(link)
    owner.follow("button:has-text('Block that device')")
    assert page.is_visible("text=that device is blocked and its sessions have ended")
    assert page.is_visible("text=Change your password now")
    assert not thief.signed_in()
    page.screenshot(path=str(ARTIFACTS / "not-me-done.png"), full_page=True)

    # The link to the site's password change: sign in first, then the form.
    owner.follow("a:has-text('Change your password')")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("button:has-text('Sign in')")
    assert page.url == f"{site.url}/accounts/password/"
    assert Device.objects.get(user=user, external_id="stranger").blocked_at is not None
    # The thief's browser cannot sign in again.
    thief.sign_in()
    assert "/accounts/login/" in thief.page.url
    assert owner.problems == [] and thief.problems == []
