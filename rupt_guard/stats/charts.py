"""Charts drawn on the server as inline SVG: no script, no style attribute, no CDN.

They work under a strict Content-Security-Policy (``style-src 'self'``: colours come from
classes in ``rupt_guard/admin/dashboard.css``, which follows the admin's light and dark
themes). Each series has a pattern of its own (plain, stripes, cross-hatch) besides its
colour, the legend shows the patterns, horizontal bars carry their number as text, and the
page puts every chart's numbers in a table beside it: nothing is said by colour alone.
Each chart is ``role="img"`` named by its ``<title>`` and described by its ``<desc>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH = 720
PLOT_TOP = 34  # below the legend
PLOT_LEFT = 48
PLOT_RIGHT = 8
AXIS_BOTTOM = 26
PATTERNS = ("plain", "stripes", "cross")


@dataclass(frozen=True)
class Series:
    key: str  # a CSS class suffix: rupt-guard-series-<key>
    label: str
    values: Sequence[int]


def _n(value: float) -> str:
    return f"{value:.1f}"


def _patterns(chart_id: str, series: Sequence[Series]) -> SafeString:
    """One <pattern> per series: a coloured ground, and lines for all but the first."""
    defs = []
    for index, serie in enumerate(series):
        kind = PATTERNS[index % len(PATTERNS)]
        lines = ""
        if kind in ("stripes", "cross"):
            lines += '<path class="rupt-guard-hatch" d="M0,8 L8,0 M-2,2 L2,-2 M6,10 L10,6"/>'
        if kind == "cross":
            lines += '<path class="rupt-guard-hatch" d="M0,0 L8,8 M-2,6 L2,10 M6,-2 L10,2"/>'
        defs.append(
            format_html(
                '<pattern id="{}-{}" width="8" height="8" patternUnits="userSpaceOnUse">'
                '<rect class="rupt-guard-series-{}" width="8" height="8"/>{}</pattern>',
                chart_id,
                serie.key,
                serie.key,
                mark_safe(lines),  # noqa: S308 - constant markup above
            )
        )
    return format_html("<defs>{}</defs>", mark_safe("".join(defs)))  # noqa: S308


def _legend(chart_id: str, series: Sequence[Series]) -> SafeString:
    items, x = [], PLOT_LEFT
    for serie in series:
        items.append(
            format_html(
                '<rect class="rupt-guard-swatch" x="{}" y="6" width="16" height="16" '
                'fill="url(#{}-{})"/><text class="rupt-guard-legend" x="{}" y="19">{}</text>',
                x,
                chart_id,
                serie.key,
                x + 22,
                serie.label,
            )
        )
        x += 30 + 8 * len(serie.label)
    return mark_safe("".join(items))  # noqa: S308 - each item escaped by format_html


def _svg(chart_id: str, title: str, description: str, height: int, body: SafeString) -> SafeString:
    return format_html(
        '<svg class="rupt-guard-chart" viewBox="0 0 {} {}" role="img" '
        'aria-labelledby="{}-title {}-desc" xmlns="http://www.w3.org/2000/svg">'
        '<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>{}</svg>',
        WIDTH,
        height,
        chart_id,
        chart_id,
        chart_id,
        title,
        chart_id,
        description,
        body,
    )


def _nice_max(value: int) -> int:
    """A round top for the scale (1, 2 or 5 times a power of ten), at least ``value``."""
    base = 1
    while True:
        for factor in (1, 2, 5):
            if base * factor >= value:
                return base * factor
        base *= 10


def stacked_columns(
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    label_every: int = 1,
    height: int = 240,
) -> SafeString:
    """One column per category, its series stacked bottom-up in the order given."""
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    top = _nice_max(max(totals, default=0))
    plot_height = height - PLOT_TOP - AXIS_BOTTOM
    step = (WIDTH - PLOT_LEFT - PLOT_RIGHT) / max(len(categories), 1)
    bar = max(step * 0.7, 1)
    base = PLOT_TOP + plot_height
    parts = [
        _patterns(chart_id, series),
        _legend(chart_id, series),
        format_html(
            '<line class="rupt-guard-axis" x1="{}" y1="{}" x2="{}" y2="{}"/>'
            '<text class="rupt-guard-tick" x="{}" y="{}" text-anchor="end">{}</text>'
            '<text class="rupt-guard-tick" x="{}" y="{}" text-anchor="end">0</text>'
            '<line class="rupt-guard-grid" x1="{}" y1="{}" x2="{}" y2="{}"/>',
            PLOT_LEFT,
            base,
            WIDTH - PLOT_RIGHT,
            base,
            PLOT_LEFT - 6,
            PLOT_TOP + 4,
            top,
            PLOT_LEFT - 6,
            base,
            PLOT_LEFT,
            PLOT_TOP,
            WIDTH - PLOT_RIGHT,
            PLOT_TOP,
        ),
    ]
    for i, category in enumerate(categories):
        x = PLOT_LEFT + i * step + (step - bar) / 2
        y: float = base
        for serie in series:
            value = serie.values[i]
            if not value:
                continue
            h = plot_height * value / top
            y -= h
            parts.append(
                format_html(
                    '<rect class="rupt-guard-bar" x="{}" y="{}" width="{}" '
                    'height="{}" fill="url(#{}-{})"><title>{}: {} {}</title></rect>',
                    _n(x),
                    _n(y),
                    _n(bar),
                    _n(h),
                    chart_id,
                    serie.key,
                    category,
                    value,
                    serie.label,
                )
            )
        if i % label_every == 0:
            parts.append(
                format_html(
                    '<text class="rupt-guard-tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                    _n(x + bar / 2),
                    base + 16,
                    category,
                )
            )
    return _svg(chart_id, title, description, height, mark_safe("".join(parts)))  # noqa: S308


def bars(
    chart_id: str, title: str, description: str, items: Sequence[tuple[str, int]]
) -> SafeString:
    """Horizontal bars, one per item, labelled on the left and numbered at their end."""
    row, label_width = 26, 420
    height = max(len(items), 1) * row + 8
    top = max((value for _label, value in items), default=0) or 1
    room = WIDTH - label_width - 50
    body = format_html_join(
        "",
        '<text class="rupt-guard-label" x="{}" y="{}" text-anchor="end">{}</text>'
        '<rect class="rupt-guard-bar rupt-guard-series-single" x="{}" y="{}" width="{}" '
        'height="16"/><text class="rupt-guard-value" x="{}" y="{}">{}</text>',
        (
            (
                label_width - 8,
                i * row + 20,
                label,
                label_width,
                i * row + 8,
                _n(room * value / top),
                _n(label_width + room * value / top + 6),
                i * row + 20,
                value,
            )
            for i, (label, value) in enumerate(items)
        ),
    )
    return _svg(chart_id, title, description, height, body)
