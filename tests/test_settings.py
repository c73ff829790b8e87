"""The RUPT_GUARD settings object and the system checks."""

from __future__ import annotations

import socket
from datetime import timedelta

import django
import pytest
from django.core.checks import WARNING, run_checks
from django.core.exceptions import ImproperlyConfigured

from rupt_guard import checks
from rupt_guard.conf import guard_settings
from rupt_guard.providers import IdentificationProvider


def check_ids():
    """The ids of rupt_guard's warnings and errors (informational notes aside)."""
    return {
        message.id
        for message in run_checks()
        if message.id.startswith("rupt_guard") and message.level >= WARNING
    }


def test_defaults_and_overrides(settings):
    settings.RUPT_GUARD = {}
    assert guard_settings.TOKEN_FIELD == "rupt_identification"
    assert guard_settings.CHALLENGE_TIMEOUT == 600
    settings.RUPT_GUARD = {"CHALLENGE_TIMEOUT": 60, "TOKEN_FIELD": "rg"}
    assert guard_settings.CHALLENGE_TIMEOUT == 60
    assert guard_settings.TOKEN_FIELD == "rg"


def test_unknown_keys_are_rejected_by_name(settings):
    settings.RUPT_GUARD = {"TIMEOUTS": 3}
    with pytest.raises(ImproperlyConfigured, match="TIMEOUTS"):
        guard_settings.TOKEN_FIELD  # noqa: B018
    assert "rupt_guard.E001" in check_ids()


class TestProviderOptions:
    """Each provider owns its options: at top level (as before) or in PROVIDER's OPTIONS."""

    def test_defaults_then_top_level_keys_then_options(self, settings):
        from rupt_guard.providers import get_provider

        settings.RUPT_GUARD = {}
        provider = get_provider()
        assert (provider.base_url, provider.timeout) == ("https://api.rupt.dev", 2.0)
        settings.RUPT_GUARD = {"TIMEOUT": 0.5, "CLIENT_ID": "top"}
        assert (get_provider().timeout, get_provider().client_id()) == (0.5, "top")
        settings.RUPT_GUARD = {
            "TIMEOUT": 0.5,
            "PROVIDER": {"BACKEND": "rupt", "OPTIONS": {"TIMEOUT": 1.5, "API_SECRET": "s"}},
        }
        assert get_provider().timeout == 1.5

    @pytest.mark.parametrize(
        ("provider", "match"),
        [
            ({"BACKEND": "rupt", "OPTIONS": {"TIMEOUTS": 1}}, "TIMEOUTS"),
            ({"BACKEND": "rupt", "OPTIONS": {"TIMEOUT": -1}}, "TIMEOUT"),
            ({"BACKEND": "local", "OPTIONS": {"API_SECRET": "s"}}, "API_SECRET"),
            ({"OPTIONS": {}}, "BACKEND"),
            ({"BACKEND": "rupt", "OPTION": {}}, "OPTION"),
        ],
    )
    def test_a_provider_refuses_options_it_does_not_take(self, settings, provider, match):
        settings.RUPT_GUARD = {"PROVIDER": provider}
        assert "rupt_guard.E002" in check_ids()
        message = next(m for m in run_checks() if m.id == "rupt_guard.E002")
        assert match in message.msg

    def test_a_third_party_provider_checks_its_own_options(self, settings):
        settings.RUPT_GUARD = {
            "PROVIDER": {"BACKEND": "tests.test_settings.TeamProvider", "OPTIONS": {"REGION": ""}}
        }
        assert check_ids() == {"rupt_guard.E900"}


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError):
        guard_settings.NO_SUCH_SETTING  # noqa: B018


@pytest.mark.parametrize("key", ["ON_NEW_DEVICE", "ON_PROVIDER_ERROR", "ON_BLOCKED_DEVICE"])
def test_policy_actions_are_validated(settings, key):
    settings.RUPT_GUARD = {key: "deny"}
    with pytest.raises(ImproperlyConfigured, match=key):
        getattr(guard_settings, key)


