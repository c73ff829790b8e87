"""Storage of sightings and checks: the only module that writes Device and LoginCheck rows."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, router, transaction
from django.http import HttpRequest
from django.utils import timezone

from rupt_guard.client import client_ip
from rupt_guard.models import Device, LoginCheck, UsedIdentification
from rupt_guard.trust.user_agents import label_for

USER_AGENT_LENGTH = LoginCheck._meta.get_field("user_agent").max_length
LABEL_LENGTH = Device._meta.get_field("label").max_length


@dataclass(frozen=True)
class ClientInfo:
    """Where a sign-in came from, cleaned so that no browser input can fail a write."""

    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request: HttpRequest | None) -> ClientInfo:
        if request is None:
            return cls()
        return cls(
            ip=client_ip(request),
            user_agent=clean_user_agent(request.META.get("HTTP_USER_AGENT")),
        )


def clean_user_agent(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    # NUL bytes are refused by PostgreSQL text columns.
    return value.replace("\x00", "")[:USER_AGENT_LENGTH]


def record_sighting(
    user: Any,
    external_id: str,
    *,
    client: ClientInfo,
    metadata: dict[str, list[str]] | None = None,
) -> tuple[Device, bool]:
    """Create or refresh the (user, device) row; return it and whether it was created.

    Safe under concurrent logins: when two sign-ins from one new device race, the
    unique constraint lets one INSERT win and the other falls back to the winner's row.
    """
    now = timezone.now()
    fields = {
        "last_seen_at": now,
        "last_ip": client.ip,
        "last_user_agent": client.user_agent,
    }
    if metadata is not None:
        fields["metadata"] = metadata
    device = Device.objects.filter(user=user, external_id=external_id).first()
    # A row that rupt_guard_prune deleted since the SELECT updates nothing: create it anew.
    if device is not None and Device.objects.filter(pk=device.pk).update(**fields):
        return _refreshed(device, fields), False
    try:
        with transaction.atomic(using=router.db_for_write(Device)):
            device = Device.objects.create(
                user=user,
                external_id=external_id,
                first_seen_at=now,
                label=label_for(client.user_agent)[:LABEL_LENGTH],
                **fields,
            )
        return device, True
    except IntegrityError:
        # Another sign-in created it between our SELECT and INSERT.
        device = Device.objects.get(user=user, external_id=external_id)
    Device.objects.filter(pk=device.pk).update(**fields)
    return _refreshed(device, fields), False


def _refreshed(device: Device, fields: dict[str, Any]) -> Device:
    for name, value in fields.items():
        setattr(device, name, value)
    return device


def claim_token(token: str) -> bool:
    """Note that ``token`` was presented; False when it had been presented before."""
    digest = hashlib.sha256(token.lower().encode()).hexdigest()
    try:
        with transaction.atomic(using=router.db_for_write(UsedIdentification)):
            UsedIdentification.objects.create(token_digest=digest)
    except IntegrityError:
        return False
    return True


def record_check(**fields: Any) -> LoginCheck:
    """Write one audit row. ``fields`` are LoginCheck field values."""
    return LoginCheck.objects.create(**fields)
