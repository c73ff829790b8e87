"""``manage.py rupt_guard_stats`` and the API's ``stats/``: the dashboard's figures as JSON."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command

from rupt_guard.testing import login_verified

from .conftest import PASSWORD
from .dashboard_data import EXPECTED, seed

pytestmark = pytest.mark.django_db

STATS = "/api/rupt-guard/stats/"


def run(*args: str) -> str:
    out = StringIO()
    call_command("rupt_guard_stats", *args, stdout=out)
    return out.getvalue()


def test_json_counts_by_decision_and_reason(user):
    seed(user)
    data = json.loads(run("--json"))
    assert set(data["periods"]) == {"24h", "7d", "30d"}
    for key, expected in EXPECTED.items():
        period = data["periods"][key]
        assert period["decisions"] == expected["decisions"]
        assert set(period["decisions"]) == {"allow", "challenge", "block"}
        assert period["reasons"]["new_device"] >= 1
        assert period["without_token"]["count"] == expected["without_token"]
        assert period["provider"]["errors"] == expected["provider_error"]
    assert data["breaker"]["state"] == "closed"


def test_text_lines(user):
    seed(user)
    out = run()
    assert "24h: 5 sign-ins: 1 allowed, 4 challenged, 0 blocked" in out
    assert "provider errors 2 of 4 (50.0%)" in out
    assert "breaker: closed" in out


def test_an_empty_site(db):
    data = json.loads(run("--json"))
    day = data["periods"]["24h"]
    assert day["sign_ins"] == 0
    assert day["provider"]["p50_ms"] is None
    assert day["challenges"]["median_seconds_to_pass"] is None


def _staff(*codenames: str):
    user = get_user_model().objects.create_user("ops", "ops@example.com", PASSWORD, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="rupt_guard", codename__in=codenames)
    )
    return user


def test_the_api_gives_the_same_figures(client, user):
    seed(user)
    login_verified(client, _staff("view_logincheck"))
    response = client.get(STATS)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    api = response.json()
    command = json.loads(run("--json"))
    for key in ("24h", "7d", "30d"):
        assert api["periods"][key]["decisions"] == command["periods"][key]["decisions"]
        assert api["periods"][key]["reasons"] == command["periods"][key]["reasons"]


def test_the_api_needs_the_permission(client, db):
    assert client.get(STATS).status_code == 403  # anonymous
    login_verified(client, _staff("view_device"))
    assert client.get(STATS).status_code == 403
