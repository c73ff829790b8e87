"""The cache every worker shares (``RUPT_GUARD["CACHE"]``), as django-axes keeps lock-outs.

A per-process cache would give each worker its own counters: a limit of ten would become
ten per worker. System check ``rupt_guard.E009`` refuses one when ``DEBUG`` is off.
"""

from __future__ import annotations

from django.core.cache import BaseCache, caches

from rupt_guard.conf import guard_settings

PER_PROCESS_BACKENDS = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


def shared_cache() -> BaseCache:
    return caches[guard_settings.CACHE]
