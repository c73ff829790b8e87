"""The Rupt provider against a real HTTP server on loopback: every way a call can fail."""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import threading
import time
import uuid

import pytest
import trustme

from rupt_guard.providers import (
    ErrorReason,
    InvalidToken,
    ProviderBadResponse,
    ProviderConfigurationError,
    ProviderConnectionError,
    ProviderHTTPError,
    ProviderTimeout,
    TokenRejected,
    get_provider,
)
from rupt_guard.providers.rupt import MAX_BODY_BYTES, RuptProvider
from rupt_guard.testing.fake_rupt import SECRET, start_fake_rupt


@pytest.fixture
def provider(rupt_server) -> RuptProvider:
    instance = get_provider()
    assert isinstance(instance, RuptProvider)
    return instance


def valid_payload(**overrides):
    payload = {
        "access": "651e72f5cc64cb48d6f860d7",
        "device": "651e72eccc64cb48d6f860c0",
        "new_device": False,
        "metadata_fields": {"2fa_verified": ["7:2026-11-25T10:00:00+00:00"]},
    }
    payload.update(overrides)
    return payload


def test_complete_reports_new_device_only_the_first_time_per_account(provider, rupt_server):
    device = "651e72eccc64cb48d6f860c0"
    first = provider.complete(rupt_server.identify(device), "42")
    again = provider.complete(rupt_server.identify(device), "42")
    other_account = provider.complete(rupt_server.identify(device), "43")

    assert (first.device_id, first.new_device) == (device, True)
    assert (again.device_id, again.new_device) == (device, False)
    assert other_account.new_device is True
    assert first.access_id != again.access_id

    seen = rupt_server.requests[0]
    assert seen.headers["Authorization"] == f"Bearer {SECRET}"
    assert seen.body == {"account": "42"}
    assert seen.path.endswith("/complete")


def test_complete_returns_metadata_and_update_metadata_round_trips(provider, rupt_server):
    token = rupt_server.identify("dev1")
    assert provider.complete(token, "1").metadata_fields == {}

    provider.update_metadata("dev1", {"2fa_verified": ["1:2026-11-25T10:00:00+00:00"]})

    result = provider.complete(rupt_server.identify("dev1"), "1")
    assert result.metadata_fields == {"2fa_verified": ["1:2026-11-25T10:00:00+00:00"]}
    assert rupt_server.requests[1].path == "/v2/proj/device/dev1/metadata"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "short",
        "with space inside",
        "dots.are.refused.here",
        "percent%2Fencoded",
        "x" * 129,
        "../device/651e72eccc64cb48d6f860c0/metadata",
        "00000000-0000-0000-0000-000000000000/../../device/x/metadata",
        "00000000-0000-0000-0000-000000000000%2F..",
        "00000000-0000-0000-0000-00000000000\n",
        "0" * 10_000,
        None,
        42,
        ["00000000-0000-0000-0000-000000000000"],
    ],
)
def test_malformed_token_never_reaches_the_network(provider, rupt_server, token):
    with pytest.raises(InvalidToken) as caught:
        provider.complete(token, "42")
    assert caught.value.reason == ErrorReason.BAD_TOKEN
    assert caught.value.is_token_problem
    assert rupt_server.requests == []


@pytest.mark.parametrize("device_id", ["../identification/x/complete", "a/b", "", "x" * 200])
def test_metadata_update_refuses_unsafe_device_ids(provider, rupt_server, device_id):
    with pytest.raises(ValueError):
        provider.update_metadata(device_id, {"2fa_verified": ["1:x"]})
    assert rupt_server.requests == []


def test_unknown_identification_is_a_rejected_token(provider, rupt_server):
    with pytest.raises(TokenRejected) as caught:
        provider.complete(str(uuid.uuid4()), "42")
    assert caught.value.status == 404
    assert caught.value.is_token_problem


@pytest.mark.parametrize(
    "token",
    [
        "651e72f5cc64cb48d6f860d7",  # an ObjectId, the shape of every real Rupt id
        "4b0c9a3e-1f0a-4c1e-9a51-2f0e7d1b9c33",  # the UUID of Rupt's placeholder
        "AbC_dEf-123456789",  # base64url, case kept
    ],
)
def test_tokens_as_rupt_may_issue_them_are_sent_as_they_are(provider, rupt_server, token):
    with pytest.raises(TokenRejected):
        provider.complete(token, "42")  # unknown to the fake: 404
    (seen,) = rupt_server.requests
    assert seen.path == f"/v2/proj/identification/{token}/complete"


