"""Ask the provider about one sign-in: the facts it gives, or why it could not.

The browser's token is checked for shape, claimed here so that it is used once whatever
the provider does, then completed. Every failure becomes a ``ProviderError`` with a reason;
the policy decides what it means.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from django.db import IntegrityError, router, transaction

from rupt_guard.models import UsedIdentification
from rupt_guard.providers import (
    Identification,
    ProviderBadResponse,
    ProviderError,
    ProviderUnavailable,
    TokenRejected,
    breaker,
    get_provider,
    validate_token,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProviderAnswer:
    """What one completion gave: an identification or an error, and how long it took."""

    identification: Identification | None
    error: ProviderError | None
    elapsed_ms: int


def identify(token: str, account: str) -> ProviderAnswer:
    """Complete ``token`` for ``account``. Never raises: a failure is in the answer."""
    started = time.perf_counter()
    identification: Identification | None = None
    error: ProviderError | None = None
    permit = None
    try:
        valid_token = validate_token(token)
        # Claimed before the breaker is asked: a replay must never be taken for the
        # half-open probe (it would "succeed" without calling the provider).
        if not claim_token(valid_token):
            raise TokenRejected("identification already used at this site")
        permit = breaker.permit()
        if not permit.allowed:
            raise ProviderUnavailable("circuit breaker open: the provider was not called")
        identification = get_provider().complete(valid_token, account)
    except ProviderError as exc:
        error = exc
    except Exception as exc:
        # A provider bug must not become a 500 on the login page; the policy decides.
        logger.exception("The identification provider raised an unexpected error")
        error = ProviderBadResponse(f"unexpected provider error ({type(exc).__name__})")
    if permit is not None and permit.allowed:
        breaker.record(permit, outage=error is not None and error.is_outage)
    elapsed_ms = round((time.perf_counter() - started) * 1000)
    return ProviderAnswer(identification, error, elapsed_ms)


def claim_token(token: str) -> bool:
    """Note that ``token`` was presented; False when it had been presented before."""
    digest = hashlib.sha256(token.lower().encode()).hexdigest()
    try:
        with transaction.atomic(using=router.db_for_write(UsedIdentification)):
            UsedIdentification.objects.create(token_digest=digest)
    except IntegrityError:
        return False
    return True
