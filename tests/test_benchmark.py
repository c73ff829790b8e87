"""benchmarks/run.py --quick runs to the end and prints every row (issue #17).

Speed targets live in the benchmark, never here: this asserts that the command works, not
how fast anything is. PostgreSQL pass only (the benchmark builds its own PostgreSQL
database, ``rupt_guard_bench_pytest``), and only with the ``bench`` extra (gunicorn).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        importlib.util.find_spec("gunicorn") is None, reason="needs the bench extra (gunicorn)"
    ),
]


def test_quick_benchmark_measures_every_row():
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks.registry import ROWS
        from benchmarks.rows import signin  # noqa: F401 - registers every row
    finally:
        sys.path.remove(str(ROOT))

    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--quick",
            "--database",
            "rupt_guard_bench_pytest",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    for row in ROWS:
        assert f"| {row.what}" in done.stdout, row.key
    assert "ERROR" not in done.stdout
