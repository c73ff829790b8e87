#!/usr/bin/env python3
"""Set up and run the demo site: a virtual environment, the database, a demo user, the server.

    python3 example_project/demo.py [--port 8000] [--no-server]

Needs only Python. Everything lands in .venv-demo/ and example_project/db.sqlite3. A
second run installs nothing: .venv-demo/ keeps a stamp of what it was installed from (the
pyproject and the venv's Python), and pip runs again only when that changes.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = Path(os.environ.get("DEMO_VENV", ROOT / ".venv-demo"))
PYTHON = VENV / ("Scripts" if os.name == "nt" else "bin") / "python"
STAMP = VENV / "rupt-guard-demo.stamp"
EXTRAS = "demo"


def run(*args: str | Path, cwd: Path = HERE) -> None:
    subprocess.run([str(a) for a in args], cwd=cwd, check=True)


def install_stamp() -> str:
    """What the venv's packages were installed from: rupt_guard is installed editable, so
    its code needs no reinstall, only a change of its requirements or of the Python."""
    digest = hashlib.sha256(EXTRAS.encode())
    for source in (ROOT / "pyproject.toml", VENV / "pyvenv.cfg"):
        digest.update(source.read_bytes() if source.exists() else b"")
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", default="8000")
    parser.add_argument("--no-server", action="store_true", help="set up only")
    parser.add_argument("--totp", action="store_true", help="give the demo user a TOTP device")
    args = parser.parse_args()

    if not PYTHON.exists():
        print(f"Creating a virtual environment in {VENV.name}/ ...", flush=True)
        venv.create(VENV, with_pip=True)
    wanted = install_stamp()
    if not STAMP.exists() or STAMP.read_text() != wanted:
        print("Installing rupt_guard and its demo requirements ...", flush=True)
        run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip", cwd=ROOT)
        run(PYTHON, "-m", "pip", "install", "--quiet", "-e", f".[{EXTRAS}]", cwd=ROOT)
        STAMP.write_text(wanted)  # only once pip succeeded
    # One process migrates (when a migration is missing) and seeds the user.
    run(PYTHON, "manage.py", "seed_demo", "--migrate", *(["--totp"] if args.totp else []))
    if args.no_server:
        return 0
    print(
        f"""
Open http://127.0.0.1:{args.port}/private/ and sign in as demo / demo-pass-2026.
  1. The first sign-in from this browser is a new device: you land on "Confirm it is you".
     Press "Email me a code"; the email is printed below in this terminal. Type its code.
  2. Sign out and sign in again: no question, this browser is now verified.
  3. A private window (or another browser) is a new device: it is asked again.
  Staff view: http://127.0.0.1:{args.port}/admin/ (same user). Ctrl+C stops the server.
""",
        flush=True,
    )
    os.chdir(HERE)
    # seed_demo ran the system checks a moment ago, on the same settings.
    server = ["manage.py", "runserver", "--skip-checks", f"127.0.0.1:{args.port}"]
    os.execv(str(PYTHON), [str(PYTHON), *server])
    return 0


if __name__ == "__main__":
    sys.exit(main())
