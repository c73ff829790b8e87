"""An ordinary page of a signed-in user: what the gate adds to every request."""

from __future__ import annotations

from benchmarks.bench import Bench, interleaved
from benchmarks.figures import median, ms, ratio, signed_ms
from benchmarks.registry import Result, measurement


@measurement(
    "ordinary",
    "ordinary authenticated request (in-process, PostgreSQL)",
    "keep: 0 added queries, ~1.00x",
)
def ordinary_request(bench: Bench) -> Result:
    plain, guarded = bench.worker("plain"), bench.worker("guarded")
    batch = bench.n(200, 30)

    def get(worker):
        return lambda: worker.call("page", path="/hello/", username="signin-1", count=batch)

    found = interleaved(bench.n(6, 2), {"plain": get(plain), "guarded": get(guarded)})
    plain_ms = median(t for run in found["plain"] for t in run["ms"])
    guarded_ms = median(t for run in found["guarded"] for t in run["ms"])
    added = found["guarded"][-1]["queries"] - found["plain"][-1]["queries"]
    return Result(
        plain=f"{ms(plain_ms)}, {found['plain'][-1]['queries']} queries",
        guarded=f"{ms(guarded_ms)}, {found['guarded'][-1]['queries']} queries",
        difference=f"{signed_ms(guarded_ms - plain_ms)}, {added:+d} queries",
        ratio=ratio(guarded_ms, plain_ms),
        # "Keep" allows the noise of a busy machine, not a query.
        met=added == 0 and guarded_ms / plain_ms <= 1.10,
    )
