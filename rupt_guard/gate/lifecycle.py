"""The sign-in lifecycle: checked -> pending -> passed / expired / given up, or blocked.

The backend, the ``user_logged_in`` receiver, the HTML challenge, the REST API and the gate
call these functions, and only these, to move a sign-in along (django-allauth's internal
flows are the model), so the HTML and JSON surfaces cannot drift apart.

A pending sign-in is not signed in: its Django auth keys wait inside the pending mark, so
every view, middleware, template, error page and API authentication class sees an anonymous
session. Only :func:`pending_user` knows who is waiting.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from weakref import WeakKeyDictionary

import django_otp
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import router, transaction
from django.http import HttpRequest
from django.middleware.csrf import rotate_token
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import ngettext

from rupt_guard import signals
from rupt_guard.choices import ChallengeResult, CheckSource, Decision
from rupt_guard.client import client_ip
from rupt_guard.conf import guard_settings
from rupt_guard.gate.check import CheckOutcome, check_login, token_from_request
from rupt_guard.gate.limits import Limited, Window
from rupt_guard.gate.mark import (
    Mark,
    claim_notice,
    count_failed_code,
    hold_auth,
    mark_passed,
    mark_pending,
    read_mark,
)
from rupt_guard.gate.notifications import notify_new_device, notify_unconfirmed_sign_in
from rupt_guard.gate.tracking import remember_session
from rupt_guard.models import Device, DeviceSession, LoginCheck
from rupt_guard.risk.policy import LoginFacts, get_policy
from rupt_guard.trust.factors import challenge_devices, method_for
from rupt_guard.trust.verification import mark_verified

logger = logging.getLogger(__name__)

AUTH_KEYS = (auth.SESSION_KEY, auth.BACKEND_SESSION_KEY, auth.HASH_SESSION_KEY)

# The backend's decision, handed to the user_logged_in receiver of the same request: by
# request (weakly, so nothing outlives it) and then by user, so that a login() of another
# user than the one checked never inherits the check.
_checked: WeakKeyDictionary[Any, dict[str, CheckOutcome]] = WeakKeyDictionary()
_notices: WeakKeyDictionary[Any, str] = WeakKeyDictionary()
_unused_passwords: WeakKeyDictionary[Any, str] = WeakKeyDictionary()
_gated: ContextVar[bool] = ContextVar("rupt_guard_gated_sign_in", default=False)
_verified_by_caller: ContextVar[bool] = ContextVar("rupt_guard_verified", default=False)


class NotPending(Exception):
    """The session has no pending sign-in of this user (expired, passed, or none)."""


def _db() -> str:
    return router.db_for_write(Device)


# -- checked: the password was right -------------------------------------------------------


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
            _tell_limited(request, exc)
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


def start(request: Any, user: Any, *, token: str | None, source: CheckSource) -> CheckOutcome:
    """Run the risk check of a sign-in whose password was right, once per request and user."""
    key = _request_key(request)
    earlier = _checked.get(key, {}).get(str(user.pk)) if key is not None else None
    if earlier is not None:
        return earlier
    if token:
        _hit_sign_in_limits(request, user)
    outcome = check_login(request, user, token=token, source=source)
    if key is not None and outcome.decision != Decision.BLOCK:
        _checked.setdefault(key, {})[str(user.pk)] = outcome
    return outcome


def _hit_sign_in_limits(request: Any, user: Any) -> None:
    """Count a sign-in that is about to reach the provider; raise ``Limited`` when over."""
    rates = guard_settings.SIGN_IN_RATES
    for scope, ident in (("account", str(user.pk)), ("address", client_ip(request))):
        rate = rates[scope]
        if rate is not None and ident:
            count, left = Window(f"sign_in_{scope}", ident, rate).hit()
            if count > rate.count:
                raise Limited(left)


def _tell_limited(request: Any, exc: Limited, *, by_message: bool = False) -> None:
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


@contextmanager
def verified_by_caller() -> Iterator[None]:
    """``login()`` inside this block counts as a passed sign-in, with no check.

    For ``rupt_guard.testing`` (a site's tests sign users in with ``force_login``). It is a
    context variable of the running code, so no request can ever set it.
    """
    reset = _verified_by_caller.set(True)
    try:
        yield
    finally:
        _verified_by_caller.reset(reset)


def logged_in(request: HttpRequest, user: Any) -> None:
    """``user_logged_in``: put the sign-in's decision in force for this session."""
    _unused_passwords.pop(request, None)
    if _verified_by_caller.get():
        mark_passed(request.session, device=None)
        return
    key = _request_key(request)
    earlier = _checked.get(key, {}).pop(str(user.pk), None) if key is not None else None
    try:
        outcome = earlier or _checked_once(request, user)
    except Limited as exc:
        _tell_limited(request, exc, by_message=True)
        auth.logout(request)
        return
    _replace_pending(request, user)
    factor = _factor_from_login_form(user)
    with transaction.atomic(using=_db()):
        outcome = _confirm_under_lock(user, outcome)
        if outcome.decision == Decision.ALLOW:
            mark_passed(request.session, device=_pk(outcome.device))
            remember_session(request.session, outcome.device, outcome.check)
        elif outcome.decision == Decision.CHALLENGE and factor is None:
            _hold(request, device=_pk(outcome.device), check=outcome.check.pk)
            remember_session(request.session, outcome.device, outcome.check)
    if outcome.decision == Decision.BLOCK:
        auth.logout(request)
    elif outcome.decision == Decision.CHALLENGE and factor is not None:
        # django-otp's own login form (OTPAuthenticationForm, OTPAdminSite) verified a
        # factor already: that was the second factor, not a reason to ask again.
        auth_keys = {name: request.session[name] for name in AUTH_KEYS if name in request.session}
        _complete(
            request,
            user,
            factor,
            auth_keys,
            device_pk=_pk(outcome.device),
            check_pk=outcome.check.pk,
        )
    elif outcome.decision == Decision.ALLOW:
        signals.sign_in_completed.send(
            sender=LoginCheck, user=user, check=outcome.check, request=request
        )
        if outcome.check.new_device:
            notify_new_device(request, outcome.check)


def _checked_once(request: HttpRequest, user: Any) -> CheckOutcome:
    """The check of a login() that no backend checked (another login path)."""
    token = token_from_request(request)
    if token:
        _hit_sign_in_limits(request, user)
    return check_login(request, user, token=token, source=CheckSource.LOGIN)


def _confirm_under_lock(user: Any, outcome: CheckOutcome) -> CheckOutcome:
    """Re-read the device under a row lock before the session is tied to it.

    A revocation or block that committed after the check read the device wins: the policy
    decides again on what is true now. One that comes later waits for this lock and then
    finds (and ends) the session recorded here.
    """
    if outcome.device is None or outcome.decision == Decision.BLOCK:
        return outcome
    row = Device.objects.select_for_update().filter(pk=outcome.device.pk).first()
    if row is None:
        return outcome  # pruned meanwhile: nothing to withdraw
    withdrawn = row.is_blocked or (
        outcome.decision == Decision.ALLOW and outcome.device.is_verified and not row.is_verified
    )
    if not withdrawn:
        return outcome
    verdict = get_policy().decide(
        LoginFacts(
            user=user,
            token_present=True,
            device_verified=row.is_verified,
            device_blocked=row.is_blocked,
        )
    )
    check = outcome.check
    check.decision, check.reason = verdict.decision, verdict.reason
    check.challenge_result = (
        ChallengeResult.PENDING if verdict.decision == Decision.CHALLENGE else ""
    )
    check.save(update_fields=["decision", "reason", "challenge_result"])
    return CheckOutcome(verdict.decision, verdict.reason, row, check)


def _replace_pending(request: HttpRequest, user: Any) -> None:
    """A login() over a pending sign-in (the API's login stays open while pending) ends it:
    given up, and its owner told when the new login is someone else's."""
    mark = read_mark(request.session)
    if mark is None or not mark.pending:
        return
    if mark.auth.get(auth.SESSION_KEY) != str(user.pk):
        _notify_unconfirmed(request)
    _close(request, ChallengeResult.GIVEN_UP)


def _factor_from_login_form(user: Any) -> Any:
    """The factor django-otp's login form verified, if it is one the challenge would offer
    (not, say, a leftover email fallback beside a stronger factor)."""
    factor = getattr(user, "otp_device", None)
    if factor is None:
        return None
    offered = {device.persistent_id for device in challenge_devices(user)}
    return factor if factor.persistent_id in offered else None


# -- pending: waiting for the second factor ------------------------------------------------


def _hold(request: HttpRequest, *, device: int | None, check: int | None) -> None:
    """Make the session anonymous, keeping its auth keys in the pending mark."""
    hold_session(request.session, device=device, check=check)
    _set_user(request, AnonymousUser())


def hold_session(session: Any, *, device: int | None = None, check: int | None = None) -> None:
    """Move a signed-in session's auth keys into a pending mark (``rupt_guard.testing``)."""
    held = {key: str(session.pop(key)) for key in AUTH_KEYS if key in session}
    session.pop(django_otp.DEVICE_ID_SESSION_KEY, None)
    mark_pending(session, device=device, check=check, auth=held)


def step_up(request: HttpRequest) -> None:
    """Ask a signed-in session that never met the gate (older than rupt_guard, say) for a
    second factor: it becomes pending like any challenged sign-in."""
    if request.user.is_authenticated:
        _hold(request, device=None, check=None)


def hold_stray_keys(request: HttpRequest, mark: Mark) -> None:
    """Auth keys beside a pending mark: from before keys were held (a rolling deploy), or
    from a login() no receiver saw. Hold them; nobody is let through, nobody signed out.
    The keys of the checked sign-in, already held, are the ones kept."""
    session = request.session
    stray = {key: str(session.pop(key)) for key in AUTH_KEYS if key in session}
    if not mark.auth:
        hold_auth(session, stray)
    _set_user(request, AnonymousUser())


def end_revoked_session(request: HttpRequest) -> None:
    """A session whose tracking row a revocation deleted (while its key was changing)."""
    request.session.flush()
    _set_user(request, AnonymousUser())


def pending_user(request: HttpRequest) -> Any:
    """The user whose sign-in waits for a second factor in this session, or None.

    The one place that knows: the challenge (HTML and API), logout and "this wasn't me".
    Loaded like Django's ``get_user()``: by the backend that authenticated the user, and
    only while the password (its session hash) is the one that was checked.
    """
    session = getattr(request, "session", None)
    mark = read_mark(session) if session is not None else None
    if mark is None or not mark.pending or mark.expired():
        return None
    user_id = mark.auth.get(auth.SESSION_KEY)
    backend_path = mark.auth.get(auth.BACKEND_SESSION_KEY)
    if not user_id or backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    try:
        user_pk = auth.get_user_model()._meta.pk.to_python(user_id)
    except Exception:
        return None
    user = auth.load_backend(backend_path).get_user(user_pk)
    if user is None or not hasattr(user, "get_session_auth_hash"):
        return user
    if not constant_time_compare(
        mark.auth.get(auth.HASH_SESSION_KEY, ""), user.get_session_auth_hash()
    ):
        return None  # the password changed since it was checked
    return user


class CodeResult(enum.Enum):
    PASSED = "passed"  # the sign-in is complete
    REFUSED = "refused"  # wrong, throttled or locked: the form says why
    ENDED = "ended"  # the pending sign-in is over (expired, withdrawn): sign in again


def submit_code(request: HttpRequest, user: Any, form: Any) -> CodeResult:
    """Check the code in a bound ``ChallengeForm``; when it is right, the sign-in passes.

    Wrong codes count against the account, whichever factor, session or surface (HTML or
    API) they came from. Once the account's limit is reached, codes are refused unread
    until the window ends: django-otp never sees them, so the owner's factors are not
    throttled further by an attacker's guesses, and no session is touched.
    """
    rate = guard_settings.WRONG_CODE_RATE
    window = Window("wrong_codes", str(user.pk), rate) if rate is not None else None
    if window is not None and form.code_attempted:
        form.locked_for = window.wait()
    if form.is_valid():
        try:
            pass_challenge(request, user, user.otp_device)
        except NotPending:
            end(request, ChallengeResult.ENDED)
            return CodeResult.ENDED
        return CodeResult.PASSED
    if form.code_attempted and not form.locked_for:
        account_failures = window.hit()[0] if window is not None else 0
        session_failures = count_failed_code(request.session)
        # Guesses spread over many sign-ins warn the owner as surely as guesses in one.
        if max(account_failures, session_failures) >= guard_settings.FAILED_CODES_BEFORE_NOTICE:
            _notify_unconfirmed(request)
    return CodeResult.REFUSED


# -- passed --------------------------------------------------------------------------------


def pass_challenge(request: HttpRequest, user: Any, factor: Any) -> Device | None:
    """The second factor was verified: the sign-in completes, and its device is trusted.

    Raises :class:`NotPending` when there is nothing (left) to complete: the challenge
    expired, or was withdrawn (device blocked, sign-in reported) while the code was checked.
    """
    mark = read_mark(request.session)
    if mark is None or not mark.pending or mark.expired():
        raise NotPending
    if not mark.auth or mark.auth.get(auth.SESSION_KEY) != str(user.pk):
        raise NotPending
    return _complete(
        request,
        user,
        factor,
        mark.auth,
        device_pk=mark.device,
        check_pk=mark.check,
        tracked_key=mark.tracked_key,
    )


def _complete(
    request: HttpRequest,
    user: Any,
    factor: Any,
    auth_keys: dict[str, str],
    *,
    device_pk: int | None,
    check_pk: int | None,
    tracked_key: str | None = None,
) -> Device | None:
    session = request.session
    old_key = session.session_key
    method = method_for(factor)
    with transaction.atomic(using=_db()):
        # Under the device's row lock, a block or revocation either committed already (and
        # is seen here) or waits, and then finds the session recorded below.
        device = None
        if device_pk is not None:
            device = Device.objects.select_for_update().filter(pk=device_pk, user=user).first()
        if _withdrawn(device, check_pk, tracked_key):
            raise NotPending
        # Rupt says new_device only once: a first challenge given up and passed at a later
        # sign-in is still this device's first verification, and the owner hears of it.
        first_verification = device is not None and device.verified_at is None
        if device is not None:
            mark_verified(device, method, verified_with=factor.persistent_id)
        if check_pk is not None:
            _end_challenge(check_pk, ChallengeResult.PASSED)
        if old_key:
            DeviceSession.objects.filter(session_key=old_key).delete()
        # A new session key: whatever an attacker may have fixed before is worthless now.
        session.cycle_key()
        for name, value in auth_keys.items():
            session[name] = value
        mark_passed(session, device=_pk(device))
        remember_session(session, device, check_pk)
    rotate_token(request)
    _set_user(request, user)
    django_otp.login(request, factor)
    check = _sign_in_of(check_pk)
    if device is not None:
        signals.device_verified.send(
            sender=LoginCheck, user=user, device=device, method=method, request=request
        )
    signals.sign_in_completed.send(sender=LoginCheck, user=user, check=check, request=request)
    if check is not None and (check.new_device or first_verification):
        notify_new_device(request, check)
    return device


def _withdrawn(device: Device | None, check_pk: int | None, tracked_key: str | None) -> bool:
    """Was this pending sign-in withdrawn while it waited (or while its code was checked)?"""
    if device is not None and device.is_blocked:
        return True
    if (
        check_pk is not None
        and LoginCheck.objects.filter(pk=check_pk, reported_at__isnull=False).exists()
    ):
        return True  # "this wasn't me"
    # Its session row is gone: a revocation ended this session already.
    return bool(tracked_key) and not DeviceSession.objects.filter(session_key=tracked_key).exists()


# -- expired, given up ---------------------------------------------------------------------


def expire(request: HttpRequest) -> None:
    """The pending sign-in ran out of time: the owner hears of it, the session ends."""
    end(request, ChallengeResult.EXPIRED, tell_owner=True)


def end(request: HttpRequest, result: ChallengeResult, *, tell_owner: bool = False) -> None:
    """End the pending sign-in with ``result`` and its session with it."""
    if tell_owner:
        _notify_unconfirmed(request)
    _close(request, result)
    request.session.flush()
    _set_user(request, AnonymousUser())


def pending_user_or_end(request: HttpRequest) -> Any:
    """:func:`pending_user`, ending a pending sign-in that can no longer pass (the password
    changed, the account was deactivated or deleted): no loop between challenge and login."""
    user = pending_user(request)
    mark = read_mark(request.session) if user is None else None
    if mark is not None and mark.pending:
        end(request, ChallengeResult.EXPIRED if mark.expired() else ChallengeResult.ENDED)
    return user


def give_up(request: HttpRequest) -> None:
    """The pending sign-in was abandoned (signed out of the challenge)."""
    _notify_unconfirmed(request)
    _close(request, ChallengeResult.GIVEN_UP)


def _close(request: HttpRequest, result: ChallengeResult) -> None:
    mark = read_mark(request.session)
    if mark is not None and mark.pending and mark.check is not None:
        _end_challenge(mark.check, result)


def _end_challenge(check_pk: int, result: ChallengeResult) -> None:
    # Only a pending one: a result, once set, is never rewritten by a later request.
    LoginCheck.objects.filter(pk=check_pk, challenge_result=ChallengeResult.PENDING).update(
        challenge_result=result, challenge_ended_at=timezone.now()
    )


def _notify_unconfirmed(request: HttpRequest) -> None:
    """The password was right but the challenge failed or was given up: tell the owner once."""
    mark = read_mark(request.session)
    if mark is None or not mark.pending or mark.check is None:
        return
    if not claim_notice(request.session):
        return
    check = _sign_in_of(mark.check)
    if check is not None:
        notify_unconfirmed_sign_in(request, check)


# -- helpers -------------------------------------------------------------------------------


def _set_user(request: HttpRequest, user: Any) -> None:
    """What ``request.user`` and ``await request.auser()`` answer for the rest of this request."""
    request.user = user
    if hasattr(request, "auser"):
        request._acached_user = user  # the cache AuthenticationMiddleware's auser() reads


def _sign_in_of(check_pk: int | None) -> LoginCheck | None:
    """The login check of a sign-in, with what its emails show."""
    if check_pk is None:
        return None
    return LoginCheck.objects.filter(pk=check_pk).select_related("user", "device").first()


def _pk(device: Device | None) -> int | None:
    return device.pk if device is not None else None
