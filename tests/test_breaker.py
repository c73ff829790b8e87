"""The circuit breaker: an outage costs milliseconds, and every worker and host agrees."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from rupt_guard.choices import Reason
from rupt_guard.models import LoginCheck
from rupt_guard.providers import ProviderTimeout, breaker
from rupt_guard.providers.rupt import RuptProvider
from rupt_guard.testing import login_verified
from rupt_guard.testing.fake_rupt import SECRET

from .conftest import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db


@pytest.fixture
def trip(rupt_server, guard_settings_override):
    guard_settings_override(BREAKER_FAILURES=3, BREAKER_WINDOW=60, BREAKER_COOLDOWN=60)

    def sign_in(client, status=None):
        if status is not None:
            rupt_server.fail_next(status)
        return client.post(
            "/accounts/login/",
            {
                "username": "alice",
                "password": PASSWORD,
                "rupt_identification": rupt_server.identify(),
            },
        )

    return sign_in


def completions(rupt_server):
    return [r for r in rupt_server.requests if r.path.endswith("/complete")]


def test_outages_open_it_and_then_no_call_is_made(client, user, rupt_server, trip):
    for _ in range(3):
        trip(client, 503)
        client.post("/accounts/logout/")
    assert breaker.status().state == breaker.State.OPEN
    before = len(completions(rupt_server))
    trip(client)
    assert len(completions(rupt_server)) == before  # not called
    check = LoginCheck.objects.order_by("-pk").first()
    assert (check.reason, check.provider_error) == (Reason.PROVIDER_ERROR, "breaker_open")
    assert check.provider_ms is not None and check.provider_ms < 50
    assert check.decision == "challenge"  # ON_PROVIDER_ERROR, at once


@pytest.mark.parametrize("status", [400, 404, 401, 403])
def test_token_problems_and_configuration_errors_never_open_it(
    client, user, rupt_server, trip, status
):
    for _ in range(5):
        trip(client, status)
        client.post("/accounts/logout/")
    assert breaker.status().state == breaker.State.CLOSED


def test_one_probe_at_a_time_when_half_open_and_its_result_decides(user, rupt_server, trip):
    for _ in range(3):
        breaker.record(breaker.Permit(True), outage=True)
    assert breaker.status().state == breaker.State.OPEN
    shared = breaker.shared_cache()
    shared.set(breaker.OPEN_KEY, time.time() - 1, timeout=60)  # the cool-down is over
    assert breaker.status().state == breaker.State.HALF_OPEN
    first, second = breaker.permit(), breaker.permit()
    assert (first.allowed, first.probe) == (True, True)
    assert second.allowed is False  # only one probe
    breaker.record(first, outage=True)  # the probe failed: open again, a new opening
    assert breaker.status().state == breaker.State.OPEN
    assert len(breaker.status().openings) == 2
    shared.set(breaker.OPEN_KEY, time.time() - 1, timeout=60)
    probe = breaker.permit()
    breaker.record(probe, outage=False)  # Rupt answered: closed
    assert breaker.status().state == breaker.State.CLOSED


def test_operators_force_it_with_the_command(client, user, rupt_server, trip):
    out = StringIO()
    call_command("rupt_guard_breaker", "--open", stdout=out)
    assert "state: forced_open" in out.getvalue()
    trip(client)
    assert completions(rupt_server) == []
    assert LoginCheck.objects.get().provider_error == "breaker_open"
    call_command("rupt_guard_breaker", "--auto", stdout=out)
    assert breaker.status().state == breaker.State.CLOSED


def test_operators_force_it_in_the_admin(client, user, rupt_server, trip):
    from django.contrib.auth import get_user_model

    login_verified(client, get_user_model().objects.create_superuser("root", "r@example.com", "x"))
    page = client.get("/admin/rupt_guard/logincheck/").content.decode()
    assert "state: closed" in page and 'value="open"' in page
    client.post("/admin/rupt_guard/logincheck/breaker/", {"state": "open"})
    assert breaker.status().state == breaker.State.FORCED_OPEN
    assert "state: forced_open" in client.get("/admin/rupt_guard/logincheck/").content.decode()
    client.post("/admin/rupt_guard/logincheck/breaker/", {"state": "auto"})
    assert breaker.status().state == breaker.State.CLOSED


def test_a_cache_that_fails_never_costs_a_sign_in(client, user, rupt_server, trip, monkeypatch):
    def broken():
        raise ConnectionError("redis is down")

    monkeypatch.setattr(breaker, "shared_cache", broken)
    assert trip(client).status_code == 302
    assert len(completions(rupt_server)) == 1  # the call went out


def test_a_dropped_syn_fails_within_the_connect_timeout():
    # A listening socket whose accept queue is full: Linux drops further SYNs, as a
    # black-holed firewall does.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(server.getsockname())
        fillers.append(filler)
    time.sleep(0.1)
    provider = RuptProvider(
        API_SECRET=SECRET,
        API_BASE_URL=f"http://127.0.0.1:{server.getsockname()[1]}",
        TIMEOUT=3.0,
        CONNECT_TIMEOUT=0.3,
    )
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        provider.complete("651e72f5cc64cb48d6f860d7", "42")
    assert time.monotonic() - started < 1.5  # the connect timeout, not the whole TIMEOUT
    for sock in (*fillers, server):
        sock.close()


SHARED = """
import django, sys
django.setup()
from rupt_guard.providers import breaker
action = sys.argv[1]
if action == "fail":
    for _ in range(int(sys.argv[2])):
        breaker.record(breaker.Permit(True), outage=True)
elif action == "close":
    breaker.force("closed")
print(breaker.status().state.value)
"""


def in_another_process(*args):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", SHARED, *args], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.strip().splitlines()[-1]


def test_two_processes_share_one_breaker(settings, guard_settings_override):
    """Two worker processes on the one shared cache (Redis in CI): one's outages open the
    breaker for the other, and an operator's word in one holds in the other."""
    backend = settings.CACHES["default"]["BACKEND"]
    assert "Redis" in backend or "FileBased" in backend  # shared across processes by design
    breaker.force(None)
    assert in_another_process("fail", "5") == "open"  # 5 outages: the default threshold
    assert breaker.status().state == breaker.State.OPEN  # seen here, in this process
    assert in_another_process("close") == "forced_closed"
    assert breaker.permit().allowed
    breaker.force(None)


def test_a_replayed_token_is_never_taken_for_the_half_open_probe(user, rupt_server, trip):
    from rupt_guard.choices import CheckSource
    from rupt_guard.gate.check import check_login
    from rupt_guard.risk.identify import identify

    token = rupt_server.identify()
    check_login(None, user, token=token, source=CheckSource.FORM)  # its one legitimate use
    for _ in range(3):
        breaker.record(breaker.Permit(True), outage=True)
    breaker.shared_cache().set(breaker.OPEN_KEY, time.time() - 1, timeout=60)  # half-open
    answer = identify(token, "1")  # a replay: refused before the breaker is asked
    assert answer.error is not None and answer.error.is_token_problem
    assert breaker.status().state == breaker.State.HALF_OPEN  # not closed by a non-call