def test_import_strings_resolve_lazily(settings):
    settings.RUPT_GUARD = {"ACCOUNT_ID": "tests.test_settings.account_by_username"}
    assert guard_settings.ACCOUNT_ID is account_by_username
    settings.RUPT_GUARD = {"ACCOUNT_ID": "tests.nowhere.nothing"}
    with pytest.raises(ImproperlyConfigured, match="ACCOUNT_ID"):
        guard_settings.ACCOUNT_ID  # noqa: B018


def account_by_username(user):
    return user.get_username()


def test_verification_max_age_accepts_seconds(settings):
    settings.RUPT_GUARD = {"VERIFICATION_MAX_AGE": 3600}
    assert guard_settings.VERIFICATION_MAX_AGE == timedelta(hours=1)
    settings.RUPT_GUARD = {"VERIFICATION_MAX_AGE": -1}
    with pytest.raises(ImproperlyConfigured):
        guard_settings.VERIFICATION_MAX_AGE  # noqa: B018


def test_system_checks_report_each_misconfiguration(settings):
    settings.RUPT_GUARD = {"API_SECRET": "s", "CLIENT_ID": "c"}
    assert check_ids() == set()
    settings.RUPT_GUARD = {}
    assert {"rupt_guard.E003", "rupt_guard.E004"} <= check_ids()
    settings.RUPT_GUARD = {"API_SECRET": "s", "CLIENT_ID": "c", "API_BASE_URL": "http://rupt"}
    assert check_ids() == {"rupt_guard.W001"}
    settings.RUPT_GUARD = {"API_SECRET": "s", "CLIENT_ID": "c", "TIMEOUT": 30}
    assert check_ids() == {"rupt_guard.W002"}
    settings.RUPT_GUARD = {"PROVIDER": "tests.nowhere.Provider"}
    assert check_ids() == {"rupt_guard.E002"}
    settings.RUPT_GUARD = {"PROVIDER": "rupt_guard.policy.DefaultPolicy"}
    assert check_ids() == {"rupt_guard.E002"}


def test_import_needs_no_settings():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import rupt_guard, rupt_guard.conf; print('ok')"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_wiring_checks(settings):
    settings.RUPT_GUARD = {"API_SECRET": "s", "CLIENT_ID": "c"}
    middleware = list(settings.MIDDLEWARE)
    settings.MIDDLEWARE = [m for m in middleware if "rupt_guard" not in m]
    assert check_ids() == {"rupt_guard.E005"}
    settings.MIDDLEWARE = ["rupt_guard.middleware.RuptGuardMiddleware", *settings.MIDDLEWARE]
    assert check_ids() == {"rupt_guard.E006"}
    # Forgetting OTPMiddleware altogether is named as such, not only as an order.
    settings.MIDDLEWARE = [m for m in middleware if m != "django_otp.middleware.OTPMiddleware"]
    (forgotten,) = [m for m in checks.check_wiring() if m.id == "rupt_guard.E006"]
    assert forgotten.hint.startswith("django_otp.middleware.OTPMiddleware is missing from")
    settings.MIDDLEWARE = middleware
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
    assert check_ids() == {"rupt_guard.W003"}
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "rupt_guard.backends.RuptGuardBackend",
    ]
    assert check_ids() == {"rupt_guard.E008"}  # it would accept a password ours refuses


