"""Is rupt_guard ready? Show its settings, run its system checks, go through the site's
wiring (``rupt_guard.management.checklist``), call the provider once.

The live call completes a random, well-formed identification that the provider cannot
know. A rejection of that token (``TokenRejected``) is the healthy answer: for Rupt it
proves the API is reachable and accepts the secret; for the local provider, that its
tables exist. The API secret itself is never printed, only whether it is set.
"""

from __future__ import annotations

import json as _json
import time
import uuid
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from rupt_guard.conf import ACTION_KEYS, SETTING_NAME, guard_settings
from rupt_guard.management.checklist import Status, checklist
from rupt_guard.providers import (
    ALIASES,
    ProviderError,
    TokenRejected,
    breaker,
    provider_class,
    provider_options,
)
from rupt_guard.trust.audit import missing_tokens

CHECK_ACCOUNT = "rupt-guard-check"
SECRET_REFUSED = (401, 403)
# A secret shorter than this is not worth scrubbing from the output (it would mangle words).
MIN_SCRUB_LENGTH = 8


# Below this many sign-ins a day, a high share without a token says little.
MIN_SIGN_INS_FOR_RATE = 10


class Command(BaseCommand):
    help = (
        "Show rupt_guard's configuration (never the API secret), run its system checks, "
        "go through the site's wiring (login pages, email, sessions, cache, CSP) and make "
        "one live call to the identification provider. Exits 1 on any failure."
    )
    # The command reports the system checks itself instead of stopping at the first error.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--skip-live", action="store_true", help="do not call the identification provider"
        )
        parser.add_argument(
            "--deploy", action="store_true", help="also run the deployment system checks"
        )
        parser.add_argument(
            "--json", action="store_true", help="print the results as one JSON object"
        )

    def handle(
        self, *args: Any, skip_live: bool, deploy: bool, json: bool = False, **options: Any
    ) -> None:
        self._secret = self._provider_secret()
        self._json = json
        self._results: list[dict[str, str]] = []
        failures: list[str] = []
        self.show_configuration()
        messages = self.system_check_messages(deploy)
        if not self.run_system_checks(messages):
            failures.append("system checks")
        if not self.report_wiring(messages):
            failures.append("wiring")
        self.report_missing_tokens()
        self.report_breaker()
        if skip_live:
            self.status("SKIP", "live call: --skip-live given, the provider was not called")
        elif not self.live_call():
            failures.append("live call")
        if self._json:
            self.stdout.write(
                _json.dumps({"ok": not failures, "failed": failures, "items": self._results})
            )
        if failures:
            raise CommandError(f"rupt_guard_check failed: {', '.join(failures)}.")
        if not self._json:
            self.stdout.write("rupt_guard_check: all OK.")

    # Output --------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        # Also the raw setting: with invalid settings guard_settings cannot read it.
        raw = getattr(settings, SETTING_NAME, None)
        raw = raw if isinstance(raw, dict) else {}
        provider = raw.get("PROVIDER")
        nested = provider.get("OPTIONS") if isinstance(provider, dict) else None
        nested = nested.get("API_SECRET") if isinstance(nested, dict) else None
        for secret in (self._secret, raw.get("API_SECRET"), nested):
            if isinstance(secret, str) and len(secret) >= MIN_SCRUB_LENGTH:
                text = text.replace(secret, "********")
        return text

    def info(self, label: str, value: str) -> None:
        if not self._json:
            self.stdout.write(self._scrub(f"  {label + ':':<14} {value}"))

    def status(self, word: str, text: str, fix: str = "") -> None:
        self._results.append({"status": word, "text": self._scrub(text), "fix": fix})
        if self._json:
            return
        if fix:
            text = f"{text}. Fix: {fix}"
        style = {
            "OK": self.style.SUCCESS,
            "FAIL": self.style.ERROR,
            "WARN": self.style.WARNING,
        }.get(word, str)
        self.stdout.write(style(f"{word:<5}") + " " + self._scrub(text))

    # Configuration -------------------------------------------------------------------

    @staticmethod
    def _provider_secret() -> Any:
        try:
            return provider_options(provider_class()).get("API_SECRET")
        except ImproperlyConfigured:
            return None

    def _shown(self, key: str) -> str:
        try:
            value = getattr(guard_settings, key)
        except ImproperlyConfigured:
            return "invalid (see the system checks)"
        if isinstance(value, type) or callable(value):
            return f"{value.__module__}.{value.__qualname__}"
        return str(value)

    def show_configuration(self) -> None:
        if not self._json:
            self.stdout.write("rupt_guard configuration")
        try:
            cls = provider_class()
            options = provider_options(cls)
        except ImproperlyConfigured:
            self.info(
                "provider", f"{self._shown('PROVIDER')} (cannot be loaded, see the system checks)"
            )
        else:
            self.info("provider", f"{cls.__module__}.{cls.__qualname__}")
            for label, value in cls.describe(options):
                self.info(label, value)
        actions = ", ".join(f"{key}={self._shown(key)}" for key in ACTION_KEYS)
        self.info("policy", f"{self._shown('POLICY')} ({actions})")

    # System checks -------------------------------------------------------------------

    @staticmethod
    def system_check_messages(deploy: bool) -> list[checks.CheckMessage]:
        return [
            message
            for message in checks.run_checks(include_deployment_checks=deploy)
            if (message.id or "").startswith("rupt_guard.") and not message.is_silenced()
        ]

    def run_system_checks(self, messages: list[checks.CheckMessage]) -> bool:
        if not messages:
            self.status("OK", "system checks: no rupt_guard issues")
            return True
        healthy = True
        for message in sorted(messages, key=lambda m: (-m.level, m.id)):
            text = f"system check {message.id}: {message.msg}"
            if message.hint:
                text += f" HINT: {message.hint}"
            if message.is_serious():
                healthy = False
                self.status("FAIL", text)
            elif message.level >= checks.WARNING:
                self.status("WARN", text)
            else:
                self.status("INFO", text)
        if healthy:
            self.status("OK", "system checks: no errors (warnings above)")
        return healthy

    # The site's wiring ----------------------------------------------------------------

    def report_wiring(self, messages: list[checks.CheckMessage]) -> bool:
        """One line per piece of the site around rupt_guard; a FAIL fails the command."""
        healthy = True
        try:
            items = list(checklist(messages))
        except ImproperlyConfigured as exc:  # invalid settings: the system checks said so
            self.status("SKIP", f"wiring: cannot be read ({exc})")
            return True
        for item in items:
            healthy = healthy and item.status is not Status.FAIL
            self.status(item.status.value, f"{item.name}: {item.text}", item.fix)
        return healthy

    # Circuit breaker -----------------------------------------------------------------

    def report_breaker(self) -> None:
        try:
            status = breaker.status()
        except Exception as exc:  # invalid settings (see the system checks) or cache down
            self.status("SKIP", f"circuit breaker: cannot be read ({type(exc).__name__})")
            return
        text = "circuit breaker: " + "; ".join(status.describe())
        calling = status.state in (breaker.State.CLOSED, breaker.State.FORCED_CLOSED)
        self.status("OK" if calling else "WARN", text)

    # Recent sign-ins -----------------------------------------------------------------

    def report_missing_tokens(self) -> None:
        """Most recent sign-ins without a token means the browser side is broken, not
        that most visitors are new: say so, with the browser's own reasons."""
        try:
            stats = missing_tokens(hours=24)
        except DatabaseError:
            self.status("SKIP", "recent sign-ins: the login-check table cannot be read")
            return
        if stats.total < MIN_SIGN_INS_FOR_RATE or stats.share <= 0.5:
            self.status(
                "OK",
                f"recent sign-ins: {stats.without_token} of {stats.total} in 24 h came "
                "without a token",
            )
            return
        reasons = ", ".join(f"{label}: {count}" for label, count in stats.labelled())
        self.status(
            "WARN",
            f"recent sign-ins: {stats.without_token} of {stats.total} in 24 h came without a "
            f"token ({reasons}). Check that the login templates render "
            "{% rupt_guard_identify %}, that its script rupt_guard/identify.js is served "
            "(collectstatic; runserver serves static files only with DEBUG on), that "
            "CLIENT_ID is right, and that the Content-Security-Policy allows the SDK "
            "(script-src) and its API (connect-src).",
        )

    # Live call -----------------------------------------------------------------------

    def live_call(self) -> bool:
        try:
            cls = provider_class()
            provider = cls(**provider_options(cls))
        except Exception as exc:
            self.status("FAIL", f"live call: the provider cannot be built: {exc}")
            return False
        is_rupt = type(provider).__module__ + "." + type(provider).__qualname__ == ALIASES["rupt"]
        name = "Rupt" if is_rupt else type(provider).__name__
        token = str(uuid.uuid4())
        started = time.perf_counter()
        try:
            provider.complete(token, CHECK_ACCOUNT)
        except TokenRejected as exc:
            ms = _elapsed_ms(started)
            status = f"HTTP {exc.status}" if exc.status is not None else "rejected"
            proves = (
                "the API is reachable and accepts the secret"
                if is_rupt
                else "the provider and its storage work"
            )
            self.status(
                "OK",
                f"live call: {name} answered in {ms} ms; it rejected an unknown identification "
                f"as expected ({status}), so {proves}",
            )
            return True
        except ProviderError as exc:
            ms = _elapsed_ms(started)
            if exc.status in SECRET_REFUSED:
                self.status(
                    "FAIL",
                    f"live call: {name} refused the API secret (HTTP {exc.status}) after {ms} ms; "
                    "check RUPT_GUARD['API_SECRET']",
                )
            else:
                self.status(
                    "FAIL",
                    f"live call: {name} failed after {ms} ms, reason {exc.reason.value}: {exc}",
                )
            return False
        except Exception as exc:
            ms = _elapsed_ms(started)
            self.status(
                "FAIL", f"live call: {name} raised {type(exc).__name__} after {ms} ms: {exc}"
            )
            return False
        else:
            ms = _elapsed_ms(started)
            self.status(
                "FAIL",
                f"live call: {name} accepted a random identification it cannot know (in {ms} "
                "ms); it would accept forged tokens",
            )
            return False
        finally:
            close = getattr(provider, "close", None)
            if close is not None:
                close()


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
