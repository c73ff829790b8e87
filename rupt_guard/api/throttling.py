"""Rates for sign-in and challenge attempts, on top of django-otp's per-device throttling."""

from __future__ import annotations

from typing import Any

from rest_framework.throttling import SimpleRateThrottle

from rupt_guard.conf import guard_settings


class _GuardThrottle(SimpleRateThrottle):
    """Reads its rate from ``RUPT_GUARD["API_THROTTLE_RATES"][scope]`` (None: no limit)."""

    def get_rate(self) -> str | None:
        return guard_settings.API_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.identity(request)}

    def identity(self, request: Any) -> str:
        return self.get_ident(request)


class LoginThrottle(_GuardThrottle):
    """Per client address: password guessing."""

    scope = "login"


class ChallengeThrottle(_GuardThrottle):
    """Per user (or address): code guessing across the user's devices."""

    scope = "challenge"

    def identity(self, request: Any) -> str:
        user = request.user
        return f"user-{user.pk}" if user and user.is_authenticated else self.get_ident(request)
