"""The hook into authentication: credentials like ModelBackend, then the risk check."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from .choices import CheckSource, Decision
from .conf import guard_settings
from .service import check_login, token_from_request

OUTCOME_ATTRIBUTE = "_rupt_guard_outcome"


def is_interactive_sign_in(request: Any) -> bool:
    """A login form post carrying our field, not e.g. HTTP Basic auth on an API call.

    DRF passes its own ``Request`` (not an ``HttpRequest``) and no form field, so API
    authentication never reaches the provider. A login that skips this (a form without
    the field, another backend) is still checked by the ``user_logged_in`` receiver.
    """
    return (
        isinstance(request, HttpRequest)
        and request.method == "POST"
        and guard_settings.TOKEN_FIELD in request.POST
    )


class RuptGuardBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None or not is_interactive_sign_in(request):
            return user
        outcome = check_login(
            request, user, token=token_from_request(request), source=CheckSource.FORM
        )
        if outcome.decision == Decision.BLOCK:
            # PermissionDenied stops Django from trying the next backend, and the form
            # shows its usual "invalid credentials" error: no hint the password was right.
            raise PermissionDenied
        setattr(user, OUTCOME_ATTRIBUTE, outcome)
        return user
