"""The dashboard's figures as plain data, from the rollup and the hours not rolled up yet.

:func:`load` makes a fixed number of queries whatever the number of checks (the rollup's
refresh, two reads of the rollup, three live reads of the unsettled hours, one of the
devices); :func:`summarise` turns what it read into the figures of one period, in Python,
over at most a few tens of thousands of small rows. :func:`as_json` is what the
``rupt_guard_stats`` command and the API endpoint give.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from rupt_guard.choices import ChallengeResult, Decision, ErrorReason, Reason, TokenError
from rupt_guard.models import CheckHistogram, CheckHour, Device
from rupt_guard.providers import breaker
from rupt_guard.stats import rollup

DECISIONS = tuple(Decision.values)  # allow, challenge, block: the order of every series
NO_TOKEN_REASONS = (Reason.MISSING_TOKEN.value, Reason.BAD_TOKEN.value)
OUTCOMES = (
    ChallengeResult.PASSED.value,
    ChallengeResult.GIVEN_UP.value,
    ChallengeResult.EXPIRED.value,
    ChallengeResult.ENDED.value,
    ChallengeResult.PENDING.value,
)
NOT_GIVEN = "not_given"  # the JSON's key for a blank browser reason
# Who may read the figures (the dashboard, the API): whoever may read the login checks.
PERMISSION = "rupt_guard.view_logincheck"


@dataclass(frozen=True)
class Period:
    key: str
    label: Promise
    step: str  # "hour" or "day"
    slots: int


PERIODS = {
    "24h": Period("24h", _("Last 24 hours"), "hour", 24),
    "7d": Period("7d", _("Last 7 days"), "day", 7),
    "30d": Period("30d", _("Last 30 days"), "day", 30),
}
DEFAULT_PERIOD = "7d"
LONGEST = PERIODS["30d"]


@dataclass
class Loaded:
    """What :func:`load` read, by step ("hour" or "day"): count rows and histogram rows,
    each with its ``start`` (an hour, or a local midnight); devices by UTC hour."""

    now: datetime
    counts: dict[str, list[dict[str, Any]]]
    histograms: dict[str, list[dict[str, Any]]]
    devices: list[dict[str, Any]]


@dataclass
class Slot:
    """One bar of the time charts: an hour, or a day of the site's time zone."""

    start: datetime
    decisions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DECISIONS, 0))
    new_devices: int = 0
    verified_devices: int = 0

    @property
    def total(self) -> int:
        return sum(self.decisions.values())


@dataclass(frozen=True)
class Why:
    """Challenges and blocks for one reason (and, for some, the detail behind it)."""

    reason: str
    detail: str  # the browser's reason for no token, or the provider error's kind
    challenged: int
    blocked: int

    @property
    def label(self) -> str:
        return label_of(Reason, self.reason)

    @property
    def detail_label(self) -> str:
        if not self.detail:
            return ""
        if self.reason == Reason.PROVIDER_ERROR:
            return label_of(ErrorReason, self.detail)
        if self.detail == NOT_GIVEN:
            return str(_("No reason given by the browser"))
        return label_of(TokenError, self.detail)


def unavailable() -> str | None:
    """Why there are no figures on this site, or None. The rollup counts whole hours of
    UTC, which naive datetimes (``USE_TZ = False``) cannot tell apart (rupt_guard.W017)."""
    if not settings.USE_TZ:
        return str(_("The dashboard needs USE_TZ = True: its hours are hours of UTC."))
    return None


def label_of(choices: Any, value: str) -> str:
    """The label of ``value``, or the value itself: a site's own policy rule or provider
    plugin may record reasons and error kinds this app does not know."""
    try:
        return str(choices(value).label)
    except ValueError:
        return value


@dataclass(frozen=True)
class Estimate:
    """A percentile read from fixed buckets: at most ``bound``, or more than the last
    bound when ``over`` (approximate, and never below the truth)."""

    bound: int
    over: bool = False


