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


# Shared, but incr() is a read then a write: concurrent counts are lost (rupt_guard.W014).
NON_ATOMIC_BACKENDS = (
    "django.core.cache.backends.db.DatabaseCache",
    "django.core.cache.backends.filebased.FileBasedCache",
)


def shared_cache() -> BaseCache:
    return caches[guard_settings.CACHE]
