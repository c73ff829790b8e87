"""The sign-in lifecycle: checked -> pending -> passed / expired / given up, or blocked.

The backend, the ``user_logged_in`` receiver, the HTML challenge, the REST API and the gate
call these functions, and only these, to move a sign-in along (django-allauth's internal
flows are the model), so the HTML and JSON surfaces cannot drift apart.

A pending sign-in is not signed in: its Django auth keys wait inside the pending mark, so
every view, middleware, template, error page and API authentication class sees an anonymous
session. Only :func:`pending_user` knows who is waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import django_otp
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AnonymousUser
from django.db import router, transaction
from django.http import HttpRequest
from django.middleware.csrf import rotate_token
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from rupt_guard import signals
from rupt_guard.choices import ChallengeResult, Decision
from rupt_guard.gate import sign_in
from rupt_guard.gate.check import CheckOutcome
from rupt_guard.gate.expiry import tell_owner
from rupt_guard.gate.limits import Limited, wrong_code_window
from rupt_guard.gate.mark import (
    Mark,
    hold_auth,
    mark_passed,
    mark_pending,
    read_mark,
)
from rupt_guard.gate.notifications import notify_new_device
from rupt_guard.gate.tracking import remember_session, remember_session_if_current
from rupt_guard.models import Device, DeviceSession, LoginCheck
from rupt_guard.risk.policy import LoginFacts, get_policy
from rupt_guard.trust.factors import challenge_devices, method_for
from rupt_guard.trust.verification import mark_verified

logger = logging.getLogger(__name__)

AUTH_KEYS = (auth.SESSION_KEY, auth.BACKEND_SESSION_KEY, auth.HASH_SESSION_KEY)

_verified_by_caller: ContextVar[bool] = ContextVar("rupt_guard_verified", default=False)


class NotPending(Exception):
    """The session has no pending sign-in of this user (expired, passed, or none)."""


def _db() -> str:
    return router.db_for_write(Device)


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
    earlier = sign_in.login_followed(request, user)
    if _verified_by_caller.get():
        mark_passed(request.session, device=None)
        return
    try:
        outcome = earlier or sign_in.check_unchecked_login(request, user)
    except Limited as exc:
        sign_in.tell_limited(request, exc, by_message=True)
        auth.logout(request)
        return
    _replace_pending(request, user)
    # A factor verified earlier in this sign-in (django-allauth's MFA stage), else one
    # django-otp's login form verified with the password.
    factor = sign_in.verified_factor(request, user) or _factor_from_login_form(user)
    if not _linked_at_once(request, outcome, factor):
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
        # django-otp's own login form (OTPAuthenticationForm, OTPAdminSite) or allauth's
        # MFA stage verified a factor already: that was the second factor, not a reason
        # to ask again.
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


def _linked_at_once(request: HttpRequest, outcome: CheckOutcome, factor: Any) -> bool:
    """The common case in one statement: the session linked to a device nobody blocked or
    revoked since the check. False sends the sign-in down ``_confirm_under_lock``."""
    device = outcome.device
    if device is None or outcome.decision == Decision.BLOCK:
        return False
    if outcome.decision == Decision.CHALLENGE and factor is not None:
        return False

    def mark() -> None:
        if outcome.decision == Decision.ALLOW:
            mark_passed(request.session, device=device.pk)
        else:
            _hold(request, device=device.pk, check=outcome.check.pk)

    return bool(
        remember_session_if_current(
            request.session,
            device,
            outcome.check,
            still_verified=outcome.decision == Decision.ALLOW and device.is_verified,
            then=mark,
        )
    )


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
        notify_unconfirmed(request)
    _close(request, ChallengeResult.GIVEN_UP)


def _factor_from_login_form(user: Any) -> Any:
    """The factor django-otp's login form verified, if it is one the challenge would offer
    (not, say, a leftover email fallback beside a stronger factor)."""
    factor = getattr(user, "otp_device", None)
    if factor is None:
        return None
    window = wrong_code_window(user)
    if window is not None and window.wait():
        return None  # the account's wrong-code limit holds here too: the challenge decides
    offered = {device.persistent_id for device in challenge_devices(user)}
    return factor if factor.persistent_id in offered else None


# -- pending: waiting for the second factor ------------------------------------------------


def _hold(request: HttpRequest, *, device: int | None, check: int | None) -> None:
    """Make the session anonymous, keeping its auth keys in the pending mark."""
    hold_session(request.session, device=device, check=check)
    _set_user(request, AnonymousUser())


def hold_session(session: Any, *, device: int | None = None, check: int | None = None) -> None:
    """Move a signed-in session's auth keys into a pending mark (``rupt_guard.testing``)."""
    held = _take_auth_keys(session)
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
    stray = _take_auth_keys(session)
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


