"""Challenges nobody answered: found and closed after ``CHALLENGE_TIMEOUT``, owner told.

An attacker with the password who meets the challenge and simply closes the tab never
comes back to expire their own session, so the expiry cannot wait for them. It is found
by a sweep (``manage.py rupt_guard_expire_challenges`` from cron) and, cheaply, at the
account's next sign-in (one indexed query on the account's own checks).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import F
from django.utils import timezone

from rupt_guard.choices import ChallengeResult
from rupt_guard.conf import guard_settings
from rupt_guard.gate.notifications import notify_unconfirmed_sign_in
from rupt_guard.models import LoginCheck


def expire_stale_challenges(user: Any = None, *, limit: int = 1000) -> int:
    """Close the pending challenges older than ``CHALLENGE_TIMEOUT`` (of ``user``, or of
    everyone) as expired and email each owner once; return how many were closed."""
    cutoff = timezone.now() - timedelta(seconds=guard_settings.CHALLENGE_TIMEOUT)
    stale = LoginCheck.objects.filter(
        challenge_result=ChallengeResult.PENDING, created_at__lt=cutoff
    )
    if user is not None:
        stale = stale.filter(user=user)
    closed = 0
    for pk in stale.order_by("created_at").values_list("pk", flat=True)[:limit]:
        # Claimed row by row: two sweeps (or a sweep and the session's own expiry) never
        # both close one challenge, nor both email its owner.
        claimed = LoginCheck.objects.filter(pk=pk, challenge_result=ChallengeResult.PENDING)
        ended_at = F("created_at") + timedelta(seconds=guard_settings.CHALLENGE_TIMEOUT)
        if claimed.update(challenge_result=ChallengeResult.EXPIRED, challenge_ended_at=ended_at):
            closed += 1
            tell_owner(pk)
    return closed


def tell_owner(check_pk: int) -> None:
    """Email the owner that this sign-in was not confirmed, once per sign-in whoever asks
    (wrong codes, the expiry, the sweep)."""
    claimed = LoginCheck.objects.filter(pk=check_pk, owner_notified_at__isnull=True).update(
        owner_notified_at=timezone.now()
    )
    if not claimed:
        return
    check = LoginCheck.objects.filter(pk=check_pk).select_related("user", "device").first()
    if check is not None:
        notify_unconfirmed_sign_in(None, check)
