"""``manage.py rupt_guard_prune`` over the old half of the login checks.

It runs last (it deletes what the page rows read) but prints in its place.
"""

from __future__ import annotations

import subprocess
import time

from benchmarks import data
from benchmarks.bench import PYTHON, ROOT, Bench
from benchmarks.figures import count
from benchmarks.registry import Result, measurement


@measurement(
    "prune",
    "`rupt_guard_prune`, 2.5 M checks deleted",
    ">= 100 k rows/s",
    runs_last=True,
)
def prune(bench: Bench) -> Result:
    before = data.count(bench.pg_database, "rupt_guard_logincheck")
    started = time.perf_counter()
    subprocess.run(  # noqa: S603 - our own manage command
        [PYTHON, "-m", "django", "rupt_guard_prune", "--checks-days", "180"],
        cwd=ROOT,
        env=bench.env("guarded"),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    deleted = before - data.count(bench.pg_database, "rupt_guard_logincheck")
    rate = deleted / seconds
    return Result(
        guarded=f"{seconds:.1f} s ({count(rate)} rows/s)",
        met=rate >= 100_000,
        note=f"{count(deleted)} checks deleted" if bench.quick else "",
    )
