"""The pytest plugin of the testing kit: a fake Rupt and signed-in clients as fixtures.

Loaded in every pytest run where rupt_guard is installed (its ``pytest11`` entry point), so
importing it touches nothing of Django: each fixture imports what it needs when a test asks
for it, after pytest-django has configured Django. The fixtures need pytest-django.

- ``fake_rupt``: a fake Rupt on loopback, with ``settings.RUPT_GUARD`` pointed at it for
  the test (one server for the run, reset for each test);
- ``rupt_guard_user``: the user the client fixtures sign in (override it in a conftest);
- ``verified_client``, ``pending_client``, ``blocked_client``: Django test clients signed
  in through the gate as that user, passed, waiting at the challenge, or refused;
- ``rupt_sign_in``: the factory behind them, for another user, client or state;
- ``pass_challenge``: :func:`rupt_guard.testing.pass_challenge`;
- ``verified_force_login``: every ``force_login()`` of the test is a verified sign-in. The
  ini option ``rupt_guard_verified_force_login = true`` turns it on for every test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from django.test import Client

    from rupt_guard.testing.clients import SignIn, State
    from rupt_guard.testing.fake_rupt import FakeRupt

INI_SWITCH = "rupt_guard_verified_force_login"
PASSWORD = "rupt-guard-test-password"  # noqa: S105 (a test user's, in the test database)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        INI_SWITCH,
        "rupt_guard: make every force_login() of the test clients a verified sign-in.",
        # mypy 1.19 reads the Literal "bool" pytest's stubs ask for as a type's name.
        type="bool",  # type: ignore[maybe-unrecognized-str-typeform]
        default=False,
    )


@pytest.fixture(scope="session")
def _rupt_guard_fake_server() -> Iterator[FakeRupt]:
    from rupt_guard.testing.fake_rupt import start_fake_rupt, stop_fake_rupt

    fake, server = start_fake_rupt()
    yield fake
    stop_fake_rupt(server)


@pytest.fixture
def fake_rupt(_rupt_guard_fake_server: FakeRupt, settings: Any) -> FakeRupt:
    """A fake Rupt on loopback; the site's Rupt provider points at it for this test."""
    from rupt_guard.testing.fake_rupt import guard_settings_for, reset_for_test

    fake = _rupt_guard_fake_server
    reset_for_test(fake)
    settings.RUPT_GUARD = guard_settings_for(fake, getattr(settings, "RUPT_GUARD", None))
    return fake


@pytest.fixture
def rupt_guard_user(db: Any, django_user_model: Any) -> Any:
    """The user the client fixtures sign in: one with an email address, so the challenge
    has its email fallback. Override this fixture to sign in a user of your own."""
    username_field = django_user_model.USERNAME_FIELD
    email_field = django_user_model.get_email_field_name()
    fields = {email_field: "rupt-guard-user@example.com", username_field: "rupt-guard-user"}
    if username_field == email_field:
        fields[username_field] = "rupt-guard-user@example.com"
    return django_user_model._default_manager.create_user(password=PASSWORD, **fields)


@pytest.fixture
def rupt_sign_in(fake_rupt: FakeRupt, rupt_guard_user: Any) -> Callable[..., SignIn]:
    """``rupt_sign_in(state="verified", *, user=None, client=None, device=None)``: sign a
    client (a new one by default) in as ``user`` (``rupt_guard_user`` by default) and
    return the :class:`~rupt_guard.testing.SignIn`; ``state`` is "verified", "pending",
    "blocked", or None for whatever the site's policy decides."""
    from django.test import Client

    from rupt_guard.testing import clients

    helpers: dict[State | None, Callable[..., SignIn]] = {
        "verified": clients.verified_sign_in,
        "pending": clients.pending_sign_in,
        "blocked": clients.blocked_sign_in,
        None: clients.sign_in,
    }

    def make(
        state: State | None = "verified",
        *,
        user: Any = None,
        client: Client | None = None,
        **kwargs: Any,
    ) -> SignIn:
        helper = helpers[state]
        return helper(client or Client(), user or rupt_guard_user, fake_rupt, **kwargs)

    return make


@pytest.fixture
def verified_client(rupt_sign_in: Callable[..., SignIn]) -> Client:
    """A client signed in as ``rupt_guard_user``, passed, from a device the user verified."""
    return rupt_sign_in("verified").client


@pytest.fixture
def pending_client(rupt_sign_in: Callable[..., SignIn]) -> Client:
    """A client whose sign-in as ``rupt_guard_user`` (a new device) waits at the challenge."""
    return rupt_sign_in("pending").client


@pytest.fixture
def blocked_client(rupt_sign_in: Callable[..., SignIn]) -> Client:
    """A client whose sign-in as ``rupt_guard_user`` was refused: its device is blocked."""
    return rupt_sign_in("blocked").client


@pytest.fixture
def pass_challenge() -> Callable[..., Any]:
    """``pass_challenge(client, next=None)``: complete the client's pending challenge through
    the challenge page with a real code; returns the page's response."""
    from rupt_guard.testing.clients import pass_challenge

    return pass_challenge


@pytest.fixture
def verified_force_login() -> Iterator[None]:
    """Every ``force_login()`` in this test signs in past the gate."""
    from rupt_guard.testing.switch import verified_force_login

    with verified_force_login():
        yield


@pytest.fixture(autouse=True)
def _rupt_guard_verified_force_login_everywhere(request: pytest.FixtureRequest) -> Iterator[None]:
    """The ini option: the switch for every test of a Django test run."""
    if not request.config.getini(INI_SWITCH) or "verified_force_login" in request.fixturenames:
        yield
        return
    from rupt_guard.testing.switch import in_test_environment, verified_force_login

    if not in_test_environment():
        yield  # a test outside Django's test environment: nothing to switch
        return
    with verified_force_login():
        yield
