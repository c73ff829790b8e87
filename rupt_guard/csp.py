"""What a Content-Security-Policy must allow for the identify tag, for any CSP tool.

The real SDK is a script (``script-src``) that calls Rupt's API from the browser
(``connect-src``): a policy that allows only the first gets every sign-in without a token.
``csp_sources()`` works in ``settings.py`` (no app registry needed), e.g. with django-csp::

    from rupt_guard.csp import csp_sources

    RUPT = csp_sources()  # or csp_sources(sdk_url=..., domain="rupt.example.com")
    CONTENT_SECURITY_POLICY = {
        "DIRECTIVES": {
            "script-src": ["'self'", *RUPT["script-src"]],
            "connect-src": ["'self'", *RUPT["connect-src"]],
        }
    }
"""

from __future__ import annotations

from urllib.parse import urlsplit

RUPT_SDK_URL = "https://cdn.rupt.dev/js/rupt.js"
RUPT_API = "https://api.rupt.dev"


def csp_sources(sdk_url: str = RUPT_SDK_URL, domain: str = "") -> dict[str, list[str]]:
    """The sources to add to ``script-src`` and ``connect-src`` for Rupt's SDK."""
    parts = urlsplit(sdk_url)
    script = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "'self'"
    api = f"https://{domain}" if domain else RUPT_API
    return {"script-src": [script], "connect-src": [api]}
