"""One variant of the site in one process, driven by the runner over stdin/stdout.

    RUPT_BENCH_VARIANT=plain|guarded python -m benchmarks.worker

Reads one JSON command a line and answers one JSON line. In-process measurements use
Django's test ``Client`` (no HTTP, no server): what a request costs inside Django. A plain
and a guarded worker run side by side, so that the runner can interleave their batches.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.site.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.hashers import MD5PasswordHasher, PBKDF2PasswordHasher  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from benchmarks.fake_rupt import token_for  # noqa: E402

PASSWORD = "bench-password"  # noqa: S105
GUARDED = settings.GUARDED
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")


def known_device(index: int) -> str:
    """The verified device account ``index`` signs in from in the allowed runs."""
    return f"known-{index}"


def seed(accounts: int) -> dict[str, Any]:
    """The sign-in accounts (MD5 and Django's default hasher), their verified devices and
    a superuser; answers the (account, device) pairs the fake Rupt must already know."""
    user_model = get_user_model()
    md5 = MD5PasswordHasher().encode(PASSWORD, "benchsalt")
    pbkdf2 = PBKDF2PasswordHasher().encode(PASSWORD, "benchsalt")  # Django's default
    users = [
        user_model(username=f"{prefix}-{i}", email=f"{prefix}-{i}@example.com", password=hashed)
        for prefix, hashed in (("signin", md5), ("slow", pbkdf2))
        for i in range(accounts)
    ]
    users.append(
        user_model(
            username="bench-admin",
            email="admin@example.com",
            password=md5,
            is_staff=True,
            is_superuser=True,
        )
    )
    user_model.objects.bulk_create(users, ignore_conflicts=True)
    pairs = []
    if GUARDED:
        from django.utils import timezone

        from rupt_guard.models import Device

        found = user_model.objects.filter(username__regex=r"^(signin|slow)-[0-9]+$")
        devices = []
        for user in found:
            device = known_device(int(user.username.rsplit("-", 1)[1]))
            devices.append(
                Device(user=user, external_id=device, verified_at=timezone.now(), metadata={})
            )
            pairs.append([str(user.pk), device])
        Device.objects.bulk_create(devices, ignore_conflicts=True)
    return {"pairs": pairs}


def sign_in(client: Client, index: int, new_device: bool) -> tuple[float, int]:
    """One sign-in POST of account ``signin-<index>``: its time in ms and its status."""
    data = {"username": f"signin-{index}", "password": PASSWORD}
    if GUARDED:
        device = f"new{uuid.uuid4().hex[:12]}" if new_device else known_device(index)
        data["rupt_identification"] = token_for(device, uuid.uuid4().hex)
    started = time.perf_counter()
    response = client.post("/login/", data)
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, response.status_code


def signin(count: int, new_device: bool = False) -> dict[str, Any]:
    client = Client()
    times = []
    for _ in range(count):
        elapsed, status = sign_in(client, 0, new_device)
        if status != 302:
            raise RuntimeError(f"sign-in answered {status}")
        times.append(elapsed)
        client.cookies.clear()  # signed out without the cost of a logout request
    return {"ms": times}


def statements() -> dict[str, Any]:
    """The statements of one allowed sign-in, and the transactions they ran in."""
    client = Client()
    sign_in(client, 0, False)  # warm: the first request of a process loads more
    client.cookies.clear()
    with CaptureQueriesContext(connection) as captured:
        _, status = sign_in(client, 0, False)
    sql = [q["sql"].strip() for q in captured.captured_queries]
    commits = sum(1 for s in sql if s.upper() in ("COMMIT", "ROLLBACK"))
    # PostgreSQL's BEGIN is sent by psycopg, not logged by Django; SQLite's is logged.
    begins_logged = sum(1 for s in sql if s.upper() == "BEGIN")
    total = len(sql) + (commits - begins_logged)
    savepoints = sum(1 for s in sql if s.upper().startswith("SAVEPOINT"))
    queries = [s for s in sql if s.upper() not in CONTROL and not _savepoint(s)]
    # The transactions that write rupt_guard's tables: plain Django's own session writes
    # are two more, whatever rupt_guard does.
    ours, inside = 0, False
    for statement in sql:
        upper = statement.upper()
        if upper == "BEGIN":
            inside, touches = True, False
        elif upper in ("COMMIT", "ROLLBACK"):
            ours += inside and touches
            inside = False
        elif inside and "rupt_guard_" in statement:
            touches = True
    return {
        "ours": ours,
        "status": status,
        "statements": total,
        "queries": len(queries),
        "transactions": commits,
        "savepoints": savepoints,
        "sql": sql,
    }


def _savepoint(sql: str) -> bool:
    return sql.upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))


def _signed_in(username: str) -> Client:
    client = Client()
    user = get_user_model().objects.get(username=username)
    if GUARDED:
        from rupt_guard.testing import login_verified

        login_verified(client, user)
    else:
        client.force_login(user)
    return client


def page(path: str, username: str, count: int) -> dict[str, Any]:
    """GET ``path`` ``count`` times as ``username`` (signed in, past the gate)."""
    client = _signed_in(username)
    times, queries, size, status = [], 0, 0, 0
    for _ in range(count):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
        status, size, queries = response.status_code, len(response.content), len(captured)
    return {"ms": times, "queries": queries, "bytes": size, "status": status}


def decisions(since: float) -> dict[str, Any]:
    """The guarded site's decisions since ``since`` (a Unix time): did a load round's
    sign-ins go the way it meant them to?"""
    from datetime import UTC, datetime

    from django.db.models import Count

    from rupt_guard.models import LoginCheck

    found = (
        LoginCheck.objects.filter(created_at__gte=datetime.fromtimestamp(since, UTC))
        .values_list("decision")
        .annotate(n=Count("id"))
    )
    return {"decisions": dict(found)}


def main() -> None:
    protocol = sys.stdout
    sys.stdout = sys.stderr  # anything Django prints must not break the protocol
    commands = {
        "seed": seed,
        "signin": signin,
        "statements": statements,
        "page": page,
        "decisions": decisions,
    }
    for line in sys.stdin:
        command = json.loads(line)
        op = command.pop("op")
        try:
            answer = {"ok": True, **commands[op](**command)}
        except Exception as exc:  # the runner reports it on its row
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        protocol.write(json.dumps(answer) + "\n")
        protocol.flush()


if __name__ == "__main__":
    main()
