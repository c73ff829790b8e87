"""The management commands: rupt_guard_check (readiness) and rupt_guard_prune (retention)."""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rupt_guard.local.models import LocalIdentification
from rupt_guard.models import Device, DeviceSession, LoginCheck
from rupt_guard.providers import Identification, IdentificationProvider
from rupt_guard.testing.fake_rupt import SECRET

# rupt_guard_check ----------------------------------------------------------------------


def run_check(*args):
    """Run rupt_guard_check; return (failure message or None, stdout). The secret never shows."""
    out, err = StringIO(), StringIO()
    try:
        call_command("rupt_guard_check", *args, stdout=out, stderr=err)
    except CommandError as exc:
        failure = str(exc)
    else:
        failure = None
    everything = out.getvalue() + err.getvalue() + (failure or "")
    assert SECRET not in everything
    return failure, out.getvalue()


def live_line(output):
    (line,) = [line for line in output.splitlines() if "live call" in line]
    return line


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
def test_check_healthy_rupt(rupt_server):
    failure, out = run_check()
    assert failure is None
    assert "rupt_guard.providers.rupt.RuptProvider" in out
    assert rupt_server.url in out
    assert "test-client" in out
    assert f"API secret:    set ({len(SECRET)} characters)" in out
    assert "ON_NEW_DEVICE=challenge" in out
    assert "ON_BLOCKED_DEVICE=block" in out
    assert "OK    system checks: no rupt_guard issues" in out
    assert re.fullmatch(
        r"OK    live call: Rupt answered in \d+ ms; it rejected an unknown identification as "
        r"expected \(HTTP 404\), so the API is reachable and accepts the secret",
        live_line(out),
    )
    assert out.splitlines()[-1] == "rupt_guard_check: all OK."
    (seen,) = rupt_server.requests
    token = re.fullmatch(r"/v2/proj/identification/(.+)/complete", seen.path).group(1)
    assert str(uuid.UUID(token)) == token
    assert seen.body == {"account": "rupt-guard-check"}
    assert seen.headers["Authorization"] == f"Bearer {SECRET}"


@pytest.mark.django_db
def test_check_wrong_secret_is_refused(rupt_server, guard_settings_override):
    guard_settings_override(API_SECRET="wrong-secret-value")
    failure, out = run_check()
    assert failure == "rupt_guard_check failed: live call."
    assert "set (18 characters)" in out
    assert "wrong-secret-value" not in out
    line = live_line(out)
    assert line.startswith("FAIL  live call: Rupt refused the API secret (HTTP 401) after ")
    assert "RUPT_GUARD['API_SECRET']" in line


@pytest.mark.django_db
def test_check_forbidden_is_a_refused_secret(rupt_server):
    rupt_server.fail_next(403)
    failure, out = run_check()
    assert failure is not None
    assert "refused the API secret (HTTP 403)" in live_line(out)


@pytest.mark.django_db
def test_check_missing_secret(rupt_server, guard_settings_override):
    guard_settings_override(API_SECRET="")
    failure, out = run_check()
    assert failure == "rupt_guard_check failed: system checks, live call."
    assert "API secret:    missing" in out
    assert "FAIL  system check rupt_guard.E003: " in out
    assert "refused the API secret (HTTP 401)" in live_line(out)


@pytest.mark.django_db
def test_check_server_down(rupt_server, guard_settings_override):
    guard_settings_override(API_BASE_URL=f"http://127.0.0.1:{closed_port()}")
    failure, out = run_check()
    assert failure == "rupt_guard_check failed: live call."
    line = live_line(out)
    assert line.startswith("FAIL  live call: Rupt failed after ")
    assert "reason connection: connection failed" in line


