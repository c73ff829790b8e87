"""The admin's and the devices page's queries, as PostgreSQL plans them on tables of a
realistic size with fresh statistics: no sequential scan of rupt_guard's tables or of the
user table on any list, filter, search, sort or deep page the admin offers.

Each page is requested for real (Django's test client, as a superuser or as the owner of
thousands of devices), and every SELECT it ran goes through EXPLAIN ANALYZE. The one scan
allowed is one a LIMIT stopped after a few rows (the first hundred of the accounts a short
prefix matches). The rows are shaped like a site's: the audit tables appended in time
order, a few blocked devices, a few provider errors, most trust events verifications.
No timing: speed is the benchmarks' business, a plan is what a test can hold steady.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from rupt_guard.choices import CheckSource, Decision, ErrorReason, Reason, TrustAction
from rupt_guard.models import Device, DeviceSession, LoginCheck, TrustEvent
from rupt_guard.testing import login_verified
from rupt_guard.views.devices import DEVICES_PER_PAGE

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

User = get_user_model()

USERS = 50_000
DEVICES = 60_000
CHECKS = 150_000
EVENTS = 60_000
SESSIONS = 10_000
# The account whose devices page is read: it owns the first MANY_DEVICES devices.
MANY_DEVICES = 3_000

TABLES = re.compile(r"^(rupt_guard_\w+|auth_user)$")
# A sequential scan a LIMIT stopped within this share of its table is not reading the
# table: the planner chose it because the matches are dense (a prefix 2% of the
# accounts share), and it stops after LIMIT / density rows, whatever the table's size.
EARLY_STOP_SHARE = 0.1


ANALYSED = (User, Device, LoginCheck, TrustEvent, DeviceSession)


def _fill(model: Any, rows: int, columns: dict[str, str]) -> None:
    """INSERT ``rows`` rows of ``model`` in one statement: ``columns`` maps a column to a
    SQL expression of ``g`` (1..rows); every other NOT NULL column takes its field's
    default, so a column added later needs no change here."""
    exprs, params = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.column in columns:
            continue
        if field.null:
            continue
        exprs.append((field.column, "%s"))
        params.append(field.get_db_prep_save(field.get_default(), connection))
    names = [*columns, *(name for name, _expr in exprs)]
    # The defaults are parameters: a literal % in an expression must be doubled.
    values = [*(v.replace("%", "%%") for v in columns.values()), *(e for _n, e in exprs)]
    table = model._meta.db_table
    sql = (
        f"INSERT INTO {table} ({', '.join(names)}) "  # noqa: S608 - names from _meta
        f"SELECT {', '.join(values)} FROM generate_series(1, {rows}) AS g"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _one_of(values: list[str], expr: str) -> str:
    """A SQL CASE picking ``values[expr % len(values)]``."""
    whens = " ".join(f"WHEN {i} THEN '{value}'" for i, value in enumerate(values))
    return f"(CASE ({expr}) % {len(values)} {whens} END)"


def _first_id(model: Any) -> int:
    return model.objects.order_by("pk").values_list("pk", flat=True).first()


@pytest.fixture(scope="module")
def big_site(django_db_setup, django_db_blocker):
    """A site of realistic shape: many users, devices, checks, events and sessions, with
    the owner of MANY_DEVICES devices; analysed, as autovacuum keeps a real site. Built
    once for the module in a transaction of its own, rolled back at the end; each test
    runs in a savepoint inside it."""
    with django_db_blocker.unblock():
        with transaction.atomic():
            yield _build_big_site()
            transaction.set_rollback(True)
        # ANALYZE wrote the row counts in place, outside the transaction: count again, or
        # the next tests would take 200,000 rows for the planner's estimate.
        with connection.cursor() as cursor:
            for model in ANALYSED:
                cursor.execute(f"ANALYZE {model._meta.db_table}")


def _build_big_site() -> dict[str, Any]:
    _fill(
        User,
        USERS,
        {
            "username": "'user' || g",
            "email": "'user' || g || '@example.com'",
            "password": "'!'",
            "is_active": "true",
            "date_joined": "now() - g * interval '1 minute'",
        },
    )
    user_0 = _first_id(User)
    owner_of_many = user_0  # the first user, "user1"
    _fill(
        Device,
        DEVICES,
        {
            "user_id": f"CASE WHEN g <= {MANY_DEVICES} THEN {owner_of_many} "
            f"ELSE {user_0} + (g::bigint * 7919) % {USERS} END",
            "external_id": "md5(g::text)",
            "last_seen_at": "now() - ((g * 37) % 525600) * interval '1 minute'",
            "first_seen_at": "now() - ((g * 37) % 525600 + 43200) * interval '1 minute'",
            # A few verified: the filter on the rarer side is the one an index must serve
            # (rupt_guard_dev_unverified is the same index for the other side).
            "verified_at": "CASE WHEN g % 20 = 0 THEN now() - interval '1 day' END",
            "blocked_at": "CASE WHEN g % 500 = 0 THEN now() - interval '1 day' END",
            "last_user_agent": "'Mozilla/5.0 (X11; Linux x86_64) Firefox/' || (100 + g % 30)",
        },
    )
    device_0 = _first_id(Device)
    _fill(
        LoginCheck,
        CHECKS,
        {
            "user_id": f"{user_0} + (g::bigint * 7919) % {USERS}",
            "device_id": f"{device_0} + (g * 7) % {DEVICES}",
            # Appended in time order over 30 days, as an audit table is.
            "created_at": f"now() - ({CHECKS} - g) * interval '13 seconds'",
            # Mostly the login form; some API sign-ins; a few through other paths.
            "source": _one_of(
                [CheckSource.FORM] * 96 + [CheckSource.API] * 3 + [CheckSource.LOGIN], "g"
            ),
            "decision": _one_of([Decision.ALLOW] * 16 + [Decision.CHALLENGE] * 3 + ["block"], "g"),
            "reason": _one_of(list(Reason.values), "g / 3"),
            "provider_error": "CASE WHEN g % 50 = 0 THEN "
            + _one_of(list(ErrorReason.values), "g / 50")
            + " ELSE '' END",
        },
    )
    _fill(
        TrustEvent,
        EVENTS,
        {
            "user_id": f"{user_0} + (g::bigint * 7919) % {USERS}",
            "device_id": f"{device_0} + (g * 13) % {DEVICES}",
            # Mostly verifications, as on a real site; every action has rows.
            "action": _one_of([TrustAction.DEVICE_VERIFIED] * 8 + list(TrustAction.values), "g"),
            "created_at": f"now() - ({EVENTS} - g) * interval '1 minute'",
        },
    )
    _fill(
        DeviceSession,
        SESSIONS,
        {
            "device_id": f"{device_0} + (g * 5) % {DEVICES}",
            "session_key": "'bench-' || g",
            "created_at": "now() - (g % 1440) * interval '1 minute'",
            "expires_at": "now() + (g % 1440) * interval '1 minute'",
        },
    )
    with connection.cursor() as cursor:
        for model in ANALYSED:
            cursor.execute(f"ANALYZE {model._meta.db_table}")
        # Check the foreign keys now (Django defers them to the commit, which never comes,
        # and a table with checks pending cannot be indexed). After ANALYZE: each check's
        # plan is made once, from the statistics of the moment.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    return {
        "owner": User.objects.get(pk=owner_of_many),
        "device": Device.objects.filter(user_id=owner_of_many).first(),
    }


def plans(client, url: str) -> list[tuple[str, dict]]:
    """(SQL, plan as run) of every SELECT the page ``url`` runs."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    found = []
    for query in queries.captured_queries:
        sql = query["sql"]
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
            (plan,) = cursor.fetchone()[0]
        found.append((sql, plan["Plan"]))
    return found


