"""The testing kit's fake Rupt (rupt_guard/testing/fake_rupt.py) as a process of its own.

    python -m benchmarks.fake_rupt PORT

Two additions for load from other processes, both outside Rupt's documented API:

- A token names its device: ``<device>_<16+ hex>`` is accepted for ``<device>`` without
  being minted first, so a load generator needs no round trip to make a fresh token.
- ``/bench/*``: ``POST /bench/seen`` with ``{"pairs": [[account, device], ...]}`` records
  that Rupt has already met those devices on those accounts (``new_device`` false);
  ``GET /bench/stats`` answers the connections accepted and the requests answered since
  the last ``POST /bench/reset``.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
from typing import Any

from rupt_guard.testing.fake_rupt import Answer, FakeRupt, _Handler, _json, _Server

SELF_NAMED = re.compile(r"\A([A-Za-z0-9-]+)_[0-9a-f]{16,}\Z")


def token_for(device: str, nonce: str) -> str:
    """A fresh token for ``device`` (``nonce``: 16+ hex digits, unique per sign-in)."""
    return f"{device}_{nonce}"


class BenchRupt(FakeRupt):
    answered: int = 0

    def answer(self, method: str, path: str, headers: dict[str, str], raw: bytes, port: int):
        if path.startswith("/bench/"):
            return self._bench(method, path, raw)
        result = super().answer(method, path, headers, raw, port)
        with self.lock:
            self.requests.clear()  # nothing reads them here; a long run must not grow
            self.answered += 1
        return result

    def _complete(self, token: str, body: Any) -> Answer:
        if match := SELF_NAMED.match(token):
            with self.lock:
                self.tokens.setdefault(token, match.group(1))
                self.metadata.setdefault(match.group(1), {})
        return super()._complete(token, body)

    def _bench(self, method: str, path: str, raw: bytes) -> Answer:
        server: BenchServer = self.server  # type: ignore[attr-defined]
        if path == "/bench/seen" and method == "POST":
            pairs = json.loads(raw)["pairs"]
            with self.lock:
                for account, device in pairs:
                    self.pairs.add((account, device))
                    self.metadata.setdefault(device, {})
            return _json({"seen": len(pairs)})
        if path == "/bench/reset" and method == "POST":
            with self.lock:
                self.answered = 0
                # Only the connections opened from now on count; tokens are kept.
                server.accepted = 0
            return _json({"reset": True})
        if path == "/bench/stats":
            with self.lock:
                # Less this request's own connection (urllib opens one a request).
                connections = server.accepted - 1
                return _json({"connections": connections, "requests": self.answered})
        return _json({"error": "not found"}, 404)


class BenchServer(_Server):
    accepted = 0
    request_queue_size = 1024

    def get_request(self) -> tuple[socket.socket, Any]:
        # Every accepted TCP connection: the keep-alive row counts them.
        connection = super().get_request()
        with self.fake.lock:
            self.accepted += 1
        return connection


def serve(port: int) -> None:
    server = BenchServer(("127.0.0.1", port), _Handler)
    fake = BenchRupt(url=f"http://127.0.0.1:{server.server_address[1]}")
    fake.server = server  # type: ignore[attr-defined]
    server.fake = fake
    print(server.server_address[1], flush=True)  # the parent reads the port
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