@pytest.mark.django_db
def test_check_slow_server_times_out(rupt_server, guard_settings_override):
    guard_settings_override(TIMEOUT=0.3)
    rupt_server.delay = 2
    failure, out = run_check()
    assert failure == "rupt_guard_check failed: live call."
    assert "timeout:       0.3 s" in out
    line = live_line(out)
    assert "reason timeout: no answer within 0.3s" in line
    ms = int(re.search(r"after (\d+) ms", line).group(1))
    assert 250 <= ms < 1500


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (500, None, "reason http_status: Rupt answered HTTP 500"),
        (429, None, "reason http_status: Rupt answered HTTP 429"),
        (200, b"<html>not json</html>", "reason bad_response: Rupt's response is not JSON"),
    ],
)
def test_check_server_errors_fail_with_their_reason(rupt_server, status, body, reason):
    rupt_server.fail_next(status, body)
    failure, out = run_check()
    assert failure == "rupt_guard_check failed: live call."
    assert reason in live_line(out)
    assert live_line(out).startswith("FAIL  ")


@pytest.mark.django_db
def test_check_local_provider(settings):
    settings.RUPT_GUARD = {"PROVIDER": "local"}
    failure, out = run_check()
    assert failure is None
    assert "rupt_guard.local.provider.LocalProvider" in out
    # DEBUG is False in the test settings: a warning, not a failure.
    assert "WARN  system check rupt_guard.W005: " in out
    assert "OK    system checks: no errors (warnings above)" in out
    assert re.fullmatch(
        r"OK    live call: LocalProvider answered in \d+ ms; it rejected an unknown "
        r"identification as expected \(HTTP 404\), so the provider and its storage work",
        live_line(out),
    )
    assert not LocalIdentification.objects.exists()


@pytest.mark.django_db  # the command reads the last day's login checks
def test_check_skip_live_makes_no_request(rupt_server):
    failure, out = run_check("--skip-live")
    assert failure is None
    assert live_line(out) == "SKIP  live call: --skip-live given, the provider was not called"
    assert rupt_server.requests == []


@pytest.mark.django_db  # the command reads the last day's login checks
def test_check_system_check_error_fails(rupt_server, guard_settings_override):
    guard_settings_override(CLIENT_ID="")
    failure, out = run_check("--skip-live")
    assert failure == "rupt_guard_check failed: system checks."
    assert "client id:     missing" in out
    assert "FAIL  system check rupt_guard.E004: " in out


@pytest.mark.django_db
def test_check_invalid_settings_are_reported_not_raised(rupt_server, guard_settings_override):
    guard_settings_override(ON_NEW_DEVICE="maybe")
    failure, out = run_check()
    assert failure == "rupt_guard_check failed: system checks."
    assert "ON_NEW_DEVICE=invalid (see the system checks)" in out
    assert "FAIL  system check rupt_guard.E001: " in out
    assert live_line(out).startswith("OK    live call: Rupt answered")


@pytest.mark.django_db  # the command reads the last day's login checks
def test_check_unknown_setting_key(settings):
    settings.RUPT_GUARD = {"API_SECRET": SECRET, "NO_SUCH_KEY": 1}
    failure, out = run_check()
    assert failure == "rupt_guard_check failed: system checks, live call."
    assert "FAIL  system check rupt_guard.E001: Unknown key(s)" in out
    assert live_line(out).startswith("FAIL  live call: the provider cannot be built: ")


class AcceptingProvider(IdentificationProvider):
    """Completes any token: exactly what a broken stand-in would do."""

    def sdk_url(self):
        return "/sdk.js"

    def complete(self, token, account):
        return Identification(device_id="d", access_id="a", new_device=False)

    def update_metadata(self, device_id, fields):
        pass


class LeakyProvider(AcceptingProvider):
    """Puts the secret into its exception text; the command must not repeat it."""

    options = {"API_SECRET": ""}

    def complete(self, token, account):
        raise RuntimeError(f"cannot reach service with key {self.settings['API_SECRET']}")