def test_local_provider_checks(settings):
    settings.RUPT_GUARD = {"PROVIDER": "local"}
    settings.DEBUG = True
    assert check_ids() == set()
    settings.DEBUG = False
    assert check_ids() == {"rupt_guard.W005"}
    settings.RUPT_GUARD = {"PROVIDER": "local", "LOCAL_PROVIDER_IN_PRODUCTION": True}
    assert check_ids() == set()
    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if a != "rupt_guard.local"]
    assert "rupt_guard.E007" in check_ids()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("CHALLENGE_TIMEOUT", 0),
        ("LOGIN_CHECK_RETENTION_DAYS", "180"),
        ("DEVICE_RETENTION_DAYS", -1),
        ("FAILED_CODES_BEFORE_NOTICE", True),
        ("NOT_ME_LINK_MAX_AGE", None),
    ],
)
def test_counts_and_durations_are_validated(settings, key, value):
    settings.RUPT_GUARD = {key: value}
    with pytest.raises(ImproperlyConfigured, match=key):
        getattr(guard_settings, key)


def test_retention_may_be_none(settings):
    settings.RUPT_GUARD = {"LOGIN_CHECK_RETENTION_DAYS": None}
    assert guard_settings.LOGIN_CHECK_RETENTION_DAYS is None


