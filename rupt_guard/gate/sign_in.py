"""A right password, before login(): where it may become a sign-in, and its check.

The backend asks :func:`password_accepted`; the REST API asks :func:`start`. The check's
outcome is handed to the ``user_logged_in`` receiver of the same request (``lifecycle``)
through :func:`login_followed`: by request (weakly, so nothing outlives it) and then by
user, so a login() of another user than the one checked never inherits the check.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from weakref import WeakKeyDictionary

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import ngettext

from rupt_guard.choices import ChallengeResult, CheckSource, Decision, Reason
from rupt_guard.client import client_ip, limit_key
from rupt_guard.conf import guard_settings
from rupt_guard.gate.check import CheckOutcome, check_login, token_from_request
from rupt_guard.gate.expiry import expire_stale_challenges
from rupt_guard.gate.limits import Limited, Window
from rupt_guard.models import Device, LoginCheck
from rupt_guard.trust.retention import prune_after_sign_in

logger = logging.getLogger(__name__)

_checked: WeakKeyDictionary[Any, dict[str, CheckOutcome]] = WeakKeyDictionary()
_notices: WeakKeyDictionary[Any, str] = WeakKeyDictionary()
_unused_passwords: WeakKeyDictionary[Any, str] = WeakKeyDictionary()
_factors: WeakKeyDictionary[Any, dict[str, Any]] = WeakKeyDictionary()
_gated: ContextVar[bool] = ContextVar("rupt_guard_gated_sign_in", default=False)


@contextmanager
def gated_sign_in() -> Iterator[None]:
    """Mark a caller whose ``authenticate()`` is followed by ``login()``.

    For a site's own sign-in code that authenticates without a request (or with an object
    that is not Django's ``HttpRequest``): inside this block the backend accepts the
    password, and the ``user_logged_in`` receiver runs the check when ``login()`` follows.
    """
    reset = _gated.set(True)
    try:
        yield
    finally:
        _gated.reset(reset)


def is_interactive_sign_in(request: Any) -> bool:
    """A login form post carrying our field: the check can run before ``login()``."""
    return (
        isinstance(request, HttpRequest)
        and request.method == "POST"
        and guard_settings.TOKEN_FIELD in request.POST
    )


def password_accepted(request: Any, user: Any) -> Any:
    """The backend found the password right: decide whether that may become a sign-in.

    Raises ``PermissionDenied`` (so no later backend gets a try) for a blocked sign-in and
    for a password presented where no ``login()`` and so no gate will follow: DRF's
    ``BasicAuthentication``, ``obtain_auth_token``, a bare ``authenticate()`` call.
    """
    if is_interactive_sign_in(request):
        try:
            outcome = start(
                request, user, token=token_from_request(request), source=CheckSource.FORM
            )
        except Limited as exc:
            tell_limited(request, exc)
            raise PermissionDenied from exc
        if outcome.decision == Decision.BLOCK:
            # The form shows its usual "invalid credentials": no hint the password was right.
            raise PermissionDenied
        return user
    if _gated.get():
        return user  # the caller said login() follows
    if isinstance(request, HttpRequest) and hasattr(request, "session"):
        # login() should follow, and the user_logged_in receiver then runs the check. The
        # gate cannot know yet; it notes the password and says so if no login() came.
        _unused_passwords[request] = str(user.pk)
        return user
    match = getattr(request, "resolver_match", None)
    if match is not None and match.view_name in guard_settings.PASSWORD_ONLY_VIEWS:
        return user  # the site accepted this risk in PASSWORD_ONLY_VIEWS
    logger.warning(
        "A password alone was presented outside a sign-in (%s) and was refused; list the "
        "view in RUPT_GUARD['PASSWORD_ONLY_VIEWS'] to accept it.",
        match.view_name if match is not None else type(request).__name__,
    )
    raise PermissionDenied


def warn_if_password_unused(request: HttpRequest) -> None:
    """At the end of a request: a password accepted without a login() after it means the
    view gave access (or something) on a password alone. Logged, for the site to fix."""
    if request in _unused_passwords:
        match = getattr(request, "resolver_match", None)
        logger.warning(
            "A password was accepted at %s but no login() followed: if that view grants "
            "access on the password alone, it skips the second factor.",
            match.view_name if match is not None else request.path,
        )


def start(
    request: Any,
    user: Any,
    *,
    token: str | None,
    source: CheckSource,
    token_error: str | None = None,
    signed_up: bool = False,
) -> CheckOutcome:
    """Run the risk check of a sign-in whose password was right, once per request and user."""
    key = _request_key(request)
    earlier = _checked.get(key, {}).get(str(user.pk)) if key is not None else None
    if earlier is not None:
        return earlier
    # The account's own challenges nobody answered are closed (and their owner told) now,
    # not only at the next cron sweep.
    expire_stale_challenges(user)
    prune_after_sign_in()  # PRUNE_AFTER_SIGN_IN: one small step an hour, off by default
    outcome = _limited_check(request, user, token, source, token_error, signed_up)
    if key is not None and outcome.decision != Decision.BLOCK:
        _checked.setdefault(key, {})[str(user.pk)] = outcome
    return outcome


def _sign_in_windows(request: Any, user: Any) -> list[Window]:
    """The ``SIGN_IN_RATES`` windows a sign-in of ``user`` from this request counts in."""
    rates = guard_settings.SIGN_IN_RATES
    address = client_ip(request)
    by_address = limit_key(address) if address else None
    return [
        Window(f"sign_in_{scope}", ident, rates[scope])
        for scope, ident in (("account", str(user.pk)), ("address", by_address))
        if rates[scope] is not None and ident
    ]


def _hit_sign_in_limits(request: Any, user: Any) -> None:
    """Count a sign-in that is about to reach the provider; raise ``Limited`` when over."""
    for window in _sign_in_windows(request, user):
        count, left = window.hit()
        if count > window.rate.count:
            raise Limited(left)


def release_sign_in_limits(request: Any, user: Any) -> None:
    """Give back the slots a checked sign-in took (``rupt_guard.testing``: a test's setup
    sign-ins must not use up the site's limits for the tests after it)."""
    for window in _sign_in_windows(request, user):
        window.release()


def tell_limited(request: Any, exc: Limited, *, by_message: bool = False) -> None:
    """Say why on the page: the login form's identify tag shows the notice (the form's own
    error can only say "invalid credentials"); a login() elsewhere gets a message."""
    logger.warning("Sign-in refused: too many sign-ins reached the provider (%s s left).", exc.wait)
    key = _request_key(request)
    if key is not None:
        _notices[key] = limited_message(exc.wait)
        if by_message:
            messages.error(key, _notices[key], fail_silently=True)


def notice_for(request: Any) -> str | None:
    """What the sign-in form should tell the user about this request's refusal, if anything."""
    key = _request_key(request)
    return _notices.get(key) if key is not None else None


def limited_message(wait: int) -> str:
    minutes = max(1, math.ceil(wait / 60))
    return ngettext(
        "Too many sign-in attempts. Try again in %(minutes)d minute.",
        "Too many sign-in attempts. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


def _request_key(request: Any) -> Any:
    request = getattr(request, "_request", request)  # DRF's Request wraps Django's
    return request if isinstance(request, HttpRequest) else None


def login_followed(request: HttpRequest, user: Any) -> CheckOutcome | None:
    """login() came: the password was used for a sign-in. Hand over the check the backend
    made for ``user`` in this request, if it made one."""
    _unused_passwords.pop(request, None)
    key = _request_key(request)
    return _checked.get(key, {}).pop(str(user.pk), None) if key is not None else None


def resume(request: HttpRequest, user: Any, check_pk: int) -> CheckOutcome | None:
    """A sign-in checked in an earlier request of the same flow (django-allauth's login
    stages: the password in one request, its MFA code in the next): hand that check to
    this request's ``login()``, so it is neither run nor recorded twice.

    None when the check is not this user's or its challenge already ended (passed, given
    up, expired): that sign-in is over, and a new check runs.
    """
    key = _request_key(request)
    if key is None:
        return None
    earlier = _checked.get(key, {}).get(str(user.pk))
    if earlier is not None and earlier.check.pk == check_pk:
        return earlier
    check = LoginCheck.objects.filter(pk=check_pk, user_id=user.pk).first()
    if check is None or check.decision == Decision.BLOCK:
        return None
    if check.decision == Decision.CHALLENGE and check.challenge_result != ChallengeResult.PENDING:
        return None
    device = Device.objects.filter(pk=check.device_id).first() if check.device_id else None
    if device is not None and check.reason == Reason.VERIFIED_DEVICE and not device.is_verified:
        # The device as the check saw it: verified. The lifecycle compares that with the
        # row under its lock, and so withdraws a sign-in whose device the owner revoked
        # while allauth's stages waited (read now, the revocation would look like no change).
        device.verified_at = check.created_at
    outcome = CheckOutcome(Decision(check.decision), Reason(check.reason), device, check)
    _checked.setdefault(key, {})[str(user.pk)] = outcome
    return outcome


def factor_verified(request: HttpRequest, user: Any, factor: Any) -> None:
    """``factor`` was verified earlier in this sign-in (django-allauth's MFA stage): the
    ``login()`` that follows in this request takes it as the second factor."""
    key = _request_key(request)
    if key is not None:
        _factors.setdefault(key, {})[str(user.pk)] = factor


def verified_factor(request: HttpRequest, user: Any) -> Any:
    """The factor :func:`factor_verified` noted for ``user`` in this request (once)."""
    key = _request_key(request)
    return _factors.get(key, {}).pop(str(user.pk), None) if key is not None else None


def check_unchecked_login(request: HttpRequest, user: Any) -> CheckOutcome:
    """The check of a login() no backend checked (another login path); a token it carries
    counts against the sign-in limits like any other."""
    return _limited_check(request, user, token_from_request(request), CheckSource.LOGIN)


def _limited_check(
    request: Any,
    user: Any,
    token: str | None,
    source: CheckSource,
    token_error: str | None = None,
    signed_up: bool = False,
) -> CheckOutcome:
    if token:
        _hit_sign_in_limits(request, user)
    return check_login(
        request, user, token=token, source=source, token_error=token_error, signed_up=signed_up
    )
