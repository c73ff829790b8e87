"""identify.js in a real browser (headless Chromium driven by Playwright).

The pages, the recording endpoint and the fake SDKs are in ``tests/browser_urls.py``. What
is asserted is what the server observes: the fields of the POSTs it received (the token and,
when there is none, the browser's reason in the ``_error`` field), when it was asked for the
SDK, and (through ``sessionStorage``, which the fake SDK writes to) how often
``Rupt.identify`` ran and with what argument.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator

import pytest

from tests import browser_urls

from .conftest import CHROMIUM, chromium

if not os.path.exists(CHROMIUM):
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, ConsoleMessage, Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.urls("tests.browser_urls"),
    # live_server asks for the transactional database by itself; said here for the reader.
    pytest.mark.django_db(transaction=True),
]

CLIENT_ID = "client-abc"
TOKEN = f"tok.{CLIENT_ID}.1"  # what the fake SDK answers to the first identify() call
FIELD = "rupt_identification"
ERROR_FIELD = f"{FIELD}_error"  # the browser's reason when it has no token


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright turns the back/forward cache off; identify.js handles it (pageshow).
    with chromium(ignore_default_args=["--disable-back-forward-cache"]) as launched:
        yield launched


class Site:
    """The live server, its settings and what it received."""

    def __init__(self, live_server, settings) -> None:
        self.url = live_server.url
        self._settings = settings

    def configure(
        self,
        sdk: str = "fake-sdk.js",
        *,
        timeout_ms: int = 3000,
        url: str = "",
        client_id: str = CLIENT_ID,
        domain: str = "",
        tolerance: str = "",
        integrity: str = "",
    ) -> None:
        """Point ``{% rupt_guard_identify %}`` at a fake SDK (or at ``url``)."""
        self._settings.RUPT_GUARD = {
            **self._settings.RUPT_GUARD,
            "PROVIDER": "rupt",
            "CLIENT_ID": client_id,
            "SDK_URL": url or f"{self.url}/sdk/{sdk}",
            "IDENTIFY_TIMEOUT_MS": timeout_ms,
            "DOMAIN": domain,
            "TOLERANCE": tolerance,
            "SDK_INTEGRITY": integrity,
        }

    @property
    def submissions(self) -> list[dict]:
        return list(browser_urls.SUBMISSIONS)

    @property
    def sdk_requests(self) -> list[str]:
        return list(browser_urls.SDK_REQUESTS)

    @property
    def sdk_requested_at(self) -> list[float]:
        return list(browser_urls.SDK_REQUESTED_AT)


@pytest.fixture
def site(live_server, settings) -> Iterator[Site]:
    browser_urls.reset()
    site = Site(live_server, settings)
    site.configure()
    yield site
    browser_urls.reset()


class Tab:
    """A page in a fresh browser context, with the console messages it logged."""

    def __init__(self, page: Page, site: Site) -> None:
        self.page = page
        self.site = site
        self.console: list[str] = []
        page.on("console", self._log)
        page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))
        page.set_default_timeout(10_000)

    def _log(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    def open(self, query: str = "", wait_until: str = "load") -> None:
        self.page.goto(f"{self.site.url}/sign-in/{query}", wait_until=wait_until)

    def wait_for_result(self) -> dict[str, list[str]]:
        """Wait for the result page of a real (navigating) submission; the fields it got."""
        self.page.wait_for_url("**/submitted/**")
        return json.loads(self.page.text_content("body"))["received"]

    def identify_calls(self) -> list[dict]:
        """Every ``Rupt.identify(...)`` argument in this tab (the fake SDK logs them)."""
        return json.loads(self.page.evaluate("sessionStorage.getItem('identifyCalls') || '[]'"))

    def sdk_loads(self) -> int:
        return int(self.page.evaluate("sessionStorage.getItem('sdkLoads') || '0'"))

    def csp_violations(self) -> list[str]:
        return [line for line in self.console if "Content Security Policy" in line]


# Chrome logs a blocked script load to the console, but an eval or inline-style violation
# only to DevTools' Issues: a securitypolicyviolation listener, injected ahead of the page's
# scripts (Playwright's init scripts are not subject to the page's CSP), reports them all.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (event) {
  console.error("Content Security Policy violation: " + event.effectiveDirective +
    " blocked " + event.blockedURI + " (" + event.sourceFile + ")");
}, true);
"""


