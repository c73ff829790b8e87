"""Ask the provider about one sign-in: the facts it gives, or why it could not.

The browser's token is checked for shape and refused if a check here already completed
it, then completed. The claim itself is the digest in the sign-in's own ``LoginCheck``
row (unique), written with the check: two sign-ins racing with one token both ask the
provider, and the second row is refused (``gate.check``). Every failure becomes a
``ProviderError`` with a reason; the policy decides what it means.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from dataclasses import dataclass

from django.db import router

from rupt_guard.models import LoginCheck, UsedIdentification
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
from rupt_guard.providers.base import validate_metadata

logger = logging.getLogger(__name__)

ID_MAX_LENGTH = 128  # Device.external_id, LoginCheck.access_id


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
        if used_before(digest):
            digest = None
            raise TokenRejected(REPLAYED)
        permit = breaker.permit()
        if not permit.allowed:
            raise ProviderUnavailable("circuit breaker open: the provider was not called")
        identification = checked(get_provider().complete(valid_token, account))
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


def used_before(digest: str) -> bool:
    """Whether a check here completed this token: one indexed read, on the database the
    claims are written to (a lagging replica would let a replay through to the provider).
    ``UsedIdentification`` held the claims before 0010; it is read until it is dropped,
    so a token used just before the upgrade is not accepted again just after it."""
    db = router.db_for_write(LoginCheck)
    checks = LoginCheck.objects.using(db).filter(token_digest=digest).values_list("pk")
    older = UsedIdentification.objects.using(db).filter(token_digest=digest).values_list("pk")
    return checks.union(older, all=True).exists()


def checked(identification: Identification) -> Identification:
    """Refuse an answer a provider plugin should never give, as Rupt's own client does:
    what is stored and compared later must have the shape the rest of the app expects."""
    for name, value in (("device", identification.device_id), ("access", identification.access_id)):
        # Both are stored (128 characters at most); PostgreSQL refuses NUL characters.
        if not isinstance(value, str) or len(value) > ID_MAX_LENGTH or "\x00" in value:
            raise ProviderBadResponse(f"the {name} id is not a short string")
    if not identification.device_id:
        raise ProviderBadResponse("the device id is empty")
    if not isinstance(identification.new_device, bool):
        raise ProviderBadResponse("new_device is not a boolean")
    metadata = validate_metadata(identification.metadata_fields or {})
    return dataclasses.replace(identification, metadata_fields=metadata)


def token_digest(token: str) -> str:
    # Lower-cased: the provider may not care about case, so "AbC" must not replay "abc".
    return hashlib.sha256(token.lower().encode()).hexdigest()