@pytest.mark.parametrize("status", [400, 404])
def test_statuses_about_the_request_or_token_are_token_problems(provider, rupt_server, status):
    rupt_server.fail_next(status)
    with pytest.raises(TokenRejected) as caught:
        provider.complete(rupt_server.identify(), "42")
    assert caught.value.status == status
    assert caught.value.is_token_problem and not caught.value.is_outage


@pytest.mark.parametrize("status", [401, 403, 428])
def test_credential_statuses_are_configuration_errors(provider, rupt_server, status, caplog):
    rupt_server.fail_next(status)
    with pytest.raises(ProviderConfigurationError) as caught:
        provider.complete(rupt_server.identify(), "42")
    assert caught.value.reason == ErrorReason.CONFIGURATION
    assert caught.value.status == status
    assert not caught.value.is_token_problem and not caught.value.is_outage
    assert any("check API_SECRET" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_overload_and_server_errors_are_outages(provider, rupt_server, status):
    rupt_server.fail_next(status)
    with pytest.raises(ProviderHTTPError) as caught:
        provider.complete(rupt_server.identify(), "42")
    assert caught.value.reason == ErrorReason.HTTP_STATUS
    assert caught.value.status == status
    assert caught.value.is_outage and not caught.value.is_token_problem


def test_wrong_secret_is_a_configuration_error(rupt_server, guard_settings_override):
    guard_settings_override(API_SECRET="sk_wrong")
    with pytest.raises(ProviderConfigurationError) as caught:
        get_provider().complete(rupt_server.identify(), "42")
    assert caught.value.status == 401


def test_redirects_are_not_followed(provider, rupt_server):
    rupt_server.fail_next(302, {"moved": True})
    with pytest.raises(ProviderHTTPError) as caught:
        provider.complete(rupt_server.identify(), "42")
    assert caught.value.status == 302
    assert len(rupt_server.requests) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe\x00",
        b"",
        b"[]",
        b'"a string"',
        json.dumps(valid_payload(device=5)).encode(),
        json.dumps(valid_payload(device="../../x")).encode(),
        json.dumps(valid_payload(access=None)).encode(),
        json.dumps(valid_payload(new_device="true")).encode(),
        json.dumps({k: v for k, v in valid_payload().items() if k != "new_device"}).encode(),
        json.dumps(valid_payload(metadata_fields=["2fa_verified"])).encode(),
        json.dumps(valid_payload(metadata_fields={"k": "not a list"})).encode(),
        json.dumps(valid_payload(metadata_fields={"k": [1, 2]})).encode(),
        json.dumps(valid_payload(metadata_fields={"k": ["x" * 5000]})).encode(),
        json.dumps(valid_payload(metadata_fields={str(i): [] for i in range(100)})).encode(),
        json.dumps(valid_payload(metadata_fields={"k": ["nul\u0000inside"]})).encode(),
        json.dumps(valid_payload(metadata_fields={"k\u0000": ["v"]})).encode(),
        b'{"pad": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}',
    ],
)
def test_malformed_responses_are_bad_responses(provider, rupt_server, body):
    rupt_server.fail_next(200, body)
    with pytest.raises(ProviderBadResponse) as caught:
        provider.complete(rupt_server.identify(), "42")
    assert caught.value.reason == ErrorReason.BAD_RESPONSE


def test_absent_metadata_is_empty(provider, rupt_server):
    payload = valid_payload()
    del payload["metadata_fields"]
    rupt_server.fail_next(200, json.dumps(payload).encode())
    assert provider.complete(rupt_server.identify(), "42").metadata_fields == {}


def test_metadata_update_without_success_is_a_bad_response(provider, rupt_server):
    rupt_server.identify("dev1")
    rupt_server.fail_next(200, {"success": False})
    with pytest.raises(ProviderBadResponse):
        provider.update_metadata("dev1", {"2fa_verified": ["1:x"]})


def test_metadata_update_for_unknown_device_is_an_http_error(provider, rupt_server):
    with pytest.raises(ProviderHTTPError) as caught:
        provider.update_metadata("nosuchdevice", {"2fa_verified": ["1:x"]})
    assert caught.value.status == 404
    assert not caught.value.is_token_problem


def test_slow_server_times_out_within_the_budget(rupt_server, guard_settings_override):
    guard_settings_override(TIMEOUT=0.5)
    rupt_server.delay = 3
    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as caught:
        get_provider().complete(rupt_server.identify(), "42")
    elapsed = time.monotonic() - started
    assert caught.value.reason == ErrorReason.TIMEOUT
    assert 0.4 < elapsed < 1.5


def test_trickled_body_cannot_stretch_the_budget(rupt_server, guard_settings_override):
    # A byte every 0.1 s never trips a per-read timeout of 0.5 s; only a deadline stops it.
    guard_settings_override(TIMEOUT=0.5)
    body = json.dumps(valid_payload()).encode()
    rupt_server.fail_next(200, body, trickle=0.1)
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        get_provider().complete(rupt_server.identify(), "42")
    assert time.monotonic() - started < 1.5