@dataclass
class Figures:
    period: Period
    since: datetime
    until: datetime
    slots: list[Slot]
    decisions: dict[str, int]
    reasons: dict[str, int]
    why: list[Why]
    without_token: int
    token_errors: dict[str, int]
    provider_asked: int
    provider_errors: dict[str, int]  # by kind, breaker_open included
    provider_calls: int  # calls that went out and were timed
    provider_p50: Estimate | None
    provider_p95: Estimate | None
    outcomes: dict[str, int]
    wrong_codes: int
    median_to_pass: Estimate | None
    new_devices: int
    verified_devices: int

    @property
    def total(self) -> int:
        return sum(self.decisions.values())

    @property
    def challenges(self) -> int:
        return self.decisions[Decision.CHALLENGE]

    @property
    def provider_error_count(self) -> int:
        return sum(self.provider_errors.values())

    @property
    def provider_error_rate(self) -> float:
        return self.provider_error_count / self.provider_asked if self.provider_asked else 0.0

    @property
    def without_token_rate(self) -> float:
        return self.without_token / self.total if self.total else 0.0

    @property
    def verified_share(self) -> float:
        return self.verified_devices / self.new_devices if self.new_devices else 0.0


def slot_starts(period: Period, now: datetime) -> list[datetime]:
    """The start of each bar, oldest first: whole UTC hours, or local midnights."""
    if period.step == "hour":
        last = rollup.floor_hour(now)
        return [last - timedelta(hours=n) for n in range(period.slots - 1, -1, -1)]
    today = timezone.localdate(now)
    zone = timezone.get_current_timezone()
    days = [today - timedelta(days=n) for n in range(period.slots - 1, -1, -1)]
    return [datetime.combine(day, time(), tzinfo=zone) for day in days]


def load(now: datetime | None = None, periods: Iterable[Period] = (LONGEST,)) -> Loaded:
    """Read what the figures of ``periods`` need: the rollup summed by hour for hourly
    periods and by local day for daily ones (a few hundred rows, not one per hour and
    combination), the hours after the rollup live, and the new devices."""
    now = now or timezone.now()
    watermark = rollup.refresh(now)
    starts = {p.step: rollup.floor_hour(slot_starts(p, now)[0]) for p in periods}
    if "day" in starts:  # the longest daily period's start
        starts["day"] = min(
            rollup.floor_hour(slot_starts(p, now)[0]) for p in periods if p.step == "day"
        )
    since = min(starts.values())
    live_from = max(watermark, since)
    # Up to now: a check dated ahead (a web server's clock ahead of this one) is in no bar,
    # so it is in no total either.
    live_counts = list(rollup.count_rows(live_from, now, now))
    live_histograms = [row for rows in rollup.histogram_rows(live_from, now) for row in rows]
    counts, histograms = {}, {}
    for step, start in starts.items():
        counts[step] = _rolled_up(CheckHour, rollup.COUNT_FIELDS, step, start, watermark)
        counts[step] += [{**row, "start": row["hour"]} for row in live_counts]
        histograms[step] = _rolled_up(
            CheckHistogram, rollup.HISTOGRAM_FIELDS, step, start, watermark
        )
        histograms[step] += [{**row, "start": row["hour"]} for row in live_histograms]
    devices = list(
        Device.objects.filter(first_seen_at__gte=since)  # rupt_guard_dev_first_seen
        .annotate(hour=TruncHour("first_seen_at", tzinfo=UTC))
        .values("hour")
        .annotate(new=Count("pk"), verified=Count("pk", filter=Q(verified_at__isnull=False)))
        .order_by()
    )
    return Loaded(now, counts, histograms, devices)


def _rolled_up(
    model: Any, fields: tuple[str, ...], step: str, start: datetime, watermark: datetime
) -> list[dict[str, Any]]:
    """The rollup's rows of ``[start, watermark)`` summed by hour or by local day."""
    trunc = (
        F("hour") if step == "hour" else TruncDay("hour", tzinfo=timezone.get_current_timezone())
    )
    dimensions = [name for name in fields if name != "hour"]
    rows = (
        model.objects.filter(hour__gte=start, hour__lt=watermark)
        .values(*dimensions, start=trunc)
        .annotate(total=Sum("checks"))
        .order_by()
    )
    return [{**row, "checks": row.pop("total")} for row in rows]


