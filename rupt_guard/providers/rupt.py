"""Rupt's v2 project API over HTTP (see shared/RUPT_API.md for the facts we rely on)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import requests
import urllib3
from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import ImproperlyConfigured

from rupt_guard.conf import SettingDoc
from rupt_guard.providers.base import (
    Identification,
    IdentificationProvider,
    MetadataFields,
    ProviderBadResponse,
    ProviderConfigurationError,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeout,
    TokenRejected,
    validate_metadata,
    validate_token,
)
from rupt_guard.providers.deadline import DeadlineAdapter, deadline

logger = logging.getLogger(__name__)

# Rupt's ids are 24-hex ObjectIds today; accept any short opaque id that is safe in a path.
ID_PATTERN = re.compile(r"\A[A-Za-z0-9_-]{1,128}\Z")
MAX_BODY_BYTES = 64 * 1024
MAX_ACCOUNT_LENGTH = 256
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
CONFIGURATION_STATUSES = {401, 403, 428}
SECRET_SHAPE = re.compile(r"\A[\x21-\x7e]+\Z")
TOLERANCES = ("", "default", "strict", "lenient")
# Builds of the npm package a classic <script> tag cannot run (see shared/RUPT_API.md).
MODULE_BUILD = re.compile(r"\.(?:mjs|cjs)(?:$|\?)")


def _validate_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise ProviderBadResponse(f"{what} is missing or not a short opaque id")
    return value


class RuptProvider(IdentificationProvider):
    """Completes identifications with Rupt's API. One instance (and connection pool) per process."""

    #: Its options and their defaults; each is described in ``option_docs``.
    options: ClassVar[Mapping[str, Any]] = {
        "CLIENT_ID": "",
        "API_SECRET": "",
        "API_BASE_URL": "https://api.rupt.dev",
        "SDK_URL": "https://cdn.rupt.dev/js/rupt.js",
        "TIMEOUT": 2.0,
        "CONNECT_TIMEOUT": 0.5,
        "DOMAIN": "",
        "TOLERANCE": "",
        "SDK_INTEGRITY": "",
    }
    option_docs: ClassVar[Mapping[str, SettingDoc]] = {
        "CLIENT_ID": SettingDoc(
            "str",
            "Rupt's public client id, passed to `Rupt.identify()` in the browser.",
        ),
        "API_SECRET": SettingDoc(
            "str",
            (
                "Rupt's API secret. Sent only as `Authorization: Bearer` to `API_BASE_URL`. "
                "Spaces or control characters (a trailing newline) are `rupt_guard.E002`."
            ),
        ),
        "API_BASE_URL": SettingDoc(
            "URL",
            "Rupt's API.",
        ),
        "SDK_URL": SettingDoc(
            "URL",
            (
                "Where the browser loads Rupt's SDK: its script build, which sets "
                "`window.Rupt` (an ES-module or CommonJS build is `rupt_guard.W012`). Its "
                "origin goes in `script-src`."
            ),
        ),
        "TIMEOUT": SettingDoc(
            "float (seconds)",
            (
                "Seconds: the whole budget of one Rupt call, connect to last byte. A "
                "positive number."
            ),
        ),
        "CONNECT_TIMEOUT": SettingDoc(
            "float (seconds)",
            (
                "Seconds of `TIMEOUT` that connecting may take, so a dropped connection "
                "attempt fails fast (a timeout, an outage for the circuit breaker). A "
                "positive number."
            ),
        ),
        "DOMAIN": SettingDoc(
            "host name",
            (
                "A host name (no scheme or path) passed to `identify()` as `domain`: a "
                "first-party proxy of Rupt's API, which ad blockers usually leave alone. "
                "Allow `https://<DOMAIN>` in `connect-src` (instead of "
                "`https://api.rupt.dev`). An address with a scheme or path is "
                "`rupt_guard.E002`."
            ),
        ),
        "TOLERANCE": SettingDoc(
            '"", "default", "strict" or "lenient"',
            (
                '`"default"`, `"strict"` or `"lenient"`, passed to `identify()` as '
                '`tolerance`; `""` leaves Rupt\'s default. Any other value is '
                "`rupt_guard.E002`."
            ),
        ),
        "SDK_INTEGRITY": SettingDoc(
            "str",
            (
                'Subresource Integrity hash of `SDK_URL` (`"sha384-…"`) for a site that '
                "pins an SDK version: the script tag gets `integrity` and "
                '`crossorigin="anonymous"` (see '
                "[Content-Security-Policy](recipes.md#content-security-policy))."
            ),
        ),
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._secret = str(self.settings["API_SECRET"])
        self.base_url = str(self.settings["API_BASE_URL"]).rstrip("/")
        self.timeout = float(self.settings["TIMEOUT"])
        self.connect_timeout = float(self.settings["CONNECT_TIMEOUT"])
        self._sdk_url = str(self.settings["SDK_URL"])
        self.session = requests.Session()
        # No proxies, .netrc (which could replace our Authorization header) or env CA bundles.
        self.session.trust_env = False
        self.session.verify = True
        adapter = DeadlineAdapter(pool_connections=2, pool_maxsize=16, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def __repr__(self) -> str:
        return f"<RuptProvider base_url={self.base_url!r} timeout={self.timeout}>"

    def close(self) -> None:
        self.session.close()

    def sdk_url(self) -> str:
        return self._sdk_url

    def client_id(self) -> str:
        return str(self.settings["CLIENT_ID"])

    def browser_options(self) -> dict[str, str]:
        options = {
            "domain": self.settings["DOMAIN"],
            "tolerance": self.settings["TOLERANCE"],
            "integrity": self.settings["SDK_INTEGRITY"],
        }
        return {key: str(value) for key, value in options.items() if value}

    @classmethod
    def validate(cls, options: dict[str, Any]) -> dict[str, Any]:
        if options["TOLERANCE"] not in TOLERANCES:
            raise ImproperlyConfigured(
                "The Rupt provider's TOLERANCE must be 'default', 'strict' or 'lenient'."
            )
        domain = str(options["DOMAIN"])
        if domain and not re.fullmatch(r"[A-Za-z0-9.-]+(?::\d+)?", domain):
            raise ImproperlyConfigured(
                "The Rupt provider's DOMAIN is a host name (e.g. 'rupt.example.com'), "
                "without a scheme or path."
            )
        secret = options["API_SECRET"]
        if not isinstance(secret, str) or (secret and not SECRET_SHAPE.match(secret)):
            raise ImproperlyConfigured(
                "The Rupt provider's API_SECRET has spaces or control characters (a newline "
                "from a secrets file?): Rupt would refuse every call."
            )
        timeout = options["TIMEOUT"]
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ImproperlyConfigured("The Rupt provider's TIMEOUT must be a positive number.")
        connect = options["CONNECT_TIMEOUT"]
        if isinstance(connect, bool) or not isinstance(connect, int | float) or connect <= 0:
            raise ImproperlyConfigured(
                "The Rupt provider's CONNECT_TIMEOUT must be a positive number."
            )
        return options

    @classmethod
    def check(cls, options: dict[str, Any]) -> list[CheckMessage]:
        messages: list[CheckMessage] = []
        if not options["API_SECRET"]:
            messages.append(
                Error(
                    "API_SECRET is empty: the Rupt provider cannot complete logins.",
                    hint="Set it from the environment, never in code; or use PROVIDER 'local'.",
                    id="rupt_guard.E003",
                )
            )
        if not options["CLIENT_ID"]:
            messages.append(
                Error(
                    "CLIENT_ID is empty: the browser cannot call Rupt.identify().",
                    hint="Set it from the environment (Rupt's public client id); or use "
                    "PROVIDER 'local'.",
                    id="rupt_guard.E004",
                )
            )
        base = urlsplit(str(options["API_BASE_URL"]))
        if base.scheme != "https" and base.hostname not in LOOPBACK_HOSTS:
            messages.append(
                Warning(
                    "API_BASE_URL is not https: the API secret would cross the network in "
                    "clear text.",
                    id="rupt_guard.W001",
                )
            )
        sdk = urlsplit(str(options["SDK_URL"]))
        # A bare package address serves the package's main file, the ES-module build.
        segments = sdk.path.strip("/").split("/")
        bare_package = (sdk.hostname == "unpkg.com" and len(segments) == 1) or (
            sdk.hostname == "cdn.jsdelivr.net" and segments[0] == "npm" and len(segments) == 2
        )
        if MODULE_BUILD.search(sdk.path) or bare_package:
            messages.append(
                Warning(
                    "SDK_URL points at the SDK's ES-module or CommonJS build, which a script "
                    "tag cannot run: every sign-in would come without a token.",
                    hint="Use https://cdn.rupt.dev/js/rupt.js or the package's index.js build.",
                    id="rupt_guard.W012",
                )
            )
        if options["TIMEOUT"] > 5:
            messages.append(
                Warning(
                    f"TIMEOUT is {options['TIMEOUT']:g}s: every login may wait that long when "
                    "the provider is slow.",
                    hint="Two seconds is the default; the policy decides what a timeout means.",
                    id="rupt_guard.W002",
                )
            )
        return messages

    @classmethod
    def describe(cls, options: dict[str, Any]) -> list[tuple[str, str]]:
        secret = options["API_SECRET"]
        return [
            ("API base URL", str(options["API_BASE_URL"])),
            ("timeout", f"{options['TIMEOUT']:g} s"),
            ("client id", str(options["CLIENT_ID"]) or "missing"),
            ("API secret", f"set ({len(secret)} characters)" if secret else "missing"),
        ]

    def complete(self, token: str, account: str) -> Identification:
        token = validate_token(token)
        if not isinstance(account, str) or not 0 < len(account) <= MAX_ACCOUNT_LENGTH:
            raise ValueError("account id must be a non-empty string of at most 256 characters")
        path = f"/v2/proj/identification/{quote(token, safe='')}/complete"
        payload = self._post(path, {"account": account}, not_found=TokenRejected)
        return Identification(
            device_id=_validate_id(payload.get("device"), "device"),
            access_id=_validate_id(payload.get("access"), "access"),
            new_device=self._validate_flag(payload.get("new_device")),
            metadata_fields=validate_metadata(payload.get("metadata_fields")),
        )

    def update_metadata(self, device_id: str, fields: MetadataFields) -> None:
        if not isinstance(device_id, str) or not ID_PATTERN.match(device_id):
            raise ValueError("device id is not a short opaque id")
        path = f"/v2/proj/device/{quote(device_id, safe='')}/metadata"
        body = {"metadata_fields": {key: list(values) for key, values in fields.items()}}
        payload = self._post(path, body, not_found=ProviderHTTPError)
        if payload.get("success") is not True:
            raise ProviderBadResponse("metadata update did not answer success: true")

    @staticmethod
    def _validate_flag(value: Any) -> bool:
        if not isinstance(value, bool):
            raise ProviderBadResponse("new_device is missing or not a boolean")
        return value

    def _post(
        self, path: str, body: dict[str, Any], *, not_found: type[ProviderError]
    ) -> dict[str, Any]:
        try:
            status, raw = self._send(path, body)
        except ProviderError as exc:
            logger.warning("Rupt call %s failed: %s (%s)", _redact(path), exc.reason, exc)
            raise
        if status != 200:
            # By Rupt's documented meanings: 400 and 404 are about the request or the token;
            # 401, 403 and 428 about our credentials or plan; 429 and 5xx are outages.
            if status in CONFIGURATION_STATUSES:
                logger.error(
                    "Rupt call %s answered HTTP %s: check API_SECRET (and the Rupt plan)",
                    _redact(path),
                    status,
                )
                raise ProviderConfigurationError(
                    f"Rupt answered HTTP {status}; check API_SECRET", status=status
                )
            error_class = not_found if status in (400, 404) else ProviderHTTPError
            logger.warning("Rupt call %s answered HTTP %s", _redact(path), status)
            raise error_class(f"Rupt answered HTTP {status}", status=status)
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProviderBadResponse("Rupt's response is not JSON", status=status) from exc
        if not isinstance(payload, dict):
            raise ProviderBadResponse("Rupt's response is not a JSON object", status=status)
        return payload

    def _send(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        headers = {
            "Authorization": f"Bearer {self._secret}",
            "Accept": "application/json",
        }
        with deadline(self.timeout) as budget:
            try:
                response = self.session.post(
                    self.base_url + path,
                    json=body,
                    headers=headers,
                    timeout=(min(self.connect_timeout, budget.remaining()), budget.remaining()),
                    allow_redirects=False,
                    stream=True,
                )
                with response:
                    chunks: list[bytes] = []
                    size = 0
                    for chunk in response.iter_content(chunk_size=8192):
                        size += len(chunk)
                        if size > MAX_BODY_BYTES:
                            raise ProviderBadResponse("Rupt's response is too large")
                        chunks.append(chunk)
                    status = response.status_code
            # "from None": the library's exception names the URL (with the token) and may
            # quote the Authorization header; neither may travel with ours.
            except requests.Timeout:
                raise ProviderTimeout(f"no answer within {self.timeout:g}s") from None
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                if budget.expired:
                    raise ProviderTimeout(f"no answer within {self.timeout:g}s") from None
                raise ProviderConnectionError(_describe(exc)) from None
            # A shutdown at the deadline can also look like a short, complete answer.
            if budget.expired:
                raise ProviderTimeout(f"no answer within {self.timeout:g}s")
            return status, b"".join(chunks)


def _describe(exc: BaseException) -> str:
    # Exception texts from requests carry the URL, never the headers; keep just the class.
    return f"connection failed ({type(exc).__name__})"


def _redact(path: str) -> str:
    # The identification token is a bearer-like value: keep it out of the logs.
    return re.sub(r"/identification/[^/]+/", "/identification/<token>/", path)
