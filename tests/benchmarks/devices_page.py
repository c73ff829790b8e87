#!/usr/bin/env python3
"""What the devices page costs for a user with many devices: time, queries and size.

    RUPT_GUARD_TEST_DB=postgres .venv/bin/python tests/benchmarks/devices_page.py \\
        [--devices 10000] [--other-devices 100000] [--rounds 50] [--explain]

Builds its own database (a test database of its own name, so a test run on the same server
is left alone), one user with ``--devices`` devices (bulk_create; every tenth with a live
session, every hundredth blocked), a signed-in session whose current device is one of them,
then times GET /rupt-guard/devices/, its page 50 and its last page through Django's test
client; --explain prints the plans of page 50's queries. Prints
figures; asserts nothing but that the pages answered 200.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from rupt_guard.choices import TrustAction  # noqa: E402
from rupt_guard.gate.mark import SESSION_KEY  # noqa: E402
from rupt_guard.models import Device, DeviceSession, TrustEvent  # noqa: E402
from rupt_guard.testing import login_verified  # noqa: E402
from rupt_guard.views.devices import DEVICES_PER_PAGE  # noqa: E402

AGENTS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0",
]


def build(devices: int, other_devices: int) -> Client:
    user = get_user_model().objects.create_user("many", "many@example.com", "bench-password")
    # Other accounts' devices too (ten a user), so that the user's filter has something to
    # leave out and the planner sees a table shaped like a site's.
    others = get_user_model().objects.bulk_create(
        get_user_model()(username=f"other-{i}", email=f"other-{i}@example.com")
        for i in range(other_devices // 10)
    )
    now = timezone.now()
    rows = [
        Device(
            user=user,
            external_id=f"bench-{i}",
            label=f"Device {i}" if i % 7 == 0 else "",
            last_user_agent=AGENTS[i % 3].format(v=100 + i % 30),
            last_ip=f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
            first_seen_at=now - timedelta(days=400),
            last_seen_at=now - timedelta(minutes=i),
            verified_at=now if i % 2 else None,
            blocked_at=now if i % 100 == 99 else None,
        )
        for i in range(devices)
    ]
    rows += [
        Device(
            user=others[i % len(others)],
            external_id=f"other-{i}",
            last_seen_at=now - timedelta(minutes=(i * 7919) % 525_600),  # spread over a year
        )
        for i in range(other_devices)
    ]
    made = Device.objects.bulk_create(rows, batch_size=2000)
    mine = [d for d in made if d.user_id == user.pk]
    DeviceSession.objects.bulk_create(
        (
            DeviceSession(
                device=d, session_key=f"bench-session-{d.pk}", expires_at=now + timedelta(days=1)
            )
            for d in mine[::10]
        ),
        batch_size=2000,
    )
    TrustEvent.objects.bulk_create(
        (
            TrustEvent(user=user, action=TrustAction.DEVICE_BLOCKED, device=d)
            for d in mine
            if d.blocked_at is not None
        ),
        batch_size=2000,
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    client = Client()
    login_verified(client, user)
    # The session's own device: a device in the middle of the list, as after a sign-in.
    session = client.session
    session[SESSION_KEY] = {**session[SESSION_KEY], "device": mine[devices // 2].pk}
    session.save()
    return client


def measure(client: Client, label: str, path: str, rounds: int) -> None:
    client.get(path)  # warm: templates compiled, connection open
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as queries:
        size = len(client.get(path).content)
    p95 = sorted(times)[max(0, int(rounds * 0.95) - 1)]
    print(
        f"{label:<26} p50 {statistics.median(times):7.2f} ms   p95 {p95:7.2f} ms   "
        f"queries {len(queries):>2}   {size / 1024:6.1f} KiB of HTML"
    )


def explain(client: Client, path: str) -> None:
    """The plan of each query the page runs on the device table, as PostgreSQL ran it."""
    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    for query in queries.captured_queries:
        if "rupt_guard_device" not in query["sql"] or not query["sql"].startswith("SELECT"):
            continue
        print(f"\n{query['sql'][:300]}{'...' if len(query['sql']) > 300 else ''}")
        analyze = "EXPLAIN ANALYZE " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
        with connection.cursor() as cursor:
            cursor.execute(analyze + query["sql"])
            for line, *rest in cursor.fetchall():
                print("   ", " ".join(str(part) for part in (line, *rest)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--other-devices", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--explain", action="store_true", help="print the page query's plan")
    args = parser.parse_args()

    setup_test_environment()
    real_name = connection.settings_dict["NAME"]
    # Our own database name: a test run of the suite on the same server keeps its own.
    connection.settings_dict.setdefault("TEST", {})["NAME"] = "rupt_guard_bench_devices_page"
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        started = time.perf_counter()
        client = build(args.devices, args.other_devices)
        print(
            f"{args.devices} devices of one user ({args.other_devices} of other users), "
            f"{connection.vendor}, built in {time.perf_counter() - started:.1f} s; "
            f"{args.rounds} requests each, {DEVICES_PER_PAGE} devices a page\n"
        )
        measure(client, "GET /rupt-guard/devices/", "/rupt-guard/devices/", args.rounds)
        measure(client, "GET ...?page=50", "/rupt-guard/devices/?page=50", args.rounds)
        last = -(-(args.devices - 1) // DEVICES_PER_PAGE)
        measure(
            client, f"GET ...?page={last} (last)", f"/rupt-guard/devices/?page={last}", args.rounds
        )
        if args.explain:
            explain(client, "/rupt-guard/devices/?page=50")
    finally:
        connection.creation.destroy_test_db(real_name, verbosity=0)


if __name__ == "__main__":
    main()
