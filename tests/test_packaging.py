"""The wheel carries everything the app needs at run time."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_migrations_templates_static_and_marker(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("rupt_guard-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    # Every file of the app that git tracks: code, migrations, templates, static, locale.
    tracked = subprocess.run(
        ["git", "ls-files", "rupt_guard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    expected = set(tracked) | {"rupt_guard/py.typed", "rupt_guard/migrations/0001_initial.py"}
    assert any(name.startswith("rupt_guard/templates/") for name in expected)
    assert any(name.startswith("rupt_guard/local/static/") for name in expected)
    assert expected - names == set()
    assert not any(name.startswith(("tests/", "example_project/")) for name in names)
