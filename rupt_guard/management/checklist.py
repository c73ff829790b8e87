"""rupt_guard_check's checklist of the site's wiring, each miss with what to change.

Each item reads what the site really does (its login pages rendered through the whole
middleware stack, a connection to its mail server) and reuses the system checks' own
logic (by their stable ids) rather than judging the same settings a second time.
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage
from django.db import DatabaseError
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import NoReverseMatch, reverse

from rupt_guard.checks import default_mailer, mail_server_error
from rupt_guard.conf import guard_settings

# The hidden field the identify tag renders (rupt_guard/identify.html).
TAG_MARKER = "data-rupt-guard-field"
TAG_SNIPPET = "{% load rupt_guard %}{% rupt_guard_identify %}"
# Backends that keep a message on this machine: fine for development, reaching nobody.
LOCAL_EMAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend": "printed where the server runs",
    "django.core.mail.backends.filebased.EmailBackend": "written to EMAIL_FILE_PATH",
    "django.core.mail.backends.locmem.EmailBackend": "kept in memory",
}


class Status(enum.Enum):
    OK = "OK"
    WARN = "WARN"  # works, at a cost the text names
    FAIL = "FAIL"  # a required piece is missing: rupt_guard_check fails
    SKIP = "SKIP"  # does not apply to this site


@dataclass(frozen=True)
class Item:
    name: str
    status: Status
    text: str
    fix: str = ""


def checklist(messages: Iterable[CheckMessage]) -> Iterator[Item]:
    """The wiring items, given the system check messages already run (any level)."""
    by_id: dict[str, list[CheckMessage]] = {}
    for message in messages:
        by_id.setdefault(message.id or "", []).append(message)
    yield from login_pages()
    yield email_delivery()
    yield _from_checks(
        "sessions",
        by_id,
        ("rupt_guard.E011",),
        f"{settings.SESSION_ENGINE} keeps sessions on the server, so a device's sessions "
        "can be ended",
    )
    yield _from_checks(
        "shared cache",
        by_id,
        ("rupt_guard.E009", "rupt_guard.W014"),
        _cache_text(),
    )
    yield _from_checks(
        "Content-Security-Policy",
        by_id,
        ("rupt_guard.W013",),
        _csp_text(),
    )


def _from_checks(
    name: str, by_id: dict[str, list[CheckMessage]], ids: tuple[str, ...], ok_text: str
) -> Item:
    found = [message for id_ in ids for message in by_id.get(id_, [])]
    if not found:
        return Item(name, Status.OK, ok_text)
    worst = max(found, key=lambda m: m.level)
    status = Status.FAIL if worst.is_serious() else Status.WARN
    return Item(name, status, f"{worst.msg} ({worst.id})", worst.hint or "")


def _cache_text() -> str:
    alias = guard_settings.CACHE
    backend = settings.CACHES.get(alias, {}).get("BACKEND", "?").rsplit(".", 1)[-1]
    text = f"RUPT_GUARD['CACHE'] is {alias!r}, a {backend}"
    if settings.DEBUG and backend in ("LocMemCache", "DummyCache"):
        text += " (per process: fine with DEBUG on, refused in production by rupt_guard.E009)"
    return text


def _csp_text() -> str:
    if "csp.middleware.CSPMiddleware" in settings.MIDDLEWARE:
        return "django-csp's policy allows the SDK and its API (or this provider needs none)"
    return (
        "no django-csp middleware; a policy set elsewhere (a proxy, another package) must "
        "allow rupt_guard.csp.csp_sources() in script-src and connect-src"
    )


# Login pages ---------------------------------------------------------------------------


def login_page_paths() -> list[tuple[str, str]]:
    """(label, path) of the login pages the site names: LOGIN_URL, allauth's, the admin's."""
    found: list[tuple[str, str]] = []
    try:
        found.append(("LOGIN_URL", str(resolve_url(settings.LOGIN_URL))))
    except NoReverseMatch:
        found.append(("LOGIN_URL", str(settings.LOGIN_URL)))
    named = [("allauth", "account_login")] if apps.is_installed("allauth.account") else []
    if apps.is_installed("django.contrib.admin"):
        named.append(("admin", "admin:login"))
    for label, name in named:
        with contextlib.suppress(NoReverseMatch):  # not routed: not a login page here
            found.append((label, reverse(name)))
    unique: dict[str, str] = {}
    for label, path in found:
        unique.setdefault(path, label)
    return [(label, path) for path, label in unique.items()]


def _host() -> str:
    """A host name the site accepts, so the page renders as for a visitor."""
    for host in settings.ALLOWED_HOSTS:
        host = host.lstrip(".")
        if host and host != "*":
            return host
    return "localhost"


@contextlib.contextmanager
def _quiet_request_log() -> Iterator[None]:
    """A 404 or 500 here is reported as an item, not logged again as a site error."""
    logger = logging.getLogger("django.request")
    was = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was


def login_pages() -> Iterator[Item]:
    with _quiet_request_log():
        yield from _login_pages()


def _login_pages() -> Iterator[Item]:
    client = Client(HTTP_HOST=_host())
    for label, path in login_page_paths():
        name = f"login page {path} ({label})"
        if "://" in path:
            yield Item(name, Status.SKIP, "on another site: check its form there")
            continue
        try:
            response = client.get(path, secure=settings.SECURE_SSL_REDIRECT)
        except Exception as exc:  # the page itself is broken: say so, do not stop the list
            fix = (
                "Run migrate: the page reads the database."
                if isinstance(exc, DatabaseError)
                else "Fix the page: it answers visitors with a server error (a failed system "
                "check above often says why)."
            )
            # The text joins ". Fix: ": an exception's own closing period would double it.
            raised = f"rendering it raised {type(exc).__name__}: {str(exc).rstrip('.')}"
            yield Item(name, Status.FAIL, raised, fix)
            continue
        if response.status_code != 200:
            yield Item(
                name,
                Status.FAIL,
                f"answered HTTP {response.status_code}, not the login form",
                "Route LOGIN_URL to a login view, e.g. "
                "path('accounts/', include('django.contrib.auth.urls')).",
            )
        elif TAG_MARKER in response.content.decode(errors="replace"):
            yield Item(name, Status.OK, "the identify tag is rendered")
        else:
            yield Item(
                name,
                Status.FAIL,
                "the identify tag is not rendered: every sign-in there comes without a "
                "device token",
                f"Put {TAG_SNIPPET} inside the page's <form>.",
            )


# Email ---------------------------------------------------------------------------------


def email_delivery() -> Item:
    name = "email"
    if not (guard_settings.EMAIL_FALLBACK and apps.is_installed("django_otp.plugins.otp_email")):
        return Item(name, Status.SKIP, "codes are not sent by email (EMAIL_FALLBACK or otp_email)")
    mailer = default_mailer()
    backend = mailer.backend
    if backend.endswith(".dummy.EmailBackend"):
        return Item(
            name,
            Status.FAIL,
            "EMAIL_BACKEND is the dummy backend: no code ever leaves",
            "Configure real email (SMTP), or in development the console backend.",
        )
    if backend in LOCAL_EMAIL_BACKENDS:
        where = LOCAL_EMAIL_BACKENDS[backend]
        if settings.DEBUG:
            return Item(name, Status.OK, f"{backend}: codes are {where} (development)")
        return Item(
            name,
            Status.WARN,
            f"{backend} with DEBUG off: codes are {where} and reach nobody",
            "Configure real email (SMTP) for production.",
        )
    if backend.endswith(".smtp.EmailBackend"):
        address = f"{mailer.host}:{mailer.port}"
        exc = mail_server_error(mailer, timeout=3)
        if exc is not None:
            reason = exc.strerror or type(exc).__name__
            fix = "Check EMAIL_HOST and EMAIL_PORT."
            if settings.DEBUG:
                fix += (
                    " In development, EMAIL_BACKEND = "
                    "'django.core.mail.backends.console.EmailBackend'."
                )
            return Item(
                name, Status.FAIL, f"the mail server {address} does not answer ({reason})", fix
            )
        return Item(name, Status.OK, f"the mail server {address} takes connections (nothing sent)")
    return Item(name, Status.OK, f"{backend} (a third-party backend: not tried)")
