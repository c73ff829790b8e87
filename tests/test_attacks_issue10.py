"""Adversarial review of issue 10 (limits on the shared cache, canonical email links,
system checks, no token in logs, providers owning their OPTIONS).

Each ``xfail(strict=True)`` test asserts the *secure* behaviour and fails today: it shows a
weakness, and turns into an XPASS (a failure, so the marker gets removed) once fixed. The
plain tests are regressions for attacks the code holds and nothing else pins down.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
import traceback
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.views import LoginView
from django.test import Client
from django.urls import path
from django_otp.forms import OTPAuthenticationForm
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

import rupt_guard.gate.limits as limits
from rupt_guard.checks import check_limits_and_delivery, check_settings, check_wiring
from rupt_guard.conf import guard_settings
from rupt_guard.gate.limits import Window
from rupt_guard.gate.mark import SESSION_KEY
from rupt_guard.providers import reset_provider
from rupt_guard.risk.identify import identify

from . import urls as site_urls
from .conftest import PASSWORD

CHALLENGE = "/rupt-guard/challenge/"
LOGIN_PAGE = "/accounts/login/"
OTP_LOGIN = "/otp-login/"
API_LOGIN = "/api/rupt-guard/login/"
API_SEND = "/api/rupt-guard/challenge/send/"
API_VERIFY = "/api/rupt-guard/challenge/verify/"
LOCKED = re.compile(r"Too many wrong codes for this account\. Try again in (\d+) minutes?\.")

pytestmark = pytest.mark.django_db

# django-otp's own login form (what OTPAdminSite uses), which the lifecycle accepts as the
# second factor (lifecycle._factor_from_login_form). For @pytest.mark.urls(__name__).
urlpatterns = [
    path("otp-login/", LoginView.as_view(authentication_form=OTPAuthenticationForm)),
    *site_urls.urlpatterns,
]


# -- helpers -----------------------------------------------------------------------------------


def totp_now(device):
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def form_sign_in(browser, rupt_server, device, username="alice", **extra):
    return browser.post(
        LOGIN_PAGE,
        {
            "username": username,
            "password": PASSWORD,
            "rupt_identification": rupt_server.identify(device),
        },
        **extra,
    )


def pending(browser):
    mark = browser.session.get(SESSION_KEY) or {}
    return mark.get("state") == "pending"


def wait_out_otp_throttle(*factors):
    """What an attacker gets by waiting django-otp's per-factor back-off out (1, 2, 4 s...)."""
    for factor in factors:
        type(factor).objects.filter(pk=factor.pk).update(throttling_failure_timestamp=None)


def wrong_code_window(user):
    return Window("wrong_codes", str(user.pk), guard_settings.WRONG_CODE_RATE)


def rupt_ids(messages):
    return {message.id for message in messages if (message.id or "").startswith("rupt_guard")}


class VerifyCounter:
    """Counts the codes django-otp really verified (``verify_token`` ran), per factor class."""

    def __init__(self, monkeypatch, *classes):
        self.lock = threading.Lock()
        self.calls = 0
        for cls in classes:
            real = cls.verify_token

            def counted(device, token, _real=real):
                with self.lock:
                    self.calls += 1
                return _real(device, token)

            monkeypatch.setattr(cls, "verify_token", counted)


@pytest.fixture
def tune(rupt_server, guard_settings_override, settings):
    """``guard_settings_override`` once ``rupt_server`` has replaced the settings, with the
    limits on a cache of this test's own: another test run flushing the shared Redis
    database meanwhile cannot empty a window under it. (The PostgreSQL race tests keep Redis.)
    """
    alias = f"attacks-{uuid.uuid4().hex}"
    settings.CACHES = {
        **settings.CACHES,
        alias: {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": alias},
    }
    guard_settings_override(CACHE=alias)
    return guard_settings_override


@pytest.fixture
def phone(user, tune):
    tune(WRONG_CODE_RATE="3/15m")
    return TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)


# == 1. The account-wide wrong-code limit ======================================================


