"""Recording sightings: one row per (user, device), also when logins race."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import QuerySet

from rupt_guard.client import ClientInfo, clean_ip, clean_user_agent
from rupt_guard.models import Device
from rupt_guard.trust import sightings
from rupt_guard.trust.sightings import record_sighting


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("alice", "alice@example.com", "pw")


@pytest.fixture(params=["upsert", "select_then_write"])
def write_path(request, monkeypatch):
    """PostgreSQL and SQLite write a sighting in one statement; other databases read, then
    update or insert. Both keep the guarantees."""
    if request.param == "select_then_write":
        monkeypatch.setattr(sightings, "_upserts", lambda db: False)
    return request.param


def test_a_known_device_is_one_statement_where_the_database_has_it(user, django_assert_num_queries):
    record_sighting(user, "dev1", client=ClientInfo())
    with django_assert_num_queries(1):
        record_sighting(user, "dev1", client=ClientInfo("10.0.0.9", "UA"))
    with django_assert_num_queries(2):  # a new device: the UPDATE finds none, then INSERT
        _, created = record_sighting(user, "dev2", client=ClientInfo())
    assert created


def test_first_sighting_creates_later_ones_refresh(user, write_path):
    device, created = record_sighting(user, "dev1", client=ClientInfo("10.0.0.1", "UA/1"))
    assert created
    again, created_again = record_sighting(
        user, "dev1", client=ClientInfo("10.0.0.2", "UA/2"), metadata={"k": ["v"]}
    )
    assert not created_again
    assert again.pk == device.pk
    row = Device.objects.get()
    assert (row.last_ip, row.last_user_agent, row.metadata) == ("10.0.0.2", "UA/2", {"k": ["v"]})
    assert row.first_seen_at == device.first_seen_at
    assert row.last_seen_at > device.first_seen_at


def test_same_device_id_on_two_accounts_is_two_rows(user):
    bob = get_user_model().objects.create_user("bob", "bob@example.com", "pw")
    record_sighting(user, "dev1", client=ClientInfo())
    record_sighting(bob, "dev1", client=ClientInfo())
    assert Device.objects.filter(external_id="dev1").count() == 2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("203.0.113.9", "203.0.113.9"), (" ::1 ", "::1"), ("not an ip", None), (None, None)],
)
def test_ip_is_cleaned(raw, expected):
    assert clean_ip(raw) == expected


def test_user_agent_is_cleaned_to_fit_the_column(user):
    agent = clean_user_agent("Mozilla\x00" + "x" * 5000)
    assert "\x00" not in agent
    assert len(agent) == 512
    record_sighting(user, "dev1", client=ClientInfo(None, agent))
    assert Device.objects.get().last_user_agent == agent


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_sightings_of_a_new_device_make_one_row(write_path):
    user = get_user_model().objects.create_user("racer", "r@example.com", "pw")
    rounds, threads_per_round = 10, 4
    outcomes: list[bool] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def sight(device_id: str, barrier: threading.Barrier) -> None:
        try:
            barrier.wait()
            _, created = record_sighting(user, device_id, client=ClientInfo("127.0.0.1", "t"))
            with lock:
                outcomes.append(created)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    for round_no in range(rounds):
        barrier = threading.Barrier(threads_per_round)
        workers = [
            threading.Thread(target=sight, args=(f"dev{round_no}", barrier))
            for _ in range(threads_per_round)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    assert errors == []
    assert Device.objects.filter(user=user).count() == rounds
    assert outcomes.count(True) == rounds
    assert outcomes.count(False) == rounds * (threads_per_round - 1)


def test_a_device_deleted_between_select_and_update_is_created_again(user, monkeypatch):
    # rupt_guard_prune may delete a long-unseen device while its owner signs in (on the
    # read-then-write path; the upsert has no gap between its read and its write).
    monkeypatch.setattr(sightings, "_upserts", lambda db: False)
    record_sighting(user, "dev1", client=ClientInfo())
    real_first = QuerySet.first

    def first_then_pruned(queryset):
        found = real_first(queryset)
        if found is not None and queryset.model is Device:
            Device.objects.filter(pk=found.pk).delete()  # the prune wins the race
        return found

    monkeypatch.setattr(QuerySet, "first", first_then_pruned)
    _, created = record_sighting(user, "dev1", client=ClientInfo("10.0.0.3", "UA"))
    monkeypatch.undo()
    assert created
    assert list(Device.objects.values_list("external_id", "last_ip")) == [("dev1", "10.0.0.3")]
