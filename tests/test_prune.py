"""rupt_guard_prune in set form: what happens to the rows that point at deleted ones, the
fixed shape of a batch whatever its size, resuming, rows written while it runs, progress,
the bounded dry run and the step after a sign-in. (The options and the summary lines:
tests/test_commands.py. Speed: the benchmarks, never asserted here.)"""

from __future__ import annotations

import math
import re
import threading
import uuid
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, models, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rupt_guard.choices import TrustAction
from rupt_guard.client import ClientInfo
from rupt_guard.management.commands import rupt_guard_prune
from rupt_guard.models import Device, DeviceSession, LoginCheck, TrustEvent
from rupt_guard.trust import bulk_delete, retention
from rupt_guard.trust.sightings import record_sighting

pytestmark = pytest.mark.django_db

LONG_AGO = timedelta(days=400)  # past both default retentions (180 and 365 days)


def run_prune(*args):
    out = StringIO()
    call_command("rupt_guard_prune", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("alice", "alice@example.com", "pw")


def check(user, *, age=timedelta(0), device=None):
    return LoginCheck.objects.create(
        user=user,
        device=device,
        created_at=timezone.now() - age,
        source="login",
        decision="allow",
        reason="verified_device",
    )


def device(user, *, age=timedelta(0), blocked=False):
    seen = timezone.now() - age
    return Device.objects.create(
        user=user,
        external_id=uuid.uuid4().hex,
        last_seen_at=seen,
        blocked_at=seen if blocked else None,
    )


def session(*, device=None, sign_in=None):
    return DeviceSession.objects.create(
        device=device,
        sign_in=sign_in,
        session_key=uuid.uuid4().hex,
        expires_at=timezone.now() + timedelta(hours=1),  # live: only a cascade deletes it
    )


def snapshot():
    """Every row of the tables a prune touches, references included."""
    return {
        model._meta.label: sorted(model._base_manager.values_list())
        for model in (Device, LoginCheck, DeviceSession, TrustEvent)
    }


def a_bit_of_everything(user):
    """Old and fresh rows pointing at each other every way the models allow."""
    old_device, fresh_device = device(user, age=LONG_AGO), device(user)
    blocked = device(user, age=LONG_AGO, blocked=True)
    old_check = check(user, age=LONG_AGO, device=old_device)
    fresh_check = check(user, device=old_device)
    session(device=old_device, sign_in=fresh_check)
    session(device=fresh_device, sign_in=old_check)
    session(device=blocked, sign_in=old_check)
    session(sign_in=old_check)
    TrustEvent.objects.create(
        user=user, action=TrustAction.DEVICE_VERIFIED, device=old_device, device_label="old"
    )
    TrustEvent.objects.create(user=user, action=TrustAction.DEVICE_BLOCKED, device=blocked)
    return old_device, fresh_device, blocked, old_check, fresh_check


# What happens to the rows that point at deleted ones --------------------------------------


def test_it_leaves_the_database_as_the_orms_delete_would(user):
    a_bit_of_everything(user)
    with transaction.atomic():
        # The ORM's way, with its collector and on_delete in Python, then undone.
        LoginCheck.objects.filter(created_at__lt=timezone.now() - timedelta(days=180)).delete()
        Device.objects.filter(
            last_seen_at__lt=timezone.now() - timedelta(days=365), blocked_at__isnull=True
        ).delete()
        expected = snapshot()
        transaction.set_rollback(True)
    run_prune()
    assert snapshot() == expected


def test_dependants_are_deleted_or_unlinked(user):
    _, fresh_device, blocked, _, fresh_check = a_bit_of_everything(user)
    out = run_prune()
    assert set(Device.objects.values_list("pk", flat=True)) == {fresh_device.pk, blocked.pk}
    assert list(LoginCheck.objects.values_list("pk", "device")) == [(fresh_check.pk, None)]
    # The old device's session went with it; the others lost only their old sign-in.
    assert set(DeviceSession.objects.values_list("device", "sign_in")) == {
        (fresh_device.pk, None),
        (blocked.pk, None),
        (None, None),
    }
    # The audit trail stays, naming the device it no longer links to.
    assert set(TrustEvent.objects.values_list("device", "device_label")) == {
        (None, "old"),
        (blocked.pk, ""),
    }
    assert "set to NULL: 3 rupt_guard.DeviceSession.sign_in;" in out
    assert (
        "; with them 1 rupt_guard.DeviceSession; set to NULL: 1 rupt_guard.LoginCheck.device, "
        "1 rupt_guard.TrustEvent.device;" in out
    )


def test_the_statements_follow_the_models_relations():
    *dependants, own = bulk_delete.statements(Device, "default")
    assert sorted((s.counts, s.clears) for s in dependants) == [
        ("rupt_guard.DeviceSession", False),  # CASCADE
        ("rupt_guard.LoginCheck.device", True),  # SET_NULL
        ("rupt_guard.TrustEvent.device", True),  # SET_NULL
    ]
    assert (own.counts, own.clears) == ("rupt_guard.Device", False)
    *dependants, own = bulk_delete.statements(LoginCheck, "default")
    assert [(s.counts, s.clears) for s in dependants] == [
        ("rupt_guard.DeviceSession.sign_in", True)
    ]


@pytest.mark.parametrize(
    ("on_delete", "refused"),
    [(models.PROTECT, True), (models.SET_DEFAULT, True), (models.DO_NOTHING, False)],
)
def test_an_on_delete_it_cannot_apply_in_set_form_is_refused(monkeypatch, on_delete, refused):
    # A site's own model pointing at Device with PROTECT: refused, never half-applied.
    fk = LoginCheck._meta.get_field("device")
    relation = SimpleNamespace(related_model=LoginCheck, field=fk, on_delete=on_delete)
    monkeypatch.setattr(
        bulk_delete, "_relations", lambda model: [relation] if model is Device else []
    )
    plan = bulk_delete.statements.__wrapped__  # around the cache, which holds the real plan
    if refused:
        with pytest.raises(bulk_delete.NotInSetForm, match=r"rupt_guard\.LoginCheck\.device"):
            plan(Device, "default")
    else:
        assert [s.counts for s in plan(Device, "default")] == ["rupt_guard.Device"]


def test_a_cascade_round_a_cycle_is_refused(monkeypatch):
    fk = DeviceSession._meta.get_field("device")
    relation = SimpleNamespace(related_model=Device, field=fk, on_delete=models.CASCADE)
    monkeypatch.setattr(bulk_delete, "_relations", lambda model: [relation])
    with pytest.raises(bulk_delete.NotInSetForm, match="cascades back"):
        bulk_delete.statements.__wrapped__(Device, "default")


# The shape of a batch ---------------------------------------------------------------------


def batches_of(queries):
    """The statements of each batch (each its own transaction: a savepoint inside a test)."""
    found, current = [], None
    for sql in (q["sql"] for q in queries.captured_queries):
        if sql.startswith("SAVEPOINT"):
            current = []
        elif sql.startswith("RELEASE SAVEPOINT"):
            found.append(current)
            current = None
        elif current is not None:
            current.append(sql)
    return found


def shape(sql):
    """The statement without its values: keys, times and limits."""
    sql = re.sub(r"'[^']*'(::\w+(\[\])?)*", "?", sql)  # literals, with PostgreSQL's casts
    return re.sub(r"\b\d+\b", "N", sql)


def table_of(batch):
    return re.search(r'FROM "(\w+)"', batch[0]).group(1)


def prune_in_batches_of(user, size):
    """Seven old checks with a session each, seven old devices with a fresh check each;
    the statements of each batch that deleted something, by table, and every SELECT."""
    for _ in range(7):
        session(sign_in=check(user, age=LONG_AGO))
        check(user, device=device(user, age=LONG_AGO))
    with CaptureQueriesContext(connection) as queries:
        run_prune("--batch-size", str(size))
    assert not Device.objects.exists()
    assert not LoginCheck.objects.filter(created_at__lt=timezone.now() - LONG_AGO / 2).exists()
    found = {}
    for batch in batches_of(queries):
        if len(batch) > 1:  # the keys' SELECT and more: it deleted something
            found.setdefault(table_of(batch), []).append(batch)
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    return found, selects


@pytest.fixture
def without_rollup(monkeypatch):
    """These tests read the batches' statements alone: the dashboard's rollup, refreshed
    before checks are deleted (tests/test_attacks_issue19.py), is left out of them."""
    from rupt_guard.stats import rollup

    monkeypatch.setattr(rollup, "refresh", lambda now: now)


def test_a_batch_is_the_same_few_statements_whatever_its_size(user, without_rollup):
    shapes = {"rupt_guard_logincheck": set(), "rupt_guard_device": set()}
    for size in (1, 3, 7):
        found, selects = prune_in_batches_of(user, size)
        for table, batches in found.items():
            assert len(batches) == math.ceil(7 / size)
            # After the keys' SELECT (its LIMIT and its start differ), the same statements.
            shapes[table] |= {tuple(shape(sql) for sql in batch[1:]) for batch in batches}
        # Nothing reads a whole row: no model instances, only keys.
        assert all(re.match(r'SELECT "\w+"\."id" AS "pk" FROM', sql) for sql in selects)
    ((checks,),) = [shapes["rupt_guard_logincheck"]]
    assert [sql.split(" WHERE ")[0] for sql in checks] == [
        'UPDATE "rupt_guard_devicesession" SET "sign_in_id" = NULL',
        'DELETE FROM "rupt_guard_logincheck"',
    ]
    ((devices,),) = [shapes["rupt_guard_device"]]
    assert sorted(sql.split(" WHERE ")[0] for sql in devices) == [
        'DELETE FROM "rupt_guard_device"',
        'DELETE FROM "rupt_guard_devicesession"',
        'UPDATE "rupt_guard_logincheck" SET "device_id" = NULL',
        'UPDATE "rupt_guard_trustevent" SET "device_id" = NULL',
    ]


def test_the_statements_do_not_grow_with_the_batch(user, without_rollup):
    for _ in range(30):
        session(sign_in=check(user, age=LONG_AGO))
    with CaptureQueriesContext(connection) as queries:
        run_prune("--batch-size", "30")
    (batch,) = [
        b for b in batches_of(queries) if table_of(b) == "rupt_guard_logincheck" and len(b) > 1
    ]
    # The thirty keys are one value (an array, or a JSON list), not thirty placeholders.
    assert all(sql.count("'") == 2 for sql in batch[1:]), batch
    assert all("= ANY(" in sql or "json_each(" in sql for sql in batch[1:])


# Resuming ----------------------------------------------------------------------------------


def test_max_batches_stops_and_the_next_run_goes_on(user):
    old = [check(user, age=LONG_AGO) for _ in range(10)]
    fresh = check(user)
    out = run_prune("--batch-size", "3", "--max-batches", "2")
    assert LoginCheck.objects.count() == 5
    line = next(x for x in out.splitlines() if x.startswith("rupt_guard.LoginCheck:"))
    assert line.startswith("rupt_guard.LoginCheck: 6 deleted in 2 batch(es)")
    assert line.endswith("; stopped after --max-batches 2, run again to go on")

    out = run_prune("--batch-size", "3", "--max-batches", "2")
    assert "rupt_guard.LoginCheck: 4 deleted in 2 batch(es)" in out
    assert "stopped" not in out  # the second batch was short: nothing left
    assert list(LoginCheck.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert not LoginCheck.objects.filter(pk__in=[row.pk for row in old]).exists()


class Interrupted(Exception):
    pass


def test_a_run_that_fails_midway_keeps_whole_batches_and_the_next_run_finishes(user):
    old = [check(user, age=LONG_AGO) for _ in range(6)]
    sessions = [session(sign_in=row) for row in old]
    deletes = 0

    def fail_on_second_delete(execute, sql, params, many, context):
        nonlocal deletes
        if sql.startswith('DELETE FROM "rupt_guard_logincheck"'):
            deletes += 1
            if deletes == 2:  # after this batch's sessions were unlinked
                raise Interrupted
        return execute(sql, params, many, context)

    with connection.execute_wrapper(fail_on_second_delete), pytest.raises(Interrupted):
        run_prune("--batch-size", "2")

    # The first batch is done; the second is undone entirely, its unlinking included.
    left = set(LoginCheck.objects.values_list("pk", flat=True))
    assert left == {row.pk for row in old[2:]}
    links = dict(DeviceSession.objects.values_list("pk", "sign_in"))
    assert [links[s.pk] for s in sessions] == [None, None] + [row.pk for row in old[2:]]

    out = run_prune("--batch-size", "2")
    assert "rupt_guard.LoginCheck: 4 deleted in 2 batch(es)" in out
    assert not LoginCheck.objects.exists()
    assert DeviceSession.objects.count() == 6
    assert not DeviceSession.objects.filter(sign_in__isnull=False).exists()


# Sign-ins while it runs --------------------------------------------------------------------


def test_rows_written_during_the_run_are_left_alone(user, monkeypatch):
    for _ in range(6):
        check(user, age=LONG_AGO, device=device(user, age=LONG_AGO))
    written = []
    real_delete_batch = retention.delete_batch

    def a_sign_in_between_batches(*args, **kwargs):
        batch = real_delete_batch(*args, **kwargs)
        # What a sign-in writes: its device, its check, its session.
        new_device = device(user)
        new_check = check(user, device=new_device)
        written.append((new_device, new_check, session(device=new_device, sign_in=new_check)))
        return batch

    monkeypatch.setattr(retention, "delete_batch", a_sign_in_between_batches)
    run_prune("--batch-size", "2")
    assert len(written) > 6
    for new_device, new_check, new_session in written:
        new_session.refresh_from_db()
        assert (new_session.device_id, new_session.sign_in_id) == (new_device.pk, new_check.pk)
        assert LoginCheck.objects.get(pk=new_check.pk).device_id == new_device.pk
    assert LoginCheck.objects.count() == Device.objects.count() == len(written)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sign_ins_go_on_while_it_runs():
    user = get_user_model().objects.create_user("alice", "alice@example.com", "pw")
    long_ago = timezone.now() - LONG_AGO
    old_devices = Device.objects.bulk_create(
        Device(user=user, external_id=f"old{i}", last_seen_at=long_ago) for i in range(300)
    )
    LoginCheck.objects.bulk_create(
        LoginCheck(
            user=user,
            device=old_devices[i % 300],
            created_at=long_ago,
            source="login",
            decision="allow",
            reason="verified_device",
        )
        for i in range(3000)
    )
    done, errors, signed_in = threading.Event(), [], []

    def sign_ins():
        # A sign-in from a long-unseen device (the prune may be deleting it) or a new one.
        try:
            n = 0
            while not done.is_set() or n < 20:
                external_id = f"old{n * 7 % 300}" if n % 2 else f"new{n}"
                found, _ = record_sighting(user, external_id, client=ClientInfo())
                new_check = check(user, device=found)
                session(device=found, sign_in=new_check)
                signed_in.append((external_id, new_check.pk))
                n += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    worker = threading.Thread(target=sign_ins)
    worker.start()
    try:
        run_prune("--batch-size", "50")
    finally:
        done.set()
        worker.join()
    assert errors == []
    # Every sign-in's rows are there and still linked; only old rows went.
    assert not LoginCheck.objects.filter(created_at__lt=timezone.now() - timedelta(days=180))
    for external_id, pk in signed_in:
        row = LoginCheck.objects.select_related("device").get(pk=pk)
        assert row.device is not None and row.device.external_id == external_id
        assert DeviceSession.objects.filter(sign_in=pk, device=row.device).exists()
    seen_again = {external_id for external_id, _ in signed_in if external_id.startswith("old")}
    assert (
        set(
            Device.objects.filter(external_id__startswith="old").values_list(
                "external_id", flat=True
            )
        )
        == seen_again
    )


# Progress and the dry run ------------------------------------------------------------------


def test_progress_lines_say_how_far_and_how_fast(user):
    for _ in range(3):
        check(user, age=LONG_AGO)
    out = run_prune("--batch-size", "1", "--progress-every", "0")
    progress = [line for line in out.splitlines() if "deleted so far" in line]
    assert [line.split(",")[0] for line in progress] == [
        f"  rupt_guard.LoginCheck: {n} deleted so far" for n in (1, 2, 3)
    ]
    assert all(re.search(r"\d+ batch\(es\)(, \d+ rows/s)?$", line) for line in progress)
    assert re.match(r"Done: 3 row\(s\) deleted in \d+\.\d s", out.splitlines()[-1])
    # The default waits seconds between lines: none for a run this short.
    check(user, age=LONG_AGO)
    assert "so far" not in run_prune("--batch-size", "1")


def test_verbosity_0_says_nothing(user):
    check(user, age=LONG_AGO)
    assert run_prune("--verbosity", "0", "--progress-every", "0", "--batch-size", "1") == ""
    assert not LoginCheck.objects.exists()


def test_the_dry_run_counts_up_to_a_limit(user, monkeypatch):
    for _ in range(5):
        check(user, age=LONG_AGO)
    out = run_prune("--dry-run")
    assert "rupt_guard.LoginCheck: 5 would be deleted (created before " in out
    monkeypatch.setattr(rupt_guard_prune, "DRY_RUN_COUNT_LIMIT", 3)
    with CaptureQueriesContext(connection) as queries:
        out = run_prune("--dry-run")
    assert "rupt_guard.LoginCheck: more than 3 would be deleted" in out
    if connection.vendor == "postgresql":
        assert re.search(r"more than 3 would be deleted, about \d+ by the planner's estimate", out)
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"]]
    assert counts and all("LIMIT 4" in sql for sql in counts)  # never the whole table
    assert LoginCheck.objects.count() == 5


# The step after a sign-in ------------------------------------------------------------------


def test_the_step_after_a_sign_in_is_one_small_batch_an_hour(
    user, monkeypatch, guard_settings_override
):
    guard_settings_override(PRUNE_AFTER_SIGN_IN=True)
    monkeypatch.setattr(retention, "STEP_ROWS", 2)
    for _ in range(5):
        session(sign_in=check(user, age=LONG_AGO))
    with CaptureQueriesContext(connection) as queries:
        retention.prune_after_sign_in()
    assert LoginCheck.objects.count() == 3
    assert DeviceSession.objects.filter(sign_in__isnull=True).count() == 2
    # One batch per table: a few statements each, none a row at a time.
    batches = [b for b in batches_of(queries) if b]
    assert len(batches) == len(retention.targets())
    assert all(len(batch) <= 5 for batch in batches)
    retention.prune_after_sign_in()  # within the hour: nothing
    assert LoginCheck.objects.count() == 3


def test_a_model_it_cannot_prune_in_set_form_fails_the_command(user, monkeypatch):
    check(user, age=LONG_AGO)

    def refuse(model, using):
        raise bulk_delete.NotInSetForm("app.Thing.check has on_delete=PROTECT, ...")

    monkeypatch.setattr(bulk_delete, "statements", refuse)
    with pytest.raises(CommandError, match=r"rupt_guard\.LoginCheck: app\.Thing\.check"):
        run_prune()
    assert LoginCheck.objects.count() == 1