@pytest.mark.django_db  # the command reads the last day's login checks
def test_check_provider_that_accepts_anything_fails(rupt_server, guard_settings_override):
    guard_settings_override(PROVIDER="tests.test_commands.AcceptingProvider")
    failure, out = run_check()
    assert failure == "rupt_guard_check failed: live call."
    assert "AcceptingProvider accepted a random identification it cannot know" in live_line(out)


@pytest.mark.django_db  # the command reads the last day's login checks
def test_check_scrubs_the_secret_from_provider_errors(rupt_server, guard_settings_override):
    guard_settings_override(PROVIDER="tests.test_commands.LeakyProvider")
    failure, out = run_check()  # run_check asserts the secret is absent
    assert failure == "rupt_guard_check failed: live call."
    assert "LeakyProvider raised RuntimeError after " in live_line(out)
    assert "cannot reach service with key ********" in live_line(out)


# rupt_guard_prune ----------------------------------------------------------------------


def run_prune(*args):
    out = StringIO()
    call_command("rupt_guard_prune", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def line_for(output, label):
    (line,) = [line for line in output.splitlines() if line.startswith(label + ":")]
    return line


@pytest.fixture
def rows(db, settings):
    """Rows on both sides of each cutoff (defaults: checks 180 days, devices 365 days)."""
    settings.RUPT_GUARD = {**settings.RUPT_GUARD}  # fresh settings, default retention
    user = get_user_model().objects.create_user("alice", "alice@example.com", "pw")
    now = timezone.now()
    made = {"old": {}, "new": {}}

    def devices(name, seen):
        return [
            Device.objects.create(user=user, external_id=f"{name}{i}", last_seen_at=seen)
            for i in range(5)
        ]

    made["old"]["devices"] = devices("old", now - timedelta(days=366))
    made["new"]["devices"] = devices("new", now - timedelta(days=364))

    def checks(when, device):
        return [
            LoginCheck.objects.create(
                user=user,
                device=device,
                created_at=when,
                source="login",
                decision="allow",
                reason="verified_device",
            )
            for _ in range(5)
        ]

    # Fresh checks of an old device keep their row; the device link becomes NULL.
    made["old"]["checks"] = checks(now - timedelta(days=181), made["new"]["devices"][0])
    made["new"]["checks"] = checks(now - timedelta(days=179), made["old"]["devices"][0])

    def sessions(expires, device):
        return [
            DeviceSession.objects.create(
                device=device, session_key=uuid.uuid4().hex, expires_at=expires
            )
            for _ in range(3)
        ]

    made["old"]["sessions"] = sessions(now - timedelta(seconds=5), made["new"]["devices"][1])
    made["new"]["sessions"] = sessions(now + timedelta(hours=1), made["new"]["devices"][1])

    def identifications(expires):
        return [
            LocalIdentification.objects.create(
                token=uuid.uuid4(), device_id="x", expires_at=expires
            )
            for _ in range(3)
        ]

    made["old"]["identifications"] = identifications(now - timedelta(seconds=5))
    made["new"]["identifications"] = identifications(now + timedelta(minutes=5))
    return made


def pks(objects):
    return {obj.pk for obj in objects}


def test_prune_deletes_exactly_the_old_rows_in_batches(rows):
    with CaptureQueriesContext(connection) as queries:
        out = run_prune("--batch-size", "2")
    assert set(Device.objects.values_list("pk", flat=True)) == pks(rows["new"]["devices"])
    assert set(LoginCheck.objects.values_list("pk", flat=True)) == pks(rows["new"]["checks"])
    assert set(DeviceSession.objects.values_list("pk", flat=True)) == pks(rows["new"]["sessions"])
    assert set(LocalIdentification.objects.values_list("pk", flat=True)) == pks(
        rows["new"]["identifications"]
    )
    # The fresh checks of a deleted device stay, without their device.
    assert not LoginCheck.objects.filter(device__isnull=False).exists()

    assert re.fullmatch(
        r"rupt_guard\.LoginCheck: 5 deleted in 3 batch\(es\) \(created before "
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, 180 days\); \d+\.\d s(, \d+ rows/s)?",
        line_for(out, "rupt_guard.LoginCheck"),
    )
    assert line_for(out, "rupt_guard.Device").startswith(
        "rupt_guard.Device: 5 deleted in 3 batch(es) (last seen before "
    )
    assert line_for(out, "rupt_guard.DeviceSession").startswith(
        "rupt_guard.DeviceSession: 3 deleted in 2 batch(es) (expired before "
    )
    assert line_for(out, "rupt_guard_local.LocalIdentification").startswith(
        "rupt_guard_local.LocalIdentification: 3 deleted in 2 batch(es) (expired before "
    )
    assert out.splitlines()[-1].startswith("Done: 16 row(s) deleted in ")
    # Each batch is its own DELETE, by a set of keys (one parameter, not a list).
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE FROM")]
    for table, batches in (("rupt_guard_logincheck", 3), ("rupt_guard_device", 3)):
        mine = [sql for sql in deletes if re.match(r'DELETE FROM "(\w+)"', sql).group(1) == table]
        assert len(mine) == batches
        assert all("= ANY(" in sql or "json_each(" in sql for sql in mine)


