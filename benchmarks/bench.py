"""What one run holds: its settings, the fake Rupt, the workers and gunicorn servers.

Everything is started on first use and stopped by :meth:`Bench.close`, so a row that is
not selected (``--only``) starts nothing of its own.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from benchmarks.data import Scale

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Worker:
    """A long-lived ``benchmarks.worker`` process: one variant, one database."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            [PYTHON, "-m", "benchmarks.worker"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def call(self, op: str, **arguments: Any) -> dict[str, Any]:
        stdin: IO[str] = self.process.stdin  # type: ignore[assignment]
        stdout: IO[str] = self.process.stdout  # type: ignore[assignment]
        stdin.write(json.dumps({"op": op, **arguments}) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited ({self.process.wait()}) during {op}")
        answer = json.loads(line)
        if not answer.pop("ok"):
            raise RuntimeError(f"{op}: {answer['error']}")
        return answer

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=30)


class Gunicorn:
    """``gunicorn -w N`` (sync workers) serving one variant of the site over HTTP."""

    def __init__(self, env: dict[str, str], workers: int) -> None:
        self.port = free_port()
        self.workers = workers
        self.process = subprocess.Popen(  # noqa: S603
            [
                str(Path(PYTHON).parent / "gunicorn"),
                "benchmarks.site.wsgi:application",
                f"--workers={workers}",
                "--worker-class=sync",
                f"--bind=127.0.0.1:{self.port}",
                "--backlog=2048",
                "--timeout=120",
                "--log-level=warning",
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/login/") as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)

    def worker_pids(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                # The fields after the command's closing parenthesis: state, ppid, ...
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    pids.append(int(entry.name))
        return pids

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


@dataclass
class Bench:
    quick: bool
    scale: Scale
    fake_url: str
    pg_database: str
    sqlite_path: str
    accounts: int = 200  # sign-in accounts seeded, one a concurrent client
    show_sql: bool = False
    workers: dict[tuple[str, str], Worker] = field(default_factory=dict)
    servers: dict[tuple[str, str], Gunicorn] = field(default_factory=dict)

    def env(self, variant: str, db: str = "postgres", hasher: str = "md5") -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "benchmarks.site.settings",
            "RUPT_BENCH_VARIANT": variant,
            "RUPT_BENCH_DB": db,
            "RUPT_BENCH_PGDATABASE": self.pg_database,
            "RUPT_BENCH_SQLITE": self.sqlite_path,
            "RUPT_BENCH_HASHER": hasher,
            "RUPT_BENCH_RUPT_URL": self.fake_url,
        }

    def n(self, full: int, quick: int) -> int:
        """How many of something: ``full`` in a full run, ``quick`` with --quick."""
        return quick if self.quick else full

    def worker(self, variant: str, db: str = "postgres") -> Worker:
        if (variant, db) not in self.workers:
            self.workers[variant, db] = Worker(self.env(variant, db))
        return self.workers[variant, db]

    def gunicorn(self, variant: str, hasher: str = "md5") -> Gunicorn:
        if (variant, hasher) not in self.servers:
            self.servers[variant, hasher] = Gunicorn(self.env(variant, hasher=hasher), 4)
        return self.servers[variant, hasher]

    def stop_gunicorn(self, variant: str, hasher: str) -> None:
        # Idle servers still hold memory and connections; a row that is done stops its own.
        server = self.servers.pop((variant, hasher), None)
        if server:
            server.close()

    def fake(self, path: str, body: Any = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.fake_url + path, data=data)  # noqa: S310
        with urllib.request.urlopen(request) as answer:  # noqa: S310
            return json.loads(answer.read())

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()
        for server in self.servers.values():
            server.close()
        self.workers.clear()
        self.servers.clear()


def interleaved(rounds: int, variants: dict[str, Any]) -> dict[str, list[Any]]:
    """Call each variant's function once a round, in alternating order (ABBA...), so
    neither always runs first (warmer caches) nor always under the same background load."""
    results: dict[str, list[Any]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else reversed(names):
            results[name].append(variants[name]())
    return results