def _new_tab(browser: Browser, site: Site, **context_options) -> Iterator[Tab]:
    context = browser.new_context(**context_options)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    try:
        yield Tab(context.new_page(), site)
    finally:
        context.close()


@pytest.fixture
def tab(browser: Browser, site: Site) -> Iterator[Tab]:
    yield from _new_tab(browser, site)


def sri(body: bytes) -> str:
    """A Subresource Integrity value (sha384) of ``body``."""
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def only_submission(site: Site, settle: float = 0.3) -> dict:
    """The one POST the server got; waits ``settle`` seconds for a late duplicate."""
    time.sleep(settle)
    submissions = site.submissions
    assert len(submissions) == 1, [s["post"] for s in submissions]
    return submissions[0]


# --- the token arrives -------------------------------------------------------------------


def test_click_submits_token_with_button_and_fields(tab: Tab, site: Site):
    tab.open()
    tab.page.fill("#username", "alice")
    tab.page.click("#first-submit")
    received = tab.wait_for_result()

    post = only_submission(site)["post"]
    assert post == received
    assert post[FIELD] == [TOKEN]  # derived from the client_id identify() was given
    assert post[ERROR_FIELD] == [""]
    assert post["action"] == ["sign-in-first"]  # the clicked button survives the re-submit
    assert post["username"] == ["alice"]
    assert post["which"] == ["first"]
    assert len(post["csrfmiddlewaretoken"][0]) > 0
    assert "email" not in post  # nothing from the other forms
    assert tab.identify_calls() == [{"client_id": CLIENT_ID}]
    assert tab.sdk_loads() == 1
    assert site.sdk_requests == ["fake-sdk.js"]


def test_enter_in_text_field_submits_token(tab: Tab, site: Site):
    tab.open()
    tab.page.fill("#username", "bob")
    tab.page.press("#username", "Enter")
    tab.wait_for_result()

    post = only_submission(site)["post"]
    assert post[FIELD] == [TOKEN]
    assert post["username"] == ["bob"]
    # Implicit submission sends the form's default button, as it does without the script.
    assert post["action"] == ["sign-in-first"]
    assert tab.identify_calls() == [{"client_id": CLIENT_ID}]


def test_second_form_sends_its_own_fields_and_one_identify(tab: Tab, site: Site):
    tab.open()
    # identify.js is included once per tag: three times on this page, one listener.
    assert tab.page.locator('script[src$="rupt_guard/identify.js"]').count() == 3
    tab.page.fill("#username", "not me")
    tab.page.fill("#email", "carol@example.com")
    tab.page.click("#second-submit")
    tab.wait_for_result()

    submission = only_submission(site)
    post = submission["post"]
    assert submission["path"].endswith("?form=second")
    assert post[FIELD] == [TOKEN]
    assert post[ERROR_FIELD] == [""]  # its own error field, once
    assert post["which"] == ["second"]
    assert post["email"] == ["carol@example.com"]
    assert post["action"] == ["sign-in-second"]
    assert "username" not in post
    assert tab.identify_calls() == [{"client_id": CLIENT_ID}]  # once, not once per include


def test_form_joined_by_id_gets_the_token(tab: Tab, site: Site):
    # {% rupt_guard_identify form="third" %} sits outside its <form>.
    tab.open()
    tab.page.fill("#nickname", "dave")
    tab.page.click("#third-submit")
    tab.wait_for_result()

    post = only_submission(site)["post"]
    assert post[FIELD] == [TOKEN]
    assert post[ERROR_FIELD] == [""]  # joined by id too
    assert post["nickname"] == ["dave"]
    assert post["action"] == ["sign-in-third"]
    assert tab.identify_calls() == [{"client_id": CLIENT_ID}]