def test_a_blank_otp_challenge_field_cannot_guess_past_the_lock(
    client, phone, rupt_server, monkeypatch
):
    counter = VerifyCounter(monkeypatch, TOTPDevice)
    form_sign_in(client, rupt_server, "dev-attacker")
    for _ in range(8):  # the account allows 3 in 15 minutes
        wait_out_otp_throttle(phone)
        client.post(
            CHALLENGE,
            {"otp_device": phone.persistent_id, "otp_token": "000000", "otp_challenge": " "},
        )
    assert counter.calls <= 3, f"django-otp verified {counter.calls} codes"
    wait_out_otp_throttle(phone)
    right = {"otp_device": phone.persistent_id, "otp_token": totp_now(phone), "otp_challenge": " "}
    response = client.post(CHALLENGE, right)
    assert response.status_code == 200 and pending(client)


@pytest.mark.urls(__name__)
def test_django_otps_login_form_is_held_by_the_account_lock(client, user, phone, rupt_server):
    # The account is locked at the challenge...
    form_sign_in(client, rupt_server, "dev-a")
    for _ in range(3):
        wait_out_otp_throttle(phone)
        client.post(CHALLENGE, {"otp_device": phone.persistent_id, "otp_token": "000000"})
    assert LOCKED.search(
        client.post(
            CHALLENGE, {"otp_device": phone.persistent_id, "otp_token": totp_now(phone)}
        ).content.decode()
    )
    # ... and the same password-holder keeps guessing at django-otp's form, then gets in.
    other = Client()
    for guess in ("111111", "222222", totp_now(phone)):
        wait_out_otp_throttle(phone)
        response = other.post(
            OTP_LOGIN,
            {
                "username": "alice",
                "password": PASSWORD,
                "otp_device": phone.persistent_id,
                "otp_token": guess,
                "rupt_identification": rupt_server.identify("dev-b"),
            },
        )
    # The factor it verified does not count while the account is locked: the sign-in
    # waits at our challenge (itself locked) instead of being complete.
    assert response.status_code in (200, 302)
    assert other.get("/private/")["Location"].startswith(CHALLENGE)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_never_verify_more_codes_than_the_limit(
    user, rupt_server, guard_settings_override, monkeypatch
):
    guard_settings_override(WRONG_CODE_RATE="3/15m")
    factors = [
        TOTPDevice.objects.create(user=user, name="Phone", confirmed=True),
        TOTPDevice.objects.create(user=user, name="Tablet", confirmed=True),
        StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True),
    ]
    StaticToken.objects.create(device=factors[2], token="abcd1234")
    browsers = []
    for n in range(len(factors)):
        browser = Client()
        form_sign_in(browser, rupt_server, f"dev-{n}")
        assert pending(browser)
        browsers.append(browser)
    # Two wrong codes already spent this window (from other sessions): room for one more.
    window = wrong_code_window(user)
    window.hit(), window.hit()

    # The interleaving a burst of parallel requests gets: each reads the window before any
    # of them has counted its wrong code.
    barrier = threading.Barrier(len(factors))
    real_wait = Window.wait

    def wait_then_meet(self):
        seconds = real_wait(self)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=5)
        return seconds

    monkeypatch.setattr(Window, "wait", wait_then_meet)
    counter = VerifyCounter(monkeypatch, TOTPDevice, StaticDevice)
    from django.db import connection

    def guess(browser, factor):
        try:
            browser.post(CHALLENGE, {"otp_device": factor.persistent_id, "otp_token": "999999"})
        finally:
            connection.close()

    workers = [
        threading.Thread(target=guess, args=pair) for pair in zip(browsers, factors, strict=True)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert counter.calls <= 1, f"django-otp verified {counter.calls} codes with room for 1"


@pytest.mark.xfail(
    strict=True,
    reason="the lock message gives the window's time left (gate/codes.py:38, views/forms.py:50-53) "
    "but the attacker's guesses, all verified by django-otp before the window filled, also "
    "doubled the factor's own back-off each time (ThrottlingMixin: 2**(n-1) s): when the "
    "window ends the owner's right code is still refused for minutes",
)
def test_the_time_left_on_the_lock_is_true_for_the_owner(user, rupt_server, tune, monkeypatch):
    tune(WRONG_CODE_RATE="10/15m")  # the default
    phone = TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    # A fixed clock for the windows: 10 s before the end of one.
    clock = {"now": (1_000_000 + 1) * 900 - 10.0}
    monkeypatch.setattr(limits, "time", SimpleNamespace(time=lambda: clock["now"]))

    attacker = Client()
    form_sign_in(attacker, rupt_server, "dev-attacker")
    for _ in range(10):  # spaced as django-otp's back-off asks (511 s in all): one window
        wait_out_otp_throttle(phone)
        attacker.post(CHALLENGE, {"otp_device": phone.persistent_id, "otp_token": "000000"})

    owner = Client()
    form_sign_in(owner, rupt_server, "dev-owner-new-laptop")
    right = {"otp_device": phone.persistent_id, "otp_token": totp_now(phone)}
    told = LOCKED.search(owner.post(CHALLENGE, right).content.decode())
    assert told is not None and told.group(1) == "1"

    # The owner waits what the page said (one minute; ten seconds would do for the window),
    # and the clock of django-otp's back-off moves on as much.
    clock["now"] += 60
    phone.refresh_from_db()
    TOTPDevice.objects.filter(pk=phone.pk).update(
        throttling_failure_timestamp=phone.throttling_failure_timestamp - timedelta(seconds=60)
    )
    right = {"otp_device": phone.persistent_id, "otp_token": totp_now(phone)}
    response = owner.post(CHALLENGE, right)
    refusal = re.findall(r"<li>([^<]*)</li>", response.content.decode())
    assert response.status_code == 302, refusal


def test_a_locked_account_does_not_burn_the_owners_backup_code(client, user, rupt_server, tune):
    tune(WRONG_CODE_RATE="2/15m")
    backup = StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    StaticToken.objects.create(device=backup, token="abcd1234")
    form_sign_in(client, rupt_server, "dev-a")
    api = APIClient()
    body = {"username": "alice", "password": PASSWORD}
    body["rupt_identification"] = rupt_server.identify("dev-b")
    assert api.post(API_LOGIN, body, format="json").status_code == 202
    wait_out_otp_throttle(backup)
    client.post(CHALLENGE, {"otp_device": backup.persistent_id, "otp_token": "zzzz9999"})
    wait_out_otp_throttle(backup)
    api.post(API_VERIFY, {"device": backup.persistent_id, "token": "yyyy8888"}, format="json")
    # Locked: the right backup code is refused on both surfaces and never read, so it is
    # still there for the owner once the window ends.
    wait_out_otp_throttle(backup)
    page = client.post(CHALLENGE, {"otp_device": backup.persistent_id, "otp_token": "abcd1234"})
    assert LOCKED.search(page.content.decode()) and pending(client)
    locked = api.post(API_VERIFY, {"device": backup.persistent_id, "token": "abcd1234"}, "json")
    assert locked.status_code == 429
    assert StaticToken.objects.filter(device=backup, token="abcd1234").exists()


# == 2. The sign-in limits =====================================================================


class CaseInsensitiveBackend(ModelBackend):
    """A site whose usernames are case-insensitive (``username__iexact``), as many are."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = get_user_model().objects.filter(username__iexact=username or "").first()
        if user is not None and user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


def test_usernames_in_any_case_share_the_accounts_sign_in_limit(user, rupt_server, tune):
    tune(
        PASSWORD_BACKEND=f"{__name__}.CaseInsensitiveBackend",
        SIGN_IN_RATES={"account": "2/h", "address": None},
        API_THROTTLE_RATES={"login": None, "login_account": None, "challenge": None},
    )
    assert form_sign_in(Client(), rupt_server, "dev-1", username="ALICE").status_code == 302
    body = {"username": "Alice", "password": PASSWORD}
    body["rupt_identification"] = rupt_server.identify("dev-2")
    assert APIClient().post(API_LOGIN, body, format="json").status_code == 202
    body["username"], body["rupt_identification"] = "aLiCe", rupt_server.identify("dev-3")
    assert APIClient().post(API_LOGIN, body, format="json").status_code == 429
    refused = form_sign_in(Client(), rupt_server, "dev-4", username="alice")
    assert "Too many sign-in attempts" in refused.content.decode()


def test_forwarded_headers_do_not_refill_the_address_limit(user, rupt_server, tune):
    # CLIENT_IP is the default (REMOTE_ADDR): no header may pick a fresh address.
    get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
    tune(
        SIGN_IN_RATES={"account": None, "address": "1/h"},
        API_THROTTLE_RATES={"login": None, "login_account": None, "challenge": None},
    )
    first = form_sign_in(Client(), rupt_server, "dev-1", HTTP_X_FORWARDED_FOR="1.1.1.1")
    assert first.status_code == 302
    body = {"username": "bob", "password": PASSWORD}
    body["rupt_identification"] = rupt_server.identify("dev-2")
    spoofed = APIClient().post(
        API_LOGIN,
        body,
        format="json",
        HTTP_X_FORWARDED_FOR="2.2.2.2",
        HTTP_X_REAL_IP="2.2.2.2",
        HTTP_FORWARDED="for=2.2.2.2",
    )
    assert spoofed.status_code == 429


def test_a_form_encoded_api_sign_in_counts_once(user, rupt_server, tune):
    # Form-encoded, the token is in request.POST: the backend checks the sign-in, and the
    # API view must reuse that check rather than count (and call the provider) again.
    tune(
        SIGN_IN_RATES={"account": "1/h", "address": "1/h"},
        API_THROTTLE_RATES={"login": None, "login_account": None, "challenge": None},
    )
    body = {"username": "alice", "password": PASSWORD}
    body["rupt_identification"] = rupt_server.identify("dev-1")
    assert APIClient().post(API_LOGIN, body).status_code == 202
    completions = [r for r in rupt_server.requests if r.path.endswith("/complete")]
    assert len(completions) == 1


def test_an_ipv6_client_cannot_take_a_fresh_address_window_per_sign_in(user, rupt_server, tune):
    for n in range(3):
        get_user_model().objects.create_user(f"user{n}", f"u{n}@example.com", PASSWORD)
    tune(SIGN_IN_RATES={"account": None, "address": "2/h"})
    statuses = []
    for n in range(3):
        browser = Client(REMOTE_ADDR=f"2001:db8:1:2::{n + 1}")
        response = form_sign_in(browser, rupt_server, f"dev-{n}", username=f"user{n}")
        statuses.append("limited" if "Too many sign-in" in response.content.decode() else "in")
    assert statuses == ["in", "in", "limited"]


@pytest.mark.xfail(
    strict=True,
    reason="gate/sign_in.py:71 and :124-140 count every password-right sign-in against the "
    "account before the provider says which device it is: a password-holder "
    "spends the account's window and the owner's verified device is refused with it",
)
def test_a_password_holder_cannot_lock_the_owners_verified_device_out(
    user, rupt_server, tune, pass_challenge, client
):
    tune(SIGN_IN_RATES={"account": "3/h", "address": None})
    form_sign_in(client, rupt_server, "dev-owner")
    assert pass_challenge().status_code == 302
    client.post("/accounts/logout/")
    for n in range(2):
        form_sign_in(Client(REMOTE_ADDR=f"203.0.113.{n}"), rupt_server, f"dev-attacker-{n}")
    response = form_sign_in(client, rupt_server, "dev-owner")
    assert "Too many sign-in attempts" not in response.content.decode()
    assert response.status_code == 302 and client.get("/private/").status_code == 200


@pytest.mark.xfail(
    strict=True,
    reason="api/throttling.py:56-63 counts every post naming the account, wrong passwords "
    "too: anyone who knows the user name (no password needed) gets the owner's API sign-in "
    "refused, from their verified device as well",
)
def test_strangers_cannot_lock_the_owners_api_sign_in(user, rupt_server, tune, mailoutbox):
    tune(API_THROTTLE_RATES={"login": None, "login_account": "5/min", "challenge": None})
    owner = APIClient()
    body = {"username": "alice", "password": PASSWORD}
    body["rupt_identification"] = rupt_server.identify("dev-owner")
    assert owner.post(API_LOGIN, body, format="json").status_code == 202
    sent = owner.post(API_SEND, {}, format="json").json()
    code = re.search(r"\b(\d{6})\b", mailoutbox[-1].body).group(1)
    verify = {"device": sent["device"], "token": code}
    assert owner.post(API_VERIFY, verify, format="json").status_code == 200  # device verified
    owner.logout()
    for n in range(5):  # no password needed: a wrong one, from anywhere
        stranger = APIClient(REMOTE_ADDR=f"198.51.100.{n}")
        stranger.post(API_LOGIN, {"username": "alice", "password": "guess"}, format="json")
    body["rupt_identification"] = rupt_server.identify("dev-owner")
    assert owner.post(API_LOGIN, body, format="json").status_code == 200


def test_a_proxy_with_the_default_client_address_is_flagged(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.USE_X_FORWARDED_HOST = True
    messages = [*check_settings(), *check_risky_choices_and_limits()]
    assert any("CLIENT_IP" in message.msg for message in messages), messages


def check_risky_choices_and_limits():
    from rupt_guard.checks import check_risky_choices

    return [*check_risky_choices(), *check_limits_and_delivery()]


# == 3. Rates, caches and provider options: clean check errors, never a crash or a 500 ==========


@pytest.mark.parametrize(
    "values",
    [{"WRONG_CODE_RATE": "10/0m"}, {"SIGN_IN_RATES": {"account": "5/0h", "address": None}}],
    ids=["wrong-codes", "sign-ins"],
)
def test_a_rate_over_zero_seconds_is_a_check_error(settings, values):
    settings.RUPT_GUARD = {"CLIENT_ID": "c", "API_SECRET": "s", **values}
    assert "rupt_guard.E001" in rupt_ids(check_settings())


@pytest.mark.parametrize(
    "rates",
    [
        {"login": "10/15m", "login_account": "20/min", "challenge": "10/min"},
        "10/min",
    ],
    ids=["neighbour-syntax", "not-a-dict"],
)
def test_api_throttle_rates_are_validated(settings, rates):
    settings.RUPT_GUARD = {"CLIENT_ID": "c", "API_SECRET": "s", "API_THROTTLE_RATES": rates}
    assert "rupt_guard.E001" in rupt_ids(check_settings())


PROVIDER_SHAPES = {
    "options-a-string": {"BACKEND": "rupt", "OPTIONS": "TIMEOUT"},
    "options-a-number": {"BACKEND": "rupt", "OPTIONS": 5},
    "option-names-not-strings": {"BACKEND": "rupt", "OPTIONS": {1: "x", "TIMEOUT": 1}},
    "abstract-base-class": "rupt_guard.providers.base.IdentificationProvider",
}


@pytest.mark.parametrize("shape", list(PROVIDER_SHAPES.values()), ids=list(PROVIDER_SHAPES))
def test_a_malformed_provider_setting_is_a_clean_check_error(settings, shape):
    settings.RUPT_GUARD = {"PROVIDER": shape}
    reset_provider()
    assert "rupt_guard.E002" in rupt_ids(check_settings())


@pytest.mark.parametrize(
    "shape",
    [
        {"BACKEND": "rupt", "OPTIONS": {"TIMEOUT": "2"}},
        {"BACKEND": "rupt", "OPTIONS": {"TOLERANCE": ["strict"]}},
        {"BACKEND": "rupt", "OPTIONS": {"DOMAIN": "https://rupt.example.com/x"}},
        {"BACKEND": "local", "OPTIONS": {"LOCAL_TOKEN_TTL": True}},
        {"BACKEND": "rupt", "OPTIONS": {"LOCAL_TOKEN_TTL": 5}},
        {"BACKEND": 5},
        {"BACKEND": "rupt", "OPTION": {}},
        {"BACKEND": "no.such.Provider"},
        {"BACKEND": "rupt_guard.conf.Rate"},
        ["rupt"],
    ],
)
def test_wrong_provider_option_types_are_clean_check_errors(settings, shape):
    settings.RUPT_GUARD = {"PROVIDER": shape}
    assert rupt_ids(check_settings()) & {"rupt_guard.E001", "rupt_guard.E002"}


def test_an_api_secret_with_a_trailing_newline_is_a_check_error(settings):
    settings.RUPT_GUARD = {"CLIENT_ID": "c", "API_SECRET": "sk_live_from_a_file\n"}
    assert rupt_ids(check_settings()) & {"rupt_guard.E002", "rupt_guard.E003"}


def test_a_password_backend_taking_kwargs_is_flagged(settings):
    settings.AUTHENTICATION_BACKENDS = [
        "rupt_guard.backends.RuptGuardBackend",
        f"{__name__}.KwargsLDAPBackend",
    ]
    assert "rupt_guard.E008" in rupt_ids(check_wiring())


class KwargsLDAPBackend:
    """django-python3-ldap's shape: the directory checks the password it is handed."""

    def authenticate(self, *args, **kwargs):
        if kwargs.get("username") == "alice" and kwargs.get("password") == "directory":
            return get_user_model().objects.get(username="alice")
        return None

    def get_user(self, user_id):
        return get_user_model().objects.filter(pk=user_id).first()


def test_a_magic_link_backend_is_not_a_password_backend(settings):
    settings.AUTHENTICATION_BACKENDS = [
        "rupt_guard.backends.RuptGuardBackend",
        f"{__name__}.MagicLinkBackend",
    ]
    assert "rupt_guard.E008" not in rupt_ids(check_wiring())


class MagicLinkBackend(ModelBackend):
    """django-sesame's shape: a ModelBackend (for permissions) that takes a signed token."""

    def authenticate(self, request, sesame=None, scope="", max_age=None):
        return None


def test_sites_without_a_site_id_is_no_canonical_address(settings):
    settings.RUPT_GUARD = {"CLIENT_ID": "c", "API_SECRET": "s"}
    del settings.SITE_ID
    assert "rupt_guard.W010" in rupt_ids(check_limits_and_delivery())


@pytest.mark.parametrize(
    "backend",
    [
        "django.core.cache.backends.db.DatabaseCache",
        "django.core.cache.backends.filebased.FileBasedCache",
    ],
)
def test_a_cache_without_an_atomic_increment_is_flagged(settings, backend):
    settings.CACHES = {**settings.CACHES, "limits": {"BACKEND": backend, "LOCATION": "limits"}}
    settings.RUPT_GUARD = {"CLIENT_ID": "c", "API_SECRET": "s", "CACHE": "limits"}
    from rupt_guard.checks import check_risky_choices

    assert rupt_ids(check_risky_choices())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.xfail(
    strict=True,
    reason="DatabaseCache.incr is BaseCache.incr (get, then set): gate/limits.py:54 loses "
    "counts under concurrency, and nothing (E009) refuses such a cache",
)
def test_parallel_hits_on_a_database_cache_are_all_counted(settings):
    from django.core.management import call_command
    from django.db import connection

    settings.CACHES = {
        **settings.CACHES,
        "limits": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "lim"},
    }
    settings.RUPT_GUARD = {"CLIENT_ID": "c", "API_SECRET": "s", "CACHE": "limits"}
    call_command("createcachetable", "lim", verbosity=0)
    window = Window("wrong_codes", "42", guard_settings.WRONG_CODE_RATE)
    threads, hits = 16, 10
    barrier = threading.Barrier(threads)

    def guess():
        try:
            barrier.wait(timeout=10)
            for _ in range(hits):
                window.hit()
        finally:
            connection.close()

    workers = [threading.Thread(target=guess) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    key, _left = window._current()
    from django.core.cache import caches

    assert caches["limits"].get(key) == threads * hits


# == 4. Logs: no identification token, no API secret ============================================


class BadHeadersRupt:
    """A Rupt (or a proxy in front of it) whose answer has a malformed header line: urllib3
    logs a warning of its own, with the request's URL."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        body = b'{"device": "dev1", "access": "acc1", "new_device": true}'
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                head, _, rest = data.partition(b"\r\n\r\n")
                length = int(re.search(rb"content-length: *(\d+)", head, re.I).group(1))
                while len(rest) < length:
                    rest += conn.recv(4096)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\nConnection: close\r\n"
                    b"X-Broken header line\r\n\r\n%s" % (len(body), body)
                )

    def close(self):
        self.server.close()


def test_no_token_in_urllib3s_header_parsing_warning(rupt_server, tune, caplog):
    fake = BadHeadersRupt()
    try:
        tune(API_BASE_URL=fake.url)
        token = "tok_" + "a1b2c3d4" * 3
        with caplog.at_level(logging.DEBUG):
            answer = identify(token, "42")
        assert answer.identification is not None  # the sign-in itself went through
        lines = [record.getMessage() for record in caplog.records]
        assert any("Failed to parse headers" in line for line in lines), lines
        assert not [line for line in lines if token in line]
    finally:
        fake.close()


def test_a_provider_error_carries_neither_token_nor_secret(rupt_server, tune):
    # (A secret with a newline, the other way to get the secret into requests' errors, is
    # now refused by the provider's own option check: test_an_api_secret_with_a_trailing_...)
    secret = "sk_test_secret_never_logged"
    tune(API_BASE_URL="http://127.0.0.1:9")
    token = rupt_server.identify("dev-1")
    error = identify(token, "42").error
    assert error is not None and error.is_outage
    told = "".join(traceback.format_exception(error))
    assert token not in told and secret not in told, told


@pytest.mark.xfail(
    strict=True,
    reason="the local provider keeps its tokens as they are (local/models.py:45 token, "
    "local/provider.py:88 filter(token=token)): with DEBUG on, django.db.backends logs each "
    "query with its parameters, token included (and LoginCheck.access_id is 24 of its 32 "
    "hex digits, local/provider.py:97)",
)
def test_the_local_provider_logs_no_token_at_debug(client, user, settings, caplog):
    settings.RUPT_GUARD = {"PROVIDER": "local"}
    reset_provider()
    settings.DEBUG = True
    # A development site that shows its SQL: LOGGING's "django.db.backends" at DEBUG.
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, "django.db.backends"):
        minted = client.post(
            "/rupt-guard/local/identify/",
            data='{"secret": "' + "s" * 30 + '"}',
            content_type="application/json",
        )
        token = minted.json()["identification"]
        response = client.post(
            LOGIN_PAGE,
            {"username": "alice", "password": PASSWORD, "rupt_identification": token},
        )
    assert response.status_code == 302
    lines = [record.getMessage() for record in caplog.records]
    hexed = token.replace("-", "")
    assert not [line for line in lines if token in line or hexed in line]
    reset_provider()


def test_no_token_in_our_own_log_lines_at_debug(client, user, rupt_server, tune, caplog):
    """Every way a sign-in can fail at the provider, logged at DEBUG by us and by urllib3."""
    tune(SIGN_IN_RATES={"account": "4/h", "address": None})
    tokens = []
    with caplog.at_level(logging.DEBUG):
        for status in (200, 404, 401, 503):
            if status != 200:
                rupt_server.fail_next(status)
            tokens.append(rupt_server.identify(f"dev-{status}"))
            client.post(
                LOGIN_PAGE,
                {"username": "alice", "password": PASSWORD, "rupt_identification": tokens[-1]},
            )
            client.post("/accounts/logout/")
        tokens.append(rupt_server.identify("dev-limited"))  # refused by the sign-in limit
        client.post(
            LOGIN_PAGE,
            {"username": "alice", "password": PASSWORD, "rupt_identification": tokens[-1]},
        )
    lines = [record.getMessage() for record in caplog.records]
    assert any("<token>" in line for line in lines)
    assert any("too many sign-ins" in line for line in lines), lines
    assert not [line for line in lines for token in tokens if token in line]


# == 5. Login paths never answer 500 ============================================================


def test_the_api_send_code_survives_a_mail_server_that_refuses(user, rupt_server, settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port, 2
    api = APIClient(raise_request_exception=False)
    body = {"username": "alice", "password": PASSWORD}
    body["rupt_identification"] = rupt_server.identify("dev-1")
    assert api.post(API_LOGIN, body, format="json").status_code == 202
    response = api.post(API_SEND, {}, format="json")
    # A clear answer that the mail server is down: never a 500, never its own words.
    assert response.status_code == 503
    assert response.json()["code"] == "send_failed"
    assert "Errno" not in response.content.decode()


def test_the_html_send_code_survives_a_mail_server_that_refuses(client, user, login, settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port, 2
    login(device="dev-1")
    page = client.get(CHALLENGE)
    (device,) = page.context["devices"]
    client.raise_request_exception = False
    response = client.post(CHALLENGE, {"otp_device": device.persistent_id, "otp_challenge": "1"})
    assert response.status_code == 200 and pending(client)
