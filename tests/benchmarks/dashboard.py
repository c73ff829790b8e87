"""How long the admin's dashboard takes with millions of login checks on PostgreSQL.

    RUPT_GUARD_TEST_DB=postgres python tests/benchmarks/dashboard.py --checks 5000000

Creates a database of its own (``<PGDATABASE or rupt_guard_bench>_dashboard``; ``--keep``
keeps it and its rows for the next run), seeds ``--checks`` login checks spread over 30
days with ``generate_series`` (decisions, reasons, provider times, challenge outcomes in
realistic shares) and a device for every tenth, in random time order (so the rows of one
hour are not together on disk, as a real site's are: pessimistic), VACUUM ANALYZEs, then
times the dashboard page (30 days) through Django's test client, once cold (the rollup
fills from the checks) then warm (``--rounds`` times: the median and the slowest), and
the JSON's figures. It prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("RUPT_GUARD_TEST_DB", "postgres")
os.environ["PGDATABASE"] = os.environ.get("PGDATABASE", "rupt_guard_bench") + "_dashboard"

SEED_CHECKS = """
INSERT INTO rupt_guard_logincheck (
    user_id, created_at, source, decision, reason, new_device, provider_error, token_error,
    provider_ms, access_id, user_agent, challenge_result, challenge_ended_at)
SELECT %(user)s, now() - (random() * interval '30 days'), 'form', s.decision, s.reason,
       s.reason = 'new_device', s.provider_error, s.token_error,
       CASE WHEN s.reason IN ('missing_token', 'no_consent') THEN NULL
            ELSE (40 + random() * 400)::int END,
       '', '', s.result,
       CASE WHEN s.result IN ('passed', 'given_up', 'expired') THEN now() END
FROM (
    SELECT CASE WHEN r < 0.80 THEN 'allow' WHEN r < 0.985 THEN 'challenge' ELSE 'block' END
               AS decision,
           CASE WHEN r < 0.80 THEN 'verified_device' WHEN r < 0.93 THEN 'new_device'
                WHEN r < 0.96 THEN 'missing_token' WHEN r < 0.985 THEN 'provider_error'
                ELSE 'blocked_device' END AS reason,
           CASE WHEN r >= 0.96 AND r < 0.985 THEN
                (ARRAY['timeout', 'connection', 'breaker_open'])[1 + (g %% 3)]
                ELSE '' END AS provider_error,
           CASE WHEN r >= 0.93 AND r < 0.96 THEN
                (ARRAY['sdk_unavailable', 'timeout', ''])[1 + (g %% 3)]
                ELSE '' END AS token_error,
           CASE WHEN r >= 0.80 AND r < 0.985 THEN
                (ARRAY['passed', 'passed', 'passed', 'given_up', 'expired'])[1 + (g %% 5)]
                ELSE '' END AS result
    FROM (SELECT g, random() AS r FROM generate_series(1, %(count)s) AS g) AS draws
) AS s
"""

SEED_DEVICES = """
INSERT INTO rupt_guard_device (
    user_id, external_id, label, first_seen_at, last_seen_at, last_user_agent,
    verified_at, verification_method, verified_with, metadata, metadata_sync_pending)
SELECT %(user)s, 'bench-' || g, '', t, t, '',
       CASE WHEN g %% 3 = 0 THEN NULL ELSE t END, '', '', '{}', false
FROM (SELECT g, now() - (random() * interval '30 days') AS t
      FROM generate_series(1, %(count)s) AS g) AS devices
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    import django
    from django.test.utils import get_runner, setup_test_environment

    django.setup()
    setup_test_environment()
    from django.conf import settings

    runner = get_runner(settings)(verbosity=0, keepdb=args.keep)
    old = runner.setup_databases()
    try:
        run(args)
    finally:
        if not args.keep:
            runner.teardown_databases(old)


def run(args: argparse.Namespace) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from rupt_guard.models import CheckHistogram, CheckHour, LoginCheck, RollupState
    from rupt_guard.stats import figures
    from rupt_guard.testing import login_verified

    user_model = get_user_model()
    user = user_model.objects.filter(username="bench").first() or (
        user_model.objects.create_superuser("bench", "bench@example.com", "bench-password")
    )
    have = LoginCheck.objects.count()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        if have < args.checks:
            cursor.execute(SEED_CHECKS, {"user": user.pk, "count": args.checks - have})
            cursor.execute(SEED_DEVICES, {"user": user.pk, "count": (args.checks - have) // 10})
    # As autovacuum would have by then: statistics, and the visibility map that lets the
    # device count read the index alone.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    seeded = time.perf_counter() - started
    CheckHour.objects.all().delete()
    CheckHistogram.objects.all().delete()
    RollupState.objects.all().delete()

    client = Client()
    login_verified(client, user)
    url = "/admin/rupt_guard/dashboard/?period=30d"

    def timed() -> tuple[float, int]:
        with CaptureQueriesContext(connection) as queries:
            begin = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - begin
        assert response.status_code == 200
        return elapsed * 1000, len(queries)

    cold, cold_queries = timed()
    warm = [timed() for _ in range(args.rounds)]
    json_ms = []
    for _ in range(args.rounds):
        begin = time.perf_counter()
        figures.as_json()
        json_ms.append((time.perf_counter() - begin) * 1000)
    warm_ms = [ms for ms, _queries in warm]
    print(
        f"{LoginCheck.objects.count():,} login checks over 30 days (seeded in {seeded:.0f} s); "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"PostgreSQL {connection.pg_version // 10000}"
    )
    hours, buckets = CheckHour.objects.count(), CheckHistogram.objects.count()
    print(f"rollup rows: {hours:,} counts, {buckets:,} histogram")
    print(f"dashboard, 30 days, cold (fills the rollup): {cold:8.1f} ms, {cold_queries} queries")
    print(
        f"dashboard, 30 days, warm ({args.rounds} rounds):  "
        f"median {statistics.median(warm_ms):.1f} ms, slowest {max(warm_ms):.1f} ms, "
        f"{warm[0][1]} queries"
    )
    print(f"rupt_guard_stats --json's figures, warm:    median {statistics.median(json_ms):.1f} ms")


if __name__ == "__main__":
    main()
