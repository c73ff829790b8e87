"""Ask the provider about one sign-in: the facts it gives, or why it could not.

The browser's token is checked for shape and refused if a check here already completed
it, then completed. The claim itself is the digest in the sign-in's own ``LoginCheck``
row (unique), written with the check: two sign-ins racing with one token both ask the
provider, and the second row is refused (``gate.check``). Every failure becomes a
``ProviderError`` with a reason; the policy decides what it means.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from rupt_guard.models import LoginCheck
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
    # Set when the token was well formed: the check's row claims it.
    token_digest: str | None = None


REPLAYED = "identification already used at this site"


def identify(token: str, account: str) -> ProviderAnswer:
    """Complete ``token`` for ``account``. Never raises: a failure is in the answer."""
    started = time.perf_counter()
    identification: Identification | None = None
    error: ProviderError | None = None
    permit = None
    digest = None
    try:
        valid_token = validate_token(token)
        digest = token_digest(valid_token)
        # Refused before the breaker is asked: a replay must never be taken for the
        # half-open probe (it would "succeed" without calling the provider).
        if LoginCheck.objects.filter(token_digest=digest).exists():
            digest = None
            raise TokenRejected(REPLAYED)
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
    return ProviderAnswer(identification, error, elapsed_ms, digest)


def token_digest(token: str) -> str:
    # Lower-cased: the provider may not care about case, so "AbC" must not replay "abc".
    return hashlib.sha256(token.lower().encode()).hexdigest()
