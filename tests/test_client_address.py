"""The client address every record and throttle uses: no header is trusted by default."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from rupt_guard.client import client_ip
from rupt_guard.conf import guard_settings

from .conftest import PASSWORD

FORWARDED = "rupt_guard.client.forwarded_for"


def request(remote="203.0.113.9", forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_the_default_ignores_forwarded_headers():
    assert client_ip(request(forwarded="198.51.100.7")) == "203.0.113.9"


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        # From a trusted proxy: the first address from the right that is not a proxy.
        ("10.0.0.2", "198.51.100.7", "198.51.100.7"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.7, 10.0.0.3", "198.51.100.7"),
        # An untrusted peer's header is never read, whatever it says.
        ("203.0.113.9", "198.51.100.7", "203.0.113.9"),
        # Garbage in the chain: the proxy's own address, never the garbage.
        ("10.0.0.2", "<script>, 198.51.100.7", "198.51.100.7"),
        ("10.0.0.2", "198.51.100.7, junk", "10.0.0.2"),
        # Only proxies in the chain: the proxy that reached us.
        ("10.0.0.2", "10.0.0.5", "10.0.0.2"),
        ("10.0.0.2", "", "10.0.0.2"),
        ("::1", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_forwarded_for_trusts_only_named_proxies(
    guard_settings_override, remote, forwarded, expected
):
    guard_settings_override(CLIENT_IP=FORWARDED, TRUSTED_PROXIES=["10.0.0.0/8", "::1"])
    assert client_ip(request(remote, forwarded)) == expected


def test_trusted_proxies_are_validated(guard_settings_override):
    guard_settings_override(TRUSTED_PROXIES=["10.0.0.0/8", "not-a-network"])
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES"):
        guard_settings.TRUSTED_PROXIES  # noqa: B018
    guard_settings_override(TRUSTED_PROXIES="10.0.0.0/8")
    with pytest.raises(ImproperlyConfigured, match="must be a list"):
        guard_settings.TRUSTED_PROXIES  # noqa: B018


def test_a_sign_in_behind_the_proxy_records_the_client(
    client, user, login, guard_settings_override
):
    from rupt_guard.models import Device, LoginCheck

    guard_settings_override(CLIENT_IP=FORWARDED, TRUSTED_PROXIES=["127.0.0.0/8"])
    login(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    check = LoginCheck.objects.get()
    assert check.ip == "198.51.100.7"
    assert Device.objects.get().last_ip == "198.51.100.7"


def test_api_throttle_counts_by_the_same_address(user, guard_settings_override):
    from rest_framework.test import APIClient

    guard_settings_override(
        CLIENT_IP=FORWARDED,
        TRUSTED_PROXIES=["127.0.0.0/8"],
        API_THROTTLE_RATES={"login": "2/min", "login_account": None, "challenge": None},
    )
    api = APIClient()
    body = {"username": "nobody", "password": PASSWORD}
    statuses = [
        api.post(
            "/api/rupt-guard/login/",
            body,
            format="json",
            REMOTE_ADDR="127.0.0.1",
            # The client may add anything on the left; the proxy appends what it saw.
            HTTP_X_FORWARDED_FOR=f"1.1.1.{n}, 198.51.100.7",
        ).status_code
        for n in range(3)
    ]
    assert statuses == [400, 400, 429]
    other = api.post(
        "/api/rupt-guard/login/",
        body,
        format="json",
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.8",
    )
    assert other.status_code == 400
