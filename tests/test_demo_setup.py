"""example_project/demo.py run a second time installs nothing and starts at once.

The demo's virtual environment is stood in for by a folder whose ``bin/python`` writes
down every command it is given, then runs this suite's Python (pip commands are only
written down: a real pip install needs the network and minutes). So the test observes
exactly what demo.py asks the venv to do on a first and a second run.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "example_project" / "demo.py"

pytestmark = pytest.mark.skipif(os.name == "nt", reason="the stand-in python is a shell script")


def stand_in_venv(folder: Path) -> Path:
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True)
    (folder / "pyvenv.cfg").write_text(f"home = {Path(sys.executable).parent}\n")
    log = folder / "commands.log"
    python = bin_dir / "python"
    python.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{log}"\n'
        'if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then exit 0; fi\n'
        f'exec "{sys.executable}" "$@"\n'
    )
    python.chmod(0o755)
    return log


def set_up(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, str(DEMO), "--no-server"],
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )


def test_a_second_run_does_not_call_pip_and_keeps_the_database(tmp_path):
    log = stand_in_venv(tmp_path / "venv")
    env = {
        **os.environ,
        "DEMO_VENV": str(tmp_path / "venv"),
        "DEMO_DB": str(tmp_path / "db.sqlite3"),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)

    set_up(env)
    first = log.read_text().splitlines()
    assert [line for line in first if line.startswith("-m pip install")] == [
        "-m pip install --quiet --upgrade pip",
        "-m pip install --quiet -e .[demo]",
    ]
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        assert db.execute("SELECT username FROM auth_user").fetchall() == [("demo",)]

    log.write_text("")
    set_up(env)
    second = log.read_text().splitlines()
    assert not [line for line in second if "pip" in line]
    assert second == ["manage.py seed_demo --migrate"]  # one Django process, nothing else

    # A change of requirements (here: a stamp from another pyproject) installs again.
    (tmp_path / "venv" / "rupt-guard-demo.stamp").write_text("another pyproject")
    log.write_text("")
    set_up(env)
    assert "-m pip install --quiet -e .[demo]" in log.read_text().splitlines()