def rows_read(node: dict) -> int:
    """The rows a scan node read: those it returned and those its conditions threw away,
    over all its loops (EXPLAIN ANALYZE gives per-loop averages)."""
    per_loop = (
        node.get("Actual Rows", 0)
        + node.get("Rows Removed by Filter", 0)
        + node.get("Rows Removed by Index Recheck", 0)
    )
    return per_loop * node.get("Actual Loops", 1)


def table_rows(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [table])
        return int(cursor.fetchone()[0])


def seq_scans(node: dict, parent: dict | None = None) -> list[str]:
    """The sequential scans of our tables (and of the user table) in a plan as run, but for
    one a LIMIT stopped early (the beginning of a name thousands share: any hundred of
    them will do)."""
    found = []
    table = node.get("Relation Name", "")
    if node["Node Type"] == "Seq Scan" and TABLES.match(table):
        read = rows_read(node)
        stopped = parent is not None and parent["Node Type"] == "Limit"
        if not (stopped and read <= EARLY_STOP_SHARE * table_rows(table)):
            found.append(f"Seq Scan on {table} read {read} rows")
    for child in node.get("Plans", []):
        found += seq_scans(child, node)
    return found


def assert_no_seq_scan(client, urls: list[str]) -> None:
    failures = []
    for url in urls:
        for sql, plan in plans(client, url):
            scans = seq_scans(plan)
            if scans:
                failures.append(f"{url}\n{sql}\n{scans}\n{json.dumps(plan, indent=1)}")
    assert not failures, "\n\n".join(failures)