def test_page_restored_by_back_identifies_again(tab: Tab, site: Site):
    # Tokens are single-use: a sign-in page that Back restores from the back/forward cache
    # (its JavaScript state intact: the form was "ready", its field held the used token)
    # must identify again. The script's pageshow handler is what makes that so.
    tab.open()
    tab.page.evaluate("window.beforeLeaving = true")
    tab.page.click("#first-submit")
    tab.wait_for_result()
    # A back/forward cache restore fires no load event: wait for the commit only.
    tab.page.go_back(wait_until="commit")
    tab.page.wait_for_function("document.getElementById('first-submit') !== null")
    assert tab.page.evaluate("window.beforeLeaving === true"), "not restored from bfcache"
    tab.page.click("#first-submit")
    tab.wait_for_result()

    time.sleep(0.3)
    tokens = [s["post"][FIELD] for s in site.submissions]
    assert tokens == [[TOKEN], [f"tok.{CLIENT_ID}.2"]]
    assert [s["post"][ERROR_FIELD] for s in site.submissions] == [[""], [""]]
    assert len(tab.identify_calls()) == 2
    assert site.sdk_requests == ["fake-sdk.js"]  # the restored page kept its SDK


# --- one submission ----------------------------------------------------------------------


def test_double_click_sends_one_post(tab: Tab, site: Site):
    # A wide window for the extra clicks: on a loaded machine 300 ms was not always enough,
    # the form had left before the second click could find its button.
    site.configure("fake-sdk.js?delay_ms=3000", timeout_ms=20_000)
    tab.open()
    tab.page.dblclick("#first-submit")
    tab.page.click("#first-submit")
    tab.page.press("#username", "Enter")
    tab.wait_for_result()

    post = only_submission(site, settle=0.5)["post"]
    assert post[FIELD] == [TOKEN]
    assert post["action"] == ["sign-in-first"]
    assert tab.identify_calls() == [{"client_id": CLIENT_ID}]


def test_burst_of_submits_in_one_task_sends_one_post(tab: Tab, site: Site):
    tab.open()
    tab.page.evaluate(
        """() => {
            const button = document.getElementById("first-submit");
            button.click();
            button.click();
            document.getElementById("first").requestSubmit();
            button.click();
        }"""
    )
    tab.wait_for_result()

    post = only_submission(site, settle=0.5)["post"]
    assert post[FIELD] == [TOKEN]
    assert post["action"] == ["sign-in-first"]
    assert tab.identify_calls() == [{"client_id": CLIENT_ID}]


# --- the SDK fails: the form still submits, with an empty field ----------------------------


def test_sdk_never_answers_submits_empty_after_timeout(tab: Tab, site: Site):
    site.configure("never-sdk.js", timeout_ms=500)
    tab.open()
    tab.page.fill("#username", "erin")
    started = time.monotonic()
    tab.page.click("#first-submit")
    tab.wait_for_result()

    submission = only_submission(site)
    waited = submission["at"] - started
    assert 0.45 <= waited < 3.0, waited
    assert submission["post"][FIELD] == [""]
    assert submission["post"][ERROR_FIELD] == ["timeout"]
    assert submission["post"]["action"] == ["sign-in-first"]
    assert submission["post"]["username"] == ["erin"]
    assert tab.identify_calls() == [{"client_id": CLIENT_ID}]  # it was asked, and gave up


@pytest.mark.parametrize(
    ("failure", "reason", "requested"),
    [
        # A script that failed to load is tried again at submit (the network may be back).
        ("404", "sdk_unavailable", ["missing.js", "missing.js"]),
        ("closed-port", "sdk_unavailable", []),
        # One that loaded without Rupt.identify is not.
        ("no-Rupt-defined", "no_sdk", ["empty-sdk.js"]),
    ],
)
def test_unreachable_sdk_submits_empty_promptly_with_reason(
    tab: Tab, site: Site, failure: str, reason: str, requested: list[str]
):
    # The time limit is long, so a prompt submission proves the failure was noticed.
    if failure == "closed-port":
        site.configure(url=f"http://127.0.0.1:{closed_port()}/rupt.js", timeout_ms=20_000)
    else:
        site.configure(requested[0], timeout_ms=20_000)
    tab.open()
    started = time.monotonic()
    tab.page.click("#first-submit")
    tab.wait_for_result()

    submission = only_submission(site)
    assert submission["at"] - started < 5.0
    assert submission["post"][FIELD] == [""]
    assert submission["post"][ERROR_FIELD] == [reason]
    assert submission["post"]["action"] == ["sign-in-first"]
    assert site.sdk_requests == requested
    assert tab.identify_calls() == []
    assert tab.csp_violations() == []  # the CSP allowed the SDK; it failed for its own reason