def test_prune_batch_selects_are_limited(rows):
    with CaptureQueriesContext(connection) as queries:
        run_prune("--batch-size", "2")
    # Only the batch selects read the table, and only its keys.
    selects = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and '"rupt_guard_logincheck"' in q["sql"]
    ]
    assert len(selects) == 3  # three batches; the last, short, says nothing is left
    keys_only = r'SELECT "rupt_guard_logincheck"\."id"( AS "pk")? FROM'
    assert all(re.match(keys_only, sql) for sql in selects)
    assert all("ORDER BY" in sql and "LIMIT 2" in sql for sql in selects)


def test_prune_dry_run_deletes_nothing_and_counts(rows):
    before = {
        model: model.objects.count()
        for model in (Device, LoginCheck, DeviceSession, LocalIdentification)
    }
    out = run_prune("--dry-run")
    after = {model: model.objects.count() for model in before}
    assert after == before
    assert out.splitlines()[0] == "Dry run: nothing is deleted."
    assert line_for(out, "rupt_guard.LoginCheck").startswith(
        "rupt_guard.LoginCheck: 5 would be deleted (created before "
    )
    assert line_for(out, "rupt_guard.Device").startswith(
        "rupt_guard.Device: 5 would be deleted (last seen before "
    )
    assert line_for(out, "rupt_guard.DeviceSession").startswith(
        "rupt_guard.DeviceSession: 3 would be deleted (expired before "
    )
    assert line_for(out, "rupt_guard_local.LocalIdentification").startswith(
        "rupt_guard_local.LocalIdentification: 3 would be deleted (expired before "
    )


def test_prune_days_options_override_the_settings(rows):
    out = run_prune("--checks-days", "1000", "--devices-days", "100", "--dry-run")
    assert "rupt_guard.LoginCheck: 0 would be deleted" in out
    assert "1000 days" in line_for(out, "rupt_guard.LoginCheck")
    assert "rupt_guard.Device: 10 would be deleted" in out
    out = run_prune("--checks-days", "1000", "--devices-days", "100")
    assert LoginCheck.objects.count() == 10
    assert not Device.objects.exists()
    # A deleted device takes its live sessions along; the line says so.
    assert line_for(out, "rupt_guard.Device").startswith(
        "rupt_guard.Device: 10 deleted in 1 batch(es) (last seen before "
    )
    assert (
        "; with them 3 rupt_guard.DeviceSession; set to NULL: 10 rupt_guard.LoginCheck.device;"
        in line_for(out, "rupt_guard.Device")
    )
    assert not DeviceSession.objects.exists()


