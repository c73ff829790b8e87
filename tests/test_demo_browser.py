"""The whole flow in headless Chromium against the demo site, served by its own runserver.

The demo runs as a separate process with its own settings (local provider, SQLite file,
emails written as files so the test can read the code a person would read in the
terminal). Nothing is faked: the browser runs identify.js and the local SDK for real.
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import CHROMIUM, chromium_args

if not os.path.exists(CHROMIUM):
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page, sync_playwright

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "example_project"
ARTIFACTS = Path(os.environ.get("RUPT_GUARD_ARTIFACTS", ROOT / "test-artifacts"))
# The README's images: RUPT_GUARD_SCREENSHOTS=1 retakes them where the README shows them
# from; otherwise they go with the other artifacts, and the README's stay as they are.
README_SCREENSHOTS = (
    DEMO / "screenshots" if os.environ.get("RUPT_GUARD_SCREENSHOTS") == "1" else ARTIFACTS
)
USERNAME, PASSWORD = "demo", "demo-pass-2026"


@dataclass
class Demo:
    url: str
    db: Path
    mail: Path

    def last_reason(self) -> str:
        with sqlite3.connect(self.db) as db:
            (reason,) = db.execute(
                "SELECT reason FROM rupt_guard_logincheck ORDER BY id DESC LIMIT 1"
            ).fetchone()
        return reason

    def checks(self) -> int:
        with sqlite3.connect(self.db) as db:
            return db.execute("SELECT COUNT(*) FROM rupt_guard_logincheck").fetchone()[0]

    def latest_code(self, after: int) -> str:
        """The code of the newest email, waiting until more than ``after`` were written."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            files = sorted(self.mail.glob("*.log"), key=lambda p: p.stat().st_mtime)
            if len(files) > after:
                match = re.search(r"Your sign-in code: (\d{6})", files[-1].read_text())
                assert match, files[-1].read_text()
                return match.group(1)
            time.sleep(0.1)
        raise AssertionError("no email arrived")

    def emails(self) -> int:
        return len(list(self.mail.glob("*.log")))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_demo(folder: Path, mail: Path) -> Iterator[Demo]:
    """The demo site in its own process, on a SQLite file in ``folder``; its emails are
    written to ``mail`` (a file there instead of a folder makes every send fail)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "demo_site.settings",
        "DEMO_DB": str(folder / "db.sqlite3"),
        "DEMO_EMAIL_DIR": str(mail),
        "PYTHONPATH": os.pathsep.join([str(DEMO), str(ROOT)]),
    }
    env.pop("RUPT_CLIENT_ID", None)
    manage = [sys.executable, str(DEMO / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True, cwd=DEMO)
    subprocess.run([*manage, "seed_demo"], env=env, check=True, cwd=DEMO, capture_output=True)
    port = _free_port()
    server = subprocess.Popen(
        [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        cwd=DEMO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, "the demo server stopped"
                assert time.monotonic() < deadline, "the demo server did not start"
                time.sleep(0.2)
        yield Demo(f"http://127.0.0.1:{port}", folder / "db.sqlite3", mail)
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("demo")
    (folder / "mail").mkdir()
    with running_demo(folder, folder / "mail") as site:
        yield site


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=chromium_args())
        yield chromium
        chromium.close()


def sign_in(page: Page, demo: Demo) -> None:
    page.goto(f"{demo.url}/private/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    # identify.js holds the submission until identify() answers, then submits.
    with page.expect_navigation(wait_until="load"):
        page.click("button:has-text('Sign in')")


def readme_screenshot(page: Page, name: str) -> None:
    """One of the README's images (see README_SCREENSHOTS), the whole page as shown."""
    README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(README_SCREENSHOTS / name), full_page=True)


def on_challenge(page: Page) -> bool:
    return "/rupt-guard/challenge/" in page.url and page.is_visible("text=Confirm it is you")


def test_first_login_is_challenged_then_the_browser_is_remembered(browser, demo):
    context = browser.new_context()
    page = context.new_page()
    sent = demo.emails()
    sign_in(page, demo)
    assert on_challenge(page)
    assert demo.last_reason() == "new_device"
    readme_screenshot(page, "challenge.png")
    page.set_viewport_size({"width": 390, "height": 844})
    readme_screenshot(page, "challenge-mobile.png")
    page.set_viewport_size({"width": 1280, "height": 720})

    if demo.emails() == sent:  # not sent on arrival: ask for it
        with page.expect_navigation():
            page.click("button[name=otp_challenge]")
    assert page.is_visible(".rupt-guard-notice[role=status]")  # "sent", in whatever words
    page.fill("#id_otp_token", demo.latest_code(after=sent))
    page.click("button:has-text('Confirm')")
    page.wait_for_url(f"{demo.url}/private/")
    assert "Signed in as demo" in page.inner_text("#welcome")

    # The security page, the user's devices page and the staff view of the same device.
    page.set_viewport_size({"width": 900, "height": 600})
    page.goto(f"{demo.url}/rupt-guard/security/")
    assert page.is_visible("text=Your second factors")
    readme_screenshot(page, "security.png")
    page.goto(f"{demo.url}/rupt-guard/devices/")
    assert page.is_visible("text=This device")
    assert page.is_visible("text=Verified")
    readme_screenshot(page, "devices-page.png")
    page.set_viewport_size({"width": 1700, "height": 700})
    page.goto(f"{demo.url}/admin/rupt_guard/device/")
    assert page.locator("#result_list tbody tr").count() == 1
    assert "demo" in page.inner_text("#result_list")
    readme_screenshot(page, "admin-devices.png")

    # Same browser profile: signing in again asks nothing.
    page.goto(f"{demo.url}/private/")
    with page.expect_navigation():
        page.click("text=Sign out")
    sign_in(page, demo)
    assert page.url == f"{demo.url}/private/"
    assert demo.last_reason() == "verified_device"
    context.close()

    # A fresh profile is a new device for the same account.
    other = browser.new_context()
    page = other.new_page()
    sign_in(page, demo)
    assert on_challenge(page)
    assert demo.last_reason() == "new_device"
    other.close()


def test_without_javascript_the_form_still_submits_and_is_challenged(browser, demo):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    before = demo.checks()
    sign_in(page, demo)
    assert "/rupt-guard/challenge/" in page.url
    assert demo.checks() == before + 1
    assert demo.last_reason() == "missing_token"
    context.close()


def test_unreachable_sdk_still_submits_promptly(browser, demo):
    context = browser.new_context()
    context.route("**/rupt-guard/local/sdk.js", lambda route: route.abort())
    page = context.new_page()
    started = time.monotonic()
    sign_in(page, demo)
    assert on_challenge(page)
    assert time.monotonic() - started < 10
    assert demo.last_reason() == "missing_token"
    context.close()