def _slot_key(period: Period, moment: datetime) -> datetime | date:
    if period.step == "hour":
        return rollup.floor_hour(moment)
    return timezone.localdate(moment)


def summarise(loaded: Loaded, period: Period) -> Figures:
    """The figures of one period from what :func:`load` read."""
    starts = slot_starts(period, loaded.now)
    since = rollup.floor_hour(starts[0])
    slots = {_slot_key(period, start): Slot(start) for start in starts}
    decisions: Counter[str] = Counter(dict.fromkeys(DECISIONS, 0))
    reasons: Counter[str] = Counter()
    why: Counter[tuple[str, str, str]] = Counter()
    token_errors: Counter[str] = Counter()
    provider_errors: Counter[str] = Counter()
    outcomes: Counter[str] = Counter(dict.fromkeys(OUTCOMES, 0))
    asked = wrong_codes = 0
    for row in loaded.counts[period.step]:
        if row["start"] < since:
            continue
        n, decision, reason = row["checks"], row["decision"], row["reason"]
        slot = slots.get(_slot_key(period, row["start"]))
        if slot is not None:
            slot.decisions[decision] = slot.decisions.get(decision, 0) + n
        decisions[decision] += n
        reasons[reason] += n
        if reason in NO_TOKEN_REASONS:
            token_errors[row["token_error"] or NOT_GIVEN] += n
        if row["with_token"]:
            asked += n
        if reason == Reason.PROVIDER_ERROR and row["provider_error"]:
            provider_errors[row["provider_error"]] += n
        if decision != Decision.ALLOW:
            detail = ""
            if reason in NO_TOKEN_REASONS:
                detail = row["token_error"] or NOT_GIVEN
            elif reason == Reason.PROVIDER_ERROR:
                detail = row["provider_error"]
            why[(reason, detail, decision)] += n
        if decision == Decision.CHALLENGE and row["result"]:
            outcomes[row["result"]] += n
            wrong_codes += n if row["wrong_codes"] else 0
    for row in loaded.devices:
        slot = slots.get(_slot_key(period, row["hour"])) if row["hour"] >= since else None
        if slot is not None:
            slot.new_devices += row["new"]
            slot.verified_devices += row["verified"]
    rows = loaded.histograms[period.step]
    provider_ms = _histogram(rows, since, CheckHistogram.Measure.PROVIDER_MS)
    pass_seconds = _histogram(rows, since, CheckHistogram.Measure.PASS_SECONDS)
    return Figures(
        period=period,
        since=starts[0],
        until=loaded.now,
        slots=list(slots.values()),
        decisions=dict(decisions),
        reasons=dict(reasons),
        why=_why_rows(why),
        without_token=sum(reasons[r] for r in NO_TOKEN_REASONS),
        token_errors=dict(token_errors),
        provider_asked=asked,
        provider_errors=dict(provider_errors),
        provider_calls=sum(provider_ms.values()),
        provider_p50=percentile(provider_ms, rollup.PROVIDER_MS_BOUNDS, 0.5),
        provider_p95=percentile(provider_ms, rollup.PROVIDER_MS_BOUNDS, 0.95),
        outcomes=dict(outcomes),
        wrong_codes=wrong_codes,
        median_to_pass=percentile(pass_seconds, rollup.PASS_SECONDS_BOUNDS, 0.5),
        new_devices=sum(slot.new_devices for slot in slots.values()),
        verified_devices=sum(slot.verified_devices for slot in slots.values()),
    )


def _histogram(rows: list[dict[str, Any]], since: datetime, measure: str) -> Counter[int]:
    buckets: Counter[int] = Counter()
    for row in rows:
        if row["measure"] == measure and row["start"] >= since:
            buckets[row["bucket"]] += row["checks"]
    return buckets