# -- passed --------------------------------------------------------------------------------


def pass_challenge(
    request: HttpRequest, user: Any, factor: Any, *, trust_browser: bool = True
) -> Device | None:
    """The second factor was verified: the sign-in completes, and its device is trusted.

    ``trust_browser=False`` ("Trust this browser" unticked, a shared computer): the session
    passes, but the device stays unverified, nothing is pushed to the provider and no
    first-verification email goes out; its next sign-in follows ``ON_UNVERIFIED_DEVICE``.

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
        trust_browser=trust_browser,
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
    trust_browser: bool = True,
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
        trusted = device is not None and trust_browser
        first_verification = trusted and device is not None and device.verified_at is None
        if trusted and device is not None:
            mark_verified(device, method, verified_with=factor.persistent_id)
        # Claimed while still pending: a challenge the sweep closed as expired (its owner
        # told "we did not let them in"), or ended otherwise, cannot pass after all.
        if check_pk is not None and not _end_challenge(
            check_pk, ChallengeResult.PASSED, trusted_browser=trust_browser
        ):
            raise NotPending
        if old_key:
            DeviceSession.objects.filter(session_key=old_key).delete()
        # A new session key: whatever an attacker may have fixed before is worthless now.
        session.cycle_key()
        for name, value in auth_keys.items():
            session[name] = value
        mark_passed(session, device=_pk(device), factor=True)
        remember_session(session, device, check_pk)
    rotate_token(request)
    _set_user(request, user)
    django_otp.login(request, factor)
    check = _sign_in_of(check_pk)
    if trusted:
        signals.device_verified.send(
            sender=LoginCheck, user=user, device=device, method=method, request=request
        )
    signals.sign_in_completed.send(sender=LoginCheck, user=user, check=check, request=request)
    if trusted and check is not None and (check.new_device or first_verification):
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
        notify_unconfirmed(request)
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
    """The pending sign-in was abandoned (signed out of the challenge). Its owner is not
    emailed: signing out is what the owner does on a computer they did not mean to trust.
    Wrong codes and an expiry are what tell of someone else."""
    _close(request, ChallengeResult.GIVEN_UP)


def _close(request: HttpRequest, result: ChallengeResult) -> None:
    mark = read_mark(request.session)
    if mark is not None and mark.pending and mark.check is not None:
        _end_challenge(mark.check, result)


def _end_challenge(check_pk: int, result: ChallengeResult, **fields: Any) -> bool:
    """Set the result of a pending challenge; False when it was no longer pending (a
    result, once set, is never rewritten by a later request)."""
    return bool(
        LoginCheck.objects.filter(pk=check_pk, challenge_result=ChallengeResult.PENDING).update(
            challenge_result=result, challenge_ended_at=timezone.now(), **fields
        )
    )


def notify_unconfirmed(request: HttpRequest) -> None:
    """The password was right but the challenge failed (wrong codes, expired): tell the
    owner, once per sign-in whichever path gets here first (``expiry.tell_owner``)."""
    mark = read_mark(request.session)
    if mark is None or not mark.pending or mark.check is None:
        return
    tell_owner(mark.check)


# -- helpers -------------------------------------------------------------------------------


def _take_auth_keys(session: Any) -> dict[str, str]:
    """Remove Django's auth keys from the session and return them."""
    return {key: str(session.pop(key)) for key in AUTH_KEYS if key in session}


def _set_user(request: HttpRequest, user: Any) -> None:
    """What ``request.user`` and ``await request.auser()`` answer for the rest of this request."""
    request.user = user
    if hasattr(request, "auser"):
        # Django 5.2's auser() reads this cache (a private name, not in the stubs); Django 6
        # replaces auser itself in login() and alogin(), so both are set.
        request._acached_user = user  # type: ignore[attr-defined]

        async def auser() -> Any:
            return user

        request.auser = auser


def _sign_in_of(check_pk: int | None) -> LoginCheck | None:
    """The login check of a sign-in, with what its emails show."""
    if check_pk is None:
        return None
    return LoginCheck.objects.filter(pk=check_pk).select_related("user", "device").first()


def _pk(device: Device | None) -> int | None:
    return device.pk if device is not None else None
