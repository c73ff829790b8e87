"""``IsDeviceVerified``: a site's own API views refuse a session that has not passed the gate."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import SESSION_KEY as SESSION_USER_KEY
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from rupt_guard.conf import guard_settings
from rupt_guard.gate.mark import read_mark
from rupt_guard.gate.middleware import challenge_url


class ChallengeRequired(PermissionDenied):
    default_detail = _("A second factor is required before this session can be used.")
    default_code = "challenge_required"

    def __init__(self) -> None:
        super().__init__(
            {
                "detail": self.default_detail,
                "code": self.default_code,
                "challenge_url": challenge_url(),
            }
        )


class IsDeviceVerified(BasePermission):
    """Authenticated, and signed in through the gate.

    A session must carry the "passed" mark, and the user must be the session's own: the
    mark says nothing about credentials sent alongside it (HTTP Basic with someone else's
    cookie). A token (``request.auth``) is trusted only from the authentication classes in
    ``RUPT_GUARD["TOKEN_AUTHENTICATION_CLASSES"]``: the site declares that it issues those
    tokens after the gate (from ``LOGIN_RESPONSE``) and nowhere else.
    """

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        authenticator = request.successful_authenticator
        if request.auth is not None:
            trusted = tuple(guard_settings.TOKEN_AUTHENTICATION_CLASSES)
            if trusted and isinstance(authenticator, trusted):
                return True
            raise ChallengeRequired()
        if not isinstance(authenticator, SessionAuthentication):
            raise ChallengeRequired()  # e.g. a password alone (HTTP Basic)
        session = request.session
        mark = read_mark(session)
        if mark is None or mark.pending or session.get(SESSION_USER_KEY) != str(user.pk):
            raise ChallengeRequired()
        return True
