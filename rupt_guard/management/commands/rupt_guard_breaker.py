"""Show the circuit breaker around the provider, or force it open or closed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from rupt_guard.providers import breaker


class Command(BaseCommand):
    help = (
        "Show the circuit breaker around the identification provider; --open or --close "
        "forces it (ON_PROVIDER_ERROR applies while open), --auto lets it decide again."
    )

    def add_arguments(self, parser: Any) -> None:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--open", action="store_true", help="force it open: no calls")
        group.add_argument("--close", action="store_true", help="force it closed: always call")
        group.add_argument("--auto", action="store_true", help="clear a forced state")

    def handle(self, *args: Any, open: bool, close: bool, auto: bool, **options: Any) -> None:
        if open or close or auto:
            breaker.force("open" if open else "closed" if close else None)
        for line in breaker.status().describe():
            self.stdout.write(line)
