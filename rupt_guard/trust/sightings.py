"""Sightings: each (user, device) the provider identified, created or refreshed race-safely."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, router, transaction
from django.utils import timezone

from rupt_guard.client import ClientInfo
from rupt_guard.models import Device
from rupt_guard.trust.user_agents import label_for

LABEL_LENGTH = Device._meta.get_field("label").max_length


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
