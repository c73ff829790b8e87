"""Sign a test client in through the gate: verified, pending, blocked, or past the gate.

:func:`sign_in` is the real thing: a ``login()`` carrying an identification token from the
fake Rupt, as the login form posts it after Rupt's script ran, so the site's policy decides
and the ``Device`` and ``LoginCheck`` rows are written as in production. The other helpers
build on it. :func:`login_verified` and :func:`login_pending` skip the check altogether (no
provider, no rows) for tests that only need a session.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from django.conf import settings
from django.contrib import auth
from django.core import mail
from django.http import HttpResponseBase
from django.shortcuts import resolve_url
from django.test import Client, RequestFactory
from django.urls import reverse
from django_otp.oath import TOTP

from rupt_guard.choices import Decision, VerificationMethod
from rupt_guard.conf import guard_settings
from rupt_guard.gate.lifecycle import hold_session, verified_by_caller
from rupt_guard.gate.mark import read_mark
from rupt_guard.gate.sign_in import notice_for, release_sign_in_limits
from rupt_guard.models import Device, LoginCheck
from rupt_guard.trust.devices import block
from rupt_guard.trust.factors import account_email, challenge_devices, method_for, sends_code

if TYPE_CHECKING:
    from rupt_guard.testing.fake_rupt import FakeRupt

__all__ = [
    "SignIn",
    "SignInError",
    "State",
    "blocked_sign_in",
    "login_pending",
    "login_verified",
    "pass_challenge",
    "pending_sign_in",
    "sign_in",
    "verified_sign_in",
]

State = Literal["verified", "pending", "blocked"]
CODE = re.compile(r"\b(\d{6})\b")


class SignInError(AssertionError):
    """A helper could not bring the sign-in where it was asked to: the policy decided
    otherwise, or the challenge did not pass (the message says why)."""


@dataclass(frozen=True)
class SignIn:
    """One sign-in of a test client: who, from which device (Rupt's id), and its check."""

    client: Client
    user: Any
    device_id: str
    check: LoginCheck

    @property
    def device(self) -> Device | None:
        """The ``Device`` row, as it is now."""
        return Device.objects.filter(user=self.user, external_id=self.device_id).first()


def login_verified(client: Client, user: Any, backend: str | None = None) -> None:
    """Sign ``client`` in as ``user``, past the gate, without a check or a factor."""
    with verified_by_caller():
        client.force_login(user, backend)


def login_pending(client: Client, user: Any, backend: str | None = None) -> None:
    """Sign ``client`` in as ``user`` with a challenge pending, whatever the policy says."""
    login_verified(client, user, backend)
    session = client.session
    hold_session(session)
    session.save()


def sign_in(
    client: Client,
    user: Any,
    fake: FakeRupt,
    *,
    device: str | None = None,
    backend: str | None = None,
) -> SignIn:
    """Sign ``client`` in as ``user`` from ``device`` (a new one if None), through the gate.

    What a login form does once the password is right: ``login()`` on a POST that carries a
    fresh identification token of ``fake`` (the ``fake_rupt`` fixture). The site's policy
    decides, as in production: the client may end up signed in, pending or refused.
    """
    device = device or uuid.uuid4().hex[:24]
    token = fake.identify(device)
    request = RequestFactory().post(
        resolve_url(settings.LOGIN_URL),
        {guard_settings.TOKEN_FIELD: token},
        HTTP_USER_AGENT="rupt_guard.testing",
    )
    request.session = client.session  # the client's own (Django's test client makes one)
    checks = LoginCheck.objects.filter(user=user).order_by("-pk")
    latest = checks.values_list("pk", flat=True).first() or 0
    auth.login(request, user, backend or _backend_of(user))
    # A test's setup, not an attempt: counted in SIGN_IN_RATES (in a cache that outlives
    # the test), it would refuse the 21st test's sign-in of the same user.
    release_sign_in_limits(request, user)
    request.session.save()
    _set_session_cookie(client, request.session.session_key)
    check = checks.filter(pk__gt=latest).first()
    if check is None:
        limited = notice_for(request)
        if limited:
            raise SignInError(f"The sign-in was refused by SIGN_IN_RATES: {limited}")
        raise SignInError("The sign-in wrote no LoginCheck: is rupt_guard installed?")
    return SignIn(client, user, device, check)


def verified_sign_in(client: Client, user: Any, fake: FakeRupt, **kwargs: Any) -> SignIn:
    """Sign ``client`` in as ``user``, passed: from a device the user verified (with a
    second factor, through the challenge page, if the policy asks for one).

    The emails that verification sends (the code, "a new device signed in") are taken out
    of ``mail.outbox``, so the test sees only its own.
    """
    sent = len(mail.outbox)
    first = sign_in(client, user, fake, **kwargs)
    if first.check.decision == Decision.CHALLENGE:
        pass_challenge(client)
    elif first.check.decision == Decision.BLOCK:
        raise SignInError(f"The policy blocked this sign-in ({first.check.reason}).")
    del mail.outbox[sent:]
    first.check.refresh_from_db()
    return first


def pending_sign_in(client: Client, user: Any, fake: FakeRupt, **kwargs: Any) -> SignIn:
    """Sign ``client`` in as ``user`` from a new device: the challenge is pending.

    Raises :class:`SignInError` when the site's policy does not challenge a new
    device (``ON_NEW_DEVICE``); :func:`login_pending` holds any session regardless.
    """
    result = sign_in(client, user, fake, **kwargs)
    if result.check.decision != Decision.CHALLENGE:
        raise SignInError(
            f"The policy answered {result.check.decision} ({result.check.reason}), not a "
            "challenge, for this sign-in."
        )
    return result


def blocked_sign_in(client: Client, user: Any, fake: FakeRupt, **kwargs: Any) -> SignIn:
    """Sign ``client`` in as ``user`` from a device the user blocked: the sign-in is refused
    (``ON_BLOCKED_DEVICE``) and the client stays signed out.

    The device is first met in a sign-in of another client, then blocked as its owner
    blocks it on the devices page (a ``TrustEvent`` is recorded).
    """
    first = sign_in(Client(), user, fake, **kwargs)
    device = first.device
    if device is None:
        raise SignInError("The first sign-in recorded no device.")
    block(device, by=user, reason="rupt_guard.testing")
    refused = sign_in(client, user, fake, device=first.device_id, backend=kwargs.get("backend"))
    if refused.check.decision != Decision.BLOCK:
        raise SignInError(
            f"The policy answered {refused.check.decision}, not a block, for a blocked device "
            "(ON_BLOCKED_DEVICE)."
        )
    return refused


def pass_challenge(client: Client, *, next: str | None = None) -> HttpResponseBase:
    """Complete the pending challenge of ``client`` as its user would; return the response.

    Through the site's challenge page with a real code: an authenticator app's current code
    (computed from its key), else the code emailed to the user (read from ``mail.outbox``;
    the page sends it, or is asked to), else an unused backup code. Raises
    :class:`SignInError` when nothing is pending or the page did not let it through.
    """
    user = _pending_user(client)
    factors = challenge_devices(user)
    if not factors:
        raise SignInError(
            f"{user} has no second factor the challenge can use: give the account an email "
            "address (EMAIL_FALLBACK) or a django-otp device."
        )
    url = reverse("rupt_guard:challenge")
    factor, code = _factor_and_code(client, url, user, factors)
    data = {"otp_device": factor.persistent_id, "otp_token": code}
    if next is not None:
        data["next"] = next
    response = client.post(url, data)
    mark = read_mark(client.session)
    if response.status_code != 302 or mark is None or mark.pending:
        raise SignInError(
            f"The challenge page answered {response.status_code} and the sign-in is still pending."
        )
    return response


# -- helpers -------------------------------------------------------------------------------


def _backend_of(user: Any) -> str:
    """The backend ``force_login()`` would pick: the first that can load a user."""
    if getattr(user, "backend", None):
        return str(user.backend)
    for path in settings.AUTHENTICATION_BACKENDS:
        if hasattr(auth.load_backend(path), "get_user"):
            return path
    raise SignInError("No authentication backend can load a user.")


def _set_session_cookie(client: Client, key: str | None) -> None:
    """What ``Client.force_login()`` does with the session it saved."""
    if key is None:
        raise SignInError("The test client's session was not saved: it has no key.")
    name = settings.SESSION_COOKIE_NAME
    client.cookies[name] = key
    # Any: a Morsel takes None for "not set" at run time (as force_login() passes it),
    # where typeshed's Morsel.update() asks for strings.
    attributes: dict[str, Any] = {
        "max-age": None,
        "path": "/",
        "domain": settings.SESSION_COOKIE_DOMAIN,
        "secure": settings.SESSION_COOKIE_SECURE or None,
        "expires": None,
    }
    client.cookies[name].update(attributes)


def _pending_user(client: Client) -> Any:
    mark = read_mark(client.session)
    if mark is None or not mark.pending or mark.expired():
        raise SignInError("This client has no pending sign-in to complete.")
    user_pk = mark.auth.get(auth.SESSION_KEY)
    if user_pk is None:
        raise SignInError("This client's pending sign-in names no user.")
    return auth.get_user_model()._default_manager.get(pk=user_pk)


PREFERENCE = [VerificationMethod.TOTP, VerificationMethod.EMAIL, VerificationMethod.BACKUP_CODE]


def _factor_and_code(client: Client, url: str, user: Any, factors: list[Any]) -> tuple[Any, str]:
    """The factor to answer with and its code: an authenticator app first (no email to
    read), then email, then backup codes, then whatever else sends a code."""
    known = sorted(
        (f for f in factors if method_for(f) in PREFERENCE),
        key=lambda f: PREFERENCE.index(method_for(f)),
    )
    for factor in [*known, *(f for f in factors if f not in known)]:
        method = method_for(factor)
        if method == VerificationMethod.TOTP:
            code = _totp_code(factor)
            if code is not None:
                return factor, code
        elif sends_code(factor):
            return factor, _emailed_code(client, url, user, factor)
        elif method == VerificationMethod.BACKUP_CODE and factor.token_set.exists():
            return factor, factor.token_set.first().token
    labels = ", ".join(str(method_for(f).label) for f in factors)
    raise SignInError(
        f"pass_challenge() cannot answer any factor of {user} ({labels}): an authenticator "
        "app whose codes for this time step are used already needs the next step."
    )


def _totp_code(factor: Any) -> str | None:
    """The code the app shows now, or one step ahead (within the device's tolerance, as
    from a phone whose clock runs a little fast): django-otp accepts a time step once, so
    a second sign-in within 30 seconds needs the next. None when those are used too."""
    totp = TOTP(factor.bin_key, factor.step, factor.t0, factor.digits, factor.drift)
    totp.time = time.time()
    for _ahead in range(factor.tolerance + 1):
        if totp.t() > factor.last_t:
            return f"{totp.token():0{factor.digits}d}"
        totp.time += factor.step
    return None


def _emailed_code(client: Client, url: str, user: Any, factor: Any) -> str:
    """Open the page (which emails a code on arrival when email is shown first), ask for a
    code if none came, and read the newest one sent to the user."""
    sent = len(mail.outbox)
    page = client.get(url)
    if page.status_code != 200:
        raise SignInError(f"The challenge page answered {page.status_code}.")
    if len(mail.outbox) == sent:
        client.post(url, {"otp_device": factor.persistent_id, "otp_challenge": "1"})
    address = account_email(user) or getattr(factor, "email", "")
    for message in reversed(mail.outbox):
        found = CODE.search(str(message.body))
        if found and (not address or address in message.to):
            return found.group(1)
    raise SignInError("No code was emailed (is the email backend locmem, as in tests?).")