def test_another_password_backend_beside_ours_is_an_error(settings):
    settings.RUPT_GUARD = {"API_SECRET": "s", "CLIENT_ID": "c"}
    settings.AUTHENTICATION_BACKENDS = [
        "rupt_guard.backends.RuptGuardBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    assert check_ids() == {"rupt_guard.E008"}
    # A backend that takes no password (the web server's user) is not one.
    settings.AUTHENTICATION_BACKENDS = [
        "rupt_guard.backends.RuptGuardBackend",
        "django.contrib.auth.backends.RemoteUserBackend",
    ]
    assert check_ids() == set()
    # The way to keep another backend's password check: wrap it.
    settings.AUTHENTICATION_BACKENDS = ["rupt_guard.backends.RuptGuardBackend"]
    settings.RUPT_GUARD = {
        "API_SECRET": "s",
        "CLIENT_ID": "c",
        "PASSWORD_BACKEND": "django.contrib.auth.backends.ModelBackend",
    }
    assert check_ids() == set()


def test_a_per_process_cache_is_refused_in_production(settings, outside_the_test_environment):
    settings.RUPT_GUARD = {"API_SECRET": "s", "CLIENT_ID": "c", "CACHE": "local"}
    settings.CACHES = {
        **settings.CACHES,
        "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    settings.DEBUG = False
    assert check_ids() == {"rupt_guard.E009"}
    settings.DEBUG = True
    assert check_ids() == set()
    settings.RUPT_GUARD = {"API_SECRET": "s", "CLIENT_ID": "c", "CACHE": "nowhere"}
    assert check_ids() == {"rupt_guard.E001"}


def test_risky_choices_are_flagged(settings):
    base = {"API_SECRET": "s", "CLIENT_ID": "c"}
    settings.RUPT_GUARD = {**base, "PASSWORD_ONLY_VIEWS": ["api-profile"]}
    assert check_ids() == {"rupt_guard.W007"}
    settings.RUPT_GUARD = {**base, "LOGIN_RESPONSE": "tests.test_api.issue_token"}
    assert check_ids() == {"rupt_guard.W008"}
    settings.RUPT_GUARD = {
        **base,
        "LOGIN_RESPONSE": "tests.test_api.issue_token",
        "TOKEN_AUTHENTICATION_CLASSES": ["rest_framework.authentication.TokenAuthentication"],
    }
    assert check_ids() == set()
    settings.RUPT_GUARD = {**base, "TRUST_RUPT_METADATA": True}
    assert check_ids() == {"rupt_guard.W009"}
    settings.RUPT_GUARD = {
        **base,
        "TRUST_RUPT_METADATA": True,
        "ACCOUNT_ID": "tests.test_settings.account_by_username",
    }
    assert check_ids() == set()


def test_authtoken_alone_is_no_longer_flagged(settings, monkeypatch):
    # rupt_guard.W006 is retired: the backend refuses obtain_auth_token's password alone.
    from django.apps import apps

    settings.RUPT_GUARD = {"API_SECRET": "s", "CLIENT_ID": "c"}
    installed = apps.is_installed
    monkeypatch.setattr(
        apps, "is_installed", lambda name: name == "rest_framework.authtoken" or installed(name)
    )
    assert check_ids() == set()


@pytest.mark.parametrize("key", ["ON_MISSING_TOKEN", "ON_PROVIDER_ERROR"])
def test_allowing_what_an_attacker_controls_needs_an_acknowledgement(settings, key):
    settings.RUPT_GUARD = {"API_SECRET": "s", "CLIENT_ID": "c", key: "allow"}
    assert check_ids() == {"rupt_guard.E010"}
    settings.RUPT_GUARD = {
        "API_SECRET": "s",
        "CLIENT_ID": "c",
        key: "allow",
        "ACCEPTED_RISKS": [key],
    }
    assert check_ids() == set()


def test_signed_cookie_sessions_are_refused(settings):
    settings.RUPT_GUARD = {"API_SECRET": "s", "CLIENT_ID": "c"}
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    assert check_ids() == {"rupt_guard.E011"}


def test_email_that_cannot_be_delivered(settings):
    settings.RUPT_GUARD = {"API_SECRET": "s", "CLIENT_ID": "c"}
    settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    assert check_ids() == {"rupt_guard.E012"}
    settings.DEBUG = True
    assert check_ids() == set()
    settings.DEBUG = False
    settings.RUPT_GUARD = {"API_SECRET": "s", "CLIENT_ID": "c", "EMAIL_FALLBACK": False}
    assert check_ids() == set()


def test_smtp_without_a_timeout_and_a_refusing_server(settings):
    import socket

    settings.RUPT_GUARD = {"API_SECRET": "s", "CLIENT_ID": "c"}
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_TIMEOUT = None
    assert check_ids() == {"rupt_guard.W011"}
    settings.EMAIL_TIMEOUT = 10
    assert check_ids() == set()
    # A port nothing listens on (bound, then closed): the deploy check tries to connect.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port
    deploy = {m.id for m in run_checks(include_deployment_checks=True) if m.id.startswith("rupt_")}
    assert "rupt_guard.E012" in deploy
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        settings.EMAIL_PORT = server.getsockname()[1]
        deploy = {m.id for m in run_checks(include_deployment_checks=True)}
        assert "rupt_guard.E012" not in deploy


@pytest.mark.skipif(django.VERSION < (6, 1), reason="MAILERS is new in Django 6.1")
def test_the_mail_checks_read_mailers_where_a_site_defines_them(settings, db):
    # db: on Django 6.1 the model checks ask SQLite whether it has JSON (a connection).
    # With MAILERS defined, Django 6.1 raises on any read of EMAIL_BACKEND, EMAIL_HOST...
    settings.RUPT_GUARD = {"API_SECRET": "s", "CLIENT_ID": "c"}
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.dummy.EmailBackend"}}
    assert check_ids() == {"rupt_guard.E012"}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    # No BACKEND: Django's SMTP backend, here with no timeout and a port nobody listens on.
    settings.MAILERS = {"default": {"OPTIONS": {"host": "127.0.0.1", "port": free_port}}}
    assert check_ids() == {"rupt_guard.W011"}
    settings.MAILERS = {
        "default": {"OPTIONS": {"host": "127.0.0.1", "port": free_port, "timeout": 10}}
    }
    assert check_ids() == set()
    deploy = {m.id for m in run_checks(include_deployment_checks=True) if m.id.startswith("rupt_")}
    assert "rupt_guard.E012" in deploy


def test_a_canonical_address_is_needed_in_production(settings):
    settings.RUPT_GUARD = {"API_SECRET": "s", "CLIENT_ID": "c"}
    settings.INSTALLED_APPS = [
        app
        for app in settings.INSTALLED_APPS
        if app not in ("django.contrib.sites", "django.contrib.flatpages")
    ]
    assert check_ids() == {"rupt_guard.W010"}
    settings.RUPT_GUARD = {"API_SECRET": "s", "CLIENT_ID": "c", "SITE_URL": "https://example.org"}
    assert check_ids() == set()
    settings.RUPT_GUARD = {"SITE_URL": "example.org"}
    with pytest.raises(ImproperlyConfigured, match="SITE_URL"):
        guard_settings.SITE_URL  # noqa: B018


def test_rates_are_validated(settings):
    settings.RUPT_GUARD = {"WRONG_CODE_RATE": "ten a minute"}
    with pytest.raises(ImproperlyConfigured, match="WRONG_CODE_RATE"):
        guard_settings.WRONG_CODE_RATE  # noqa: B018
    settings.RUPT_GUARD = {"SIGN_IN_RATES": {"account": "5/15m", "address": None}}
    assert guard_settings.SIGN_IN_RATES["account"].seconds == 900
    settings.RUPT_GUARD = {"SIGN_IN_RATES": {"acount": "5/h"}}
    with pytest.raises(ImproperlyConfigured, match="SIGN_IN_RATES"):
        guard_settings.SIGN_IN_RATES  # noqa: B018


class TeamProvider(IdentificationProvider):
    """A provider a site might write: its own option, its own check."""

    options = {"REGION": "eu"}

    @classmethod
    def check(cls, options):
        from django.core.checks import Error

        return [] if options["REGION"] else [Error("REGION is empty", id="rupt_guard.E900")]

    def sdk_url(self):
        return "/sdk.js"

    def complete(self, token, account):
        raise NotImplementedError

    def update_metadata(self, device_id, fields):
        raise NotImplementedError


def test_a_per_process_cache_is_not_refused_under_a_test_runner(settings):
    """Django's runner turns DEBUG off before the checks; a test run is one process."""
    settings.RUPT_GUARD = {"API_SECRET": "s", "CLIENT_ID": "c", "CACHE": "local"}
    settings.CACHES = {
        **settings.CACHES,
        "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    settings.DEBUG = False
    assert check_ids() == set()


# Checks for a first site (issue #16) ----------------------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_w018_debug_codes_by_smtp_to_a_loopback_port_that_refuses(settings):
    from django.core.checks import run_checks

    settings.DEBUG = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "localhost", _closed_port()
    (message,) = [m for m in run_checks() if m.id == "rupt_guard.W020"]
    assert "console.EmailBackend" in message.hint
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    assert "rupt_guard.W020" not in {m.id for m in run_checks()}


def test_w018_is_quiet_when_the_loopback_mail_server_answers(settings):
    import socket

    from django.core.checks import run_checks

    settings.DEBUG = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.getsockname()[1]
        assert "rupt_guard.W020" not in {m.id for m in run_checks()}
        settings.DEBUG = False  # production's mail server is --deploy's E012
        settings.EMAIL_PORT = _closed_port()
        assert "rupt_guard.W020" not in {m.id for m in run_checks()}


def test_e015_rupt_guards_urls_missing(settings):
    from django.core.checks import run_checks

    settings.ROOT_URLCONF = "tests.urls_without_rupt_guard"
    (message,) = [m for m in run_checks() if m.id == "rupt_guard.E016"]
    assert "include('rupt_guard.urls')" in message.hint
    settings.ROOT_URLCONF = "tests.urls"
    assert "rupt_guard.E016" not in {m.id for m in run_checks()}


def test_i001_only_for_rupt_whose_webhook_it_is(settings):
    from django.core.checks import run_checks

    settings.RUPT_GUARD = {**settings.RUPT_GUARD, "WEBHOOK_SECRET": None}
    assert "rupt_guard.I001" in {m.id for m in run_checks()}
    settings.RUPT_GUARD = {**settings.RUPT_GUARD, "PROVIDER": "local"}
    assert "rupt_guard.I001" not in {m.id for m in run_checks()}
