"""What a guarded sign-in costs the database: its writes in one transaction, the fewest
statements that keep every guarantee (one device row, one check per sign-in, a token
completed once), also when sign-ins race. Speed itself is in ``benchmarks/``."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from rupt_guard.choices import CheckSource, Decision, Reason
from rupt_guard.gate import check as check_module
from rupt_guard.gate.check import check_login
from rupt_guard.models import Device, DeviceSession, LoginCheck
from rupt_guard.testing import login_verified

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db

OURS = "rupt_guard_"


def touches_ours(sql: str) -> bool:
    return OURS in sql


def is_write(sql: str) -> bool:
    return sql.lstrip().split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}


@pytest.fixture
def verified_device(client, user, login, pass_challenge):
    """The user's laptop, verified by an earlier sign-in and its challenge."""
    assert login(device="laptop").status_code == 302
    assert pass_challenge().status_code == 302
    client.logout()
    return Device.objects.get(user=user)


def test_an_allowed_sign_in_writes_once_in_one_transaction(client, login, verified_device):
    with CaptureQueriesContext(connection) as captured:
        response = login(device="laptop")
    assert response.status_code == 302
    check = LoginCheck.objects.latest("created_at")
    assert check.decision == Decision.ALLOW
    assert DeviceSession.objects.filter(sign_in=check).count() == 1
    statements = [query["sql"] for query in captured.captured_queries]
    ours = [sql for sql in statements if touches_ours(sql)]
    # Read: stale challenges to close, the token's replay. Written: the device (one
    # upsert), the check, the session's link to it.
    assert len(ours) == 5, ours
    writes = [i for i, sql in enumerate(statements) if touches_ours(sql) and is_write(sql)]
    device_write, check_write, link = writes
    # The device and the check share one transaction (a savepoint inside the test's own).
    savepoint = next(
        sql.split()[-1]
        for sql in reversed(statements[:device_write])
        if sql.startswith("SAVEPOINT")
    )
    released = statements.index(f"RELEASE SAVEPOINT {savepoint}")
    assert device_write < check_write < released
    # The link is one statement: a device blocked meanwhile gets none (see below).
    assert statements[link].startswith(f'INSERT INTO "{OURS}devicesession"')
    assert not statements[link - 1].startswith("SAVEPOINT")


def test_a_device_blocked_between_check_and_login_gets_no_link(
    client, user, login, verified_device, monkeypatch
):
    real = check_module.SignIn.record

    def record_then_blocked(self, answer):
        outcome = real(self, answer)
        # A staff block that commits after the check read the device, before login().
        Device.objects.filter(pk=verified_device.pk).update(blocked_at="2026-11-25T12:00Z")
        return outcome

    monkeypatch.setattr(check_module.SignIn, "record", record_then_blocked)
    login(device="laptop")
    assert "_auth_user_id" not in client.session
    check = LoginCheck.objects.latest("created_at")
    assert (check.decision, check.reason) == (Decision.BLOCK, Reason.BLOCKED_DEVICE)
    assert not DeviceSession.objects.filter(sign_in=check).exists()


def test_a_token_claimed_by_a_racing_sign_in_is_refused_at_the_write(
    user, rupt_server, monkeypatch
):
    """The racer's row lands between our replay check and our write: the unique digest
    refuses ours, and the sign-in is recorded as a replay, not lost, not doubled."""
    real = check_module.identify

    def identify_then_raced(token, account):
        answer = real(token, account)
        LoginCheck.objects.create(
            user=user,
            source=CheckSource.FORM,
            decision=Decision.ALLOW,
            reason=Reason.VERIFIED_DEVICE,
            token_digest=answer.token_digest,
        )
        return answer

    monkeypatch.setattr(check_module, "identify", identify_then_raced)
    token = rupt_server.identify("dev-raced")
    outcome = check_login(None, user, token=token, source=CheckSource.FORM)
    assert outcome.device is None
    assert outcome.check.provider_error == "token_rejected"
    assert outcome.check.reason == Reason.BAD_TOKEN
    assert LoginCheck.objects.count() == 2
    assert not Device.objects.filter(external_id="dev-raced").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_sign_ins_with_one_token_complete_it_once(django_user_model, rupt_server):
    user = django_user_model.objects.create_user("racer", "r@example.com", PASSWORD)
    racers = 6
    token = rupt_server.identify("dev-race")
    barrier = threading.Barrier(racers)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def sign_in() -> None:
        try:
            client = Client()
            barrier.wait()
            response = client.post(
                "/accounts/login/",
                {"username": "racer", "password": PASSWORD, "rupt_identification": token},
            )
            statuses.append(response.status_code)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_in) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert 500 not in statuses and len(statuses) == racers
    checks = LoginCheck.objects.filter(user=user)
    assert checks.count() == racers  # every attempt audited, none twice
    assert checks.exclude(token_digest=None).count() == 1
    assert checks.filter(provider_error="token_rejected").count() == racers - 1
    assert Device.objects.filter(user=user).count() == 1


def test_an_ordinary_request_of_a_verified_session_adds_no_statement(client, user):
    login_verified(client, user)
    client.get("/private/")
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/private/").status_code == 200
    assert not [q for q in captured.captured_queries if touches_ours(q["sql"])]
