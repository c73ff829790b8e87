#!/usr/bin/env python3
"""Set up virtual environments and run the whole suite on the oldest and the newest
supported pair: lint, types, migrations, then SQLite and PostgreSQL on each.

    python3 tests/run.py [pytest arguments]

Needs only Python. The oldest pair is this Python (3.11, as CI runs it) with Django 5.2, in
.venv/; the newest is Python 3.13 with Django 6.1, in .venv-newest/ (found on PATH, under
pyenv, or named by RUPT_GUARD_NEWEST_PYTHON). The whole matrix is one `tox` away.
PostgreSQL (127.0.0.1:5432, user postgres) and Redis (127.0.0.1:6379) are used when they
answer; with RUPT_GUARD_REQUIRE_POSTGRES=1, RUPT_GUARD_REQUIRE_REDIS=1 and
RUPT_GUARD_REQUIRE_NEWEST=1 (as CI sets) a missing one fails the run.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEWEST_PYTHON = "3.13"


@dataclass(frozen=True)
class Env:
    """One virtual environment: a Python and the Django it tests."""

    name: str
    folder: Path
    python: str
    django: str
    # The package's extras: the oldest pair also builds the manual (the docs extra).
    extras: str = "test"

    @property
    def bin(self) -> Path:
        return self.folder / ("Scripts" if os.name == "nt" else "bin")

    def install(self) -> None:
        """Install the package and its extras, unless nothing they depend on changed."""
        requirements = [f"-e{ROOT}[{self.extras}]", self.django]
        stamp = self.folder / ".rupt-guard-installed"
        digest = hashlib.sha256(
            (ROOT / "pyproject.toml").read_bytes() + " ".join(requirements).encode()
        ).hexdigest()
        if not (self.bin / "python").exists():
            run(self.python, "-m", "venv", self.folder)
        elif stamp.exists() and stamp.read_text() == digest:
            print(f"{self.name}: {self.folder.name} is up to date", flush=True)
            return
        run(self.bin / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        run(self.bin / "python", "-m", "pip", "install", "--quiet", *requirements)
        stamp.write_text(digest)


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


def run_allauth_site(python: Path, pytest_args: list[str], env: dict[str, str]) -> None:
    """tests/with_allauth: the django-allauth site, under its own settings. Arguments that
    select none of its tests (``-k provider``) are not a failure (pytest's exit code 5)."""
    if any((ROOT / a.split("::")[0]).exists() for a in pytest_args if not a.startswith("-")):
        return  # the caller named the tests to run
    settings = {**env, "DJANGO_SETTINGS_MODULE": "tests.with_allauth.settings"}
    args = [str(python), "-m", "pytest", *pytest_args, "tests/with_allauth"]
    print("+", " ".join(args), flush=True)
    code = subprocess.run(args, cwd=ROOT, env=settings).returncode
    if code not in (0, 5):
        raise subprocess.CalledProcessError(code, args)


def find_python(version: str) -> str | None:
    """An interpreter of ``version`` that runs (a pyenv shim may exist and refuse)."""
    named = os.environ.get("RUPT_GUARD_NEWEST_PYTHON")
    candidates = [named] if named else []
    candidates += [shutil.which(f"python{version}") or ""]
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{version}*/bin/python{version}"))
    candidates += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for candidate in filter(None, candidates):
        probe = [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
        try:
            found = subprocess.run(probe, capture_output=True, text=True, check=False)
        except OSError:
            continue
        if found.returncode == 0 and found.stdout.strip() == version:
            return candidate
    return None


def suite(env: Env, pytest_args: list[str]) -> int:
    """pytest on SQLite, then on PostgreSQL when it answers, each followed by the
    django-allauth site's pass (0: passed)."""
    test_env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    python = env.bin / "python"
    pytest = [python, "-m", "pytest", *pytest_args]
    print(f"{env.name}:", flush=True)
    run(*pytest, env={**test_env, "RUPT_GUARD_TEST_DB": "sqlite"})
    run_allauth_site(python, pytest_args, {**test_env, "RUPT_GUARD_TEST_DB": "sqlite"})
    if postgres_answers():
        run(*pytest, env={**test_env, "RUPT_GUARD_TEST_DB": "postgres"})
        run_allauth_site(python, pytest_args, {**test_env, "RUPT_GUARD_TEST_DB": "postgres"})
    elif os.environ.get("RUPT_GUARD_REQUIRE_POSTGRES") == "1":
        print("PostgreSQL does not answer on 127.0.0.1:5432 and this run requires it.")
        return 1
    else:
        print("PostgreSQL does not answer on 127.0.0.1:5432: the PostgreSQL pass was not run.")
    return 0


def main(pytest_args: list[str]) -> int:
    oldest = Env(
        "oldest (this Python, Django 5.2)",
        Path(os.environ.get("RUPT_GUARD_VENV", ROOT / ".venv")),
        sys.executable,
        "django>=5.2,<5.3",
        extras="test,docs",
    )
    oldest.install()

    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    run(oldest.bin / "ruff", "check", ".")
    run(oldest.bin / "ruff", "format", "--check", ".")
    run(oldest.bin / "mypy", env=env)  # [tool.mypy] in pyproject.toml: strict on rupt_guard
    run(oldest.bin / "python", "-m", "django", "makemigrations", "--check", "--dry-run", env=env)
    # The manual (docs/): any warning, a broken link or anchor among them, fails the run.
    sphinx = [oldest.bin / "python", "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    with tempfile.TemporaryDirectory() as html:
        run(*sphinx, "docs", html)

    if not answers("127.0.0.1", 6379):
        if os.environ.get("RUPT_GUARD_REQUIRE_REDIS") == "1":
            print("Redis does not answer on 127.0.0.1:6379 and this run requires it.")
            return 1
        print("Redis does not answer on 127.0.0.1:6379: the shared cache is tested on files.")

    newest_python = find_python(NEWEST_PYTHON)
    try:
        if failed := suite(oldest, pytest_args):
            return failed
        if newest_python is None:
            print(f"No Python {NEWEST_PYTHON} here: the newest pair was not run.")
            return 1 if os.environ.get("RUPT_GUARD_REQUIRE_NEWEST") == "1" else 0
        newest = Env(
            f"newest (Python {NEWEST_PYTHON}, Django 6.1)",
            Path(os.environ.get("RUPT_GUARD_NEWEST_VENV", ROOT / ".venv-newest")),
            newest_python,
            "django>=6.1,<6.2",
        )
        newest.install()
        return suite(newest, pytest_args)
    except subprocess.CalledProcessError as exc:
        return exc.returncode or 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