def _why_rows(why: Counter[tuple[str, str, str]]) -> list[Why]:
    both: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (reason, detail, decision), n in why.items():
        both[(reason, detail)][decision] += n
    rows = [
        Why(reason, detail, counts[Decision.CHALLENGE], counts[Decision.BLOCK])
        for (reason, detail), counts in both.items()
    ]
    return sorted(rows, key=lambda w: (-(w.challenged + w.blocked), w.reason, w.detail))


def percentile(buckets: Counter[int], bounds: tuple[int, ...], share: float) -> Estimate | None:
    """The bucket bound at or below which ``share`` of the values lie (None: no values)."""
    total = sum(buckets.values())
    if not total:
        return None
    seen = 0
    for index in range(len(bounds) + 1):
        seen += buckets.get(index, 0)
        if seen >= share * total:
            break
    if index >= len(bounds):
        return Estimate(bounds[-1], over=True)
    return Estimate(bounds[index])


def breaker_status() -> breaker.Status | None:
    try:
        return breaker.status()
    except Exception:  # the shared cache is down: the figures still show
        return None


# -- JSON ----------------------------------------------------------------------------------


def _estimate(value: Estimate | None) -> int | None:
    """A bucket's upper bound; null without values or above the last bucket."""
    return None if value is None or value.over else value.bound


def _rate(value: float) -> float:
    return round(value, 4)


def figures_json(figures: Figures) -> dict[str, Any]:
    """One period's figures as JSON-ready data (the keys are documented in docs/operations.md)."""
    return {
        "since": figures.since.isoformat(),
        "until": figures.until.isoformat(),
        "sign_ins": figures.total,
        "decisions": figures.decisions,
        # Every value seen, the app's own always present: a site's own policy reasons and
        # provider plugins' error kinds are counted too, so the parts add up.
        "reasons": {**dict.fromkeys(Reason.values, 0), **figures.reasons},
        "without_token": {
            "count": figures.without_token,
            "rate": _rate(figures.without_token_rate),
            "by_browser_reason": {
                key: figures.token_errors.get(key, 0) for key in (*TokenError.values, NOT_GIVEN)
            },
        },
        "provider": {
            "asked": figures.provider_asked,
            "errors": figures.provider_error_count,
            "error_rate": _rate(figures.provider_error_rate),
            "errors_by_kind": {**dict.fromkeys(ErrorReason.values, 0), **figures.provider_errors},
            "timed_calls": figures.provider_calls,
            "p50_ms": _estimate(figures.provider_p50),
            "p95_ms": _estimate(figures.provider_p95),
        },
        "challenges": {
            **{outcome: figures.outcomes.get(outcome, 0) for outcome in OUTCOMES},
            "owner_emailed_after_wrong_codes": figures.wrong_codes,
            "median_seconds_to_pass": _estimate(figures.median_to_pass),
        },
        "new_devices": {
            "count": figures.new_devices,
            "verified": figures.verified_devices,
            "verified_share": _rate(figures.verified_share),
        },
        "series": [
            {"start": slot.start.isoformat(), **slot.decisions, "new_devices": slot.new_devices}
            for slot in figures.slots
        ],
    }


def breaker_json(status: breaker.Status | None) -> dict[str, Any] | None:
    if status is None:
        return None
    return {
        "state": status.state.value,
        "failures_in_window": status.failures,
        "open_until": _timestamp(status.open_until),
        "openings": [_timestamp(t) for t in status.openings],
    }


def _timestamp(value: float | None) -> str | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")


def as_json(now: datetime | None = None) -> dict[str, Any]:
    """Every period's figures and the breaker's state: one :func:`load` for all three."""
    loaded = load(now, PERIODS.values())
    return {
        "generated_at": loaded.now.isoformat(),
        "periods": {
            key: figures_json(summarise(loaded, period)) for key, period in PERIODS.items()
        },
        "breaker": breaker_json(breaker_status()),
    }
