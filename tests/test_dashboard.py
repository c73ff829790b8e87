"""The admin's dashboard and its figures: checks seeded across 30 days with known counts
(``tests/dashboard_data.py``), read through the page, its tables and the JSON; the rollup
that keeps them cheap; who may see them; and a fixed number of queries whatever the rows."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rupt_guard.choices import ChallengeResult, CheckSource, Decision, Reason
from rupt_guard.models import CheckHistogram, CheckHour, Device, LoginCheck, RollupState
from rupt_guard.providers import breaker
from rupt_guard.stats import figures, rollup
from rupt_guard.testing import login_verified

from .conftest import PASSWORD
from .dashboard_data import EXPECTED, seed

pytestmark = pytest.mark.django_db

User = get_user_model()
DASHBOARD = "/admin/rupt_guard/dashboard/"


def staff(username: str, *codenames: str):
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="rupt_guard", codename__in=codenames)
    )
    return user


@pytest.fixture
def viewer(client):
    user = staff("viewer", "view_logincheck")
    login_verified(client, user)
    return user


def cells(html: str, caption: str) -> list[list[str]]:
    """The rows of the table with this caption, as text."""
    table = re.search(rf"<caption[^>]*>{re.escape(caption)}</caption>(.*?)</table>", html, re.S)
    assert table, caption
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in rows
    ]


@pytest.mark.parametrize("period", ["24h", "7d", "30d"])
def test_the_json_figures_of_each_period(user, period):
    now = seed(user)
    data = figures.as_json(now)["periods"][period]
    expected = EXPECTED[period]
    assert data["sign_ins"] == expected["sign_ins"]
    assert data["decisions"] == expected["decisions"]
    assert sum(data["reasons"].values()) == expected["sign_ins"]
    assert data["reasons"]["provider_error"] == expected["provider_error"]
    assert data["without_token"]["count"] == expected["without_token"]
    assert data["provider"]["asked"] == expected["asked"]
    assert data["provider"]["errors"] == expected["provider_error"]
    assert data["provider"]["errors_by_kind"]["breaker_open"] == 1
    assert data["provider"]["errors_by_kind"]["timeout"] == 1
    assert data["provider"]["p50_ms"] == expected["p50_ms"]
    assert data["provider"]["p95_ms"] == expected["p95_ms"]
    challenges = data["challenges"]
    for outcome in ("passed", "given_up", "expired", "pending"):
        assert challenges[outcome] == expected[outcome], outcome
    assert challenges["owner_emailed_after_wrong_codes"] == expected["wrong_codes"]
    assert challenges["median_seconds_to_pass"] == expected["median_to_pass"]
    assert data["new_devices"]["count"] == expected["new_devices"]
    assert data["new_devices"]["verified"] == expected["verified_devices"]
    assert (
        sum(s["allow"] + s["challenge"] + s["block"] for s in data["series"])
        == (expected["sign_ins"])
    )
    assert len(data["series"]) == figures.PERIODS[period].slots


def test_the_browsers_reasons_and_the_rates(user):
    now = seed(user)
    day = figures.as_json(now)["periods"]["24h"]
    assert day["without_token"]["by_browser_reason"]["not_given"] == 1
    assert day["without_token"]["rate"] == 0.2  # 1 of 5
    assert day["provider"]["error_rate"] == 0.5  # 2 of the 4 with a token
    month = figures.as_json(now)["periods"]["30d"]
    assert month["without_token"]["by_browser_reason"]["sdk_unavailable"] == 27


def test_the_page_shows_the_figures_in_its_tables(client, viewer, user):
    seed(user)
    response = client.get(DASHBOARD, {"period": "7d"})
    assert response.status_code == 200
    html = response.content.decode()
    expected = EXPECTED["7d"]
    decisions = cells(html, "Sign-ins by decision")[1:]  # after the header row
    assert len(decisions) == 7
    assert sum(int(row[4]) for row in decisions) == expected["sign_ins"]
    assert sum(int(row[3]) for row in decisions) == expected["decisions"]["block"]
    outcomes = dict(tuple(row) for row in cells(html, "Challenge outcomes")[1:])
    assert outcomes["Passed"] == str(expected["passed"])
    assert outcomes["Expired unanswered"] == str(expected["expired"])
    assert outcomes["Owner emailed after wrong codes"] == "1"
    assert outcomes["Median time to pass"] == "at most 60 s"
    why = {
        (row[0], row[1]): row[2:] for row in cells(html, "Reasons behind challenges and blocks")[1:]
    }
    assert why[("Blocked device", "—")] == ["0", "5"]
    assert why[("No identification token", "SDK could not load (blocked, CSP, network)")] == [
        "5",
        "0",
    ]
    assert why[("Identification service failed", "Not called: circuit breaker open")] == ["1", "0"]
    devices = cells(html, "New devices and how many are verified")[1:]
    assert sum(int(row[1]) for row in devices) == expected["new_devices"]
    assert "at most 100 ms" in html and "at most 300 ms" in html
    # The charts: images with a name and a description, no inline style or script.
    assert html.count('role="img"') == 4
    assert 'aria-labelledby="rupt-guard-decisions-title rupt-guard-decisions-desc"' in html
    assert "style=" not in html.split('id="content-main"')[1]
    assert "<script" not in html.split('id="content-main"')[1]


def test_each_period_has_its_bars(client, viewer, user):
    seed(user)
    for period, slots in (("24h", 24), ("30d", 30), ("nonsense", 7)):
        html = client.get(DASHBOARD, {"period": period}).content.decode()
        assert len(cells(html, "Sign-ins by decision")) == slots + 1, period
        assert 'aria-current="page"' in html


def test_the_breakers_state_and_latest_openings(client, viewer, user, guard_settings_override):
    guard_settings_override(BREAKER_FAILURES=1)
    permit = breaker.permit()
    breaker.record(permit, outage=True)
    html = client.get(DASHBOARD).content.decode()
    assert "open: no calls, ON_PROVIDER_ERROR decides" in html
    assert html.count("<time datetime=") == 1
    data = figures.as_json()
    assert data["breaker"]["state"] == "open"
    assert len(data["breaker"]["openings"]) == 1


def test_the_app_index_links_to_it(client, viewer):
    html = client.get("/admin/").content.decode()
    assert f'href="{DASHBOARD}"' in html
    assert ">Dashboard<" in html


def test_staff_without_the_permission_get_403(client):
    login_verified(client, staff("other", "view_device"))
    assert client.get(DASHBOARD).status_code == 403
    assert f'href="{DASHBOARD}"' not in client.get("/admin/").content.decode()


def test_anonymous_are_sent_to_the_login(client):
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_only_the_dashboard_page_exists(client, viewer):
    assert client.get(DASHBOARD + "add/").status_code == 404
    assert client.get(DASHBOARD + "1/change/").status_code == 404


def test_a_fixed_number_of_queries_whatever_the_rows(client, viewer, user):
    """Cold (the rollup fills) and warm, with ten times more checks the second time."""
    counted = []
    for repeat in (1, 10):
        LoginCheck.objects.all().delete()
        Device.objects.all().delete()
        CheckHour.objects.all().delete()
        CheckHistogram.objects.all().delete()
        RollupState.objects.all().delete()
        seed(user, repeat=repeat)
        for _round in ("cold", "warm"):
            with CaptureQueriesContext(connection) as queries:
                assert client.get(DASHBOARD, {"period": "30d"}).status_code == 200
            counted.append(len(queries))
    assert counted[0] == counted[2], counted  # cold
    assert counted[1] == counted[3], counted  # warm
    assert counted[1] < counted[0]


# -- the rollup ----------------------------------------------------------------------------


def test_settled_hours_are_rolled_up_once_and_recent_ones_read_live(user):
    now = seed(user)
    figures.load(now)
    rolled = CheckHour.objects.count()
    watermark = RollupState.objects.get().rolled_up_to
    assert watermark == rollup.settled_before(now)
    assert rolled
    # Everything before the watermark (and since the first refresh's start) is in the rollup.
    assert (
        sum(CheckHour.objects.values_list("checks", flat=True))
        == LoginCheck.objects.filter(
            created_at__gte=rollup.floor_hour(now) - timedelta(days=rollup.FIRST_DAYS),
            created_at__lt=watermark,
        ).count()
    )
    figures.load(now)
    assert CheckHour.objects.count() == rolled  # nothing inserted twice
    # An hour later the next hour is rolled up, from the checks, once.
    later = now + timedelta(hours=1)
    figures.load(later)
    assert RollupState.objects.get().rolled_up_to == rollup.settled_before(later)


def test_the_rollup_outlives_pruned_checks(user):
    now = seed(user)
    before = figures.as_json(now)["periods"]["30d"]
    # The prune deletes old checks: the settled hours keep their counts.
    LoginCheck.objects.filter(created_at__lt=now - timedelta(days=2)).delete()
    assert figures.as_json(now)["periods"]["30d"]["decisions"] == before["decisions"]


def test_a_pending_challenge_counts_as_expired_once_it_can_no_longer_pass(user):
    now = timezone.now()
    LoginCheck.objects.create(
        user=user,
        created_at=now - timedelta(minutes=3),
        source=CheckSource.FORM,
        decision=Decision.CHALLENGE,
        reason=Reason.NEW_DEVICE,
        challenge_result=ChallengeResult.PENDING,
    )
    assert figures.as_json(now)["periods"]["24h"]["challenges"]["pending"] == 1
    later = figures.as_json(now + timedelta(hours=2))["periods"]["24h"]["challenges"]
    assert (later["pending"], later["expired"]) == (0, 1)


def test_rollups_older_than_the_keep_are_deleted(user):
    now = timezone.now()
    old = rollup.floor_hour(now) - timedelta(days=rollup.KEEP_DAYS + 1)
    CheckHour.objects.create(
        hour=old,
        decision="allow",
        reason="verified_device",
        with_token=True,
        new_device=False,
        wrong_codes=False,
        checks=3,
    )
    RollupState.objects.create(pk=rollup.ROLLUP_ID, rolled_up_to=old)
    figures.load(now)
    assert not CheckHour.objects.filter(hour=old).exists()


def test_the_page_is_translated(client, viewer, user, settings):
    settings.LANGUAGE_CODE = "fr"
    seed(user)
    html = client.get(DASHBOARD, {"period": "24h"}).content.decode()
    assert "Ce que fait la protection" in html
    assert "Connexions par décision, par heure" in html
    assert "au plus 100 ms" in html
    assert "50,0 %" in html  # the provider error rate, in French figures