def test_prune_retention_settings_are_read(rows, guard_settings_override):
    guard_settings_override(LOGIN_CHECK_RETENTION_DAYS=10, DEVICE_RETENTION_DAYS=400)
    out = run_prune()
    assert "rupt_guard.LoginCheck: 10 deleted" in out
    assert "rupt_guard.Device: 0 deleted in 0 batch(es)" in out
    assert Device.objects.count() == 10


def test_prune_retention_none_keeps_everything(rows, guard_settings_override):
    guard_settings_override(LOGIN_CHECK_RETENTION_DAYS=None, DEVICE_RETENTION_DAYS=None)
    out = run_prune()
    assert "rupt_guard.LoginCheck: kept (no retention limit)" in out
    assert "rupt_guard.Device: kept (no retention limit)" in out
    assert (LoginCheck.objects.count(), Device.objects.count()) == (10, 10)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "--batch-size must be at least 1."),
        (["--max-batches", "0"], "--max-batches must be at least 1."),
        (["--progress-every", "-1"], "--progress-every must be 0 or more seconds."),
        (["--checks-days", "0"], "--checks-days must be a whole number of days, at least 1."),
        (["--devices-days", "-3"], "--devices-days must be a whole number of days, at least 1."),
    ],
)
def test_prune_rejects_bad_options(db, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        run_prune(*args)


def test_prune_rejects_a_bad_retention_setting(db, settings):
    settings.RUPT_GUARD = {**settings.RUPT_GUARD, "DEVICE_RETENTION_DAYS": "365"}
    with pytest.raises(CommandError, match=r"RUPT_GUARD\['DEVICE_RETENTION_DAYS'\] must be"):
        run_prune()


def test_prune_on_empty_tables(db):
    out = run_prune()
    assert "rupt_guard.LoginCheck: 0 deleted in 0 batch(es)" in out


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_prune_spares_a_device_seen_again_while_it_waits():
    user = get_user_model().objects.create_user("alice", "alice@example.com", "pw")
    old = timezone.now() - timedelta(days=400)
    devices = [
        Device.objects.create(user=user, external_id=f"d{i}", last_seen_at=old) for i in range(4)
    ]
    target = devices[1]
    locked = threading.Event()
    errors: list[BaseException] = []

    def sign_in_in_progress() -> None:
        # A sign-in refreshes the device and holds its row lock for a moment.
        try:
            with transaction.atomic():
                Device.objects.filter(pk=target.pk).update(last_seen_at=timezone.now())
                locked.set()
                time.sleep(0.5)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    worker = threading.Thread(target=sign_in_in_progress)
    worker.start()
    assert locked.wait(5)
    started = time.monotonic()
    out = run_prune("--batch-size", "2")
    waited = time.monotonic() - started
    worker.join()
    assert errors == []
    assert waited >= 0.3  # the batch waited for the sign-in instead of deleting under it
    assert list(Device.objects.values_list("pk", flat=True)) == [target.pk]
    assert line_for(out, "rupt_guard.Device").startswith("rupt_guard.Device: 3 deleted in ")


def test_prune_keeps_blocked_devices_however_old(rows):
    old = rows["old"]["devices"][0]
    Device.objects.filter(pk=old.pk).update(blocked_at=timezone.now())
    run_prune()
    assert set(Device.objects.values_list("pk", flat=True)) == pks(rows["new"]["devices"]) | {
        old.pk
    }


def test_prune_forgets_used_tokens_after_a_day(db):
    from rupt_guard.models import UsedIdentification

    old = UsedIdentification.objects.create(
        token_digest="a" * 64, used_at=timezone.now() - timedelta(days=2)
    )
    fresh = UsedIdentification.objects.create(token_digest="b" * 64)
    out = run_prune()
    assert list(UsedIdentification.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert "rupt_guard.UsedIdentification: 1 deleted" in out
    assert old.pk not in UsedIdentification.objects.values_list("pk", flat=True)
