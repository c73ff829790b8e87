"""The hourly rollup of the login checks, filled lazily and set-based.

No sign-in writes here: the sign-in keeps its statement count. When the figures are asked
for (the dashboard, ``rupt_guard_stats``, the API), :func:`refresh` rolls up the settled
hours not rolled up yet, each kind of row in one ``INSERT ... SELECT ... GROUP BY`` over
an indexed ``created_at`` range, whatever the number of hours or checks; the hours after
it are read live from the checks by the same grouping (:func:`live_counts`).

An hour is settled, and frozen, once it ended ``CHALLENGE_TIMEOUT`` plus ``SETTLE_MARGIN``
ago: by then each of its challenges has passed, been given up, ended, or can no longer
pass (a challenge still pending is counted as expired, which is what the sweep will write),
and a wrong-code notice can no longer come. The margin covers a sign-in's transaction that
commits a little after its ``created_at`` and clocks that differ between servers.

Two refreshes at once: the watermark moves by a compare-and-set ``UPDATE`` first, in the
same transaction as the inserts, so only one of them inserts a given hour (and the unique
constraints would refuse a second copy anyway).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, connections, router, transaction
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    F,
    IntegerField,
    Q,
    QuerySet,
    UniqueConstraint,
    Value,
    When,
)
from django.db.models.functions import TruncHour

from rupt_guard.choices import ChallengeResult, ErrorReason
from rupt_guard.conf import guard_settings
from rupt_guard.models import CheckHistogram, CheckHour, LoginCheck, RollupState

SETTLE_MARGIN = timedelta(minutes=15)
# Rollups older than this are deleted at the next refresh (counts only, no personal data;
# the dashboard reads 30 days).
KEEP_DAYS = 90
# A first refresh starts this far back: the longest period shown, and a day for time zones.
FIRST_DAYS = 31

# Upper bounds of the histograms' buckets; the last bucket has none ("more than").
PROVIDER_MS_BOUNDS: tuple[int, ...] = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000)
PASS_SECONDS_BOUNDS: tuple[int, ...] = (15, 30, 60, 90, 120, 180, 300, 600, 900, 1800)


def _grouping(model: Any) -> tuple[str, ...]:
    """What one rollup row counts: its model's unique fields, so that the grouping and the
    constraint that keeps one row a group cannot drift apart."""
    (unique,) = (c for c in model._meta.constraints if isinstance(c, UniqueConstraint))
    return tuple(unique.fields)


COUNT_FIELDS = _grouping(CheckHour)
HISTOGRAM_FIELDS = _grouping(CheckHistogram)
ROLLUP_ID = 1


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def settled_before(now: datetime) -> datetime:
    """The hours before this one are settled (see the module's docstring)."""
    timeout = timedelta(seconds=guard_settings.CHALLENGE_TIMEOUT)
    return floor_hour(now - timeout - SETTLE_MARGIN)


def _checks(start: datetime, end: datetime | None) -> QuerySet[Any]:
    checks = LoginCheck.objects.filter(created_at__gte=start)  # rupt_guard_check_time
    return checks.filter(created_at__lt=end) if end is not None else checks


def count_rows(start: datetime, end: datetime | None, now: datetime) -> QuerySet[Any]:
    """The checks of ``[start, end)`` grouped as ``CheckHour`` rows, by hour (UTC)."""
    timeout = timedelta(seconds=guard_settings.CHALLENGE_TIMEOUT)
    result = Case(
        When(
            challenge_result=ChallengeResult.PENDING,
            created_at__lt=now - timeout,
            then=Value(ChallengeResult.EXPIRED.value),
        ),
        default=F("challenge_result"),
        output_field=CharField(),
    )
    wrong_codes = Case(
        When(
            Q(owner_notified_at__lt=F("created_at") + timeout)
            & ~Q(challenge_result=ChallengeResult.ENDED),
            then=Value(True),
        ),
        default=Value(False),
        output_field=BooleanField(),
    )
    with_token = Case(
        When(provider_ms__isnull=False, then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )
    rows: QuerySet[Any] = (
        _checks(start, end)
        .annotate(
            hour=TruncHour("created_at", tzinfo=UTC),
            result=result,
            with_token=with_token,
            wrong_codes=wrong_codes,
        )
        .values(*COUNT_FIELDS)
        .annotate(checks=Count("pk"))
        .order_by()
    )
    return rows


def _bucket(bounds: tuple[int, ...], lookup: str, limit: Callable[[int], Any]) -> Case:
    """The index of the first bucket whose bound the measure does not exceed."""
    whens = [When(**{lookup: limit(bound)}, then=Value(i)) for i, bound in enumerate(bounds)]
    return Case(*whens, default=Value(len(bounds)), output_field=IntegerField())


def histogram_rows(start: datetime, end: datetime | None) -> tuple[QuerySet[Any], QuerySet[Any]]:
    """The checks of ``[start, end)`` as ``CheckHistogram`` rows: the provider's time (calls
    that went out only) and the time to pass a challenge."""
    hour = TruncHour("created_at", tzinfo=UTC)
    provider = (
        _checks(start, end)
        .filter(provider_ms__isnull=False)
        # Refused before any call: the open breaker, a malformed token, a replay (a token
        # Rupt refused has the status Rupt answered).
        .exclude(provider_error__in=[ErrorReason.BREAKER_OPEN, ErrorReason.BAD_TOKEN])
        .exclude(provider_error=ErrorReason.TOKEN_REJECTED, provider_status__isnull=True)
        .annotate(
            hour=hour,
            measure=Value(CheckHistogram.Measure.PROVIDER_MS.value, output_field=CharField()),
            bucket=_bucket(PROVIDER_MS_BOUNDS, "provider_ms__lte", lambda ms: ms),
        )
    )
    passed = (
        _checks(start, end)
        .filter(challenge_result=ChallengeResult.PASSED, challenge_ended_at__isnull=False)
        .annotate(
            hour=hour,
            measure=Value(CheckHistogram.Measure.PASS_SECONDS.value, output_field=CharField()),
            bucket=_bucket(
                PASS_SECONDS_BOUNDS,
                "challenge_ended_at__lte",
                lambda s: F("created_at") + timedelta(seconds=s),
            ),
        )
    )
    return tuple(
        rows.values(*HISTOGRAM_FIELDS).annotate(checks=Count("pk")).order_by()
        for rows in (provider, passed)
    )


def refresh(now: datetime) -> datetime:
    """Roll up the settled hours not rolled up yet; return the new watermark (the hours
    before it are in the rollup). One read when there is nothing to do; otherwise a fixed
    number of statements whatever the hours and checks waiting."""
    target = settled_before(now)
    current = RollupState.objects.filter(pk=ROLLUP_ID).values_list("rolled_up_to", flat=True)
    start = current.first()
    if start is not None and start >= target:
        return start
    using = router.db_for_write(CheckHour)
    with transaction.atomic(using=using):
        if start is None:
            # The first refresh: from FIRST_DAYS back (older checks are not summed up).
            start = floor_hour(now) - timedelta(days=FIRST_DAYS)
            try:
                with transaction.atomic(using=using):
                    RollupState.objects.create(pk=ROLLUP_ID, rolled_up_to=target)
            except IntegrityError:
                return _watermark(target)
        elif not RollupState.objects.filter(pk=ROLLUP_ID, rolled_up_to=start).update(
            rolled_up_to=target
        ):
            return _watermark(target)  # another refresh moved it: it inserts these hours
        _insert(CheckHour, COUNT_FIELDS, count_rows(start, target, now), using)
        for rows in histogram_rows(start, target):
            _insert(CheckHistogram, HISTOGRAM_FIELDS, rows, using)
        horizon = floor_hour(now) - timedelta(days=KEEP_DAYS)
        CheckHour.objects.filter(hour__lt=horizon).delete()
        CheckHistogram.objects.filter(hour__lt=horizon).delete()
    return target


def _watermark(default: datetime) -> datetime:
    value = RollupState.objects.filter(pk=ROLLUP_ID).values_list("rolled_up_to", flat=True)
    return value.first() or default


def _insert(model: Any, fields: tuple[str, ...], rows: QuerySet[Any], using: str) -> None:
    """``INSERT INTO model (fields, checks) SELECT ... FROM (rows)``: one statement, in the
    database, however many rows. Columns are taken by name from the grouped query, so
    their order in Django's SELECT does not matter."""
    connection = connections[using]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in (*fields, "checks"))
    names = ", ".join(quote(name) for name in (*fields, "checks"))
    select, params = rows.query.get_compiler(using).as_sql()
    # Only names from the models and Django's own compiled SQL go in; values are params.
    table = quote(model._meta.db_table)
    sql = f"INSERT INTO {table} ({columns}) SELECT {names} FROM ({select}) AS rollup_rows"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
