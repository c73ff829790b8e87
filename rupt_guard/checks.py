"""System checks for the misconfigurations a site can make (ids are stable, never reused).

The provider's own options are checked by the provider (``IdentificationProvider.check``).
"""

from __future__ import annotations

import inspect
import socket
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth.backends import RemoteUserBackend
from django.core.checks import CheckMessage, Error, Info, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from rupt_guard.cache import NON_ATOMIC_BACKENDS, PER_PROCESS_BACKENDS
from rupt_guard.client import remote_addr
from rupt_guard.conf import DEFAULTS, default_account_id, guard_settings
from rupt_guard.csp import csp_sources
from rupt_guard.providers import provider_class, provider_options
from rupt_guard.providers.webhooks import secret_keys
from rupt_guard.testing.switch import in_test_environment


@register(Tags.security)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    guard_settings.reload()
    try:
        for key in DEFAULTS:
            getattr(guard_settings, key)
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="rupt_guard.E001")]

    try:
        cls = provider_class()
        options = provider_options(cls)
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="rupt_guard.E002")]
    # Each provider checks its own options (E003, E004, W001, W002 for Rupt; E007, W005
    # for the local provider).
    return list(cls.check(options))


MIDDLEWARE_PATH = "rupt_guard.middleware.RuptGuardMiddleware"
BACKEND_PATH = "rupt_guard.backends.RuptGuardBackend"


