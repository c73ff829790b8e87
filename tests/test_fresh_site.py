"""The README's first site, built from the README itself, works the first time.

A new ``startproject`` site gets the files of README.md's quickstart exactly as written
there (each block marked ``<!-- file: PATH -->``), then ``check``, ``migrate``,
``createsuperuser`` and ``runserver`` in its own process with the checked-out rupt_guard.
Chromium signs in at the login page, so identify.js and the local provider fill the token
for real; the code is read where the README says it goes (runserver's terminal).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import CHROMIUM, chromium

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
USERNAME, PASSWORD, EMAIL = "admin", "first-site-pass-2026", "admin@example.com"

FILE_BLOCK = re.compile(r"<!-- file: (\S+)( \(append\))? -->\n```\w*\n(.*?)```", re.S)
COMMANDS_BLOCK = re.compile(r"<!-- commands -->\n```sh\n(.*?)```", re.S)


def quickstart() -> str:
    text = README.read_text()
    start = text.index("<!-- quickstart:start -->")
    return text[start : text.index("<!-- quickstart:end -->", start)]


def readme_files() -> list[tuple[str, bool, str]]:
    """(path, append?, content) of each block the quickstart says to put in a file."""
    return [(path, bool(append), body) for path, append, body in FILE_BLOCK.findall(quickstart())]


def readme_commands() -> list[list[str]]:
    (block,) = COMMANDS_BLOCK.findall(quickstart())
    lines = [line.split("#", 1)[0].split() for line in block.splitlines()]
    return [line for line in lines if line]


SWITCH_BLOCK = re.compile(r"<!-- switch-to-rupt: (\S+) \(append\) -->\n```python\n(.*?)```", re.S)


def test_switching_to_rupt_without_an_account_is_a_check_error_not_a_crash(tmp_path):
    """The README's Rupt settings on the quickstart site, with no Rupt account in the
    environment: ``check`` names what is missing instead of raising a KeyError."""
    site = build_site(tmp_path)
    ((path, body),) = SWITCH_BLOCK.findall(README.read_text())
    target = site.folder / path
    target.write_text(target.read_text() + "\n" + body)
    checked = site.manage("check")
    assert checked.returncode == 1
    assert "Traceback" not in checked.stderr and "KeyError" not in checked.stderr
    assert "(rupt_guard.E003) API_SECRET is empty" in checked.stderr
    assert "(rupt_guard.E004) CLIENT_ID is empty" in checked.stderr


def test_the_quickstart_names_every_file_a_new_site_needs():
    paths = {path for path, _append, _body in readme_files()}
    assert paths == {"mysite/settings.py", "mysite/urls.py", "templates/registration/login.html"}
    assert readme_commands() == [
        ["python", "manage.py", "migrate"],
        ["python", "manage.py", "createsuperuser"],
        ["python", "manage.py", "runserver"],
    ]


@dataclass
class Site:
    folder: Path
    env: dict[str, str]
    url: str = ""
    log: Path | None = None

    def manage(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=self.folder,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    def codes(self) -> list[str]:
        assert self.log is not None
        return re.findall(r"Your sign-in code: (\d{6})", self.log.read_text())

    def next_code(self, seen: int) -> str:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            codes = self.codes()
            if len(codes) > seen:
                return codes[-1]
            time.sleep(0.1)
        raise AssertionError(f"no code in runserver's output:\n{self.log.read_text()}")


def build_site(folder: Path) -> Site:
    """``django-admin startproject mysite``, then the README's blocks, literally."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    for key in [key for key in env if key.startswith(("DJANGO_", "RUPT_"))]:
        del env[key]
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite"],
        cwd=folder,
        env=env,
        check=True,
    )
    site = Site(folder / "mysite", env)
    for path, append, body in readme_files():
        target = site.folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if append:
            target.write_text(target.read_text() + "\n" + body)
        else:
            target.write_text(body)
    return site


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    site = build_site(tmp_path_factory.mktemp("fresh"))
    where = site.manage("shell", "-c", "import rupt_guard; print(rupt_guard.__file__)")
    assert where.stdout.strip().splitlines()[-1] == str(ROOT / "rupt_guard" / "__init__.py"), where

    checked = site.manage("check")
    assert checked.returncode == 0, checked.stderr
    # No error, no warning, not even information: nothing the README did not mention.
    assert "System check identified no issues" in checked.stdout, checked.stdout + checked.stderr

    for command in readme_commands()[:-1]:
        args = command[2:]
        if args == ["createsuperuser"]:
            args += ["--noinput", "--username", USERNAME, "--email", EMAIL]
        done = site.manage(*args, DJANGO_SUPERUSER_PASSWORD=PASSWORD)
        assert done.returncode == 0, done.stderr

    port = _free_port()
    site.url = f"http://127.0.0.1:{port}"
    site.log = site.folder / "runserver.log"
    with site.log.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=site.folder,
            env=site.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, site.log.read_text()
                assert time.monotonic() < deadline, "runserver did not start"
                time.sleep(0.2)
        yield site
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with chromium() as launched:
        yield launched


def sign_in(page, site: Site) -> None:
    page.goto(f"{site.url}/")
    assert page.url.startswith(f"{site.url}/accounts/login/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    # identify.js holds the submission until the local provider's token is in the form.
    with page.expect_navigation(wait_until="load"):
        page.click("button:has-text('Sign in')")


@pytest.mark.browser
def test_the_readme_site_signs_in_challenges_and_then_remembers_the_browser(site, browser):
    context = browser.new_context()
    page = context.new_page()
    seen = len(site.codes())

    sign_in(page, site)
    assert "/rupt-guard/challenge/" in page.url
    assert page.is_visible("text=Confirm it is you")
    if not site.codes()[seen:]:  # not sent as the page opened: ask, as a person would
        with page.expect_navigation():
            page.click("button[name=otp_challenge]")
    page.fill("#id_otp_token", site.next_code(seen))
    with page.expect_navigation():
        page.click("button:has-text('Confirm')")
    assert page.url == f"{site.url}/"
    assert page.inner_text("body").strip() == f"Signed in as {USERNAME}."

    # The session ends; the browser (its profile, the local provider's secret) stays.
    context.clear_cookies(name="sessionid")
    seen = len(site.codes())
    sign_in(page, site)
    assert page.url == f"{site.url}/"
    assert page.inner_text("body").strip() == f"Signed in as {USERNAME}."
    assert len(site.codes()) == seen  # no code was sent
    context.close()
