"""Reading the audit trail: how many recent sign-ins came without a token, and why.

The browser's reasons are diagnostic: a login form without the tag, a wrong client id, a
Content-Security-Policy or an ad blocker that stops the SDK all look alike to the policy
(the missing-token rule), and differ here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from rupt_guard.choices import Reason, TokenError
from rupt_guard.models import LoginCheck

NO_TOKEN_REASONS = (Reason.MISSING_TOKEN, Reason.BAD_TOKEN)


@dataclass(frozen=True)
class MissingTokens:
    """Sign-ins since ``since``: all, those with no usable token, and those by reason."""

    total: int
    without_token: int
    by_reason: dict[str, int]  # a TokenError value, or "" when the browser said nothing

    @property
    def share(self) -> float:
        return self.without_token / self.total if self.total else 0.0

    def labelled(self) -> list[tuple[str, int]]:
        labels = dict(TokenError.choices)
        return [
            (str(labels.get(reason, "no reason given")), count)
            for reason, count in sorted(self.by_reason.items(), key=lambda item: -item[1])
        ]


def missing_tokens(hours: int = 24) -> MissingTokens:
    """Two aggregate queries over the indexed time range, whatever the table's size."""
    recent = LoginCheck.objects.filter(created_at__gte=timezone.now() - timedelta(hours=hours))
    totals = recent.aggregate(
        total=Count("pk"), without_token=Count("pk", filter=Q(reason__in=NO_TOKEN_REASONS))
    )
    rows = (
        recent.filter(reason__in=NO_TOKEN_REASONS)
        .values("token_error")
        .annotate(count=Count("pk"))
        .order_by()
    )
    return MissingTokens(
        total=totals["total"],
        without_token=totals["without_token"],
        by_reason={row["token_error"]: row["count"] for row in rows},
    )
