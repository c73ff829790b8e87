#!/usr/bin/env python3
"""What a guarded login costs over a plain Django login: database queries and time.

    .venv/bin/python tests/benchmarks/login_cost.py [--rounds 200]

Counts the queries of one login POST (Django's LoginView) with CaptureQueriesContext:
plain ModelBackend without rupt_guard, then rupt_guard for a verified device (allowed)
and for a new device (challenged), against the fake Rupt on loopback. Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.signals import user_logged_in  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

from rupt_guard.gate.receivers import on_user_logged_in  # noqa: E402
from rupt_guard.models import Device  # noqa: E402
from rupt_guard.testing.fake_rupt import SECRET, start_fake_rupt  # noqa: E402

PASSWORD = "bench-password"


def login_once(client: Client, token: str | None) -> tuple[int, float, list[str]]:
    data = {"username": "bench", "password": PASSWORD}
    if token is not None:
        data["rupt_identification"] = token
    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = client.post("/accounts/login/", data)
        elapsed = time.perf_counter() - started
    assert response.status_code == 302, response.status_code
    client.logout()
    return len(queries), elapsed, [q["sql"] for q in queries.captured_queries]


def measure(label: str, rounds: int, make_token, show_sql: bool) -> None:
    client = Client()
    counts, times, sql = [], [], []
    for _ in range(rounds):
        count, elapsed, sql = login_once(client, make_token())
        counts.append(count)
        times.append(elapsed * 1000)
    p95 = sorted(times)[int(rounds * 0.95) - 1]
    print(
        f"{label:<42} queries {statistics.mode(counts):>3}   "
        f"median {statistics.median(times):6.2f} ms   p95 {p95:6.2f} ms"
    )
    if show_sql:
        for statement in sql:
            print("     ", statement[:140])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--sql", action="store_true", help="print the queries of each kind")
    args = parser.parse_args()

    setup_test_environment()
    real_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    fake, server = start_fake_rupt()
    user = get_user_model().objects.create_user("bench", "bench@example.com", PASSWORD)
    # The sign-in limits would stop a benchmark's hundreds of sign-ins from one address.
    guard = {
        "CLIENT_ID": "c",
        "API_SECRET": SECRET,
        "API_BASE_URL": fake.url,
        "SIGN_IN_RATES": {"account": None, "address": None},
    }
    plain_middleware = [m for m in settings.MIDDLEWARE if "rupt_guard" not in m]
    print(f"{args.rounds} logins each, {connection.vendor}, fake Rupt on loopback\n")

    # Without rupt_guard: no backend, no middleware, and no user_logged_in receiver.
    user_logged_in.disconnect(dispatch_uid="rupt_guard_user_logged_in")
    with override_settings(
        AUTHENTICATION_BACKENDS=["django.contrib.auth.backends.ModelBackend"],
        MIDDLEWARE=plain_middleware,
    ):
        measure("plain Django login (no rupt_guard)", args.rounds, lambda: None, args.sql)
    user_logged_in.connect(on_user_logged_in, dispatch_uid="rupt_guard_user_logged_in")

    with override_settings(RUPT_GUARD=guard):
        fake.pairs.add((str(user.pk), "bench-device"))
        fake.metadata["bench-device"] = {}
        Device.objects.create(
            user=user, external_id="bench-device", verified_at="2026-01-01T00:00Z"
        )
        measure(
            "rupt_guard, verified device (allow)",
            args.rounds,
            lambda: fake.identify("bench-device"),
            args.sql,
        )
        measure("rupt_guard, new device (challenge)", args.rounds, fake.identify, args.sql)
    server.shutdown()
    connection.creation.destroy_test_db(real_name, verbosity=0)


if __name__ == "__main__":
    main()
