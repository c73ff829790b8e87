"""The wheel carries everything the app needs at run time."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project's wheel, built once without build isolation (no download)."""
    folder = tmp_path_factory.mktemp("dist")
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
            str(folder),
            str(ROOT),
        ],
        check=True,
    )
    (built,) = folder.glob("rupt_guard-*.whl")
    return built


def test_wheel_ships_migrations_templates_static_and_marker(wheel):
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


def test_wheel_registers_the_testing_kits_pytest_plugin(wheel):
    """Sites get the kit's fixtures from installing the package (pytest11 entry point)."""
    archive = zipfile.ZipFile(wheel)
    (entry_points,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = archive.read(entry_points).decode()
    assert "[pytest11]" in text
    assert "rupt_guard = rupt_guard.testing.plugin" in text


def test_wheel_installs_into_an_empty_environment_and_imports_without_settings(wheel, tmp_path):
    import venv

    venv.create(tmp_path / "env", with_pip=True)
    python = tmp_path / "env" / "bin" / "python"
    # --no-deps: the point is what the wheel itself carries, and no download is needed.
    subprocess.run(
        [python, "-I", "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], check=True
    )
    probe = (
        "import pathlib, rupt_guard; p = pathlib.Path(rupt_guard.__file__).parent; "
        "print(rupt_guard.__version__, p, all((p / f).is_file() for f in ("
        "'templates/rupt_guard/challenge.html', 'static/rupt_guard/identify.js', "
        "'local/static/rupt_guard_local/sdk.js', 'migrations/0001_initial.py', 'py.typed', "
        "'locale/fr/LC_MESSAGES/django.mo')))"
    )
    # -I: isolated, so neither PYTHONPATH nor the working directory can supply the source tree.
    result = subprocess.run(
        [python, "-I", "-c", probe], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert str(ROOT) not in result.stdout
    version, location, complete = result.stdout.split()
    assert (version, complete) == ("0.1.0", "True")
    assert location.startswith(str(tmp_path / "env"))
