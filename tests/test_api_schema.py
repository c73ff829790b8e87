"""The API describes itself in OpenAPI, and no request generated from that schema gets a 500.

Schemathesis generates requests (valid and invalid bodies, odd strings, unknown ids)
for every operation and sends them through Django's WSGI handler, with the session of a
verified user and a CSRF token, so that the authenticated paths are exercised too.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.test import Client
from hypothesis import HealthCheck, given, settings

from rupt_guard.gate.lifecycle import hold_session
from rupt_guard.gate.mark import mark_passed
from rupt_guard.models import Device
from rupt_guard.testing import login_verified

OPERATIONS = [
    ("GET", "/api/rupt-guard/login/"),
    ("POST", "/api/rupt-guard/login/"),
    ("POST", "/api/rupt-guard/challenge/send/"),
    ("POST", "/api/rupt-guard/challenge/verify/"),
    ("GET", "/api/rupt-guard/devices/"),
    ("GET", "/api/rupt-guard/devices/{id}/"),
    ("PATCH", "/api/rupt-guard/devices/{id}/"),
    ("POST", "/api/rupt-guard/devices/{id}/revoke/"),
    ("POST", "/api/rupt-guard/reauthenticate/"),
    ("POST", "/api/rupt-guard/reauthenticate/send/"),
    ("GET", "/api/rupt-guard/personal-data/"),
    ("GET", "/api/rupt-guard/stats/"),
    ("GET", "/api/rupt-guard/factors/"),
    ("POST", "/api/rupt-guard/factors/totp/"),
    ("POST", "/api/rupt-guard/factors/totp/confirm/"),
    ("POST", "/api/rupt-guard/factors/backup-codes/"),
    ("GET", "/api/rupt-guard/factors/{persistent_id}/"),
    ("DELETE", "/api/rupt-guard/factors/{persistent_id}/"),
]


@pytest.fixture
def api_schema(db, rupt_server):
    # schemathesis' own pytest plugin (from_fixture) does not run on pytest 9 yet, so the
    # operations are driven with Hypothesis directly from schemathesis' strategies.
    # Like Django's test client, keep the WSGI handler from closing the test's database
    # connection at the end of each request (it would end the test transaction).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def signed_in(pending: bool) -> dict:
    """Cookies and headers of a session that passed the gate (or waits at the challenge)."""
    user = get_user_model().objects.create_user("fuzz", "fuzz@example.com", "fuzz-password")
    device = Device.objects.create(user=user, external_id="fuzz-device")
    client = Client()
    login_verified(client, user)
    session = client.session
    if pending:
        hold_session(session, device=device.pk)
    else:
        # A factor verified just now: the factor changes run, not only their step-up refusal.
        mark_passed(session, device=device.pk, factor=True)
    session.save()
    request = HttpRequest()
    csrf_token = get_token(request)
    return {
        "headers": {"X-CSRFToken": csrf_token},
        "cookies": {"sessionid": session.session_key, "csrftoken": request.META["CSRF_COOKIE"]},
    }


def test_the_fuzzed_operations_are_all_of_rupt_guards(client, db):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    documented = {
        (method.upper(), path)
        for path, item in paths.items()
        if path.startswith("/api/rupt-guard/")
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert documented == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_generated_request_answers_500(api_schema, guard_settings_override, method, path):
    guard_settings_override(API_THROTTLE_RATES={})
    # The challenge endpoints are exercised by a pending session, the rest by a verified one.
    session = signed_in(pending="/challenge/" in path)
    operation = api_schema[path][method]
    statuses: list[int] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def send(case):
        response = case.call(**session)
        statuses.append(response.status_code)
        assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])

    send()
    assert statuses, "no request was generated"
