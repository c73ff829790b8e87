"""Helpers the factor tests share: age a session's step-up, read the secret the setup page
shows, and compute an authenticator app's code from it."""

from __future__ import annotations

import re
import time
from base64 import b32decode
from typing import Any

from django_otp.oath import TOTP

from rupt_guard.gate.mark import SESSION_KEY


def age_factor(client: Any, seconds: int = 3600) -> None:
    """Make the session's last verified factor (and sign-in) ``seconds`` old: changing
    factors then needs a step-up."""
    session = client.session
    mark = dict(session[SESSION_KEY])
    mark["factor_at"] = mark["passed_at"] = time.time() - seconds
    session[SESSION_KEY] = mark
    session.save()


def secret_on(page: Any) -> str:
    """The base32 secret the authenticator-app setup page shows."""
    html = page.content.decode()
    return re.search(r"data-rupt-guard-secret>([A-Z2-7 ]+)<", html).group(1)


def code_for(secret: str, steps_ahead: int = 0) -> str:
    """The app's code for ``secret`` now (or ``steps_ahead`` time steps later)."""
    raw = secret.replace(" ", "")
    key = b32decode(raw + "=" * (-len(raw) % 8))
    return f"{TOTP(key, drift=steps_ahead).token():06d}"
