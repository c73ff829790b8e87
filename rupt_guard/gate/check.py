"""The check of one sign-in: the provider's answer, what we know of the device, the policy's
decision, and its audit row, written in one transaction.

Only the sign-in lifecycle (``gate.lifecycle``) calls it; what follows a decision is there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, router, transaction
from django.http import HttpRequest

from rupt_guard import signals
from rupt_guard.choices import (
    ChallengeResult,
    CheckSource,
    Decision,
    Reason,
    TokenError,
    VerificationMethod,
)
from rupt_guard.client import ClientInfo
from rupt_guard.conf import guard_settings
from rupt_guard.gate.consent import consent_given
from rupt_guard.models import Device, LoginCheck
from rupt_guard.providers import TokenRejected
from rupt_guard.providers.base import TOKEN_MAX_LENGTH
from rupt_guard.risk.identify import REPLAYED, ProviderAnswer, identify, used_before
from rupt_guard.risk.policy import LoginFacts, get_policy
from rupt_guard.trust.sightings import record_sighting
from rupt_guard.trust.verification import (
    account_id,
    kept_metadata,
    mark_verified,
    verification_state,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckOutcome:
    decision: Decision
    reason: Reason
    device: Device | None
    check: LoginCheck


def token_from_request(request: HttpRequest | None) -> str | None:
    """The identification token the login form posted, or None. Never raises."""
    if request is None or request.method != "POST":
        return None
    try:
        value = request.POST.get(guard_settings.TOKEN_FIELD)
    except Exception:
        return None
    if not isinstance(value, str):
        return None
    value = value.strip()
    # An oversized value is kept (bounded) so the provider reports it as a bad token.
    return value[: TOKEN_MAX_LENGTH + 1] or None


ERROR_FIELD_SUFFIX = "_error"


def token_error_from_request(request: HttpRequest | None) -> str:
    """The browser's reason for sending no token, if it is one we know; else ""."""
    if request is None or request.method != "POST":
        return ""
    try:
        value = request.POST.get(guard_settings.TOKEN_FIELD + ERROR_FIELD_SUFFIX)
    except Exception:
        return ""
    return clean_token_error(value)


def clean_token_error(value: Any) -> str:
    # A closed set, so nothing the browser sends can fill the audit trail with its words.
    return value if isinstance(value, str) and value in TokenError.values else ""


def check_login(
    request: HttpRequest | None,
    user: Any,
    *,
    token: str | None,
    source: CheckSource,
    token_error: str | None = None,
    signed_up: bool = False,
) -> CheckOutcome:
    """Run the risk check of one sign-in and return the policy's decision.

    ``signed_up``: the login that completes a signup (django-allauth says so), which
    ``ON_SIGNUP`` decides."""
    account = account_id(user)
    answer = None
    # Asked here, on the server, whatever the browser posted: a token sent without consent
    # (a stale page, a hand-made request) is not sent on to the provider.
    consent = consent_given(request)
    if not consent:
        token, token_error = None, ""
    if token:
        answer = identify(token, account)
        if answer.error is not None and not answer.error.is_token_problem:
            signals.provider_failed.send(
                sender=CheckOutcome, user=user, error=answer.error, request=request
            )
    if not token:
        token_error = clean_token_error(
            token_error if token_error is not None else token_error_from_request(request)
        )
    sign_in = SignIn(request, user, account, source, consent, token_error or "", signed_up)
    try:
        outcome, created = sign_in.record(answer)
    except IntegrityError:
        if answer is None or answer.token_digest is None or not used_before(answer.token_digest):
            raise
        # A sign-in racing with the same token wrote its row first: this one is a replay.
        replay = ProviderAnswer(None, TokenRejected(REPLAYED), answer.elapsed_ms)
        outcome, created = sign_in.record(replay)
    if outcome.device is not None:
        signals.device_seen.send(
            sender=CheckOutcome, user=user, device=outcome.device, created=created, request=request
        )
    if outcome.decision == Decision.CHALLENGE:
        signals.login_challenged.send(
            sender=CheckOutcome, user=user, check=outcome.check, request=request
        )
    elif outcome.decision == Decision.BLOCK:
        signals.login_blocked.send(
            sender=CheckOutcome, user=user, check=outcome.check, request=request
        )
    return outcome


@dataclass(frozen=True)
class SignIn:
    """What is known of a sign-in before the provider's answer is recorded."""

    request: HttpRequest | None
    user: Any
    account: str
    source: CheckSource
    consent: bool
    token_error: str
    signed_up: bool = False

    def record(self, answer: ProviderAnswer | None) -> tuple[CheckOutcome, bool]:
        """The device's row, the decision and the check's row, in one transaction."""
        user, client = self.user, ClientInfo.from_request(self.request)
        identification = answer.identification if answer is not None else None
        error = answer.error if answer is not None else None
        device: Device | None = None
        created = False
        with transaction.atomic(using=router.db_for_write(LoginCheck)):
            facts = LoginFacts(
                user=user,
                token_present=answer is not None,
                provider_error=error.reason if error is not None else None,
                token_problem=error is not None and error.is_token_problem,
                consent_refused=not self.consent,
                signed_up=self.signed_up,
            )
            if identification is not None:
                device, created = record_sighting(
                    user,
                    identification.device_id,
                    client=client,
                    metadata=kept_metadata(identification.metadata_fields, self.account),
                )
                state = verification_state(device, self.account, identification.metadata_fields)
                if state.metadata_time is not None:
                    # The provider vouched for this account on this device: remember it.
                    mark_verified(
                        device,
                        VerificationMethod.RUPT_METADATA,
                        when=state.metadata_time,
                        push=False,
                    )
                facts = LoginFacts(
                    user=user,
                    token_present=True,
                    # A device the provider's metadata verifies for this account is not new
                    # to it, even when this site has no row yet (metadata-only mode).
                    new_device=(identification.new_device or created) and not state.verified,
                    device_verified=state.verified,
                    verification_expired=state.expired,
                    device_blocked=device.is_blocked,
                    signed_up=self.signed_up,
                )
            verdict = get_policy().decide(facts)
            check = LoginCheck.objects.create(
                user=user,
                device=device,
                source=self.source,
                decision=verdict.decision,
                reason=verdict.reason,
                new_device=facts.new_device or created,
                challenge_result=ChallengeResult.PENDING
                if verdict.decision == Decision.CHALLENGE
                else "",
                provider_error=error.reason if error is not None else "",
                provider_status=getattr(error, "status", None),
                provider_ms=answer.elapsed_ms if answer is not None else None,
                token_error="" if answer is not None else self.token_error,
                access_id=identification.access_id if identification is not None else "",
                token_digest=answer.token_digest if answer is not None else None,
                ip=client.ip,
                user_agent=client.user_agent,
            )
        return CheckOutcome(verdict.decision, verdict.reason, device, check), created
