#!/usr/bin/env python3
"""The benchmark of issue #17: plain Django and rupt_guard side by side, in one run.

    .venv/bin/python benchmarks/run.py [--quick] [--only ROW ...] [--rows-scale N]

Builds its own PostgreSQL database (``rupt_guard_bench``, dropped at the end) with a million
devices and five million login checks (``--quick``: a hundredth, for CI; ``--rows-scale``
multiplies the full sizes), starts the fake Rupt in its own process (no added latency),
one worker process per variant and database, and gunicorn when a row needs HTTP; measures
every row with the variants interleaved, then prints a Markdown table: each variant's
median, the difference, the ratio, the target and whether it is met. Needs PostgreSQL on
127.0.0.1:5432 (user postgres) and Redis on 127.0.0.1:6379 (database 13 is flushed), and
the ``bench`` extra (gunicorn). Exits 1 when a row could not be measured; a missed target
is reported, never an error: speed targets live here, not in timed tests.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

# The repository, not benchmarks/ itself, is the import root (a module here named like one
# of the standard library's must not shadow it).
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks import data, machine  # noqa: E402
from benchmarks.bench import PYTHON, ROOT, Bench  # noqa: E402
from benchmarks.registry import ROWS, Result, Row  # noqa: E402
from benchmarks.rows import signin  # noqa: E402, F401 - registers every row

DATABASE = "rupt_guard_bench"
# The bench site's shared cache (benchmarks/site/settings.py reads the same variable).
REDIS = os.environ.get("RUPT_BENCH_REDIS", "redis://127.0.0.1:6379/13")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def start_fake_rupt() -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(  # noqa: S603
        [PYTHON, "-m", "benchmarks.fake_rupt", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    port = int(process.stdout.readline())  # type: ignore[union-attr]
    return process, f"http://127.0.0.1:{port}"


def migrate(bench: Bench, db: str) -> None:
    subprocess.run(  # noqa: S603
        [PYTHON, "-m", "django", "migrate", "--verbosity=0"],
        cwd=ROOT,
        env=bench.env("guarded", db),
        check=True,
    )


def build(bench: Bench, rows: list[Row]) -> None:
    import redis

    # The site's shared cache: start without an open breaker or counters of a past run.
    redis.Redis.from_url(REDIS).flushdb()
    started = time.perf_counter()
    data.recreate(bench.pg_database)
    migrate(bench, "postgres")
    data.load(bench.pg_database, bench.scale)
    say(f"PostgreSQL data built in {time.perf_counter() - started:.0f} s")
    pairs = bench.worker("guarded").call("seed", accounts=bench.accounts)["pairs"]
    if any(row.key == "signin" for row in rows):
        migrate(bench, "sqlite")
        pairs += bench.worker("guarded", "sqlite").call("seed", accounts=bench.accounts)["pairs"]
    bench.fake("/bench/seen", {"pairs": pairs})


def table(bench: Bench, results: dict[str, Result], rows: list[Row]) -> str:
    lines = [
        "| what | plain Django | rupt_guard | difference | ratio | target | result |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        result = results[row.key]
        what = row.what + (f" ({bench.scale.label}: {result.note})" if result.note else "")
        verdict = {True: "PASS", False: "MISS", None: "-"}[result.met]
        if result.guarded.startswith("error"):
            verdict = "ERROR"
        cells = [what, result.plain, result.guarded, result.difference, result.ratio]
        lines.append("| " + " | ".join([*cells, row.target, verdict]) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, few rounds (CI)")
    parser.add_argument("--only", nargs="+", metavar="ROW", choices=[r.key for r in ROWS])
    parser.add_argument("--rows-scale", type=float, default=1.0, help="multiply the full sizes")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--database",
        default=DATABASE,
        help=f"the PostgreSQL database to create and drop (default {DATABASE})",
    )
    parser.add_argument("--sql", action="store_true", help="print the sign-in statements")
    args = parser.parse_args(argv)

    scale = data.QUICK if args.quick else data.FULL
    if args.rows_scale != 1.0:
        scale = data.scaled(scale, args.rows_scale)
    rows = [row for row in ROWS if not args.only or row.key in args.only]
    heading = machine.describe()
    begun = time.perf_counter()
    fake, fake_url = start_fake_rupt()
    # SQLite in memory-backed files where there are some: the sign-in's own cost, not the
    # fsync of a shared disk (which timed 5 to 46 ms for the same plain sign-in here).
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108
    workdir = tempfile.TemporaryDirectory(prefix="rupt-guard-bench-", dir=shm)
    bench = Bench(
        quick=args.quick,
        scale=scale,
        fake_url=fake_url,
        pg_database=args.database,
        sqlite_path=str(Path(workdir.name) / "bench.sqlite3"),
        accounts=200 if not args.quick else 50,
        show_sql=args.sql,
    )
    results: dict[str, Result] = {}
    try:
        build(bench, rows)
        for row in sorted(rows, key=lambda r: r.runs_last):
            say(f"measuring {row.key} ...")
            started = time.perf_counter()
            try:
                results[row.key] = row.measure(bench)
            except Exception as exc:
                traceback.print_exc()
                results[row.key] = Result(guarded=f"error: {exc}"[:200])
            say(f"  {row.key}: {time.perf_counter() - started:.0f} s")
    finally:
        bench.close()
        fake.terminate()
        fake.wait()
        if not args.keep:
            data.drop(args.database)
        workdir.cleanup()

    mode = f"--quick, {scale.label} sizes" if args.quick else "full"
    print(
        f"Measured {datetime.date.today():%Y-%m-%d} ({mode}, {time.perf_counter() - begun:.0f} s)"
    )
    print(f"on {heading}.\n")
    print(table(bench, results, rows))
    return 1 if any(r.guarded.startswith("error") for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
