"""The admin's dashboard (issue 19) over the benchmark's login checks, guarded site only.

Its first view of a period rolls up every complete hour not rolled up yet (``cold``);
later views read the rollup and count only the recent hours live (``warm``), which is
what an operator meets. In-process, on PostgreSQL, as the superuser ``bench-admin``.
"""

from __future__ import annotations

from benchmarks.bench import Bench
from benchmarks.figures import count, median, ms
from benchmarks.registry import Result, measurement

PATH = "/admin/rupt_guard/dashboard/?period=30d"


@measurement(
    "dashboard",
    "admin dashboard, last 30 days, 5 M checks in the table: first view (rollup) / later",
    "later views well under 1 s, fixed queries",
)
def dashboard(bench: Bench) -> Result:
    worker = bench.worker("guarded")
    cold = worker.call("page", path=PATH, username="bench-admin", count=1)
    warm = worker.call("page", path=PATH, username="bench-admin", count=bench.n(5, 2))
    if cold["status"] != 200 or warm["status"] != 200:
        raise RuntimeError(f"the dashboard answered {cold['status']} / {warm['status']}")
    later = median(warm["ms"])
    return Result(
        guarded=(
            f"{ms(cold['ms'][0])} ({cold['queries']} queries) / "
            f"{ms(later)} ({warm['queries']} queries)"
        ),
        met=later < 500,
        note=f"{count(bench.scale.checks)} checks" if bench.quick else "",
    )
