"""The wheel carries everything the app needs at run time; the sdist, what its tests need."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
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


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> Path:
    """The project's sdist, built in this interpreter by setuptools (no isolation, no download)."""
    folder = tmp_path_factory.mktemp("sdist")
    build = "import sys; from setuptools import build_meta; build_meta.build_sdist(sys.argv[1])"
    subprocess.run(
        [sys.executable, "-c", build, str(folder)], cwd=ROOT, check=True, capture_output=True
    )
    (built,) = folder.glob("rupt_guard-*.tar.gz")
    return built


def test_sdist_carries_the_tests_and_what_they_need(sdist):
    with tarfile.open(sdist) as archive:
        names = {name.partition("/")[2] for name in archive.getnames()}
    tracked = subprocess.run(
        ["git", "ls-files", "rupt_guard", "tests", "example_project", "benchmarks", "docs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    needed = {"LICENSE", "CHANGELOG.md", "SECURITY.md", "README.md", "tox.ini", "pyproject.toml"}
    assert "docs/versioning.md" in tracked and "tests/run.py" in tracked
    assert (set(tracked) | needed) - names == set()
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)


def test_tests_run_from_the_unpacked_sdist(sdist, tmp_path):
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    (unpacked,) = tmp_path.glob("rupt_guard-*")
    # The sdist's own copy of the package comes first on the path, ahead of any install.
    env = {**os.environ, "PYTHONPATH": str(unpacked), "RUPT_GUARD_TEST_DB": "sqlite"}
    probe = "import rupt_guard; print(rupt_guard.__file__)"
    where = subprocess.run(
        [sys.executable, "-c", probe], cwd=unpacked, env=env, capture_output=True, text=True
    )
    assert where.stdout.startswith(str(unpacked)), where.stdout + where.stderr
    some_tests = ["tests/test_policy.py", "tests/test_without_drf.py"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *some_tests],
        cwd=unpacked,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout
