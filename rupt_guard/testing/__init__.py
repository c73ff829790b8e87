"""The testing kit for a site's own tests: a fake Rupt, signed-in clients, the challenge.

``Client.force_login()`` is a login like any other, so rupt_guard challenges it (no
identification token) and the session is anonymous until a second factor passes. This
package gives a site's tests what they need instead (see docs/testing.md)::

    from rupt_guard.testing import login_verified

    def test_dashboard(client, user):
        login_verified(client, user)
        assert client.get("/dashboard/").status_code == 200

- :func:`login_verified`, :func:`login_pending`: a session past the gate, or held at it,
  with no check at all;
- :func:`sign_in`, :func:`verified_sign_in`, :func:`pending_sign_in`,
  :func:`blocked_sign_in`: real sign-ins through the gate against the fake Rupt
  (:mod:`rupt_guard.testing.fake_rupt`), and :func:`pass_challenge`;
- :func:`verified_force_login`: the switch that makes ``force_login()`` a verified sign-in;
- the pytest plugin :mod:`rupt_guard.testing.plugin` (loaded by its ``pytest11`` entry
  point) and :class:`RuptGuardTestMixin` for ``TestCase`` classes.

Names are imported on first use: the pytest plugin imports this package in runs where
Django is not configured, so nothing here may touch Django's settings or models at import.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rupt_guard.testing.clients import (
        SignIn,
        SignInError,
        blocked_sign_in,
        login_pending,
        login_verified,
        pass_challenge,
        pending_sign_in,
        sign_in,
        verified_sign_in,
    )
    from rupt_guard.testing.fake_rupt import FakeRupt, guard_settings_for, start_fake_rupt
    from rupt_guard.testing.mixin import RuptGuardTestMixin
    from rupt_guard.testing.switch import TestEnvironmentRequired, verified_force_login

_WHERE = {
    "SignInError": "clients",
    "SignIn": "clients",
    "blocked_sign_in": "clients",
    "login_pending": "clients",
    "login_verified": "clients",
    "pass_challenge": "clients",
    "pending_sign_in": "clients",
    "sign_in": "clients",
    "verified_sign_in": "clients",
    "FakeRupt": "fake_rupt",
    "guard_settings_for": "fake_rupt",
    "start_fake_rupt": "fake_rupt",
    "RuptGuardTestMixin": "mixin",
    "TestEnvironmentRequired": "switch",
    "verified_force_login": "switch",
}

__all__ = [
    "FakeRupt",
    "RuptGuardTestMixin",
    "SignIn",
    "SignInError",
    "TestEnvironmentRequired",
    "blocked_sign_in",
    "guard_settings_for",
    "login_pending",
    "login_verified",
    "pass_challenge",
    "pending_sign_in",
    "sign_in",
    "start_fake_rupt",
    "verified_force_login",
    "verified_sign_in",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
