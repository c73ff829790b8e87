"""The endpoint Rupt posts its webhooks to (``rupt_guard:webhook``).

Nothing is read before the signature is checked; a replayed message id is refused on the
shared cache; the answer comes at once and the work runs after the transaction commits,
well within the 15 seconds Rupt waits.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from rupt_guard.cache import shared_cache
from rupt_guard.conf import guard_settings
from rupt_guard.providers.rupt import ID_PATTERN
from rupt_guard.providers.webhooks import (
    MAX_BODY_BYTES,
    TOLERANCE_SECONDS,
    BadPayload,
    BadSignature,
    secret_keys,
    verify,
)
from rupt_guard.trust.devices import detach

logger = logging.getLogger(__name__)

REPLAY_PREFIX = "rupt_guard:webhook"


@login_not_required  # Rupt is no user: LoginRequiredMiddleware must let it through
@csrf_exempt  # signed by Rupt, not by a browser session
@require_POST
def webhook(request: HttpRequest) -> JsonResponse:
    keys = secret_keys(guard_settings.WEBHOOK_SECRET)
    if not keys:
        return _answer(401, "webhooks are not configured here (RUPT_GUARD['WEBHOOK_SECRET'])")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _answer(400, "bad Content-Length")
    if length < 0:
        return _answer(400, "bad Content-Length")
    if length > MAX_BODY_BYTES:
        return _answer(413, "too large")
    body = request.body
    try:
        msg_id, payload = verify(body, request.headers, keys)
    except BadSignature as exc:
        logger.warning("Refused a webhook: %s.", exc)
        return _answer(401, "bad or missing signature")
    except BadPayload:
        return _answer(400, "the body is not a JSON object")
    event = payload.get("type") or payload.get("event")
    device_id = _device_id(payload) if event == "device.detached" else None
    if event == "device.detached" and device_id is None:
        return _answer(400, "device.detached names no device")
    # Only a message we act on uses up its id (a corrected resend of a 400 goes through).
    # Twice the tolerance: past it, the timestamp check refuses the message anyway.
    replay_key = f"{REPLAY_PREFIX}:{hashlib.sha256(msg_id.encode()).hexdigest()}"
    if not shared_cache().add(replay_key, 1, timeout=2 * TOLERANCE_SECONDS):
        return _answer(409, "this message id was seen already")
    if device_id is not None:
        transaction.on_commit(lambda: _detach_or_free_the_id(device_id, replay_key))
        return _answer(200, "accepted")
    logger.info("Ignored a Rupt webhook of type %r.", event)
    return _answer(200, "ignored")


def _detach_or_free_the_id(device_id: str, replay_key: str) -> None:
    # If the work fails, Rupt's retry of the same message must not be refused as a replay.
    try:
        detach(device_id)
    except Exception:
        shared_cache().delete(replay_key)
        raise


def _device_id(payload: dict[str, Any]) -> str | None:
    """Rupt's legacy payload is ``{"device": {"_id": ...}}``; also read a ``data`` envelope."""
    data = payload.get("data")
    if not isinstance(data, dict):
        data = payload
    device = data.get("device")
    value = device.get("_id") or device.get("id") if isinstance(device, dict) else device
    # The provider's own id shape: nothing else is ever looked up (a NUL would fail the query).
    return value if isinstance(value, str) and ID_PATTERN.match(value) else None


def _answer(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)
