"""Which sessions a sign-in opened, so that revoking its device can end them.

Rows are keyed by session key; the mark remembers the key its row uses, so a session whose
key rotates (a password change) is followed, once, at its next request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone

from rupt_guard.gate.mark import note_tracked_key
from rupt_guard.models import Device, DeviceSession, LoginCheck
from rupt_guard.trust.sightings import concrete_field


def _key_to_track(session: Any) -> str | None:
    if settings.SESSION_ENGINE.endswith(".signed_cookies"):
        return None  # the cookie is the session: nothing server-side to end (rupt_guard.E011)
    if getattr(session, "session_key", None) is None and hasattr(session, "save"):
        # login() over another user's session flushed it: give it its key now.
        session.save()
    return getattr(session, "session_key", None) or None


def remember_session_if_current(
    session: Any,
    device: Device,
    check: LoginCheck,
    *,
    still_verified: bool,
    then: Callable[[], None],
) -> bool | None:
    """Link the session to ``device`` in one statement, if the device is still unblocked
    (and, with ``still_verified``, still verified) under its row lock.

    True when linked (or nothing needs linking), and ``then`` (which writes the session's
    mark) has run; False when a block or revocation came first; None when this database
    cannot say it in one statement: then the caller takes the locked read-then-write path.
    A withdrawal that comes later waits for the row lock and then finds the link, exactly
    as on that path.
    """
    db = router.db_for_write(DeviceSession)
    connection = connections[db]
    if connection.vendor not in {"postgresql", "sqlite"}:
        return None
    key = _key_to_track(session)
    if key is None:
        then()
        return True
    quote = connection.ops.quote_name
    link, table = DeviceSession._meta, Device._meta
    columns = [
        concrete_field(link, name).column
        for name in ("device", "sign_in", "session_key", "created_at", "expires_at")
    ]
    verified = f" AND {quote(concrete_field(table, 'verified_at').column)} IS NOT NULL"
    # SQLite has no row locks: its one writer at a time gives the same order.
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    sql = (
        f"INSERT INTO {quote(link.db_table)} ({', '.join(map(quote, columns))}) "  # noqa: S608
        f"SELECT {quote(table.pk.column)}, %s, %s, %s, %s FROM {quote(table.db_table)} "
        f"WHERE {quote(table.pk.column)} = %s "
        f"AND {quote(concrete_field(table, 'blocked_at').column)} IS NULL"
        f"{verified if still_verified else ''}{lock} "
        f"ON CONFLICT ({quote(columns[2])}) DO UPDATE SET "
        + ", ".join(
            f"{quote(c)} = EXCLUDED.{quote(c)}" for c in (columns[0], columns[1], columns[4])
        )
    )
    moment = concrete_field(link, "created_at")
    params = [
        check.pk,
        key,
        moment.get_db_prep_save(timezone.now(), connection),
        moment.get_db_prep_save(session.get_expiry_date(), connection),
        device.pk,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        linked: bool = cursor.rowcount == 1
    if linked:
        then()
        note_tracked_key(session, key)
    return linked


def remember_session(
    session: Any, device: Device | None, check: LoginCheck | int | None = None
) -> None:
    """Note which device (and sign-in) this session came from, so that it can be ended."""
    if device is None and check is None:
        return
    key = _key_to_track(session)
    if key is None:
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