class _TrickleHeaders(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.recv(65536)
        try:
            self.request.sendall(b"HTTP/1.1 200 OK\r\n")
            for _ in range(100):
                self.request.sendall(b"X")
                time.sleep(0.1)
        except OSError:
            pass  # the client hung up, which is what the test wants


def test_trickled_headers_cannot_stretch_the_budget(settings):
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _TrickleHeaders) as server:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        provider = RuptProvider(
            API_SECRET=SECRET, API_BASE_URL=f"http://127.0.0.1:{port}", TIMEOUT=0.5
        )
        started = time.monotonic()
        with pytest.raises(ProviderTimeout):
            provider.complete(str(uuid.uuid4()), "42")
        assert time.monotonic() - started < 1.5
        server.shutdown()


def test_refused_connection(settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = RuptProvider(API_SECRET=SECRET, API_BASE_URL=f"http://127.0.0.1:{port}", TIMEOUT=1)
    with pytest.raises(ProviderConnectionError) as caught:
        provider.complete(str(uuid.uuid4()), "42")
    assert caught.value.reason == ErrorReason.CONNECTION


def test_untrusted_tls_certificate_is_refused(settings):
    # A certificate for 127.0.0.1 from a CA the client does not trust.
    fake, server = start_fake_rupt(ssl_context=_server_context(trustme.CA()))
    try:
        provider = RuptProvider(API_SECRET=SECRET, API_BASE_URL=fake.url, TIMEOUT=1)
        with pytest.raises(ProviderConnectionError):
            provider.complete(fake.identify(), "42")
        assert fake.requests == []
    finally:
        server.shutdown()


def _server_context(ca):
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


def test_calls_reuse_one_keep_alive_connection(provider, rupt_server):
    for account in ("1", "2", "3", "4", "5"):
        provider.complete(rupt_server.identify("dev1"), account)
    provider.update_metadata("dev1", {"2fa_verified": ["1:x"]})
    ports = {seen.client_port for seen in rupt_server.requests}
    assert len(rupt_server.requests) == 6
    assert len(ports) == 1


def test_connection_is_replaced_after_a_failure(provider, rupt_server):
    provider.complete(rupt_server.identify("dev1"), "1")
    rupt_server.fail_next(200, b"x" * (MAX_BODY_BYTES + 1))
    with pytest.raises(ProviderBadResponse):
        provider.complete(rupt_server.identify("dev1"), "1")
    assert provider.complete(rupt_server.identify("dev1"), "1").device_id == "dev1"


def test_secret_never_leaks_into_errors_logs_or_repr(rupt_server, caplog, guard_settings_override):
    caplog.set_level(logging.DEBUG)
    guard_settings_override(TIMEOUT=0.3)
    provider = get_provider()
    failures = []
    for fault in ({"status": 401}, {"status": 500}, {"status": 200, "body": b"{"}):
        rupt_server.fail_next(**fault)
        with pytest.raises(Exception) as caught:
            provider.complete(rupt_server.identify(), "42")
        failures.append(caught.value)
    rupt_server.delay = 1
    with pytest.raises(ProviderTimeout) as caught:
        provider.complete(rupt_server.identify(), "42")
    failures.append(caught.value)

    texts = [repr(provider), str(provider.__dict__.get("base_url"))]
    texts += [f"{exc!s} {exc!r} {exc.__cause__!r}" for exc in failures]
    texts += [record.getMessage() for record in caplog.records]
    assert caplog.records, "failures are logged"
    assert all(SECRET not in text for text in texts)
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("rupt_guard")]
    assert ours
    assert all("<token>" in message for message in ours if "/identification/" in message)


def test_provider_is_rebuilt_when_settings_change(rupt_server, guard_settings_override):
    first = get_provider()
    assert get_provider() is first
    guard_settings_override(TIMEOUT=0.7)
    second = get_provider()
    assert second is not first
    assert second.timeout == 0.7


def test_no_token_in_any_log_line_even_at_debug(rupt_server, caplog):
    """urllib3 logs each request line at DEBUG; the token is in the completion's path."""
    import logging

    token = rupt_server.identify("dev-logged")
    with caplog.at_level(logging.DEBUG):
        get_provider().complete(token, "42")
        rupt_server.fail_next(503)
        with pytest.raises(ProviderHTTPError):
            get_provider().complete(rupt_server.identify(), "42")
    lines = [record.getMessage() for record in caplog.records]
    assert any("/identification/<token>/complete" in line for line in lines), lines
    assert not [line for line in lines if token in line]
