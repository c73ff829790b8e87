#!/usr/bin/env python3
"""Set up a virtual environment and run the whole suite: lint, migrations, SQLite, PostgreSQL.

    python3 tests/run.py [pytest arguments]

Needs only Python. PostgreSQL (127.0.0.1:5432, user postgres) and Redis (127.0.0.1:6379)
are used when they answer; with RUPT_GUARD_REQUIRE_POSTGRES=1 and RUPT_GUARD_REQUIRE_REDIS=1
(as CI sets) a missing one fails the run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("RUPT_GUARD_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], cwd=ROOT, check=True, env=env)


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def postgres_answers() -> bool:
    return answers(os.environ.get("PGHOST", "127.0.0.1"), int(os.environ.get("PGPORT", "5432")))


def run_allauth_site(pytest_args: list[str], env: dict[str, str]) -> None:
    """tests/with_allauth: the django-allauth site, under its own settings. Arguments that
    select none of its tests (``-k provider``) are not a failure (pytest's exit code 5)."""
    if any((ROOT / a.split("::")[0]).exists() for a in pytest_args if not a.startswith("-")):
        return  # the caller named the tests to run
    settings = {**env, "DJANGO_SETTINGS_MODULE": "tests.with_allauth.settings"}
    args = [str(PYTHON), "-m", "pytest", *pytest_args, "tests/with_allauth"]
    print("+", " ".join(args), flush=True)
    code = subprocess.run(args, cwd=ROOT, env=settings).returncode
    if code not in (0, 5):
        raise subprocess.CalledProcessError(code, args)


def main(pytest_args: list[str]) -> int:
    if not PYTHON.exists():
        venv.create(VENV, with_pip=True)
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[test]")

    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    run(BIN / "ruff", "check", ".")
    run(BIN / "ruff", "format", "--check", ".")
    run(PYTHON, "-m", "django", "makemigrations", "--check", "--dry-run", env=env)

    if not answers("127.0.0.1", 6379):
        if os.environ.get("RUPT_GUARD_REQUIRE_REDIS") == "1":
            print("Redis does not answer on 127.0.0.1:6379 and this run requires it.")
            return 1
        print("Redis does not answer on 127.0.0.1:6379: the shared cache is tested on files.")
    try:
        run(PYTHON, "-m", "pytest", *pytest_args, env={**env, "RUPT_GUARD_TEST_DB": "sqlite"})
        run_allauth_site(pytest_args, {**env, "RUPT_GUARD_TEST_DB": "sqlite"})
        if postgres_answers():
            run(PYTHON, "-m", "pytest", *pytest_args, env={**env, "RUPT_GUARD_TEST_DB": "postgres"})
            run_allauth_site(pytest_args, {**env, "RUPT_GUARD_TEST_DB": "postgres"})
        elif os.environ.get("RUPT_GUARD_REQUIRE_POSTGRES") == "1":
            print("PostgreSQL does not answer on 127.0.0.1:5432 and this run requires it.")
            return 1
        else:
            print("PostgreSQL does not answer on 127.0.0.1:5432: the PostgreSQL pass was not run.")
    except subprocess.CalledProcessError as exc:
        return exc.returncode or 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
