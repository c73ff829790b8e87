"""OpenAPI descriptions, when drf-spectacular is installed (``pip install rupt-guard[api]``).

Without it the decorator does nothing, so the API works with Django REST framework alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_extend_schema: Callable[..., Any] | None
try:
    from drf_spectacular.utils import extend_schema as _extend_schema
except ImportError:  # pragma: no cover - exercised by sites without the extra
    _extend_schema = None


def describe(**kwargs: Any) -> Callable[[Any], Any]:
    """``drf_spectacular.utils.extend_schema`` if available, else a no-op."""
    if _extend_schema is None:
        return lambda view: view
    decorator: Callable[[Any], Any] = _extend_schema(**kwargs)
    return decorator


if _extend_schema is not None:
    from django.conf import settings
    from drf_spectacular.extensions import OpenApiAuthenticationExtension

    # drf-spectacular's __init_subclass__ (the registration) is unannotated.
    class CsrfSessionScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
        """The sign-in endpoint's session authentication, described like DRF's own."""

        target_class = "rupt_guard.api.views.CsrfSessionAuthentication"
        name = "csrfCookieAuth"

        def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
            return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}
