"""Bounded admin pages: the count of a long list stops at a limit (or is the planner's
estimate), the pages offered stay within it, a page is found by its keys first, and the
"Why?" page of an action over a whole filtered list neither counts nor lists every row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.paginator import EmptyPage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rupt_guard import admin_actions
from rupt_guard.admin import DeviceAdmin
from rupt_guard.admin_paging import AT_LEAST, ESTIMATE, EXACT, BoundedPaginator
from rupt_guard.models import Device, LoginCheck
from rupt_guard.testing import login_verified

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db

User = get_user_model()

DEVICES = "/admin/rupt_guard/device/"
CHECKS = "/admin/rupt_guard/logincheck/"


@pytest.fixture
def superuser(client):
    staff = User.objects.create_superuser("staff", "staff@example.com", PASSWORD)
    login_verified(client, staff)
    return staff


@pytest.fixture
def twelve_devices(user):
    now = timezone.now()
    return [
        Device.objects.create(
            user=user, external_id=f"dev-{i:02}", last_seen_at=now - timedelta(hours=i)
        )
        for i in range(12)
    ]


@pytest.fixture
def small_limit(monkeypatch):
    """A count limit of 5 and pages of 2 rows: 12 devices make a long list."""
    monkeypatch.setattr(BoundedPaginator, "count_limit", 5)
    monkeypatch.setattr(DeviceAdmin, "list_per_page", 2)
    # No planner estimate either, so that SQLite and PostgreSQL say the same.
    monkeypatch.setattr(BoundedPaginator, "_planner_estimate", lambda self: None)


def devices_paginator(per_page=2):
    return BoundedPaginator(Device.objects.order_by("-last_seen_at", "-pk"), per_page)


def test_a_short_list_is_counted_exactly(twelve_devices):
    paginator = devices_paginator()
    assert (paginator.count, paginator.count_kind) == (12, EXACT)
    assert paginator.num_pages == 6
    assert not paginator.is_bounded
    assert paginator.describe_count() == "12"


def test_a_long_list_is_counted_up_to_the_limit_and_offers_its_pages_only(
    twelve_devices, small_limit
):
    paginator = devices_paginator()
    assert paginator.count_kind == AT_LEAST
    assert paginator.count == 6  # count_limit + 1: "more than 5"
    assert paginator.is_bounded
    assert paginator.describe_count() == "more than 5"
    # Pages within the first five rows only: the deepest OFFSET stays within the limit.
    assert paginator.num_pages == 2
    assert [device.external_id for device in paginator.page(2)] == ["dev-02", "dev-03"]
    with pytest.raises(EmptyPage):
        paginator.page(3)


def test_the_count_reads_a_limited_ordered_subquery(twelve_devices, small_limit):
    with CaptureQueriesContext(connection) as queries:
        devices_paginator().count  # noqa: B018
    # (PostgreSQL first reads the table's size from its statistics: too small to use.)
    (count,) = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert "LIMIT 6" in count
    assert "ORDER BY" in count  # the list's own index serves it


def test_a_long_list_beyond_the_limit_takes_the_planners_estimate(
    twelve_devices, small_limit, monkeypatch
):
    monkeypatch.setattr(BoundedPaginator, "_planner_estimate", lambda self: 1_234_567)
    paginator = devices_paginator()
    assert (paginator.count, paginator.count_kind) == (1_234_567, ESTIMATE)
    assert paginator.describe_count() == "about 1234567"
    assert paginator.num_pages == 2


@pytest.mark.postgres
def test_the_planners_estimate_of_a_filtered_list_on_postgres(twelve_devices):
    # (No ANALYZE here: it would leave its row count behind, outside the transaction.)
    paginator = BoundedPaginator(Device.objects.filter(external_id__startswith="dev-"), 2)
    assert isinstance(paginator._planner_estimate(), int)


def test_only_postgres_gives_an_estimate(twelve_devices):
    estimates = (devices_paginator()._planner_estimate(), devices_paginator()._table_estimate())
    if connection.vendor == "postgresql":
        # The table's own count needs statistics (ANALYZE): its test is the planner one.
        assert isinstance(estimates[0], int), estimates
    else:
        assert estimates == (None, None)


def test_the_list_says_how_far_it_was_counted_and_how_to_see_the_rest(
    client, superuser, twelve_devices, small_limit
):
    response = client.get(DEVICES)
    text = response.content.decode()
    assert "more than 5 devices" in text
    assert "the pages show the first 5: filter or search to find the others" in text
    # "Select all" says what it selects, and so does the note once it is clicked.
    assert "Select all devices (more than 5)" in text
    assert response.context["selection_note_all"] == "All devices selected (more than 5)"
    # A page past the limit is not offered: Django's admin answers with its error page.
    deep = client.get(DEVICES, {"p": "3"})
    assert deep.status_code == 302
    assert deep.url.endswith("?e=1")


def test_a_search_says_how_far_it_was_counted(client, superuser, twelve_devices, small_limit):
    response = client.get(DEVICES, {"q": "dev-"})
    assert "more than 5 results" in response.content.decode()


def test_an_exact_count_reads_as_django_writes_it(client, superuser, twelve_devices):
    text = client.get(DEVICES, {"q": "dev-0"}).content.decode()
    assert "10 results" in text
    assert "10 devices" in text
    assert "the pages show" not in text


def test_a_page_is_found_by_its_keys_then_its_rows_are_joined(client, superuser, user):
    LoginCheck.objects.bulk_create(
        LoginCheck(user=user, source="form", decision="allow", reason="verified_device")
        for _ in range(3)
    )
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHECKS, {"decision__exact": "allow"})
    assert len(response.context["cl"].result_list) == 3
    selects = [q["sql"] for q in queries.captured_queries if "rupt_guard_logincheck" in q["sql"]]
    (keys,) = [sql for sql in selects if 'AS "pk"' in sql]
    assert "JOIN" not in keys  # the page on the check table and its index alone
    (rows,) = [sql for sql in selects if "auth_user" in sql and "JOIN" in sql]
    assert '"rupt_guard_logincheck"."id" IN (' in rows


def test_an_action_over_a_whole_long_list_neither_counts_nor_lists_every_row(
    client, superuser, twelve_devices, monkeypatch
):
    monkeypatch.setattr(admin_actions, "REASON_PAGE_COUNT_LIMIT", 5)
    monkeypatch.setattr(admin_actions, "REASON_PAGE_ROWS", 3)
    selected = {
        "action": "block",
        "select_across": "1",
        "index": "0",
        "_selected_action": [device.pk for device in twelve_devices[:2]],
    }
    asked = client.post(DEVICES, selected)
    text = asked.content.decode()
    assert "This applies to more than 5 selected rows:" in text
    assert text.count('name="_selected_action"') == 3
    assert 'name="select_across" value="1"' in text

    form = {
        "action": "block",
        "select_across": "1",
        "_selected_action": [device.pk for device in twelve_devices[:3]],
        "apply": "1",
        "reason": "ticket 7: a stolen laptop bag",
    }
    response = client.post(DEVICES, form, follow=True)
    assert response.status_code == 200
    # Across every page: all twelve, not the three posted back.
    assert not Device.objects.filter(blocked_at__isnull=True).exists()


def test_an_action_on_a_few_rows_counts_them_exactly(client, superuser, twelve_devices):
    selected = {"action": "block", "index": "0", "_selected_action": [twelve_devices[0].pk]}
    text = client.post(DEVICES, selected).content.decode()
    assert "This applies to 1 selected row:" in text
    assert text.count('name="_selected_action"') == 1
