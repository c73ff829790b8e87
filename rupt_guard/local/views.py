"""The local provider's browser side: its SDK script and the token endpoint."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from pathlib import Path

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from rupt_guard.local.models import LocalIdentification
from rupt_guard.local.provider import LocalProvider
from rupt_guard.providers import get_provider

SECRET_PATTERN = re.compile(r"\A[A-Za-z0-9_-]{22,128}\Z")
SDK_SOURCE = Path(__file__).with_name("static") / "rupt_guard_local" / "sdk.js"


def device_id_for(secret: str) -> str:
    """A stable id for the browser's secret; the secret itself is never stored."""
    return salted_hmac("rupt_guard.local.device", secret, algorithm="sha256").hexdigest()[:32]


@require_GET
@cache_control(max_age=3600, public=True)
def sdk(request: HttpRequest) -> HttpResponse:
    # Served by a view, not as a static file, so that it finds the token endpoint next to
    # its own URL wherever the site mounts rupt_guard's URLs.
    return HttpResponse(SDK_SOURCE.read_bytes(), content_type="text/javascript; charset=utf-8")


# No CSRF token: the caller is an anonymous login page, and minting a token for a secret
# only helps whoever holds that secret.
@csrf_exempt
@require_POST
@never_cache
def identify(request: HttpRequest) -> JsonResponse:
    try:
        body = json.loads(request.body[:1024] or b"null")
    except ValueError:
        body = None
    secret = body.get("secret") if isinstance(body, dict) else None
    if not isinstance(secret, str) or not SECRET_PATTERN.match(secret):
        return JsonResponse({"error": "secret must be 22 to 128 URL-safe characters"}, status=400)
    now = timezone.now()
    identification = LocalIdentification.objects.create(
        token=uuid.uuid4(),
        device_id=device_id_for(secret),
        created_at=now,
        expires_at=now + timedelta(seconds=_token_ttl()),
    )
    return JsonResponse({"identification": str(identification.token)})


def _token_ttl() -> int:
    provider = get_provider()
    return provider.token_ttl if isinstance(provider, LocalProvider) else 300
