"""Medians and how the table writes numbers."""

from __future__ import annotations

import statistics
from collections.abc import Iterable


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def ms(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f} s"
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def signed_ms(value: float) -> str:
    return ("+" if value >= 0 else "-") + ms(abs(value))


def ratio(guarded: float, plain: float) -> str:
    return f"{guarded / plain:.2f}x"


def size(byte_count: int) -> str:
    if byte_count >= 1024 * 1024:
        return f"{byte_count / 1024 / 1024:.1f} MB"
    return f"{byte_count / 1024:.0f} kB"


def count(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f} k"
    return f"{value:,.0f}".replace(",", " ")