def test_wrong_client_id_reports_identify_error(tab: Tab, site: Site):
    # Rupt's SDK resolves with the API's 401 body rather than rejecting: the page must tell
    # that apart from an ad blocker, or a wrong CLIENT_ID looks like one.
    site.configure(client_id=browser_urls.WRONG_CLIENT_ID, timeout_ms=20_000)
    tab.open()
    started = time.monotonic()
    tab.page.click("#first-submit")
    tab.wait_for_result()

    submission = only_submission(site)
    assert submission["at"] - started < 5.0
    assert submission["post"][FIELD] == [""]
    assert submission["post"][ERROR_FIELD] == ["identify_error"]
    assert submission["post"]["action"] == ["sign-in-first"]
    assert tab.identify_calls() == [{"client_id": browser_urls.WRONG_CLIENT_ID}]


def test_reason_reaches_a_form_joined_by_id(tab: Tab, site: Site):
    site.configure(client_id=browser_urls.WRONG_CLIENT_ID)
    tab.open()
    tab.page.click("#third-submit")
    tab.wait_for_result()

    post = only_submission(site)["post"]
    assert post[FIELD] == [""]
    assert post[ERROR_FIELD] == ["identify_error"]
    assert post["action"] == ["sign-in-third"]


def test_identify_rejecting_reports_identify_failed(tab: Tab, site: Site):
    # A network failure or a non-JSON answer: the only ways Rupt's identify() rejects.
    site.configure("reject-sdk.js", timeout_ms=20_000)
    tab.open()
    started = time.monotonic()
    tab.page.click("#first-submit")
    tab.wait_for_result()

    submission = only_submission(site)
    assert submission["at"] - started < 5.0
    assert submission["post"][FIELD] == [""]
    assert submission["post"][ERROR_FIELD] == ["identify_failed"]
    assert tab.identify_calls() == [{"client_id": CLIENT_ID}]


def test_error_field_is_emptied_when_a_token_arrives(tab: Tab, site: Site):
    # The page stays (fetch sign-in): the first identify() answers an error body, the
    # retry a token. The retry must not carry the first attempt's reason.
    site.configure("fake-sdk.js?errors=1")
    tab.page.goto(f"{site.url}/ajax/")
    tab.page.click("#ajax-submit")
    tab.page.wait_for_selector("#result[data-count='1']", state="attached")
    tab.page.click("#ajax-submit")
    tab.page.wait_for_selector("#result[data-count='2']", state="attached")

    posts = [s["post"] for s in site.submissions]
    assert [p[FIELD] for p in posts] == [[""], [f"tok.{CLIENT_ID}.2"]]
    assert [p[ERROR_FIELD] for p in posts] == [["identify_error"], [""]]


# --- the SDK loads with the page -----------------------------------------------------------


def test_sdk_loads_with_the_page_before_any_submit(tab: Tab, site: Site):
    tab.open()
    assert wait_until(lambda: site.sdk_requests == ["fake-sdk.js"]), site.sdk_requests
    tab.page.wait_for_function("sessionStorage.getItem('sdkLoads') === '1'")
    assert tab.identify_calls() == []  # loaded, not yet asked
    clicked = time.monotonic()
    tab.page.click("#first-submit")
    tab.wait_for_result()

    assert only_submission(site)["post"][FIELD] == [TOKEN]
    assert site.sdk_requests == ["fake-sdk.js"]  # one script for three tags and a submit
    assert site.sdk_requested_at[0] < clicked
    assert tab.sdk_loads() == 1


