"""What the gunicorn workers hold: their provider connections and their memory."""

from __future__ import annotations

from benchmarks import load
from benchmarks.bench import Bench, rss_mib
from benchmarks.fake_rupt import token_for
from benchmarks.figures import count, median, ratio
from benchmarks.registry import Result, measurement


@measurement(
    "provider_connections",
    "provider connections for 3,600 sign-ins, 4 workers",
    "keep: 4 (keep-alive)",
)
def provider_connections(bench: Bench) -> Result:
    # Fresh workers: the connections they open are all counted, none kept from a row before.
    bench.stop_gunicorn("guarded", "md5")
    bench.fake("/bench/reset", {})
    server = bench.gunicorn("guarded")
    clients, each = 50, bench.n(72, 4)  # 3,600 sign-ins, or 200
    found = load.run(
        server.port,
        clients,
        each,
        account=lambda i: f"signin-{i}",
        token=lambda i: token_for(f"known-{i}", load.nonce()),
        lands_on="/hello/",
    )
    stats = bench.fake("/bench/stats")
    return Result(
        guarded=(
            f"{stats['connections']} for {stats['requests']} calls"
            + (f" ({found.unexpected} sign-ins failed)" if found.unexpected else "")
        ),
        met=stats["connections"] <= server.workers,
        note=f"{count(clients * each)} sign-ins" if bench.quick else "",
    )


@measurement(
    "memory",
    "gunicorn worker memory (RSS after the sign-in rows), core configuration",
    "within 10 %",
)
def worker_memory(bench: Bench) -> Result:
    found = {}
    for variant in ("plain", "guarded"):
        server = bench.gunicorn(variant)
        # Warm each worker: a fresh one has not imported the views or run a sign-in yet.
        load.run(
            server.port,
            8,
            2,
            account=lambda i: f"signin-{i}",
            token=lambda i, v=variant: (
                None if v == "plain" else token_for(f"known-{i}", load.nonce())
            ),
            lands_on="/hello/",
        )
        found[variant] = median(rss_mib(pid) for pid in server.worker_pids())
    plain, guarded = found["plain"], found["guarded"]
    return Result(
        plain=f"{plain:.0f} MiB",
        guarded=f"{guarded:.0f} MiB",
        difference=f"{guarded - plain:+.0f} MiB",
        ratio=ratio(guarded, plain),
        met=guarded <= plain * 1.10,
    )
