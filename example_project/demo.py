#!/usr/bin/env python3
"""Set up and run the demo site: a virtual environment, the database, a demo user, the server.

    python3 example_project/demo.py [--port 8000] [--no-server]

Needs only Python. Everything lands in .venv-demo/ and example_project/db.sqlite3.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = ROOT / ".venv-demo"
PYTHON = VENV / ("Scripts" if os.name == "nt" else "bin") / "python"


def run(*args: str | Path, cwd: Path = HERE) -> None:
    subprocess.run([str(a) for a in args], cwd=cwd, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", default="8000")
    parser.add_argument("--no-server", action="store_true", help="set up only")
    parser.add_argument("--totp", action="store_true", help="give the demo user a TOTP device")
    args = parser.parse_args()

    if not PYTHON.exists():
        print("Creating a virtual environment in .venv-demo/ ...", flush=True)
        venv.create(VENV, with_pip=True)
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip", cwd=ROOT)
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[demo]", cwd=ROOT)
    run(PYTHON, "manage.py", "migrate", "--verbosity", "0")
    run(PYTHON, "manage.py", "seed_demo", *(["--totp"] if args.totp else []))
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
    os.execv(str(PYTHON), [str(PYTHON), "manage.py", "runserver", f"127.0.0.1:{args.port}"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