def test_slow_sdk_script_does_not_eat_the_identify_time_limit(tab: Tab, site: Site):
    # The script takes longer to arrive than the time limit: loaded at submit, it would
    # leave identify() no time at all. Loaded with the page, the limit is identify()'s.
    site.configure("fake-sdk.js?serve_delay_ms=1500", timeout_ms=1000)
    tab.open()
    tab.page.wait_for_function("window.Rupt !== undefined", timeout=5000)
    tab.page.click("#first-submit")
    tab.wait_for_result()

    post = only_submission(site)["post"]
    assert post[FIELD] == [TOKEN]
    assert post[ERROR_FIELD] == [""]
    assert site.sdk_requests == ["fake-sdk.js"]


def test_submit_before_the_sdk_arrived_awaits_the_same_load(tab: Tab, site: Site):
    site.configure("fake-sdk.js?serve_delay_ms=800", timeout_ms=5000)
    tab.open(wait_until="domcontentloaded")
    tab.page.click("#first-submit")
    tab.wait_for_result()

    submission = only_submission(site)
    assert submission["post"][FIELD] == [TOKEN]
    assert site.sdk_requests == ["fake-sdk.js"]  # the submit did not load it again
    assert submission["at"] - site.sdk_requested_at[0] >= 0.8
    assert tab.sdk_loads() == 1


# --- identify()'s options and the script's integrity ----------------------------------------


@pytest.mark.parametrize(
    ("domain", "tolerance", "expected"),
    [
        ("rupt.example.com", "", {"domain": "rupt.example.com"}),
        ("", "strict", {"tolerance": "strict"}),
        ("rupt.example.com", "lenient", {"domain": "rupt.example.com", "tolerance": "lenient"}),
    ],
)
def test_domain_and_tolerance_are_passed_only_when_set(
    tab: Tab, site: Site, domain: str, tolerance: str, expected: dict
):
    # Unset, identify() gets {client_id} alone (test_click_submits_token_with_button_and_fields).
    site.configure(domain=domain, tolerance=tolerance)
    tab.open()
    tab.page.click("#first-submit")
    tab.wait_for_result()

    assert only_submission(site)["post"][FIELD] == [TOKEN]
    assert tab.identify_calls() == [{"client_id": CLIENT_ID, **expected}]


def test_sdk_integrity_pins_the_script(tab: Tab, site: Site):
    # On another origin (as a CDN is), so the script loads only if it was fetched with CORS
    # (crossorigin="anonymous") and its bytes match the hash.
    other_origin = site.url.replace("localhost", "127.0.0.1")
    integrity = sri(browser_urls.sdk_body("fake-sdk.js"))
    site.configure(url=f"{other_origin}/sdk/fake-sdk.js", integrity=integrity)
    tab.open()
    script = tab.page.wait_for_selector('script[src$="/sdk/fake-sdk.js"]', state="attached")
    assert script.get_attribute("integrity") == integrity
    assert script.get_attribute("crossorigin") == "anonymous"
    tab.page.click("#first-submit")
    tab.wait_for_result()

    post = only_submission(site)["post"]
    assert post[FIELD] == [TOKEN]
    assert post[ERROR_FIELD] == [""]
    assert tab.csp_violations() == [], tab.console


def test_sdk_failing_its_integrity_reports_sdk_unavailable(tab: Tab, site: Site):
    # The site pinned a version; the CDN now serves other bytes. The browser refuses them.
    site.configure(integrity=sri(browser_urls.sdk_body("fake-sdk.js", delay_ms=51)))
    tab.open()
    tab.page.click("#first-submit")
    tab.wait_for_result()

    post = only_submission(site)["post"]
    assert post[FIELD] == [""]
    assert post[ERROR_FIELD] == ["sdk_unavailable"]
    assert tab.sdk_loads() == 0  # the script never ran
    assert tab.identify_calls() == []


def test_javascript_disabled_submits_natively_with_empty_field(browser: Browser, site: Site):
    for tab in _new_tab(browser, site, java_script_enabled=False):
        tab.open()
        tab.page.fill("#username", "frank")
        tab.page.click("#first-submit")
        tab.wait_for_result()

        post = only_submission(site)["post"]
        assert post[FIELD] == [""]
        assert post[ERROR_FIELD] == [""]  # no script, no reason: the server sees no token
        assert post["action"] == ["sign-in-first"]
        assert post["username"] == ["frank"]
        assert site.sdk_requests == []


