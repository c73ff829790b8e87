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
    expected = {"rupt_guard/py.typed", "rupt_guard/migrations/0001_initial.py"}
    expected |= {
        str(path.relative_to(ROOT))
        for folder in ("templates", "static", "locale")
        for path in (ROOT / "rupt_guard" / folder).rglob("*")
        if path.is_file()
    }
    assert expected <= names
    assert not any(name.startswith(("tests/", "example_project/")) for name in names)
