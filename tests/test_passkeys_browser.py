"""Passkeys in a real browser: headless Chromium with a virtual authenticator.

The authenticator is the DevTools protocol's WebAuthn domain (through Playwright's CDP
session): a platform authenticator that answers ``navigator.credentials`` as a laptop's
fingerprint reader would, with the user always present and verified. Everything else is
real: the login form with identify.js (its SDK answers with tokens of the fake Rupt), the
email code of the first challenge, django-otp-webauthn's scripts on rupt_guard's pages,
served with a strict Content-Security-Policy (no inline script), and the ceremonies verified
by the server. WebAuthn needs a secure origin, so the live server is reached as
http://localhost:PORT, the origin the server is told to expect.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from importlib import import_module

import pytest
from django.conf import settings as django_settings
from django_otp_webauthn.models import WebAuthnCredential

from rupt_guard.choices import ChallengeResult, VerificationMethod
from rupt_guard.gate.mark import SESSION_KEY
from rupt_guard.models import Device, LoginCheck

from .conftest import CHROMIUM, PASSWORD, chromium

if not os.path.exists(CHROMIUM):
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = [
    pytest.mark.browser,
    # live_server asks for the transactional database by itself; said here for the reader.
    pytest.mark.django_db(transaction=True),
]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
)
SDK_PATH = "/test-rupt-sdk.js"
AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def with_csp(app):
    """The live server's WSGI application, every answer sent with a strict CSP."""

    def application(environ, start_response):
        def start(status, headers, exc_info=None):
            return start_response(status, [*headers, ("Content-Security-Policy", CSP)], exc_info)

        return app(environ, start)

    return application


@pytest.fixture
def site(live_server, settings, rupt_server, monkeypatch):
    """The live server at http://localhost:PORT, expecting WebAuthn from that origin, its
    login form's SDK served by the test (see ``Browsing``), and a strict CSP on every page."""
    assert live_server.url.startswith("http://localhost:"), live_server.url
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]
    settings.RUPT_GUARD = {
        **settings.RUPT_GUARD,
        "SDK_URL": f"{live_server.url}{SDK_PATH}",
        "IDENTIFY_TIMEOUT_MS": 5000,
    }
    httpd = live_server.thread.httpd
    monkeypatch.setattr(httpd, "application", with_csp(httpd.application))
    return live_server


class Browsing:
    """One browser profile (a device, to Rupt) with its own virtual authenticator."""

    def __init__(self, context: BrowserContext, url: str, rupt_server, device: str) -> None:
        self.context = context
        self.url = url
        self.problems: list[str] = []
        # The identification SDK: each load answers with a fresh token of this device, as
        # Rupt's SDK would on this browser.
        context.route(
            f"**{SDK_PATH}",
            lambda route: route.fulfill(
                content_type="text/javascript",
                body=(
                    "window.Rupt = {identify: function () { return Promise.resolve("
                    f'{{identification: "{rupt_server.identify(device)}"}}); }}}};'
                ),
            ),
        )
        self.page: Page = context.new_page()
        self.page.set_default_timeout(15_000)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"pageerror: {error}"))
        self.cdp = context.new_cdp_session(self.page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})
        self.authenticator = self.cdp.send(
            "WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR}
        )["authenticatorId"]

    def _console(self, message) -> None:
        # A CSP violation is reported on the console; so is a failed ceremony.
        if message.type in ("error", "warning"):
            self.problems.append(f"{message.type}: {message.text}")

    def credentials(self) -> list[dict]:
        return self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.authenticator})[
            "credentials"
        ]

    def add_credential(self, credential: dict) -> None:
        self.cdp.send(
            "WebAuthn.addCredential",
            {"authenticatorId": self.authenticator, "credential": credential},
        )

    def sign_in(self, next_path: str = "/private/") -> None:
        page = self.page
        page.goto(f"{self.url}{next_path}")
        assert "/accounts/login/" in page.url
        page.fill("#id_username", "alice")
        page.fill("#id_password", PASSWORD)
        # identify.js holds the submission until identify() answers, then submits.
        with page.expect_navigation(url=re.compile(r"/rupt-guard/challenge/")):
            page.click("button:has-text('Sign in')")

    def sign_out(self) -> None:
        csrf = next(c["value"] for c in self.context.cookies() if c["name"] == "csrftoken")
        response = self.page.request.post(
            f"{self.url}/accounts/logout/", headers={"X-CSRFToken": csrf, "Referer": self.url}
        )
        assert response.ok
        assert not any(c["name"] == "sessionid" for c in self.context.cookies())

    def session(self):
        key = next(c["value"] for c in self.context.cookies() if c["name"] == "sessionid")
        return import_module(django_settings.SESSION_ENGINE).SessionStore(session_key=key)

    def assert_no_problems(self) -> None:
        assert self.problems == []


def email_code(mailoutbox, sent: int) -> str:
    deadline = time.monotonic() + 10
    while len(mailoutbox) <= sent:
        assert time.monotonic() < deadline, "no email arrived"
        time.sleep(0.05)
    return re.search(r"\b(\d{6})\b", mailoutbox[-1].body).group(1)


