"""Fixtures of the demo site's tests: the user the kit's clients sign in."""

import pytest

PASSWORD = "demo-pass-2026"


@pytest.fixture
def rupt_guard_user(django_user_model):
    """The kit's verified_client, pending_client and blocked_client sign this user in."""
    return django_user_model.objects.create_user("demo", "demo@example.com", PASSWORD)
