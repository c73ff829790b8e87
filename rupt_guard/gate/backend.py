"""The hook into authentication: the password check, then the sign-in lifecycle."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from rupt_guard.conf import guard_settings
from rupt_guard.gate.sign_in import gated_sign_in, is_interactive_sign_in, password_accepted

__all__ = ["RuptGuardBackend", "gated_sign_in", "is_interactive_sign_in"]


class RuptGuardBackend(ModelBackend):
    """ModelBackend's password check (or ``PASSWORD_BACKEND``'s), then the gate's rules.

    A right password becomes a sign-in only where the gate will see it: a login form (checked
    here, so a blocked device gets the form's usual error) or any ``HttpRequest`` that
    ``login()`` follows (checked by the ``user_logged_in`` receiver). A password presented
    anywhere else (DRF's Basic authentication, ``obtain_auth_token``) raises
    ``PermissionDenied``, so no later backend accepts it either.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        inner = guard_settings.PASSWORD_BACKEND
        if inner is not None:
            user = inner().authenticate(request, username=username, password=password, **kwargs)
        else:
            user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            return None
        return password_accepted(request, user)

    async def aauthenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """``authenticate()`` in one worker thread: the same password check and the same
        lifecycle (the risk check, its decision, the hold ``alogin()`` then puts in force).

        ModelBackend's own ``aauthenticate()`` would skip the check. Hashing the password,
        the queries and the call to the provider all block, so one thread for the whole
        sign-in costs less than a hop for each of them.
        """
        return await sync_to_async(self.authenticate)(
            request, username=username, password=password, **kwargs
        )
