"""The audit trail of trust: every change to a device's trust or a user's factors."""

from __future__ import annotations

from typing import Any

from rupt_guard.choices import TrustAction
from rupt_guard.models import Device, TrustEvent


def record(
    user: Any,
    action: TrustAction,
    *,
    by: Any = None,
    device: Device | None = None,
    label: str = "",
    reason: str = "",
) -> TrustEvent:
    """One ``TrustEvent``; call it inside the transaction of the change it records, so a
    change and its record are kept or lost together."""
    actor = by if getattr(by, "pk", None) is not None else None
    return TrustEvent.objects.create(
        user=user,
        action=action,
        actor=actor,
        actor_name=actor.get_username()[:150] if actor is not None else "",
        device=device,
        device_label=(label or (str(device) if device is not None else ""))[:150],
        reason=reason,
    )
