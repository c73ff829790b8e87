"""Which sessions a sign-in opened, so that revoking its device can end them.

Rows are keyed by session key; the mark remembers the key its row uses, so a session whose
key rotates (a password change) is followed, once, at its next request.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import IntegrityError, router, transaction

from rupt_guard.gate.mark import note_tracked_key
from rupt_guard.models import Device, DeviceSession, LoginCheck


def remember_session(
    session: Any, device: Device | None, check: LoginCheck | int | None = None
) -> None:
    """Note which device (and sign-in) this session came from, so that it can be ended."""
    if device is None and check is None:
        return
    if settings.SESSION_ENGINE.endswith(".signed_cookies"):
        return  # the cookie is the session: nothing server-side to end (rupt_guard.E011)
    if getattr(session, "session_key", None) is None and hasattr(session, "save"):
        # login() over another user's session flushed it: give it its key now.
        session.save()
    key = getattr(session, "session_key", None)
    if not key:
        return  # e.g. signed-cookie sessions: nothing server-side to end later
    fields = {
        "device": device,
        "sign_in_id": check.pk if isinstance(check, LoginCheck) else check,
        "expires_at": session.get_expiry_date(),
    }
    # login() and the challenge both hand out a fresh key, so this is an INSERT; the
    # update is only for a key seen before (a site that logs a session in twice).
    try:
        with transaction.atomic(using=router.db_for_write(DeviceSession)):
            DeviceSession.objects.create(session_key=key, **fields)
    except IntegrityError:
        DeviceSession.objects.filter(session_key=key).update(**fields)
    note_tracked_key(session, key)


def follow_new_session_key(session: Any, old_key: str) -> bool:
    """The session changed key (e.g. update_session_auth_hash): keep it revocable.

    False when no row was left under the old key: a revocation ended the session while its
    key was changing, and it must end now rather than be tracked afresh.
    """
    moved = DeviceSession.objects.filter(session_key=old_key).update(
        session_key=session.session_key
    )
    if moved:
        note_tracked_key(session, session.session_key)
    return bool(moved)