@register(Tags.security)
def check_wiring(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    middleware = list(settings.MIDDLEWARE)
    if MIDDLEWARE_PATH not in middleware:
        messages.append(
            Error(
                f"{MIDDLEWARE_PATH} is not in MIDDLEWARE: a challenged session could use the site.",
                id="rupt_guard.E005",
            )
        )
    else:
        position = middleware.index(MIDDLEWARE_PATH)
        for required in (
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django_otp.middleware.OTPMiddleware",
        ):
            if required not in middleware[:position]:
                # A missing one is the newcomer's usual slip: say so, not only "after".
                problem = "is missing from" if required not in middleware else "comes after"
                messages.append(
                    Error(
                        f"{MIDDLEWARE_PATH} must come after {required} in MIDDLEWARE.",
                        hint=f"{required} {problem} MIDDLEWARE: list it before {MIDDLEWARE_PATH}.",
                        id="rupt_guard.E006",
                    )
                )
    backends = list(settings.AUTHENTICATION_BACKENDS)
    if BACKEND_PATH not in backends:
        messages.append(
            Warning(
                f"{BACKEND_PATH} is not in AUTHENTICATION_BACKENDS: sign-ins are checked only "
                "after login(), so a blocked device gets a session that is ended at once instead "
                "of the login form's usual error.",
                id="rupt_guard.W003",
            )
        )
    # rupt_guard.W004 (a ModelBackend before ours) is retired: E008 refuses one anywhere.
    # rupt_guard.W006 (authtoken installed) is retired: the backend now refuses a password
    # alone, so obtain_auth_token cannot hand out a token unless PASSWORD_ONLY_VIEWS says so.
    if BACKEND_PATH in backends:
        messages.extend(_other_password_backends(backends))
    return messages


def _other_password_backends(backends: list[str]) -> list[CheckMessage]:
    """Another password backend beside ours (a ModelBackend, or any backend whose
    ``authenticate()`` takes a password: LDAP, allauth) would accept the password ours
    refused (PermissionDenied stops Django only at *our* backend, if it comes first)."""
    messages: list[CheckMessage] = []
    for path in backends:
        if path == BACKEND_PATH:
            continue
        try:
            backend = import_string(path)
        except ImportError:
            continue  # Django's own checks report an unimportable backend
        if not isinstance(backend, type) or issubclass(backend, RemoteUserBackend):
            continue
        if _takes_password(backend):
            messages.append(
                Error(
                    f"{path} checks passwords beside {BACKEND_PATH}: a password alone "
                    "(HTTP Basic, obtain_auth_token) that ours refuses, it would accept.",
                    hint=f"Remove it and set RUPT_GUARD['PASSWORD_BACKEND'] = {path!r}: "
                    f"{BACKEND_PATH} then checks passwords with it.",
                    id="rupt_guard.E008",
                )
            )
    return messages


def _takes_password(backend: Any) -> bool:
    """Judged by its own ``authenticate()``: a password parameter, or ``**kwargs`` that may
    carry one. A magic-link backend (``authenticate(request, sesame)``) is not one."""
    parameters = inspect.signature(backend.authenticate).parameters.values()
    return any(p.name == "password" or p.kind is p.VAR_KEYWORD for p in parameters)


@register(Tags.security)
def check_risky_choices(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Settings that work but cost some security: each says what it costs."""
    try:
        alias = guard_settings.CACHE
        only_views = guard_settings.PASSWORD_ONLY_VIEWS
        login_response = guard_settings.LOGIN_RESPONSE
        token_classes = guard_settings.TOKEN_AUTHENTICATION_CLASSES
        account_id = guard_settings.ACCOUNT_ID
        trust_metadata = guard_settings.TRUST_RUPT_METADATA
        client_ip_of = guard_settings.CLIENT_IP
    except ImproperlyConfigured:
        return []  # rupt_guard.E001 says what is wrong
    messages: list[CheckMessage] = []
    backend = settings.CACHES.get(alias, {}).get("BACKEND", "")
    # Django's test runner turns DEBUG off before it runs the checks: a test run is one
    # process (or workers that share nothing else either), and Django's default cache is
    # per process, so a site's test settings would refuse every test.
    if backend in PER_PROCESS_BACKENDS and not settings.DEBUG and not in_test_environment():
        messages.append(
            Error(
                f"RUPT_GUARD['CACHE'] is {alias!r}, a {backend.rsplit('.', 1)[-1]}: each "
                "worker process would keep its own throttles and limits.",
                hint="Point it at a cache every worker shares, e.g. Django's RedisCache.",
                id="rupt_guard.E009",
            )
        )
    if backend in NON_ATOMIC_BACKENDS:
        messages.append(
            Warning(
                f"RUPT_GUARD['CACHE'] is {alias!r}, a {backend.rsplit('.', 1)[-1]}: it has no "
                "atomic increment, so limits and the circuit breaker miss counts under load.",
                hint="Use Django's RedisCache or a Memcached backend.",
                id="rupt_guard.W014",
            )
        )
    behind_proxy = (
        getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
        or getattr(settings, "USE_X_FORWARDED_HOST", False)
        or getattr(settings, "USE_X_FORWARDED_PORT", False)
    )
    if behind_proxy and client_ip_of is remote_addr:
        messages.append(
            Warning(
                "The site runs behind a reverse proxy (SECURE_PROXY_SSL_HEADER or "
                "USE_X_FORWARDED_*), but RUPT_GUARD['CLIENT_IP'] reads REMOTE_ADDR: every "
                "visitor has the proxy's address, in records and in per-address limits.",
                hint="Set CLIENT_IP to 'rupt_guard.client.forwarded_for' and TRUSTED_PROXIES.",
                id="rupt_guard.W015",
            )
        )
    if only_views:
        messages.append(
            Warning(
                "RUPT_GUARD['PASSWORD_ONLY_VIEWS'] accepts a password alone at "
                f"{', '.join(map(str, only_views))}: the second factor never applies there.",
                hint="Issue API tokens from LOGIN_RESPONSE after the gate instead.",
                id="rupt_guard.W007",
            )
        )
    if login_response is not None and not token_classes:
        messages.append(
            Warning(
                "RUPT_GUARD['LOGIN_RESPONSE'] is set but TOKEN_AUTHENTICATION_CLASSES is empty: "
                "IsDeviceVerified refuses every token-authenticated request.",
                hint="List the DRF authentication classes of the tokens LOGIN_RESPONSE issues.",
                id="rupt_guard.W008",
            )
        )
    if trust_metadata and account_id is default_account_id:
        messages.append(
            Warning(
                "RUPT_GUARD['TRUST_RUPT_METADATA'] is on with the default ACCOUNT_ID (the "
                "primary key): another site on the same Rupt project may give that id to "
                "another person, whose verification would then count here.",
                hint="Set ACCOUNT_ID to an id that means the same person everywhere.",
                id="rupt_guard.W009",
            )
        )
    return messages


RISKY_ALLOW_KEYS = ("ON_MISSING_TOKEN", "ON_PROVIDER_ERROR", "ON_NO_CONSENT")
# Why each one's "allow" lets a thief with the password skip the second factor.
_BROWSER_DECIDES = (
    "the browser decides whether a token is sent (and a blocked request or an outage is "
    "easy to cause), so anyone with the password can skip the second factor this way."
)
_RISKY_ALLOW_WHY = {
    "ON_MISSING_TOKEN": _BROWSER_DECIDES,
    "ON_PROVIDER_ERROR": _BROWSER_DECIDES,
    "ON_NO_CONSENT": "whoever signs in can decline consent (the choice is the user's, "
    "usually a cookie), so anyone with the password can skip the second factor this way.",
}


@register(Tags.security)
def check_limits_and_delivery(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """What a strict review (OWASP ASVS V6/V7, NIST 800-63B) asks of the site around us."""
    try:
        accepted = set(guard_settings.ACCEPTED_RISKS)
        site_url = guard_settings.SITE_URL
        email_fallback = guard_settings.EMAIL_FALLBACK
        actions = {key: getattr(guard_settings, key) for key in RISKY_ALLOW_KEYS}
    except ImproperlyConfigured:
        return []  # rupt_guard.E001 says what is wrong
    messages: list[CheckMessage] = []
    for key, action in actions.items():
        if action == "allow" and key not in accepted:
            messages.append(
                Error(
                    f"RUPT_GUARD[{key!r}] is 'allow': {_RISKY_ALLOW_WHY[key]}",
                    hint=f"Use 'challenge', or add {key!r} to RUPT_GUARD['ACCEPTED_RISKS'].",
                    id="rupt_guard.E010",
                )
            )
    if settings.SESSION_ENGINE == "django.contrib.sessions.backends.signed_cookies":
        messages.append(
            Error(
                "SESSION_ENGINE keeps sessions in signed cookies: revoking or blocking a device "
                "cannot end its sessions, and a pending sign-in lives in the browser.",
                hint="Use a server-side engine: db, cache or cached_db.",
                id="rupt_guard.E011",
            )
        )
    codes_by_email = email_fallback and apps.is_installed("django_otp.plugins.otp_email")
    mailer = default_mailer()
    backend = mailer.backend
    if codes_by_email and not settings.DEBUG and backend.endswith(".dummy.EmailBackend"):
        messages.append(
            Error(
                "EMAIL_BACKEND is the dummy backend while email codes are on: the first "
                "challenge of a user with no other factor can never be passed.",
                hint="Configure real email, or set RUPT_GUARD['EMAIL_FALLBACK'] = False.",
                id="rupt_guard.E012",
            )
        )
    if codes_by_email and backend.endswith(".smtp.EmailBackend") and not mailer.timeout:
        messages.append(
            Warning(
                "EMAIL_TIMEOUT is not set while email codes are on: a mail server that stops "
                "answering holds the worker sending a code for as long as the socket waits.",
                hint="Set EMAIL_TIMEOUT (seconds), e.g. 10 (with MAILERS: the 'timeout' option).",
                id="rupt_guard.W011",
            )
        )
    # The Sites framework names this site only with a SITE_ID (without one it needs a
    # request, whose Host header must never make a link).
    sites_name_it = apps.is_installed("django.contrib.sites") and getattr(settings, "SITE_ID", None)
    if not settings.DEBUG and not site_url and not sites_name_it:
        messages.append(
            Warning(
                "Neither RUPT_GUARD['SITE_URL'] nor the Sites framework names this site: the "
                "links in rupt_guard's emails carry a path with no address.",
                hint="Set RUPT_GUARD['SITE_URL'] = 'https://your.domain'.",
                id="rupt_guard.W010",
            )
        )
    return messages


@dataclass(frozen=True)
class Mailer:
    backend: str
    host: str
    port: int
    timeout: float | None


def default_mailer() -> Mailer:
    """How Django sends the code emails: ``MAILERS["default"]`` where a site defines
    ``MAILERS`` (Django 6.1+, where reading an ``EMAIL_*`` setting then raises), else the
    ``EMAIL_*`` settings."""
    mailers = getattr(settings, "MAILERS", None)
    if mailers is None:
        return Mailer(
            settings.EMAIL_BACKEND,
            settings.EMAIL_HOST,
            int(settings.EMAIL_PORT),
            settings.EMAIL_TIMEOUT,
        )
    config = mailers.get("default", {})
    options = config.get("OPTIONS", {})
    # Django's SMTP backend under MAILERS: port 465 with use_ssl, 587 with use_tls, else 25.
    port = options.get("port") or (
        465 if options.get("use_ssl") else 587 if options.get("use_tls") else 25
    )
    return Mailer(
        config.get("BACKEND", "django.core.mail.backends.smtp.EmailBackend"),
        options.get("host", ""),
        int(port),
        options.get("timeout"),
    )


def _codes_go_by_smtp(mailer: Mailer) -> bool:
    return bool(
        guard_settings.EMAIL_FALLBACK
        and apps.is_installed("django_otp.plugins.otp_email")
        and mailer.backend.endswith(".smtp.EmailBackend")
    )


def mail_server_error(mailer: Mailer, timeout: float = 3) -> OSError | None:
    """Why a connection to the mailer's host and port fails (nothing is sent), or None."""
    try:
        with socket.create_connection((mailer.host, mailer.port), timeout=timeout):
            return None
    except OSError as exc:
        return exc


@register(Tags.security, deploy=True)
def check_mail_server(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``check --deploy`` (and ``rupt_guard_check``): does the SMTP server take connections?"""
    mailer = default_mailer()
    if not _codes_go_by_smtp(mailer):
        return []
    exc = mail_server_error(mailer)
    if exc is None:
        return []
    return [
        Error(
            f"The mail server {mailer.host}:{mailer.port} refused or did "
            f"not answer ({exc.strerror or type(exc).__name__}): email codes cannot be sent.",
            hint="Check EMAIL_HOST and EMAIL_PORT, or turn RUPT_GUARD['EMAIL_FALLBACK'] off.",
            id="rupt_guard.E012",
        )
    ]


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


@register(Tags.security)
def check_development_email(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A new site in DEBUG sends by SMTP to localhost:25 (Django's defaults), which a
    laptop rarely runs: the first challenge's code never leaves and a user with no other
    factor (the only superuser) is locked out. A loopback port answers at once, so this
    costs nothing on every ``runserver`` start; a remote server is ``--deploy``'s E012."""
    mailer = default_mailer()
    if not (settings.DEBUG and _codes_go_by_smtp(mailer) and mailer.host in LOOPBACK_HOSTS):
        return []
    exc = mail_server_error(mailer, timeout=0.5)
    if exc is None:
        return []
    return [
        Warning(
            f"EMAIL_BACKEND sends by SMTP to {mailer.host}:{mailer.port}, which "
            f"refuses connections ({exc.strerror or type(exc).__name__}): the challenge's "
            "email code cannot be sent, and a user with no other second factor cannot sign in.",
            hint="In development set EMAIL_BACKEND = "
            "'django.core.mail.backends.console.EmailBackend' (codes are printed where "
            "runserver runs), or start a mail server there.",
            id="rupt_guard.W020",
        )
    ]


@register(Tags.urls)
def check_urls(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A challenged sign-in is sent to ``rupt_guard:challenge``: without the URLs, a 500."""
    try:
        reverse("rupt_guard:challenge")
    except NoReverseMatch:
        return [
            Error(
                "rupt_guard's URLs are not in the URLconf (no 'rupt_guard:challenge'): every "
                "challenged sign-in would fail with a server error.",
                hint="Add path('rupt-guard/', include('rupt_guard.urls')) to urlpatterns.",
                id="rupt_guard.E016",
            )
        ]
    except Exception:
        return []  # a broken URLconf is Django's own check (urls.E...)
    return []


@register(Tags.security)
def check_content_security_policy(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """With django-csp, does the policy let the SDK load and call its API?"""
    if "csp.middleware.CSPMiddleware" not in settings.MIDDLEWARE:
        return []
    try:
        cls = provider_class()
        options = provider_options(cls)
    except ImproperlyConfigured:
        return []  # rupt_guard.E002 says what is wrong
    if "SDK_URL" not in options or "DOMAIN" not in options:
        return []  # not Rupt's SDK: the provider serves its own script from this site
    needed = csp_sources(str(options["SDK_URL"]), str(options["DOMAIN"]))
    directives = _csp_directives()
    missing = [
        f"{directive} {source}"
        for directive, sources in needed.items()
        for source in sources
        if not _csp_allows(directives.get(directive, directives.get("default-src")), source)
    ]
    if not missing:
        return []
    return [
        Warning(
            f"The Content-Security-Policy does not allow {'; '.join(missing)}: the browser "
            "cannot load the SDK or call its API, and every sign-in comes without a token.",
            hint="Add rupt_guard.csp.csp_sources() to those directives.",
            id="rupt_guard.W013",
        )
    ]


def _csp_directives() -> dict[str, list[str]]:
    """django-csp 4's CONTENT_SECURITY_POLICY, or django-csp 3's CSP_* settings."""
    policy = getattr(settings, "CONTENT_SECURITY_POLICY", None)
    if isinstance(policy, dict):
        return {key: list(value or []) for key, value in (policy.get("DIRECTIVES") or {}).items()}
    return {
        name.removeprefix("CSP_").lower().replace("_", "-"): list(getattr(settings, name) or [])
        for name in ("CSP_DEFAULT_SRC", "CSP_SCRIPT_SRC", "CSP_CONNECT_SRC")
        if hasattr(settings, name)
    }


def _csp_allows(sources: list[str] | None, needed: str) -> bool:
    if sources is None:
        return True  # no such directive and no default-src: nothing restricts it
    host = needed.split("://", 1)[-1]
    return any(
        source in ("*", needed, host, "https:")
        or (source.startswith("*.") and host.endswith(source[1:]))
        for source in sources
    )


@register()
def check_dashboard(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.USE_TZ:
        return []
    return [
        Warning(
            "USE_TZ is False: the admin's dashboard, rupt_guard_stats and the API's stats/ "
            "have no figures (the rollup counts hours of UTC).",
            hint="Set USE_TZ = True (Django's default since 5.0).",
            id="rupt_guard.W017",
        )
    ]


def _is_rupt() -> bool:
    from rupt_guard.providers.rupt import RuptProvider

    try:
        return issubclass(provider_class(), RuptProvider)
    except ImproperlyConfigured:
        return False  # rupt_guard.E002 says what is wrong


@register(Tags.security)
def check_webhooks(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        keys = secret_keys(guard_settings.WEBHOOK_SECRET)
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="rupt_guard.E013")]
    if keys or not _is_rupt():
        return []  # the webhook is Rupt's: another provider never calls it
    return [
        Info(
            "RUPT_GUARD['WEBHOOK_SECRET'] is not set: the webhook endpoint refuses every call, "
            "so a device Rupt detaches stays trusted here until it is revoked by hand.",
            hint="Set it to the signing secret Rupt shows for the endpoint rupt_guard:webhook.",
            id="rupt_guard.I001",
        )
    ]


from rupt_guard.passkeys import checks as _passkey_checks  # noqa: E402,F401  (registers them)
