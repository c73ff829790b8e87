"""Helpers for a site's own tests: sign a test client in as verified, or as pending.

``Client.force_login()`` is a login like any other, so rupt_guard challenges it (no
identification token) and the session is anonymous until a second factor passes. Tests of
pages behind the gate use :func:`login_verified` instead::

    from rupt_guard.testing import login_verified

    def test_dashboard(client, user):
        login_verified(client, user)
        assert client.get("/dashboard/").status_code == 200
"""

from __future__ import annotations

from typing import Any

from django.test import Client

from rupt_guard.gate.lifecycle import hold_session, verified_by_caller

__all__ = ["login_pending", "login_verified"]


def login_verified(client: Client, user: Any, backend: str | None = None) -> None:
    """Sign ``client`` in as ``user``, past the gate, without a check or a factor."""
    with verified_by_caller():
        client.force_login(user, backend)


def login_pending(client: Client, user: Any, backend: str | None = None) -> None:
    """Sign ``client`` in as ``user`` with a challenge pending, whatever the policy says."""
    login_verified(client, user, backend)
    session = client.session
    hold_session(session)
    session.save()
