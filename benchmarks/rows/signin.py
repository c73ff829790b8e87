"""One sign-in in-process (Django's test Client: no HTTP, no server), and its statements."""

from __future__ import annotations

from benchmarks.bench import Bench, interleaved
from benchmarks.figures import median, ms, ratio, signed_ms
from benchmarks.registry import Result, measurement

# The guarded sign-in may add this much to plain Django's, per database (issue #17).
ADDED_MS = {"sqlite": 2.0, "postgres": 3.0}


def _latency(bench: Bench, db: str) -> tuple[float, float]:
    plain, guarded = bench.worker("plain", db), bench.worker("guarded", db)
    batch = bench.n(50, 10)
    for worker in (plain, guarded):
        worker.call("signin", count=5)  # warm: templates, connections, first queries
    times = interleaved(
        bench.n(8, 3),
        {
            "plain": lambda: plain.call("signin", count=batch)["ms"],
            "guarded": lambda: guarded.call("signin", count=batch)["ms"],
        },
    )
    return (
        median(t for batch_ in times["plain"] for t in batch_),
        median(t for batch_ in times["guarded"] for t in batch_),
    )


@measurement(
    "signin",
    "one sign-in, MD5 hasher, SQLite / PostgreSQL, median (in-process test Client)",
    "plain + 2 ms / + 3 ms, on a quiet run",
)
def one_sign_in(bench: Bench) -> Result:
    found = {db: _latency(bench, db) for db in ("sqlite", "postgres")}
    (sp, sg), (pp, pg) = found["sqlite"], found["postgres"]
    return Result(
        plain=f"{ms(sp)} / {ms(pp)}",
        guarded=f"{ms(sg)} / {ms(pg)}",
        difference=f"{signed_ms(sg - sp)} / {signed_ms(pg - pp)}",
        ratio=f"{ratio(sg, sp)} / {ratio(pg, pp)}",
        met=sg - sp <= ADDED_MS["sqlite"] and pg - pp <= ADDED_MS["postgres"],
    )


@measurement(
    "statements",
    "statements per allowed sign-in (PostgreSQL, BEGIN and COMMIT counted)",
    "<= 15, in one transaction",
)
def statements(bench: Bench) -> Result:
    plain = bench.worker("plain").call("statements")
    guarded = bench.worker("guarded").call("statements")

    def said(found: dict) -> str:
        savepoints = f", {found['savepoints']} savepoints" if found["savepoints"] else ""
        ours = f" ({found['ours']} writing rupt_guard's)" if found["ours"] else ""
        return f"{found['statements']}, in {found['transactions']} transactions{ours}{savepoints}"

    if bench.show_sql:
        for name, found in (("plain", plain), ("guarded", guarded)):
            print(f"-- {name}: {said(found)}")
            print("\n".join(f"   {sql[:160]}" for sql in found["sql"]))
    return Result(
        plain=said(plain),
        guarded=said(guarded),
        difference=f"+{guarded['statements'] - plain['statements']}",
        ratio=ratio(guarded["statements"], plain["statements"]),
        # One transaction of rupt_guard's own: Django's session writes keep theirs.
        met=guarded["statements"] <= 15 and guarded["ours"] <= 1,
    )
