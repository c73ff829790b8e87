"""The machine and the versions a table was measured on, for its heading."""

from __future__ import annotations

import os
import platform
import sqlite3
from importlib.metadata import version
from pathlib import Path

from benchmarks import data


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _ram_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    return "RAM unknown"


def describe() -> str:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({_cpu_model()}), {_ram_gib()}, load average {load} at the "
        f"start; Python {platform.python_version()}, Django {version('django')}, "
        f"PostgreSQL {data.server_version()}, SQLite {sqlite3.sqlite_version}, "
        f"gunicorn {version('gunicorn')}, {platform.system()} {platform.release()}"
    )
