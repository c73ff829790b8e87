"""Whether this browser's device may be identified: the site's ``CONSENT`` callable, asked on
the server (never a field the browser posts) by the identify tag, the API's client config
and the check of a sign-in."""

from __future__ import annotations

import logging
from typing import Any

from rupt_guard.conf import guard_settings

logger = logging.getLogger(__name__)


def consent_given(request: Any) -> bool:
    """``CONSENT(request)``, or True when no ``CONSENT`` is set. Never raises.

    A callable that raises, or no request to ask it about, counts as refused: the sign-in
    then gets ``Reason.NO_CONSENT`` and ``ON_NO_CONSENT`` decides, which a site sets on
    purpose (``"allow"`` needs ``ACCEPTED_RISKS``), so a broken callable neither turns
    identification on without consent nor fails the sign-in with a 500.
    """
    decide = guard_settings.CONSENT
    if decide is None:
        return True
    request = getattr(request, "_request", request)  # DRF's Request wraps Django's
    if request is None:
        return False
    try:
        return bool(decide(request))
    except Exception:
        logger.exception("RUPT_GUARD['CONSENT'] raised: identification counts as refused.")
        return False
