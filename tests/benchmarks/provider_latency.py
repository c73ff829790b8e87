#!/usr/bin/env python3
"""What one Rupt completion costs in the client, against the fake Rupt on loopback.

    .venv/bin/python tests/benchmarks/provider_latency.py [--calls 500]

Compares the provider as shipped (one pooled keep-alive connection, with the deadline
watchdog) with a fresh connection per call, so the pooling's worth is visible. Loopback
has no network latency: against the real Rupt each new TLS connection costs one or two
more round trips on top. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from django.conf import settings

settings.configure(USE_TZ=True)

from rupt_guard.providers.rupt import RuptProvider  # noqa: E402
from rupt_guard.testing.fake_rupt import SECRET, start_fake_rupt  # noqa: E402


def measure(label: str, calls: int, complete) -> None:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        complete()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    print(
        f"{label:<36} median {statistics.median(times):6.3f} ms   "
        f"p95 {times[int(calls * 0.95) - 1]:6.3f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    fake, server = start_fake_rupt()
    pooled = RuptProvider(API_SECRET=SECRET, API_BASE_URL=fake.url, TIMEOUT=2)
    print(f"{args.calls} completions each, fake Rupt on loopback\n")
    measure(
        "pooled keep-alive (as shipped)",
        args.calls,
        lambda: pooled.complete(fake.identify("d"), "1"),
    )

    def fresh_connection() -> None:
        provider = RuptProvider(API_SECRET=SECRET, API_BASE_URL=fake.url, TIMEOUT=2)
        provider.complete(fake.identify("d"), "1")
        provider.close()

    measure("new connection per call", args.calls, fresh_connection)
    ports = {seen.client_port for seen in fake.requests[: args.calls]}
    print(f"\nconnections used by the pooled provider: {len(ports)}")
    server.shutdown()


if __name__ == "__main__":
    main()