def query(**params: str) -> str:
    return f"?{urlencode(params)}" if params else ""


def device_admin_urls(device: Device) -> list[str]:
    base = "/admin/rupt_guard/device/"
    urls = [
        base + query(**params)
        for params in (
            {},
            {"verified": "yes"},
            {"verified": "no"},
            {"blocked": "yes"},
            {"blocked": "no"},
            {"seen": "24h"},
            {"seen": "7d"},
            {"seen": "30d"},
            {"verified": "yes", "blocked": "no"},
            {"verified": "no", "seen": "7d"},
            {"blocked": "yes", "seen": "30d"},
            {"o": "5"},  # last seen, ascending
            {"p": "100"},  # the deepest page offered
            {"verified": "no", "p": "100"},
            {"q": "user123"},  # a username, and the beginning of ten others
            {"q": "user1"},  # the beginning of thousands: a hundred of them
            {"q": "USER42"},
            {"q": device.external_id},
            {"q": device.external_id[:6]},
            {"q": "nothing-like-this"},
            {"q": "user77", "verified": "yes"},
        )
    ]
    return [*urls, f"{base}{device.pk}/change/"]  # with its newest login checks


def login_check_admin_urls() -> list[str]:
    filters: list[dict[str, str]] = [{}]
    filters += [{"decision__exact": value} for value in Decision.values]
    filters += [{"reason__exact": value} for value in Reason.values]
    filters += [{"source__exact": value} for value in CheckSource.values]
    filters += [{"provider_error__exact": value} for value in ErrorReason.values]
    filters += [
        {"decision__exact": Decision.CHALLENGE, "source__exact": CheckSource.API},
        {"decision__exact": Decision.BLOCK, "source__exact": CheckSource.API},  # none
        {"q": "user123"},
        {"q": "user123", "decision__exact": Decision.CHALLENGE},
        {"o": "0"},  # time, ascending
        {"p": "100"},
        {"source__exact": CheckSource.FORM, "p": "100"},
    ]
    return ["/admin/rupt_guard/logincheck/" + query(**params) for params in filters]


def trust_event_admin_urls() -> list[str]:
    filters: list[dict[str, str]] = [{}, {"q": "user123"}, {"p": "100"}]
    filters += [{"action__exact": value} for value in TrustAction.values]
    return ["/admin/rupt_guard/trustevent/" + query(**params) for params in filters]


def test_no_page_scans_a_table(client, big_site):
    """Every list, filter, search, sort and deep page of the admin, a device's page, and
    the devices page of a user with thousands of devices."""
    staff = User.objects.create_superuser("staff", "staff@example.com", "x")
    login_verified(client, staff)
    assert_no_seq_scan(
        client,
        [
            *device_admin_urls(big_site["device"]),
            *login_check_admin_urls(),
            *trust_event_admin_urls(),
        ],
    )

    login_verified(client, big_site["owner"])
    last = -(-MANY_DEVICES // DEVICES_PER_PAGE)
    pages = ["", "?page=50", f"?page={last}"]
    assert_no_seq_scan(client, [f"/rupt-guard/devices/{page}" for page in pages])


# The trigram indexes the README gives for DeviceAdmin.substring_search.
TRIGRAM_INDEXES = [
    "CREATE INDEX rupt_guard_dev_external_trgm ON rupt_guard_device "
    "USING gin (UPPER(external_id::text) gin_trgm_ops)",
    "CREATE INDEX auth_user_username_trgm ON auth_user "
    "USING gin (UPPER(username::text) gin_trgm_ops)",
    "CREATE INDEX auth_user_email_trgm ON auth_user USING gin (UPPER(email::text) gin_trgm_ops)",
]


def test_substring_search_uses_the_trigram_indexes_of_the_readme(client, big_site, monkeypatch):
    from rupt_guard.admin import DeviceAdmin

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        if cursor.fetchone() is None:
            pytest.skip("pg_trgm is not installed on this PostgreSQL server")
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for sql in TRIGRAM_INDEXES:
            cursor.execute(sql)
        cursor.execute("ANALYZE rupt_guard_device, auth_user")
    monkeypatch.setattr(DeviceAdmin, "substring_search", True)
    staff = User.objects.create_superuser("staff", "staff@example.com", "x")
    login_verified(client, staff)
    device = big_site["device"]
    terms = ["ser123", "123@example", device.external_id[5:15], "nothing-like-this", "us"]
    urls = [f"/admin/rupt_guard/device/{query(q=term)}" for term in terms]
    assert_no_seq_scan(client, urls)
    found = client.get(urls[2]).context["cl"].result_list
    assert device in found
