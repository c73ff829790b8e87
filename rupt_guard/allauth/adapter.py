"""django-allauth's account adapter with rupt_guard's login stages.

allauth reads its login stages from the adapter (``get_login_stages()``; there is no
setting): ``ACCOUNT_ADAPTER = "rupt_guard.allauth.adapter.AccountAdapter"``, or
:class:`RuptGuardAdapterMixin` first in a site's own adapter's bases.
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.contrib.auth import load_backend
from django.http import HttpRequest

from rupt_guard.gate.backend import RuptGuardBackend

CHECK_STAGE = "rupt_guard.allauth.stages.CheckStage"
GATE_STAGE = "rupt_guard.allauth.stages.GateStage"


class RuptGuardAdapterMixin:
    """The check first (where the credentials and the token arrive), the gate last (after
    allauth's email, code, MFA and trust stages)."""

    def get_login_stages(self) -> list[str]:
        stages = [s for s in super().get_login_stages() if s not in (CHECK_STAGE, GATE_STAGE)]  # type: ignore[misc]
        return [CHECK_STAGE, *stages, GATE_STAGE]

    def login(self, request: HttpRequest, user: Any) -> None:
        # A user allauth did not authenticate in this request (signup, a resumed stage)
        # gets a backend from allauth by its class's module path, which is not the path in
        # AUTHENTICATION_BACKENDS ("rupt_guard.backends.RuptGuardBackend"): Django would
        # then find nobody signed in on the next request. Name it as the settings do.
        if not hasattr(user, "backend"):
            for path in settings.AUTHENTICATION_BACKENDS:
                if isinstance(load_backend(path), RuptGuardBackend):
                    user.backend = path
                    break
        super().login(request, user)  # type: ignore[misc]

    def post_login(self, request: HttpRequest, user: Any, **kwargs: Any) -> Any:
        # rupt_guard's lifecycle may still hold or refuse the login() allauth just made
        # (the device was revoked or blocked since the check, perhaps while allauth's
        # stages waited): then nobody is signed in, so no "Successfully signed in" and no
        # allauth user_logged_in (allauth's own post_login() would assert and answer 500).
        if not request.user.is_authenticated:
            from rupt_guard.allauth.stages import not_signed_in

            return not_signed_in(request, user, kwargs.get("redirect_url") or "")
        return super().post_login(request, user, **kwargs)  # type: ignore[misc]


class AccountAdapter(RuptGuardAdapterMixin, DefaultAccountAdapter):
    """allauth's default adapter with rupt_guard's stages."""
