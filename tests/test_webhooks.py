"""Rupt's webhooks, signed by the reference Standard Webhooks library (not by our code)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.checks import run_checks
from django.test import Client
from standardwebhooks.webhooks import Webhook

from rupt_guard.models import Device, DeviceSession

from .conftest import WEBHOOK_SECRET

URL = "/rupt-guard/webhook/"
pytestmark = pytest.mark.django_db


def signed(payload, *, secret=WEBHOOK_SECRET, msg_id="msg_1", at=None, body=None):
    body = body if body is not None else json.dumps(payload)
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, at, body)
    headers = {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(int(at.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": signature,
    }
    return body, headers


def post(client, payload, **kwargs):
    body, headers = signed(payload, **kwargs)
    return client.post(URL, body, content_type="application/json", **headers)


DETACHED = {"type": "device.detached", "data": {"device": {"_id": "651e72eccc64cb48d6f860c0"}}}


@pytest.fixture
def shared_device(user, rupt_server):
    """One browser used by two accounts, verified for both, each with a live session."""
    bob = get_user_model().objects.create_user("bob", "bob@example.com", "x")
    rows = [
        Device.objects.create(
            user=owner, external_id="651e72eccc64cb48d6f860c0", verified_at="2026-11-01T00:00Z"
        )
        for owner in (user, bob)
    ]
    for n, row in enumerate(rows):
        DeviceSession.objects.create(
            device=row, session_key=f"session-{n}", expires_at=datetime.now(UTC) + timedelta(days=1)
        )
    return rows


def test_device_detached_revokes_it_for_every_account(
    client, shared_device, rupt_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, DETACHED)
    assert response.status_code == 200
    assert response.json() == {"detail": "accepted"}
    for row in shared_device:
        row.refresh_from_db()
        assert row.verified_at is None and row.trust_revoked_at is not None
        assert not row.metadata_sync_pending  # Rupt detached it: nothing to tell it back
    assert not DeviceSession.objects.exists()  # their sessions ended
    assert rupt_server.requests == []


def test_rupts_legacy_payload_shape_is_read_too(
    client, shared_device, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        payload = {"event": "device.detached", "device": {"_id": "651e72eccc64cb48d6f860c0"}}
        assert post(client, payload).status_code == 200
    assert not Device.objects.filter(verified_at__isnull=False).exists()


@pytest.mark.parametrize(
    "tamper",
    [
        "wrong secret",
        "no signature",
        "altered body",
        "stale timestamp",
        "future timestamp",
        "garbage signature",
    ],
)
def test_a_bad_or_missing_signature_gets_401_and_changes_nothing(client, shared_device, tamper):
    body, headers = signed(DETACHED)
    if tamper == "wrong secret":
        body, headers = signed(DETACHED, secret="whsec_" + "QUJD" * 8)
    elif tamper == "no signature":
        del headers["HTTP_WEBHOOK_SIGNATURE"]
    elif tamper == "altered body":
        body = body.replace("651e", "999e")
    elif tamper == "stale timestamp":
        body, headers = signed(DETACHED, at=datetime.now(UTC) - timedelta(minutes=10))
    elif tamper == "future timestamp":
        body, headers = signed(DETACHED, at=datetime.now(UTC) + timedelta(minutes=10))
    else:
        headers["HTTP_WEBHOOK_SIGNATURE"] = "v1 v2,, ,=,%%"
    response = client.post(URL, body, content_type="application/json", **headers)
    assert response.status_code == 401
    assert Device.objects.filter(verified_at__isnull=False).count() == 2
    assert DeviceSession.objects.count() == 2


def test_a_replayed_message_id_is_refused(client, shared_device):
    first = post(client, {"type": "something.else"}, msg_id="msg_replayed")
    assert first.status_code == 200
    again = post(client, DETACHED, msg_id="msg_replayed")  # a new body under an old id
    assert again.status_code == 409
    assert Device.objects.filter(verified_at__isnull=False).count() == 2


def test_unknown_events_are_acknowledged_and_logged(client, shared_device, caplog):
    caplog.set_level("INFO", logger="rupt_guard")
    response = post(client, {"type": "access.created", "data": {}})
    assert response.status_code == 200
    assert response.json() == {"detail": "ignored"}
    assert any("access.created" in record.getMessage() for record in caplog.records)


def test_a_secret_can_be_rotated(client, shared_device, guard_settings_override):
    new_secret = "whsec_" + "TmV3U2VjcmV0" * 3
    guard_settings_override(WEBHOOK_SECRET=[new_secret, WEBHOOK_SECRET])
    assert post(client, {"type": "x"}, secret=WEBHOOK_SECRET, msg_id="old").status_code == 200
    assert post(client, {"type": "x"}, secret=new_secret, msg_id="new").status_code == 200


def test_without_a_secret_every_call_is_refused_and_a_check_says_so(
    client, shared_device, guard_settings_override
):
    guard_settings_override(WEBHOOK_SECRET=None)
    assert post(client, DETACHED).status_code == 401
    assert Device.objects.filter(verified_at__isnull=False).count() == 2
    assert "rupt_guard.I001" in {m.id for m in run_checks()}
    guard_settings_override(WEBHOOK_SECRET="whsec_not base64!")
    assert "rupt_guard.E013" in {m.id for m in run_checks()}


def test_it_needs_no_csrf_token_and_takes_only_post(shared_device):
    strict = Client(enforce_csrf_checks=True)
    assert post(strict, {"type": "x"}).status_code == 200
    assert strict.get(URL).status_code == 405


def test_a_signed_body_that_is_not_an_object_is_a_400(client, shared_device):
    body, headers = signed(None, body="[1, 2]")
    assert client.post(URL, body, content_type="application/json", **headers).status_code == 400


def test_it_answers_fast(client, shared_device, django_capture_on_commit_callbacks):
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=False) as deferred:
        assert post(client, DETACHED).status_code == 200
    assert deferred  # the revocation waits for the commit: the answer does not
    assert time.monotonic() - started < 1


def test_a_refused_event_does_not_use_up_its_id(
    client, shared_device, django_capture_on_commit_callbacks
):
    broken = {"type": "device.detached", "data": {}}
    assert post(client, broken, msg_id="msg_fixed").status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, DETACHED, msg_id="msg_fixed").status_code == 200
    assert not Device.objects.filter(verified_at__isnull=False).exists()


def test_a_site_that_requires_login_everywhere_still_hears_rupt(client, shared_device, settings):
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "django.contrib.auth.middleware.LoginRequiredMiddleware",
    ]
    assert post(client, {"type": "x"}).status_code == 200
