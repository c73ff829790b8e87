"""rupt_guard_check's checklist of the site's wiring: real misconfigurations, each line
saying what is wrong and what to change, and the exit status a deploy script reads."""

from __future__ import annotations

import json
import socket
from io import StringIO

import pytest
from django.core.checks import run_checks
from django.core.management import CommandError, call_command

from rupt_guard.management.checklist import Status, checklist

pytestmark = pytest.mark.django_db


def run_check(*args: str) -> tuple[str | None, str]:
    out = StringIO()
    try:
        call_command("rupt_guard_check", "--skip-live", *args, stdout=out, stderr=StringIO())
    except CommandError as exc:
        return str(exc), out.getvalue()
    return None, out.getvalue()


def line(output: str, start: str) -> str:
    (found,) = [text for text in output.splitlines() if text[6:].startswith(start)]
    return found


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_test_site_passes_every_item(rupt_server):
    failure, out = run_check()
    assert failure is None, out
    assert line(out, "login page /accounts/login/ (LOGIN_URL)") == (
        "OK    login page /accounts/login/ (LOGIN_URL): the identify tag is rendered"
    )
    assert line(out, "login page /admin/login/ (admin)").startswith("OK ")
    assert line(out, "sessions:").startswith("OK ")
    assert line(out, "shared cache:").startswith("OK ")


def test_a_login_page_without_the_tag_fails_and_says_where_to_put_it(rupt_server, settings):
    settings.ROOT_URLCONF = "tests.urls_untagged_login"
    failure, out = run_check()
    assert failure == "rupt_guard_check failed: wiring."
    assert line(out, "login page /accounts/login/") == (
        "FAIL  login page /accounts/login/ (LOGIN_URL): the identify tag is not rendered: "
        "every sign-in there comes without a device token. Fix: Put "
        "{% load rupt_guard %}{% rupt_guard_identify %} inside the page's <form>."
    )
    assert line(out, "login page /admin/login/").startswith("OK ")  # the admin's has it


def test_a_login_page_that_raises_fails_with_the_error_once_punctuated(rupt_server, settings):
    settings.ROOT_URLCONF = "tests.urls_broken_login"
    failure, out = run_check()
    assert failure == "rupt_guard_check failed: wiring."
    assert line(out, "login page /accounts/login/") == (
        "FAIL  login page /accounts/login/ (LOGIN_URL): rendering it raised NoReverseMatch: "
        "Reverse for 'local_sdk' not found. Fix: Fix the page: it answers visitors with a "
        "server error (a failed system check above often says why)."
    )


def test_a_login_url_that_is_not_routed_fails(rupt_server, settings):
    settings.LOGIN_URL = "/nowhere/"
    failure, out = run_check()
    assert failure == "rupt_guard_check failed: wiring."
    assert "FAIL  login page /nowhere/ (LOGIN_URL): answered HTTP 404" in out
    assert "include('django.contrib.auth.urls')" in out


def test_an_smtp_server_that_refuses_fails_with_the_fix(rupt_server, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port(), 2
    settings.DEBUG = True
    failure, out = run_check()
    assert failure == "rupt_guard_check failed: wiring."
    email = line(out, "email:")
    assert email.startswith(f"FAIL  email: the mail server 127.0.0.1:{settings.EMAIL_PORT} ")
    assert "console.EmailBackend" in email


def test_an_smtp_server_that_answers_is_opened_and_sent_nothing(rupt_server, settings):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.getsockname()[1]
        settings.EMAIL_TIMEOUT = 2
        failure, out = run_check()
        connection, _address = server.accept()
        with connection:
            connection.settimeout(2)
            assert connection.recv(1024) == b""  # opened, then closed without a word
    assert failure is None, out
    assert line(out, "email:") == (
        f"OK    email: the mail server 127.0.0.1:{settings.EMAIL_PORT} takes connections "
        "(nothing sent)"
    )


def test_the_dummy_email_backend_fails(rupt_server, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    failure, out = run_check()
    assert "wiring" in failure
    assert line(out, "email:").startswith("FAIL  email: EMAIL_BACKEND is the dummy backend")


def test_the_console_backend_is_fine_in_development_only(rupt_server, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    settings.DEBUG = True
    assert line(run_check()[1], "email:").startswith("OK    email: ")
    settings.DEBUG = False
    failure, out = run_check()
    assert failure is None  # a warning: the site works, its users get no email
    assert "WARN  email: django.core.mail.backends.console.EmailBackend with DEBUG off" in out


def test_signed_cookie_sessions_fail_with_e011s_hint(rupt_server, settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    failure, out = run_check()
    assert "wiring" in failure
    sessions = line(out, "sessions:")
    assert sessions.startswith("FAIL  sessions: SESSION_ENGINE keeps sessions in signed cookies")
    assert "(rupt_guard.E011). Fix: Use a server-side engine" in sessions


def test_a_per_process_cache_fails_in_production(
    rupt_server, settings, outside_the_test_environment
):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    failure, out = run_check()
    assert "wiring" in failure
    assert "(rupt_guard.E009). Fix: Point it at a cache every worker shares" in line(
        out, "shared cache:"
    )


def test_a_csp_that_blocks_the_sdk_is_a_warning_with_the_sources(rupt_server, settings):
    # django-csp's settings as W013 reads them (the package itself need not be installed:
    # only this item is read, not the pages its middleware would serve).
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "csp.middleware.CSPMiddleware"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"script-src": ["'self'"]}}
    (item,) = [i for i in checklist(run_checks()) if i.name == "Content-Security-Policy"]
    assert item.status is Status.WARN
    assert "script-src https://cdn.rupt.dev" in item.text and "rupt_guard.W013" in item.text
    assert item.fix == "Add rupt_guard.csp.csp_sources() to those directives."


def test_json_output_for_a_rupt_provider_that_answers_and_one_that_is_down(
    rupt_server, guard_settings_override
):
    out = StringIO()
    call_command("rupt_guard_check", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["ok"] is True and report["failed"] == []
    (live,) = [item for item in report["items"] if item["text"].startswith("live call:")]
    assert live["status"] == "OK" and "Rupt answered" in live["text"]

    guard_settings_override(API_BASE_URL=f"http://127.0.0.1:{closed_port()}")
    out = StringIO()
    with pytest.raises(CommandError, match="live call"):
        call_command("rupt_guard_check", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["ok"] is False and report["failed"] == ["live call"]
    (live,) = [item for item in report["items"] if item["text"].startswith("live call:")]
    assert live["status"] == "FAIL" and "connection" in live["text"]
