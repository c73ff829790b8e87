"""The check of one sign-in: the provider's answer, what we know of the device, the policy's
decision, and its audit row, written in one transaction.

Only the sign-in lifecycle (``gate.lifecycle``) calls it; what follows a decision is there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import router, transaction
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
from rupt_guard.providers import Identification, ProviderError
from rupt_guard.providers.base import TOKEN_MAX_LENGTH
from rupt_guard.risk.identify import identify
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
) -> CheckOutcome:
    """Run the risk check of one sign-in and return the policy's decision."""
    client = ClientInfo.from_request(request)
    account = account_id(user)
    identification: Identification | None = None
    error: ProviderError | None = None
    elapsed_ms: int | None = None
    # Asked here, on the server, whatever the browser posted: a token sent without consent
    # (a stale page, a hand-made request) is not sent on to the provider.
    consent = consent_given(request)
    if not consent:
        token, token_error = None, ""
    if token:
        answer = identify(token, account)
        identification, error, elapsed_ms = answer.identification, answer.error, answer.elapsed_ms
        if error is not None and not error.is_token_problem:
            signals.provider_failed.send(
                sender=CheckOutcome, user=user, error=error, request=request
            )

    device: Device | None = None
    created = False
    with transaction.atomic(using=router.db_for_write(Device)):
        facts = LoginFacts(
            user=user,
            token_present=bool(token),
            provider_error=error.reason if error is not None else None,
            token_problem=error is not None and error.is_token_problem,
            consent_refused=not consent,
        )
        if identification is not None:
            device, created = record_sighting(
                user,
                identification.device_id,
                client=client,
                metadata=kept_metadata(identification.metadata_fields, account),
            )
            state = verification_state(device, account, identification.metadata_fields)
            if state.metadata_time is not None:
                # The provider vouched for this account on this device: remember it here.
                mark_verified(
                    device, VerificationMethod.RUPT_METADATA, when=state.metadata_time, push=False
                )
            facts = LoginFacts(
                user=user,
                token_present=True,
                # A device the provider's metadata verifies for this account is not new to
                # it, even when this site has no row yet (metadata-only mode).
                new_device=(identification.new_device or created) and not state.verified,
                device_verified=state.verified,
                verification_expired=state.expired,
                device_blocked=device.is_blocked,
            )
        verdict = get_policy().decide(facts)
        check = LoginCheck.objects.create(
            user=user,
            device=device,
            source=source,
            decision=verdict.decision,
            reason=verdict.reason,
            new_device=facts.new_device or created,
            challenge_result=ChallengeResult.PENDING
            if verdict.decision == Decision.CHALLENGE
            else "",
            provider_error=error.reason if error is not None else "",
            provider_status=getattr(error, "status", None),
            provider_ms=elapsed_ms,
            token_error=""
            if token
            else clean_token_error(
                token_error if token_error is not None else token_error_from_request(request)
            ),
            access_id=identification.access_id if identification is not None else "",
            ip=client.ip,
            user_agent=client.user_agent,
        )
    if device is not None:
        signals.device_seen.send(
            sender=CheckOutcome, user=user, device=device, created=created, request=request
        )
    outcome = CheckOutcome(verdict.decision, verdict.reason, device, check)
    if verdict.decision == Decision.CHALLENGE:
        signals.login_challenged.send(sender=CheckOutcome, user=user, check=check, request=request)
    elif verdict.decision == Decision.BLOCK:
        signals.login_blocked.send(sender=CheckOutcome, user=user, check=check, request=request)
    return outcome
