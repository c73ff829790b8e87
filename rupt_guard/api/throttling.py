"""Rates for sign-in and challenge attempts, on top of django-otp's per-device throttling."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from rest_framework.throttling import SimpleRateThrottle

from rupt_guard.cache import shared_cache
from rupt_guard.client import client_ip, limit_key
from rupt_guard.conf import guard_settings


def client_address(request: Any) -> str:
    """The client address every record uses (``RUPT_GUARD["CLIENT_IP"]``).

    Not DRF's get_ident(): it trusts any X-Forwarded-For when NUM_PROXIES is unset, which
    would let an attacker pick a fresh throttle key for every password guess.
    """
    address = client_ip(request)
    return limit_key(address) if address else ""


class _GuardThrottle(SimpleRateThrottle):
    """Reads its rate from ``RUPT_GUARD["API_THROTTLE_RATES"][scope]`` (None: no limit),
    and counts on the shared cache (``RUPT_GUARD["CACHE"]``) so every worker agrees."""

    @property
    def cache(self) -> Any:  # type: ignore[override]  # DRF's class attribute, read per call here
        return shared_cache()

    def get_rate(self) -> str | None:
        rate: str | None = guard_settings.API_THROTTLE_RATES.get(self.scope)
        return rate

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        ident = self.identity(request, view)
        return self.cache_format % {"scope": self.scope, "ident": ident} if ident else None

    def identity(self, request: Any, view: Any) -> str | None:
        return client_address(request)


class LoginThrottle(_GuardThrottle):
    """Per client address: password guessing from one place."""

    scope = "login"


class LoginAccountThrottle(_GuardThrottle):
    """Per account name: password guessing spread over many addresses."""

    scope = "login_account"

    def identity(self, request: Any, view: Any) -> str | None:
        # Throttles run before validation: the body may be any JSON, or no object at all.
        data = request.data if isinstance(request.data, Mapping) else {}
        name = data.get(get_user_model().USERNAME_FIELD)
        if isinstance(name, bool) or not isinstance(name, str | int | float):
            return None
        name = str(name).strip().lower()  # 12345 and "12345" are the same account
        return hashlib.sha256(name.encode()).hexdigest()[:32] if name else None


class ChallengeThrottle(_GuardThrottle):
    """Per user (or address): code guessing across the user's devices."""

    scope = "challenge"

    def identity(self, request: Any, view: Any) -> str | None:
        # A pending session is anonymous: count against the user who is waiting.
        user = getattr(view, "pending_user", None) or request.user
        return f"user-{user.pk}" if user and user.is_authenticated else client_address(request)
