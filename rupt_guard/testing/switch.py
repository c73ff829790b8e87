"""The switch that makes ``force_login()`` a verified sign-in, in a test run only.

A site's existing tests call ``client.force_login(user)``; rupt_guard checks that login like
any other (no token, so a challenge) and the pages behind the gate answer with a redirect.
Inside :func:`verified_force_login`, ``force_login()`` (and ``aforce_login()``) of every
Django test client, DRF's ``APIClient`` included, signs in past the gate instead.

It is not a setting: it patches the test clients for the duration of the block and refuses
to start outside Django's test environment (``setup_test_environment()``, which pytest-django
and ``manage.py test`` call), so neither a request nor a production setting can turn it on.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["TestEnvironmentRequired", "verified_force_login"]

_lock = threading.Lock()
_depth = 0
_originals: dict[str, Any] = {}


class TestEnvironmentRequired(RuntimeError):
    """The switch was asked for outside Django's test environment."""

    __test__ = False  # not a test class, whatever pytest's name rules say


def in_test_environment() -> bool:
    """True between Django's ``setup_test_environment()`` and its teardown.

    Asked by the system checks too: a process that never imported ``django.test.utils``
    (production) is not in one, and is not made to import Django's test machinery here.
    """
    utils = sys.modules.get("django.test.utils")
    test_state = getattr(utils, "_TestState", None)  # where Django keeps what it swapped out
    return test_state is not None and hasattr(test_state, "saved_data")


@contextmanager
def verified_force_login() -> Iterator[None]:
    """Within this block, ``force_login()`` of a test client is a verified sign-in.

    Raises :class:`TestEnvironmentRequired` outside Django's test environment. Blocks may
    nest; the clients are restored when the outermost one ends.
    """
    if not in_test_environment():
        raise TestEnvironmentRequired(
            "verified_force_login() works in tests only (after setup_test_environment())."
        )
    _switch_on()
    try:
        yield
    finally:
        _switch_off()


def _switch_on() -> None:
    global _depth
    from django.test.client import ClientMixin

    from rupt_guard.gate.lifecycle import verified_by_caller

    with _lock:
        _depth += 1
        if _depth > 1:
            return
        force_login = _originals["force_login"] = ClientMixin.force_login
        aforce_login = _originals["aforce_login"] = ClientMixin.aforce_login

        def verified(self: Any, user: Any, backend: str | None = None) -> None:
            with verified_by_caller():
                force_login(self, user, backend)

        async def averified(self: Any, user: Any, backend: str | None = None) -> None:
            with verified_by_caller():
                await aforce_login(self, user, backend)

        ClientMixin.force_login = verified  # type: ignore[method-assign]
        ClientMixin.aforce_login = averified  # type: ignore[method-assign]


def _switch_off() -> None:
    global _depth
    from django.test.client import ClientMixin

    with _lock:
        _depth -= 1
        if _depth:
            return
        ClientMixin.force_login = _originals.pop("force_login")  # type: ignore[method-assign]
        ClientMixin.aforce_login = _originals.pop("aforce_login")  # type: ignore[method-assign]
