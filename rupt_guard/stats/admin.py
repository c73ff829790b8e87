"""The admin's dashboard: what the guard decided, why, and how the provider fares.

Listed as "Dashboard" in the app's section of the admin index, through an unmanaged model
with no table (``models.Dashboard``) whose only admin page is this one, behind the
``rupt_guard.view_logincheck`` permission: the same as the login-check list it sums up.
The template is ``admin/rupt_guard/dashboard.html``, overridable like any admin template.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from rupt_guard.choices import ChallengeResult, Decision, ErrorReason
from rupt_guard.models import Dashboard
from rupt_guard.providers.breaker import State
from rupt_guard.stats import charts, figures
from rupt_guard.stats.figures import Estimate, Figures, Period

PERMISSION = figures.PERMISSION


def percent(value: float) -> str:
    return _("%(percent)s%%") % {"percent": formats.number_format(value * 100, 1)}


def estimate(value: Estimate | None, unit: str) -> str:
    """A percentile from the histogram's buckets, said as what it is: a bound."""
    if value is None:
        return "—"
    number = formats.number_format(value.bound)
    if value.over:
        return _("over %(value)s %(unit)s") % {"value": number, "unit": unit}
    return _("at most %(value)s %(unit)s") % {"value": number, "unit": unit}


def slot_label(period: Period, start: datetime) -> str:
    local = timezone.localtime(start)
    if period.step != "hour":
        return formats.date_format(local, "j M")
    label = formats.date_format(local, "H:i")
    # The hour that comes twice when clocks go back: each keeps its own name (CEST, CET),
    # or two rows of the table would read the same.
    earlier = timezone.localtime(start - timedelta(hours=1))
    later = timezone.localtime(start + timedelta(hours=1))
    if local.utcoffset() != earlier.utcoffset() or local.utcoffset() != later.utcoffset():
        label = f"{label} {local.tzname()}"
    return label


def state_label(state: State | None) -> str:
    return {
        State.CLOSED: _("closed: calls go out"),
        State.OPEN: _("open: no calls, ON_PROVIDER_ERROR decides"),
        State.HALF_OPEN: _("half-open: one call probes"),
        State.FORCED_OPEN: _("forced open by an operator"),
        State.FORCED_CLOSED: _("forced closed by an operator"),
    }.get(state, _("unknown: the shared cache does not answer"))  # type: ignore[arg-type]


def page_context(data: Figures) -> dict[str, Any]:
    """The charts and the rows of their tables, for the template."""
    period = data.period
    labels = [slot_label(period, slot.start) for slot in data.slots]
    every = 3 if period.step == "hour" else (5 if period.slots > 10 else 1)
    labels_of = {
        Decision.ALLOW: _("Allowed"),
        Decision.CHALLENGE: _("Challenged"),
        Decision.BLOCK: _("Blocked"),
    }
    decisions = [
        charts.Series(key, label, [s.decisions[key] for s in data.slots])
        for key, label in labels_of.items()
    ]
    per = _("per hour") if period.step == "hour" else _("per day")
    why_items = [
        (f"{w.label} ({w.detail_label})" if w.detail_label else w.label, w.challenged + w.blocked)
        for w in data.why
    ]
    outcome_items = [
        (str(ChallengeResult(key).label), data.outcomes.get(key, 0)) for key in figures.OUTCOMES
    ]
    devices = [
        charts.Series("verified", _("Verified since"), [s.verified_devices for s in data.slots]),
        charts.Series(
            "unverified",
            _("Not verified"),
            [s.new_devices - s.verified_devices for s in data.slots],
        ),
    ]
    error_items = sorted(
        ((figures.label_of(ErrorReason, kind), n) for kind, n in data.provider_errors.items()),
        key=lambda item: -item[1],
    )
    return {
        "decision_chart": charts.stacked_columns(
            "rupt-guard-decisions",
            _("Sign-ins by decision, %(per)s") % {"per": per},
            _("Stacked columns: allowed (plain), challenged (stripes), blocked (cross-hatch)."),
            labels,
            decisions,
            label_every=every,
        ),
        "decision_rows": [
            (label, *(slot.decisions[d] for d in figures.DECISIONS), slot.total)
            for label, slot in zip(labels, data.slots, strict=True)
        ],
        "why_chart": charts.bars(
            "rupt-guard-why",
            _("Why sign-ins were challenged or blocked"),
            _("One bar per reason, its number at its end."),
            [(str(label), n) for label, n in why_items],
        ),
        "outcome_chart": charts.bars(
            "rupt-guard-outcomes",
            _("How challenges ended"),
            _("One bar per outcome, its number at its end."),
            outcome_items,
        ),
        "outcome_rows": outcome_items,
        "error_rows": [(str(label), n) for label, n in error_items],
        "device_chart": charts.stacked_columns(
            "rupt-guard-devices",
            _("New devices, %(per)s") % {"per": per},
            _("Stacked columns: verified since (plain), not verified (stripes)."),
            labels,
            devices,
            label_every=every,
        ),
        "device_rows": [
            (label, slot.new_devices, slot.verified_devices)
            for label, slot in zip(labels, data.slots, strict=True)
        ],
        "without_token_rate": percent(data.without_token_rate),
        "provider_error_rate": percent(data.provider_error_rate),
        "verified_share": percent(data.verified_share),
        "p50": estimate(data.provider_p50, "ms"),
        "p95": estimate(data.provider_p95, "ms"),
        "median_to_pass": estimate(data.median_to_pass, "s"),
    }


@admin.register(Dashboard)
class DashboardAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # not subscriptable at run time
    """Only a changelist URL, which is the dashboard; nothing reads the model's table."""

    template_name = "admin/rupt_guard/dashboard.html"

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(PERMISSION)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view(self.changelist_view)
        return [path("", view, name="{}_{}_changelist".format(*info))]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        request.current_app = self.admin_site.name
        if (why := figures.unavailable()) is not None:
            context = {**self.admin_site.each_context(request), "opts": self.opts, "why": why}
            context["title"] = _("What the guard is doing")
            return TemplateResponse(request, "admin/rupt_guard/dashboard_unavailable.html", context)
        key = request.GET.get("period", figures.DEFAULT_PERIOD)
        period = figures.PERIODS.get(key) or figures.PERIODS[figures.DEFAULT_PERIOD]
        data = figures.summarise(figures.load(periods=[period]), period)
        status = figures.breaker_status()
        context = {
            **self.admin_site.each_context(request),
            "title": _("What the guard is doing"),
            "subtitle": period.label,
            "opts": self.opts,
            "period": period,
            "periods": figures.PERIODS.values(),
            "figures": data,
            "breaker": status,
            "breaker_state": state_label(status.state if status else None),
            "breaker_openings": [
                datetime.fromtimestamp(t, UTC) for t in (status.openings if status else [])
            ],
            **page_context(data),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.template_name, context)
