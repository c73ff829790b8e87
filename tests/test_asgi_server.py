"""A sign-in under a real ASGI server (issue #15): uvicorn, real HTTP, a real WebSocket.

uvicorn serves the test site (Django's ASGI application, and Channels' AuthMiddlewareStack
for WebSockets, as a site's asgi.py routes them) from a thread of the test process, so
it shares the test database (committed for real: ``transaction=True``) and the email
outbox. The middleware stack below the gate is async, so the gate runs in its async mode:
the test checks that too, on uvicorn's own event loop thread.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

uvicorn = pytest.importorskip("uvicorn")
websockets_client = pytest.importorskip("websockets.sync.client")

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from websockets.exceptions import InvalidStatus  # noqa: E402

from rupt_guard.choices import ChallengeResult, Decision, Reason  # noqa: E402
from rupt_guard.gate import middleware as gate_middleware  # noqa: E402
from rupt_guard.models import LoginCheck  # noqa: E402

from .conftest import PASSWORD  # noqa: E402
from .realistic_site import websocket_application  # noqa: E402
from .test_async import async_stack  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

CHALLENGE = "/rupt-guard/challenge/"


@dataclass
class Server:
    url: str
    thread: threading.Thread

    def websocket_user(self, session_cookie: str) -> dict | None:
        """Open /ws/whoami/ with the session cookie: whom the consumer serves, or None
        when it refused the socket (the handshake then gets 403)."""
        url = self.url.replace("http://", "ws://") + "/ws/whoami/"
        try:
            with websockets_client.connect(
                url, additional_headers={"Cookie": session_cookie}, open_timeout=10
            ) as socket_:
                return json.loads(socket_.recv(timeout=10))
        except InvalidStatus as refused:
            assert refused.response.status_code == 403
            return None


@pytest.fixture
def asgi_server(settings, rupt_server, user) -> Iterator[Server]:
    settings.MIDDLEWARE = async_stack(settings)
    application = ProtocolTypeRouter(
        {"http": get_asgi_application(), "websocket": websocket_application}
    )
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        application, lifespan="off", log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        thread.join(0.05)
    assert server.started, "uvicorn did not start"
    host, port = listener.getsockname()
    yield Server(f"http://{host}:{port}", thread)
    server.should_exit = True
    thread.join(10)
    listener.close()


@pytest.fixture
def gate_threads(monkeypatch):
    """The threads the gate read the session mark on, in its async mode."""
    seen: list[int] = []
    real = gate_middleware.aread_mark

    async def aread_mark(session):
        seen.append(threading.get_ident())
        return await real(session)

    monkeypatch.setattr(gate_middleware, "aread_mark", aread_mark)
    return seen


def csrf_token(browser: requests.Session, server: Server) -> str:
    """What a browser sends back with a form: the CSRF cookie the login page set."""
    assert browser.get(f"{server.url}/accounts/login/").status_code == 200
    return browser.cookies["csrftoken"]


def test_a_sign_in_passes_its_challenge_under_uvicorn(
    asgi_server, rupt_server, user, mailoutbox, gate_threads
):
    server = asgi_server
    browser = requests.Session()
    token = csrf_token(browser, server)
    response = browser.post(
        f"{server.url}/accounts/login/",
        data={
            "username": "alice",
            "password": PASSWORD,
            "rupt_identification": rupt_server.identify(),
            "csrfmiddlewaretoken": token,
        },
        allow_redirects=False,
    )
    # A new device: the form sends the browser on, and the gate holds it at the challenge.
    assert response.status_code == 302
    assert response.headers["Location"] == "/private/"
    check = LoginCheck.objects.get()
    assert (check.decision, check.reason) == (Decision.CHALLENGE, Reason.NEW_DEVICE)
    private = browser.get(f"{server.url}/private/", allow_redirects=False)
    assert private.headers["Location"] == f"{CHALLENGE}?next=%2Fprivate%2F"
    # The session's WebSocket, through Channels' AuthMiddlewareStack, sees no one.
    session_cookie = f"sessionid={browser.cookies['sessionid']}"
    assert server.websocket_user(session_cookie) is None

    # The challenge page emails a code on arrival (or sends one when asked).
    page = browser.get(f"{server.url}{CHALLENGE}")
    assert page.status_code == 200
    (email_method,) = re.findall(r'name="otp_device" value="([^"]*email[^"]*)"', page.text)
    if not mailoutbox:
        sent = browser.post(
            f"{server.url}{CHALLENGE}",
            data={
                "otp_device": email_method,
                "otp_challenge": "1",
                # login() rotated the CSRF secret: the browser sends the new cookie's.
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
        )
        assert sent.status_code == 200
    (email,) = mailoutbox
    assert email.to == ["alice@example.com"]
    code = re.search(r"\b(\d{6})\b", email.body).group(1)
    passed = browser.post(
        f"{server.url}{CHALLENGE}",
        data={
            "otp_device": email_method,
            "otp_token": code,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
        allow_redirects=False,
    )
    assert passed.status_code == 302

    assert browser.get(f"{server.url}/private/").text == "private page of alice"
    assert browser.get(f"{server.url}/async/whoami/").json() == {"user": "alice"}
    session_cookie = f"sessionid={browser.cookies['sessionid']}"
    assert server.websocket_user(session_cookie) == {"user": "alice"}
    check.refresh_from_db()
    assert check.challenge_result == ChallengeResult.PASSED
    # The gate ran in its async mode, on uvicorn's event loop thread.
    assert gate_threads
    assert set(gate_threads) == {server.thread.ident}


def test_an_async_sign_in_waits_at_the_challenge_under_uvicorn(
    asgi_server, rupt_server, user, guard_settings_override
):
    server = asgi_server
    guard_settings_override(PENDING_ALLOWED_URL_NAMES=["async-whoami"])
    browser = requests.Session()
    token = csrf_token(browser, server)
    response = browser.post(
        f"{server.url}/async/sign-in/",
        data={
            "username": "alice",
            "password": PASSWORD,
            "rupt_identification": rupt_server.identify(),
        },
        headers={"X-CSRFToken": token},
    )
    assert response.json() == {"signed_in": True, "user": "anonymous"}
    assert browser.get(f"{server.url}/async/whoami/").json() == {"user": "anonymous"}
    assert LoginCheck.objects.get().decision == Decision.CHALLENGE
    signed_out = browser.post(
        f"{server.url}/async/sign-out/", headers={"X-CSRFToken": browser.cookies["csrftoken"]}
    )
    assert signed_out.json() == {"user": "anonymous"}
    assert LoginCheck.objects.get().challenge_result == ChallengeResult.GIVEN_UP
