"""The risk check as two of django-allauth's login stages: one lifecycle, not two.

allauth completes a sign-in in stages (email verification, login by code, MFA, ...), each
of which may stop it and resume it in a later request; only when every stage is done does
allauth call ``login()``, then ``post_login()`` ("Successfully signed in").

- :class:`CheckStage` (first) runs the check where the credentials arrived, with the
  login form's token (the backend already ran it there: it is not run twice), and stops
  a blocked sign-in before any other stage asks the user for anything.
- :class:`GateStage` (last) decides, once allauth's password, social and MFA steps are
  done: an allowed sign-in goes on to allauth's ``login()``; a challenged one whose
  second factor allauth's MFA stage verified in this login passes with that factor; any
  other challenged one is held by ``login()`` (rupt_guard's pending mark, the one pending
  state) and sent to the challenge, and allauth's login ends there: no
  "Successfully signed in", no ``post_login()``.
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import get_adapter
from allauth.account.internal.flows.login import get_authentication_records
from allauth.account.stages import LoginStage
from allauth.core.internal.httpkit import is_headless_request
from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from rupt_guard.choices import CheckSource, Decision
from rupt_guard.gate import sign_in
from rupt_guard.gate.check import token_error_from_request, token_from_request
from rupt_guard.gate.limits import Limited

MFA_STAGE_KEY = "mfa_authenticate"  # allauth.mfa.stages.AuthenticateStage.key


class CheckStage(LoginStage):
    """The risk check of this sign-in, in the request where its credentials came."""

    key = "rupt_guard_check"

    def handle(self) -> tuple[HttpResponse | None, bool]:
        user = self.login.user
        if user is None:
            return None, True
        request = self.request
        try:
            outcome = sign_in.start(
                request,
                user,
                token=token_from_request(request),
                token_error=token_error_from_request(request),
                source=CheckSource.FORM
                if sign_in.is_interactive_sign_in(request)
                else CheckSource.LOGIN,
                signed_up=bool(self.login.signup),
            )
        except Limited as exc:
            sign_in.tell_limited(request, exc, by_message=True)
            return _to_login(request), False
        if outcome.decision == Decision.BLOCK:
            # The same words as a wrong password: no hint that this one was right.
            messages.error(request, _("This sign-in was refused."), fail_silently=True)
            return _to_login(request), False
        self.state["check"] = outcome.check.pk
        return None, True


class GateStage(LoginStage):
    """Let the sign-in complete, pass it on allauth's MFA, or hold it for the challenge."""

    key = "rupt_guard_gate"

    def handle(self) -> tuple[HttpResponse | None, bool]:
        user = self.login.user
        check_stage = self.controller.get_stage(CheckStage.key)
        check_pk = check_stage.state.get("check") if check_stage is not None else None
        if user is None or check_pk is None:
            # No check stage ran: the user_logged_in receiver checks at login(), as for
            # any other login path.
            return None, True
        request = self.request
        outcome = sign_in.resume(request, user, check_pk)
        if outcome is None or outcome.decision != Decision.CHALLENGE:
            return None, True  # allowed (or over: a new check runs at login())
        factor = self._factor_of_mfa_stage(user)
        if factor is not None:
            # allauth.mfa asked for the user's own authenticator in this very login.
            sign_in.factor_verified(request, user, factor)
            return None, True
        # Held: login() puts the session in rupt_guard's pending mark (anonymous until the
        # second factor passes); allauth's stashed login is cleared (cont=False), so
        # post_login() and its "Successfully signed in" never run for it.
        get_adapter(request).login(request, user)
        # The page asked for (``?next=``; the challenge refuses another site's), else the
        # challenge's own default, LOGIN_REDIRECT_URL.
        return _to_challenge(request, self.login.redirect_url or ""), False

    def _factor_of_mfa_stage(self, user: Any) -> Any:
        """The authenticator allauth.mfa's stage verified in this login, if it ran."""
        mfa_stage = self.controller.get_stage(MFA_STAGE_KEY)
        if mfa_stage is None or not mfa_stage.state.get("authentication_required"):
            return None
        if not self.controller.is_handled(MFA_STAGE_KEY):
            return None
        records = [
            r for r in get_authentication_records(self.request, user) if r.get("method") == "mfa"
        ]
        if not records:
            return None
        from rupt_guard.allauth.factors import authenticator_factor

        return authenticator_factor(user, records[-1].get("id"))


def _to_login(request: Any) -> HttpResponse:
    return HttpResponseRedirect(reverse("account_login"))


def _to_challenge(request: Any, next_url: str) -> HttpResponse:
    url = reverse("rupt_guard:challenge")
    if next_url:
        url = f"{url}?{urlencode({'next': next_url})}"
    if is_headless_request(request):
        # allauth's headless views answer with their own session payload whatever a stage
        # returns; this body is what the gate's middleware says to a pending session.
        return JsonResponse(
            {
                "detail": _("A second factor is required before this session can be used."),
                "code": "challenge_required",
                "challenge_url": url,
            },
            status=403,
        )
    return HttpResponseRedirect(url)
