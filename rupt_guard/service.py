"""The login check: the one place that calls the provider, records, and asks the policy.

The backend, the ``user_logged_in`` fallback and the REST API all come through here.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import django_otp
from django.db import transaction
from django.http import HttpRequest

from . import signals
from .choices import CheckSource, Decision, Reason, VerificationMethod
from .conf import guard_settings
from .devices import remember_session
from .models import Device, DeviceSession, LoginCheck
from .notifications import notify_new_device, notify_unconfirmed_sign_in
from .policy import LoginFacts, get_policy
from .providers import (
    Identification,
    ProviderBadResponse,
    ProviderError,
    TokenRejected,
    get_provider,
    validate_token,
)
from .providers.base import TOKEN_MAX_LENGTH
from .session import Mark, claim_notice, count_failed_code, mark_passed, read_mark
from .store import ClientInfo, claim_token, record_check, record_sighting
from .verification import account_id, mark_verified, method_for, verification_state

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


def check_login(
    request: HttpRequest | None,
    user: Any,
    *,
    token: str | None,
    source: CheckSource,
) -> CheckOutcome:
    """Run the risk check of one sign-in and return the policy's decision."""
    client = ClientInfo.from_request(request)
    account = account_id(user)
    identification: Identification | None = None
    error: ProviderError | None = None
    elapsed_ms: int | None = None
    if token:
        started = time.perf_counter()
        try:
            valid_token = validate_token(token)
            if not claim_token(valid_token):
                raise TokenRejected("identification already used at this site")
            identification = get_provider().complete(valid_token, account)
        except ProviderError as exc:
            error = exc
        except Exception as exc:
            # A provider bug must not become a 500 on the login page; the policy decides.
            logger.exception("The identification provider raised an unexpected error")
            error = ProviderBadResponse(f"unexpected provider error ({type(exc).__name__})")
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        if error is not None and not error.is_token_problem:
            signals.provider_failed.send(
                sender=CheckOutcome, user=user, error=error, request=request
            )

    device: Device | None = None
    created = False
    with transaction.atomic():
        facts = LoginFacts(
            user=user,
            token_present=bool(token),
            provider_error=error.reason if error is not None else None,
            token_problem=error is not None and error.is_token_problem,
        )
        if identification is not None:
            device, created = record_sighting(
                user,
                identification.device_id,
                client=client,
                metadata=identification.metadata_fields,
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
                new_device=identification.new_device or created,
                device_verified=state.verified,
                verification_expired=state.expired,
                device_blocked=device.is_blocked,
            )
        verdict = get_policy().decide(facts)
        check = record_check(
            user=user,
            device=device,
            source=source,
            decision=verdict.decision,
            reason=verdict.reason,
            new_device=facts.new_device,
            provider_error=error.reason if error is not None else "",
            provider_status=getattr(error, "status", None),
            provider_ms=elapsed_ms,
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


def pass_challenge(request: HttpRequest, otp_device: Any) -> Device | None:
    """The second factor was verified: trust the session and the device it came from."""
    mark = read_mark(request.session)
    if mark is None or not mark.pending:
        raise ValueError("no challenge is pending in this session")
    django_otp.login(request, otp_device)
    # A new session key: whatever an attacker may have fixed before is worthless now.
    old_key = request.session.session_key
    request.session.cycle_key()
    DeviceSession.objects.filter(session_key=old_key).delete()
    device = None
    if mark.device is not None:
        device = Device.objects.filter(pk=mark.device, user=request.user).first()
    # Rupt says new_device only once: a first challenge given up and passed at a later
    # sign-in is still this device's first verification, and the owner hears of it.
    first_verification = device is not None and device.verified_at is None
    if device is not None and not device.is_blocked:
        method = method_for(otp_device)
        with transaction.atomic():
            mark_verified(device, method, verified_with=otp_device.persistent_id)
        signals.device_verified.send(
            sender=CheckOutcome, user=request.user, device=device, method=method, request=request
        )
    mark_passed(request.session, device=device.pk if device is not None else None)
    remember_session(request.session, device, mark.check)
    check = _sign_in_of(mark)
    if check is not None and (check.new_device or first_verification):
        notify_new_device(request, check)
    return device


def record_failed_code(request: HttpRequest) -> None:
    """A wrong code: after a few in one pending session, warn the account's owner."""
    failures = count_failed_code(request.session)
    if failures >= guard_settings.FAILED_CODES_BEFORE_NOTICE:
        notify_unconfirmed(request)


def notify_unconfirmed(request: HttpRequest) -> None:
    """The password was right but the challenge failed or was given up: tell the owner once."""
    mark = read_mark(request.session)
    if mark is None or not mark.pending or mark.check is None:
        return
    if not claim_notice(request.session):
        return
    check = _sign_in_of(mark)
    if check is not None:
        notify_unconfirmed_sign_in(request, check)


def _sign_in_of(mark: Mark) -> LoginCheck | None:
    """The login check that left this mark, with what its emails show."""
    return LoginCheck.objects.filter(pk=mark.check).select_related("user", "device").first()
