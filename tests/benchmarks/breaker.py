#!/usr/bin/env python3
"""What a provider outage costs a sign-in, without and with the circuit breaker.

    .venv/bin/python tests/benchmarks/breaker.py [--rounds 50]

Two kinds of black hole on loopback, each measured over --rounds form sign-ins:
- "dropped SYN": a listening socket whose accept queue is full, so Linux drops new SYNs
  (a firewall that swallows packets): each call waits CONNECT_TIMEOUT;
- "silent server": the connection opens, no answer ever comes: each call waits TIMEOUT.
Without the breaker (a threshold no outage reaches) every sign-in waits; with it (the
defaults) the first BREAKER_FAILURES wait and the rest fail fast. The shared cache is
whatever tests/settings.py picks (Redis when it answers). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.cache import caches  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from rupt_guard.providers import breaker  # noqa: E402

PASSWORD = "bench-password"


def dropped_syn() -> tuple[str, list[socket.socket]]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers = []
    for _ in range(3):  # fill the accept queue: later SYNs are dropped
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(server.getsockname())
        fillers.append(filler)
    time.sleep(0.1)
    return f"http://127.0.0.1:{server.getsockname()[1]}", [server, *fillers]


def silent_server() -> tuple[str, list[socket.socket]]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []

    def accept_and_say_nothing() -> None:
        while True:
            try:
                connection_, _ = server.accept()
            except OSError:
                return
            held.append(connection_)

    threading.Thread(target=accept_and_say_nothing, daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}", [server, *held]


def measure(rounds: int) -> list[float]:
    client = Client()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = client.post(
            "/accounts/login/",
            # A fresh token each time: a token is claimed once, and a replay never calls out.
            {"username": "bench", "password": PASSWORD, "rupt_identification": uuid.uuid4().hex},
        )
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 302, response.status_code
        client.logout()
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"p50 {statistics.median(ordered):8.1f} ms   p95 {p95:8.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    setup_test_environment()
    real_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    get_user_model().objects.create_user("bench", "bench@example.com", PASSWORD)
    cache = caches["default"]
    print(
        f"{args.rounds} sign-ins each; {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {connection.vendor}, "
        f"cache {cache.__class__.__name__}; TIMEOUT 2 s, CONNECT_TIMEOUT 0.5 s\n"
    )
    for label, black_hole in (("dropped SYN", dropped_syn), ("silent server", silent_server)):
        url, sockets = black_hole()
        base = {
            "CLIENT_ID": "c",
            "API_SECRET": "sk_bench",
            "API_BASE_URL": url,
            "TIMEOUT": 2.0,
            "SIGN_IN_RATES": {"account": None, "address": None},
        }
        for mode, extra in (
            ("without the breaker", {"BREAKER_FAILURES": 10**6}),
            ("with the breaker", {}),
        ):
            cache.clear()
            with override_settings(RUPT_GUARD={**base, **extra}):
                breaker.force(None)
                times = measure(args.rounds)
                state = breaker.status().state.value
            print(f"{label:<14} {mode:<20} {summary(times)}   breaker {state}")
        for sock in sockets:
            sock.close()
    connection.creation.destroy_test_db(real_name, verbosity=0)


if __name__ == "__main__":
    main()
