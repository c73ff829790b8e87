from __future__ import annotations

from collections.abc import Iterator

import pytest

from rupt_guard.providers import reset_provider

from .fake_rupt import SECRET, FakeRupt, start_fake_rupt


@pytest.fixture(scope="session")
def _fake_rupt() -> Iterator[FakeRupt]:
    fake, server = start_fake_rupt()
    yield fake
    server.shutdown()


@pytest.fixture
def rupt_server(_fake_rupt: FakeRupt, settings) -> Iterator[FakeRupt]:
    """A fake Rupt on loopback; the app's settings point at it for this test."""
    fake = _fake_rupt
    fake.reset()
    settings.RUPT_GUARD = {
        "CLIENT_ID": "test-client",
        "API_SECRET": SECRET,
        "API_BASE_URL": fake.url,
        "TIMEOUT": 1.0,
    }
    yield fake
    reset_provider()


@pytest.fixture
def guard_settings_override(settings):
    """Merge keys into ``settings.RUPT_GUARD`` (which triggers a reload)."""

    def override(**values):
        settings.RUPT_GUARD = {**settings.RUPT_GUARD, **values}

    return override


def pytest_collection_modifyitems(config, items):
    # Concurrency tests need real row locks and concurrent transactions: they run in the
    # PostgreSQL pass of the suite (RUPT_GUARD_TEST_DB=postgres) and are left out of SQLite's.
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    kept = [item for item in items if "postgres" not in item.keywords]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if "postgres" in i.keywords])
        items[:] = kept
