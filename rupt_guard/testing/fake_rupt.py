"""A fake Rupt on a real loopback HTTP server, speaking the documented v2 endpoints.

For a site's tests (the ``fake_rupt`` fixture, ``RuptGuardTestMixin``) and rupt_guard's own.
It keeps Rupt's semantics (``new_device`` is true only the first time a device meets an
account; metadata belongs to the device) and can be told to misbehave: be slow, answer
any status or body, trickle bytes, or be gone. The server is the standard library's
``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive: werkzeug's development server
(under pytest-httpserver) always closes connections, which would hide whether the client
pools them.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "SECRET",
    "FakeRupt",
    "guard_settings_for",
    "reset_for_test",
    "start_fake_rupt",
    "stop_fake_rupt",
]

SECRET = "sk_test_secret_never_logged"  # noqa: S105 (the fake's, known to every test)
CLIENT_ID = "test-client"
COMPLETE = re.compile(r"\A/v2/proj/identification/([^/]+)/complete\Z")
METADATA = re.compile(r"\A/v2/proj/device/([^/]+)/metadata\Z")


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    client_port: int


@dataclass
class Answer:
    status: int
    body: bytes
    trickle: float = 0.0


@dataclass
class FakeRupt:
    """What Rupt knows (tokens, devices met by each account, metadata) and what it was asked.

    ``url`` is where it listens; :func:`guard_settings_for` points rupt_guard at it.
    """

    secret: str = SECRET
    tokens: dict[str, str] = field(default_factory=dict)  # token -> device id
    pairs: set[tuple[str, str]] = field(default_factory=set)  # (account, device) seen
    metadata: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    # Fault injection: the next answers come from here while it is not empty.
    faults: list[Answer] = field(default_factory=list)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def reset(self) -> None:
        with self.lock:
            self.tokens.clear()
            self.pairs.clear()
            self.metadata.clear()
            self.requests.clear()
            self.faults.clear()
            self.delay = 0.0
            self.secret = SECRET

    def identify(self, device: str | None = None) -> str:
        """What the browser's ``Rupt.identify()`` does: mint a token for a device."""
        device = device or uuid.uuid4().hex[:24]
        token = str(uuid.uuid4())
        with self.lock:
            self.tokens[token] = device
            self.metadata.setdefault(device, {})
        return token

    def remember(self, account: str, device: str) -> None:
        """Rupt has met ``device`` on ``account`` before: its next completion says
        ``new_device`` false (``account`` is the user's primary key, as rupt_guard sends it)."""
        with self.lock:
            self.pairs.add((account, device))
            self.metadata.setdefault(device, {})

    def fail_next(self, status: int = 500, body: Any = None, trickle: float = 0.0) -> None:
        """Answer the next request with ``status`` and ``body`` (bytes are sent as they are)."""
        if not isinstance(body, bytes | str):
            body = json.dumps(body if body is not None else {"error": "fault"})
        if isinstance(body, str):
            body = body.encode()
        with self.lock:
            self.faults.append(Answer(status, body, trickle))

    def answer(
        self, method: str, path: str, headers: dict[str, str], raw: bytes, port: int
    ) -> Answer:
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        with self.lock:
            self.requests.append(Seen(method, path, headers, body, port))
            fault = self.faults.pop(0) if self.faults else None
            delay = self.delay
        if delay:
            time.sleep(delay)
        if fault is not None:
            return fault
        if headers.get("Authorization") != f"Bearer {self.secret}":
            return _json({"error": "unauthorized"}, 401)
        if match := COMPLETE.match(path):
            return self._complete(match.group(1), body)
        if match := METADATA.match(path):
            return self._update(match.group(1), body)
        return _json({"error": "not found"}, 404)

    def _complete(self, token: str, body: Any) -> Answer:
        account = body.get("account") if isinstance(body, dict) else None
        if not isinstance(account, str) or not account:
            return _json({"error": "account required"}, 400)
        with self.lock:
            device = self.tokens.get(token)
            if device is None:
                return _json({"error": "identification not found"}, 404)
            new = (account, device) not in self.pairs
            self.pairs.add((account, device))
            fields = {k: list(v) for k, v in self.metadata.get(device, {}).items()}
        return _json(
            {
                "access": uuid.uuid4().hex[:24],
                "device": device,
                "new_device": new,
                "metadata_fields": fields,
            }
        )

    def _update(self, device: str, body: Any) -> Answer:
        fields = body.get("metadata_fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            return _json({"error": "metadata_fields required"}, 400)
        with self.lock:
            if device not in self.metadata:
                return _json({"error": "device not found"}, 404)
            self.metadata[device].update(fields)
        return _json({"success": True})


def _json(payload: Any, status: int = 200) -> Answer:
    return Answer(status, json.dumps(payload).encode())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    # Headers and body go out in two writes; with Nagle on, the second waits for the
    # client's delayed ACK (40 ms), which would make every call look slow.
    disable_nagle_algorithm = True
    server: _Server

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        answer = self.server.fake.answer(
            self.command, self.path, dict(self.headers), raw, self.client_address[1]
        )
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer.body)))
        if 300 <= answer.status < 400:
            self.send_header("Location", "/elsewhere")
        self.end_headers()
        try:
            if answer.trickle:
                for byte in answer.body:
                    time.sleep(answer.trickle)
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
            else:
                self.wfile.write(answer.body)
        except OSError:
            self.close_connection = True  # the client gave up, as a timeout test wants

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output for failures


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeRupt


def start_fake_rupt(ssl_context: Any = None) -> tuple[FakeRupt, _Server]:
    """Start a fake Rupt on a free loopback port; stop it with :func:`stop_fake_rupt`."""
    server = _Server(("127.0.0.1", 0), _Handler)
    scheme = "http"
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    fake = FakeRupt(url=f"{scheme}://127.0.0.1:{server.server_address[1]}")
    server.fake = fake
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake, server


def stop_fake_rupt(server: _Server) -> None:
    """Stop a server :func:`start_fake_rupt` started and free its port."""
    server.shutdown()
    server.server_close()


def reset_for_test(fake: FakeRupt) -> None:
    """A fresh start for the next test of a site: the fake forgets what it met and was
    told, and rupt_guard's circuit breaker (kept in the shared cache, which outlives a test)
    forgets the outages the last test injected."""
    from rupt_guard.providers import breaker

    fake.reset()
    breaker.force(None)


def guard_settings_for(fake: FakeRupt, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """``settings`` (a site's ``RUPT_GUARD``) with the Rupt provider pointed at ``fake``.

    Whatever provider the site names (the local one, say) is replaced by Rupt's, with the
    fake's secret and a short timeout; the site's other keys (policy, timeouts) are kept.
    """
    kept = {key: value for key, value in (settings or {}).items() if key != "PROVIDER"}
    return {
        **kept,
        "PROVIDER": "rupt",
        "CLIENT_ID": CLIENT_ID,
        "API_SECRET": fake.secret,
        "API_BASE_URL": fake.url,
        "TIMEOUT": 1.0,
    }
