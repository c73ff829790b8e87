"""Concurrent sign-ins over HTTP: many clients, each GET the login page then POST it.

asyncio with a minimal HTTP/1.1 client (one connection a request, as gunicorn's sync
workers close them anyway): 200 clients cost one Python thread, so the generator takes as
little of the machine's CPU from the server it measures as a Python one can.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import urlencode

CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
PASSWORD = "bench-password"  # noqa: S105


@dataclass
class LoadResult:
    expected: int  # sign-ins that ended where they should (allowed: the page; challenged)
    unexpected: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.expected / self.seconds


async def _request(
    port: int, method: str, path: str, cookies: dict[str, str], body: bytes = b""
) -> tuple[int, dict[str, list[str]], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    if cookies:
        head.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()))
    if method == "POST":
        head += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    header_block, _, content = raw.partition(b"\r\n\r\n")
    lines = header_block.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return status, headers, content


def _keep_cookies(cookies: dict[str, str], headers: dict[str, list[str]]) -> None:
    for value in headers.get("set-cookie", []):
        jar = SimpleCookie()
        jar.load(value)
        cookies.update({name: morsel.value for name, morsel in jar.items()})


async def sign_in(port: int, username: str, token: str | None, lands_on: str) -> bool:
    cookies: dict[str, str] = {}
    status, headers, page = await _request(port, "GET", "/login/", cookies)
    _keep_cookies(cookies, headers)
    found = CSRF_FIELD.search(page)
    if status != 200 or not found:
        return False
    form = {"csrfmiddlewaretoken": found.group(1).decode(), "username": username}
    form["password"] = PASSWORD
    if token is not None:
        form["rupt_identification"] = token
    status, headers, _ = await _request(port, "POST", "/login/", cookies, urlencode(form).encode())
    return status == 302 and headers.get("location", [""])[0].startswith(lands_on)


def run(
    port: int,
    clients: int,
    each: int,
    account: Callable[[int], str],
    token: Callable[[int], str | None],
    lands_on: str,
) -> LoadResult:
    """``clients`` clients at once, each signing in ``each`` times in a row; client ``i``
    is account ``account(i)`` with a fresh ``token(i)`` every time."""

    async def client(i: int) -> list[bool]:
        return [await sign_in(port, account(i), token(i), lands_on) for _ in range(each)]

    async def everyone() -> list[list[bool]]:
        return await asyncio.gather(*(client(i) for i in range(clients)))

    started = time.perf_counter()
    outcomes = [ok for done in asyncio.run(everyone()) for ok in done]
    seconds = time.perf_counter() - started
    return LoadResult(sum(outcomes), len(outcomes) - sum(outcomes), seconds)


def nonce() -> str:
    return uuid.uuid4().hex
