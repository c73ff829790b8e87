"""The demo site's own tests (example_project/tests) pass: the testing kit's worked example.

They run as a site runs its tests, in a pytest of their own with the demo's settings
(example_project/pytest.ini), so they are run from here as a subprocess.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="the demo's tests use its own database, SQLite: they run in the SQLite pass",
)
def test_the_demo_sites_own_tests_pass():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("DJANGO_SETTINGS_MODULE", "PYTEST_ADDOPTS", "RUPT_CLIENT_ID", "RUPT_API_SECRET"):
        env.pop(name, None)  # the demo's own settings, with its local provider
    plugin = []
    if not any(ep.value == "rupt_guard.testing.plugin" for ep in entry_points(group="pytest11")):
        plugin = ["-p", "rupt_guard.testing.plugin"]  # an install older than its entry point
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *plugin, "example_project"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed >= 10 and "skipped" not in summary, summary