# --- Content-Security-Policy ---------------------------------------------------------------


def test_strict_csp_reports_no_violation(tab: Tab, site: Site):
    tab.open()
    csp = tab.page.evaluate(
        "async () => (await fetch(location.href)).headers.get('content-security-policy')"
    )
    assert "script-src 'self';" in csp  # the SDK is same-origin here: 'self' only
    assert "unsafe-inline" not in csp
    tab.page.click("#first-submit")
    tab.wait_for_result()

    assert only_submission(site)["post"][FIELD] == [TOKEN]
    assert tab.csp_violations() == [], tab.console


def test_sdk_blocked_by_csp_is_reported_and_form_still_submits(tab: Tab, site: Site):
    # The control for the test above: the SDK on another origin (127.0.0.1 rather than
    # localhost) that the page's policy does not allow. The violation must show up in the
    # console, and the form must still go through with an empty field.
    other_origin = site.url.replace("localhost", "127.0.0.1")
    assert other_origin != site.url
    site.configure(url=f"{other_origin}/sdk/fake-sdk.js", timeout_ms=20_000)
    tab.open("?sdk_origin=0")
    tab.page.click("#first-submit")
    tab.wait_for_result()

    post = only_submission(site)["post"]
    assert post[FIELD] == [""]
    assert post[ERROR_FIELD] == ["sdk_unavailable"]
    assert site.sdk_requests == []  # blocked before any request
    assert any("fake-sdk.js" in line for line in tab.csp_violations()), tab.console


def test_sdk_on_another_origin_allowed_by_csp(tab: Tab, site: Site):
    other_origin = site.url.replace("localhost", "127.0.0.1")
    site.configure(url=f"{other_origin}/sdk/fake-sdk.js")
    tab.open()
    tab.page.click("#first-submit")
    tab.wait_for_result()

    assert only_submission(site)["post"][FIELD] == [TOKEN]
    assert tab.csp_violations() == [], tab.console


# --- a spent token is never sent twice ---------------------------------------------------
# The token is single-use: once the form went with it, any later submit identifies again.


def test_second_submit_of_a_page_that_stayed_identifies_again(tab: Tab, site: Site):
    # A site that signs in with fetch() (its own submit listener, which leaves cancelled
    # events alone) keeps the page after a failed attempt. The retry must carry a new token:
    # the first one was single-use and the server has already completed it.
    tab.page.goto(f"{site.url}/ajax/")
    tab.page.fill("#username", "gina")
    tab.page.click("#ajax-submit")
    tab.page.wait_for_selector("#result[data-count='1']", state="attached")
    tab.page.click("#ajax-submit")
    tab.page.wait_for_selector("#result[data-count='2']", state="attached")

    tokens = [s["post"][FIELD] for s in site.submissions]
    assert tokens[0] == [TOKEN]
    assert len(site.submissions) == 2
    assert tokens[1] == [f"tok.{CLIENT_ID}.2"], tokens
    assert len(tab.identify_calls()) == 2


def test_click_while_the_sign_in_request_is_in_flight_sends_no_used_token(tab: Tab, site: Site):
    # The token arrived and the form went; the server is slow (password hashing, Rupt's
    # API), so the user clicks again. A second POST must not carry the spent token.
    tab.open("?delay=1")
    box = tab.page.locator("#first-submit").bounding_box()
    tab.page.click("#first-submit")
    if not wait_until(lambda: len(site.submissions) == 1):
        raise TimeoutError("the first POST never arrived")
    # A real mouse click: Playwright's click() would wait for the navigation to finish.
    tab.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    wait_until(lambda: len(site.submissions) == 2, seconds=1.5)

    tokens = [s["post"][FIELD] for s in site.submissions]
    assert tokens[0] == [TOKEN]
    assert tokens[1:] in ([], [[f"tok.{CLIENT_ID}.2"]]), tokens
