"""The gate: a session with a pending challenge reaches the challenge view and nothing else.

A pending session is already anonymous (the lifecycle holds its auth keys back), so what
the gate adds is the way forward: every view sends it to the challenge. It reads only the
session mark, so an ordinary request costs no database query. It runs in ``process_view``
because the way out is by view (``pending_allowed``) or URL name, known only after resolving.

It is sync and async capable, like Django's own middleware: on an async stack (ASGI, with
async-capable middleware below it) an ordinary request runs on the event loop with no
thread hop of its own. Only the rare steps that write to the database (following a rotated
session key, ending a revoked or expired sign-in) go to a worker thread, when they happen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib import auth, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils.translation import gettext as _

from rupt_guard.conf import guard_settings
from rupt_guard.gate import lifecycle, sign_in
from rupt_guard.gate.mark import Mark, aread_mark, read_mark
from rupt_guard.gate.tracking import follow_new_session_key

CHALLENGE_URL_NAME = "rupt_guard:challenge"
# What a pending session needs to finish (or restart) its sign-in, whatever the settings.
ALWAYS_OPEN = {
    CHALLENGE_URL_NAME,
    "rupt_guard_api:login",
    "rupt_guard_api:challenge-send",
    "rupt_guard_api:challenge-verify",
}


PENDING_ALLOWED_ATTRIBUTE = "rupt_guard_pending_allowed"
ViewFunc = TypeVar("ViewFunc", bound=Callable[..., Any])


def pending_allowed(view: ViewFunc) -> ViewFunc:
    """Let a session with a pending challenge reach this view (like ``login_not_required``).

    The view still sees an anonymous user; ``rupt_guard.gate.lifecycle.pending_user(request)``
    who is waiting. For pages a signed-out visitor may see anyway (help, terms, a logout of
    your own); a class-based view takes it on ``as_view()``'s result.
    """
    setattr(view, PENDING_ALLOWED_ATTRIBUTE, True)
    return view


def wants_json(request: HttpRequest, view_func: Any = None) -> bool:
    accept = request.headers.get("Accept", "")
    return (
        _is_api_view(view_func)
        or request.content_type == "application/json"
        or request.headers.get("X-Requested-With") == "XMLHttpRequest"
        or ("application/json" in accept and "text/html" not in accept)
    )


def _is_api_view(view_func: Any) -> bool:
    """A Django REST framework view: its clients expect JSON, not a redirect to a page."""
    view_class = getattr(view_func, "cls", None)
    return view_class is not None and hasattr(view_class, "permission_classes")


def challenge_url(next_url: str | None = None) -> str:
    url = reverse(CHALLENGE_URL_NAME)
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def _serves_files(view_func: Any) -> bool:
    """Django's own static and media file views (by view, not by path: a site's protected
    download view may live under MEDIA_URL too)."""
    from django.contrib.staticfiles.views import serve as serve_static
    from django.views.static import serve as serve_media

    return view_func in (serve_static, serve_media)


def _rotated_from(session: Any, mark: Mark) -> str | None:
    """The key the session was tracked under, if its key changed since the sign-in."""
    current_key = session.session_key
    if mark.tracked_key and current_key and mark.tracked_key != current_key:
        return mark.tracked_key
    return None


class RuptGuardMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
            # Django adapts process_view to the handler's mode: on an async stack a plain
            # method would be sent to a worker thread on every request.
            self.process_view = self.aprocess_view  # type: ignore[method-assign,assignment]

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        session = getattr(request, "session", None)
        mark = read_mark(session) if session is not None else None
        if (
            session is not None
            and mark is not None
            and mark.pending
            and auth.SESSION_KEY in session
        ):
            # A pending session never has auth keys in place. These came from before keys
            # were held (a rolling deploy) or from a login() that no receiver saw: hold
            # them now, before any later middleware or view reads request.user.
            lifecycle.hold_stray_keys(request, mark)
        response = self.get_response(request)
        sign_in.warn_if_password_unused(request)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        mark = await aread_mark(session) if session is not None else None
        if (
            session is not None
            and mark is not None
            and mark.pending
            and auth.SESSION_KEY in session
        ):
            # As in __call__. No thread needed: the session is loaded, this only moves keys.
            lifecycle.hold_stray_keys(request, mark)
        response: HttpResponse = await self.get_response(request)
        sign_in.warn_if_password_unused(request)
        return response

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        session = getattr(request, "session", None)
        mark = read_mark(session) if session is not None else None
        if session is None or mark is None:
            return None
        # Only when the key rotated since the sign-in: one UPDATE, then never again.
        old_key = _rotated_from(session, mark)
        if old_key and not follow_new_session_key(session, old_key):
            # Its row was deleted under the old key: a revocation ended this session.
            lifecycle.end_revoked_session(request)
            return self._to_login(request, view_func)
        if not mark.pending:
            return None
        # Expiry first: the challenge itself must not stay open past CHALLENGE_TIMEOUT.
        if mark.expired():
            lifecycle.expire(request)
            return self._expired(request, view_func)
        return self._while_pending(request, view_func)

    async def aprocess_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        """:meth:`process_view` on an async stack: the same steps, in the same order; only
        those that touch the database run in a thread."""
        session = getattr(request, "session", None)
        mark = await aread_mark(session) if session is not None else None
        if session is None or mark is None:
            return None
        old_key = _rotated_from(session, mark)
        if old_key and not await sync_to_async(follow_new_session_key)(session, old_key):
            await sync_to_async(lifecycle.end_revoked_session)(request)
            return self._to_login(request, view_func)
        if not mark.pending:
            return None
        if mark.expired():
            await sync_to_async(lifecycle.expire)(request)
            return self._expired(request, view_func)
        return self._while_pending(request, view_func)

    def _while_pending(self, request: HttpRequest, view_func: Any) -> HttpResponse | None:
        if self._always_open(request, view_func):
            return None
        return self._to_challenge(request, view_func)

    @staticmethod
    def _always_open(request: HttpRequest, view_func: Any) -> bool:
        match = request.resolver_match
        name = match.view_name if match is not None else ""
        if name in ALWAYS_OPEN or name in guard_settings.PENDING_ALLOWED_URL_NAMES:
            return True
        if getattr(view_func, PENDING_ALLOWED_ATTRIBUTE, False):
            return True
        return _serves_files(view_func)

    @staticmethod
    def _to_challenge(request: HttpRequest, view_func: Any) -> HttpResponse:
        if wants_json(request, view_func):
            return JsonResponse(
                {
                    "detail": _("A second factor is required before this session can be used."),
                    "code": "challenge_required",
                    "challenge_url": challenge_url(),
                },
                status=403,
            )
        next_url = request.get_full_path() if request.method in ("GET", "HEAD") else None
        response = HttpResponse(status=302)
        response["Location"] = challenge_url(next_url)
        return response

    @staticmethod
    def _to_login(request: HttpRequest, view_func: Any) -> HttpResponse:
        if wants_json(request, view_func):
            message = _("This session has ended. Please sign in again.")
            return JsonResponse({"detail": message, "code": "session_ended"}, status=401)
        return HttpResponseRedirect(resolve_url(settings.LOGIN_URL))

    @staticmethod
    def _expired(request: HttpRequest, view_func: Any) -> HttpResponse:
        message = _("The sign-in was not confirmed in time. Please sign in again.")
        if wants_json(request, view_func):
            return JsonResponse({"detail": message, "code": "challenge_expired"}, status=401)
        messages.info(request, message, fail_silently=True)
        response = HttpResponse(status=302)
        response["Location"] = resolve_url(settings.LOGIN_URL)
        return response