def test_enrol_a_passkey_then_pass_the_challenge_and_a_step_up_with_it(
    browser, site, rupt_server, user, mailoutbox
):
    # A laptop: challenged (a new device), passed with an email code.
    laptop = Browsing(browser.new_context(), site.url, rupt_server, device="laptop")
    laptop.sign_in()
    page = laptop.page
    assert page.is_visible("text=Confirm it is you")
    assert not page.is_visible("#passkey-verification-button")  # no passkey yet
    sent = len(mailoutbox) - 1  # the challenge sent its code as it opened
    assert page.is_visible("text=Code sent")
    page.fill("#id_otp_token", email_code(mailoutbox, sent))
    with page.expect_navigation(url=f"{site.url}/private/"):
        page.click("button:has-text('Confirm')")
    assert "private page of alice" in page.content()

    # The security page, right after the challenge: the step-up is fresh, a passkey is added.
    response = page.goto(f"{site.url}/rupt-guard/security/")
    assert response.headers["content-security-policy"] == CSP
    assert page.evaluate("typeof gettext") == "function"  # our catalog, open to everyone
    page.click("#passkey-register-button")
    status = page.locator("#passkey-register-status-message")
    page.wait_for_selector("#passkey-register-status-message[data-status-enum]")
    page.wait_for_function(
        "document.getElementById('passkey-register-status-message')"
        ".getAttribute('data-status-enum') !== 'busy'"
    )
    assert status.get_attribute("data-status-enum") == "success", status.text_content()
    (credential,) = WebAuthnCredential.objects.filter(user=user)
    assert credential.name == "Chrome on Linux"
    assert "Passkey: Chrome on Linux" in mailoutbox[-1].body  # the owner hears of it
    (made,) = laptop.credentials()
    assert made["rpId"] == "localhost"
    page.reload()
    assert page.is_visible("text=Chrome on Linux")
    laptop.assert_no_problems()
    laptop.sign_out()

    # A new browser on another computer, with the same passkey (a security key moved over,
    # or a passkey synced): a new device to Rupt, so challenged; the passkey passes it.
    desktop = Browsing(browser.new_context(), site.url, rupt_server, device="desktop")
    desktop.add_credential(
        {
            "credentialId": made["credentialId"],
            "isResidentCredential": made["isResidentCredential"],
            "rpId": made["rpId"],
            "privateKey": made["privateKey"],
            "userHandle": made.get("userHandle", ""),
            "signCount": made["signCount"],
        }
    )
    desktop.sign_in(next_path="/private/data.json")
    page = desktop.page
    assert page.is_visible("text=Confirm it is you")
    assert not page.is_visible("#id_otp_token")  # the passkey is alice's only factor
    with page.expect_navigation(url=f"{site.url}/private/data.json"):
        page.click("#passkey-verification-button")
    assert '"user": "alice"' in page.content()
    session = desktop.session()
    assert session[SESSION_KEY]["state"] == "passed"
    assert session["otp_device_id"] == credential.persistent_id
    device = Device.objects.get(user=user, external_id="desktop")
    assert device.is_verified
    assert device.verification_method == VerificationMethod.PASSKEY
    assert device.verified_with == credential.persistent_id
    check = LoginCheck.objects.filter(user=user).latest("pk")
    assert check.reason == "new_device"
    assert check.challenge_result == ChallengeResult.PASSED
    credential.refresh_from_db()
    assert credential.last_used_at is not None

    # An hour later: changing factors needs a step-up, passed with the passkey too.
    mark = dict(session[SESSION_KEY])
    mark["factor_at"] = mark["passed_at"] = time.time() - 3600
    session[SESSION_KEY] = mark
    session.save()
    page.goto(f"{site.url}/rupt-guard/security/")
    assert not page.is_visible("#passkey-register-button")
    with page.expect_navigation(url=re.compile(r"/rupt-guard/security/confirm/")):
        page.click("a:has-text('Add a passkey')")
    with page.expect_navigation(url=f"{site.url}/rupt-guard/security/"):
        page.click("#passkey-verification-button")
    assert page.is_visible("#passkey-register-button")
    assert time.time() - desktop.session()[SESSION_KEY]["factor_at"] < 60
    desktop.assert_no_problems()


def test_a_passkey_the_server_does_not_know_is_refused_on_the_page(
    browser, site, rupt_server, user, mailoutbox
):
    """alice has a passkey on her laptop; a phone with some other passkey for this site cannot
    pass her challenge: the page says why and the sign-in stays pending."""
    laptop = Browsing(browser.new_context(), site.url, rupt_server, device="laptop")
    laptop.sign_in()
    sent = len(mailoutbox) - 1  # the challenge sent its code as it opened
    laptop.page.fill("#id_otp_token", email_code(mailoutbox, sent))
    with laptop.page.expect_navigation(url=f"{site.url}/private/"):
        laptop.page.click("button:has-text('Confirm')")
    laptop.page.goto(f"{site.url}/rupt-guard/security/")
    laptop.page.click("#passkey-register-button")
    laptop.page.wait_for_selector("#passkey-register-status-message[data-status-enum='success']")

    phone = Browsing(browser.new_context(), site.url, rupt_server, device="phone")
    phone.sign_in()
    page = phone.page
    page.click("#passkey-verification-button")
    # The phone's authenticator has no credential among those offered: the browser reports
    # NotAllowedError, and the script shows it.
    page.wait_for_selector(
        "#passkey-verification-status-message[data-status-enum='not-allowed-or-aborted']"
    )
    assert "/rupt-guard/challenge/" in page.url
    assert phone.session()[SESSION_KEY]["state"] == "pending"
    assert not Device.objects.filter(external_id="phone", verified_at__isnull=False).exists()
