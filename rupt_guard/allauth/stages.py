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

import json
from http import HTTPStatus
from typing import Any

from allauth.account.adapter import get_adapter
from allauth.account.internal.flows.login import get_authentication_records
from allauth.account.stages import LoginStage
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.core.internal.httpkit import is_headless_request
from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from rupt_guard.choices import CheckSource, Decision
from rupt_guard.conf import guard_settings
from rupt_guard.gate import sign_in
from rupt_guard.gate.check import (
    ERROR_FIELD_SUFFIX,
    CheckOutcome,
    clean_token_error,
    token_error_from_request,
    token_from_request,
)
from rupt_guard.gate.limits import Limited
from rupt_guard.providers.base import TOKEN_MAX_LENGTH

MFA_STAGE_KEY = "mfa_authenticate"  # allauth.mfa.stages.AuthenticateStage.key


class CheckStage(LoginStage):
    """The risk check of this sign-in, in the request where its credentials came."""

    key = "rupt_guard_check"

    def handle(self) -> tuple[HttpResponse | None, bool]:
        if self.login.user is None:
            return None, True
        outcome = _check(self.request, self.login)
        if not isinstance(outcome, CheckOutcome):
            return outcome, False  # refused: allauth's pending login is cleared
        self.state["check"] = outcome.check.pk
        return None, True


class GateStage(LoginStage):
    """Let the sign-in complete, pass it on allauth's MFA, or hold it for the challenge."""

    key = "rupt_guard_gate"

    def handle(self) -> tuple[HttpResponse | None, bool]:
        user = self.login.user
        if user is None:
            return None, True
        request = self.request
        check_stage = self.controller.get_stage(CheckStage.key)
        check_pk = check_stage.state.get("check") if check_stage is not None else None
        # The check of this login, made by the check stage (perhaps requests ago); when
        # there is none (no check stage, or its challenge expired while allauth's stages
        # waited), a check now, so that no login() goes on unchecked.
        outcome = (sign_in.resume(request, user, check_pk) if check_pk else None) or _check(
            request, self.login
        )
        if not isinstance(outcome, CheckOutcome):
            return outcome, False
        if outcome.decision != Decision.CHALLENGE:
            return None, True  # allowed: allauth's login() completes it
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
        return _to_challenge(request, user, self.login.redirect_url or ""), False

    def _factor_of_mfa_stage(self, user: Any) -> Any:
        """The authenticator allauth.mfa's stage verified in this login, if it ran."""
        mfa_stage = self.controller.get_stage(MFA_STAGE_KEY)
        if mfa_stage is None or not mfa_stage.state.get("authentication_required"):
            return None
        if not self.controller.is_handled(MFA_STAGE_KEY):
            return None
        records = [
            r
            for r in get_authentication_records(self.request, user)
            if r.get("method") == "mfa" and not r.get("reauthenticated")
        ]
        if not records:
            return None
        from rupt_guard.allauth.factors import authenticator_factor

        return authenticator_factor(user, records[-1].get("id"))


def _check(request: Any, login: Any) -> CheckOutcome | HttpResponse:
    """Run (or, in the request the backend already ran it, take) the check of ``login``;
    a response to the login page when the sign-in is refused."""
    token, token_error = _token_of(request)
    source = CheckSource.FORM if sign_in.is_interactive_sign_in(request) else CheckSource.LOGIN
    try:
        outcome = sign_in.start(
            request,
            login.user,
            token=token,
            token_error=token_error,
            source=source,
            signed_up=bool(login.signup),
        )
    except Limited as exc:
        sign_in.tell_limited(request, exc, by_message=True)
        return _to_login(request)
    if outcome.decision == Decision.BLOCK:
        # A password form never gets here (the backend refused it with the form's own
        # error); a social login or a login by code is told no more than this.
        messages.error(request, _("This sign-in was refused."), fail_silently=True)
        return _to_login(request)
    return outcome


def _token_of(request: Any) -> tuple[str | None, str | None]:
    """The token a login form posted, or the one in allauth.headless's JSON body (its
    login input ignores fields it does not know, so a client may send ours beside them)."""
    token = token_from_request(request)
    if token is not None or not is_headless_request(request):
        return token, token_error_from_request(request)
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(body, dict):
        return None, None
    field = guard_settings.TOKEN_FIELD
    value = body.get(field)
    token = value.strip()[: TOKEN_MAX_LENGTH + 1] or None if isinstance(value, str) else None
    return token, clean_token_error(body.get(field + ERROR_FIELD_SUFFIX))


def not_signed_in(request: Any, user: Any, next_url: str) -> HttpResponse:
    """The answer to a login() the lifecycle held (to the challenge) or refused."""
    from rupt_guard.gate.mark import read_mark

    mark = read_mark(request.session)
    if mark is not None and mark.pending:
        return _to_challenge(request, user, next_url)
    messages.error(request, _("This sign-in was refused."), fail_silently=True)
    if is_headless_request(request):
        from allauth.headless.base.response import AuthenticationResponse

        response: HttpResponse = AuthenticationResponse(request)  # 401: not authenticated
        return response
    return _to_login(request)


def _to_login(request: Any) -> HttpResponse:
    return HttpResponseRedirect(reverse("account_login"))


def _to_challenge(request: Any, user: Any, next_url: str) -> HttpResponse:
    url = reverse("rupt_guard:challenge")
    if next_url:
        url = f"{url}?{urlencode({'next': next_url})}"
    if is_headless_request(request):
        raise ImmediateHttpResponse(_headless_challenge(request, user))
    return HttpResponseRedirect(url)


def _headless_challenge(request: Any, user: Any) -> HttpResponse:
    """allauth.headless answers a login with its own session payload whatever a stage
    returns, so the held sign-in says so the way allauth's pending flows do: 401, a
    pending flow ``rupt_guard_challenge`` carrying the challenge's methods, which the
    client completes with rupt_guard's REST API (``challenge/verify/``)."""
    from allauth.account.internal.stagekit import clear_login
    from allauth.headless.internal.restkit.response import APIResponse

    from rupt_guard.api.views import challenge_body
    from rupt_guard.gate.mark import read_mark

    clear_login(request)  # raised past allauth's controller, which would clear it
    mark = read_mark(request.session)
    body = challenge_body(user, mark.expires_at if mark is not None else None)
    flow = {"id": "rupt_guard_challenge", "is_pending": True, **body["challenge"]}
    response: HttpResponse = APIResponse(
        request,
        data={"flows": [flow]},
        meta={"is_authenticated": False},
        status=HTTPStatus.UNAUTHORIZED,
    )
    return response
