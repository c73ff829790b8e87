"""Rupt's webhooks: signatures in the Standard Webhooks scheme, checked before anything else.

``Webhook-Signature`` holds ``v1,<base64 HMAC-SHA256>`` of ``"<id>.<timestamp>.<body>"``
under a ``whsec_<base64>`` secret; several signatures and several secrets (a rotation) are
allowed. The tests sign with the reference ``standardwebhooks`` library, not with this code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

SECRET_PREFIX = "whsec_"  # noqa: S105  (the prefix, not a secret)
# Standard Webhooks' own default: a signed message older (or newer) than this is refused.
TOLERANCE_SECONDS = 5 * 60
MAX_BODY_BYTES = 64 * 1024
STAMP = re.compile(r"[0-9]{1,12}")


class BadSignature(Exception):
    """Missing headers, a stale timestamp, or no signature matching any secret."""


class BadPayload(Exception):
    """Signed, but not the JSON object an event is."""


def secret_keys(secrets: str | list[str] | tuple[str, ...] | None) -> list[bytes]:
    """The HMAC keys of ``WEBHOOK_SECRET`` (one secret, or a list while rotating)."""
    if not secrets:
        return []
    listed = [secrets] if isinstance(secrets, str) else list(secrets)
    keys = []
    for secret in listed:
        if not isinstance(secret, str):
            raise ImproperlyConfigured("RUPT_GUARD['WEBHOOK_SECRET'] holds a non-string.")
        try:
            key = base64.b64decode(secret.removeprefix(SECRET_PREFIX) + "==", validate=False)
        except (binascii.Error, ValueError) as exc:
            raise ImproperlyConfigured(
                "RUPT_GUARD['WEBHOOK_SECRET'] must be 'whsec_' and base64, as Rupt shows it."
            ) from exc
        if not key:
            raise ImproperlyConfigured("RUPT_GUARD['WEBHOOK_SECRET'] holds an empty secret.")
        keys.append(key)
    return keys


def verify(
    body: bytes, headers: Mapping[str, str], keys: list[bytes], *, now: float | None = None
) -> tuple[str, dict[str, Any]]:
    """Return the message id and the JSON object, or raise :class:`BadSignature`."""
    msg_id = headers.get("Webhook-Id", "")
    stamp = headers.get("Webhook-Timestamp", "")
    signatures = headers.get("Webhook-Signature", "")
    if not (msg_id and stamp and signatures and keys):
        raise BadSignature("missing webhook headers")
    if not STAMP.fullmatch(stamp):  # digits only, and few: no float overflow below
        raise BadSignature("timestamp is not a small number")
    sent_at = int(stamp)
    if abs((now if now is not None else time.time()) - sent_at) > TOLERANCE_SECONDS:
        raise BadSignature("timestamp outside the tolerance")
    signed = f"{msg_id}.{sent_at}.".encode() + body
    expected = [
        base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode() for key in keys
    ]
    offered = [
        value.encode("ascii")
        for version, _, value in (part.partition(",") for part in signatures.split())
        if version == "v1" and value.isascii()
    ]
    if not any(hmac.compare_digest(a, b.encode()) for a in offered for b in expected):
        raise BadSignature("no matching signature")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadPayload("signed body is not JSON") from exc
    if not isinstance(payload, dict):
        raise BadPayload("signed body is not a JSON object")
    return msg_id, payload
