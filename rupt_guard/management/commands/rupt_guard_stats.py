"""The dashboard's figures on the command line, or as JSON for monitoring."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from rupt_guard.stats import figures


class Command(BaseCommand):
    help = (
        "Sign-ins by decision and reason, tokens missing, provider errors and latency, "
        "challenge outcomes and new devices over the last 24 hours, 7 and 30 days (the "
        "admin dashboard's figures). --json prints them for monitoring. Run from cron, it "
        "also keeps the hourly rollup up to date."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="print the figures as JSON")

    def handle(self, *args: Any, json: bool = False, **options: Any) -> None:
        if (why := figures.unavailable()) is not None:
            raise CommandError(why)
        data = figures.as_json()
        if json:
            self.stdout.write(_dumps(data))
            return
        for key, period in data["periods"].items():
            decisions = period["decisions"]
            provider = period["provider"]
            self.stdout.write(
                f"{key}: {period['sign_ins']} sign-ins: {decisions['allow']} allowed, "
                f"{decisions['challenge']} challenged, {decisions['block']} blocked; "
                f"without a token {period['without_token']['count']} "
                f"({period['without_token']['rate']:.1%}); provider errors "
                f"{provider['errors']} of {provider['asked']} ({provider['error_rate']:.1%}), "
                f"p50 {_ms(provider['p50_ms'])}, p95 {_ms(provider['p95_ms'])}"
            )
        breaker = data["breaker"]
        self.stdout.write(f"breaker: {breaker['state'] if breaker else 'unknown (cache down)'}")


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False)


def _ms(value: int | None) -> str:
    return "-" if value is None else f"<= {value} ms"
