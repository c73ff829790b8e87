"""The local provider: Rupt's semantics, answered from this site's own database.

A development and self-hosting stand-in that recognises a browser profile; it is not a
fingerprinting service. Needs ``"rupt_guard.local"`` in ``INSTALLED_APPS``.
"""

from __future__ import annotations

import uuid

from django.db import IntegrityError, router, transaction
from django.urls import reverse
from django.utils import timezone

from rupt_guard.providers.base import (
    Identification,
    IdentificationProvider,
    MetadataFields,
    ProviderHTTPError,
    TokenRejected,
    validate_token,
)


class LocalProvider(IdentificationProvider):
    def sdk_url(self) -> str:
        return reverse("rupt_guard:local_sdk")

    def complete(self, token: str, account: str) -> Identification:
        from rupt_guard.local.models import LocalIdentification

        token = validate_token(token)
        now = timezone.now()
        # Single use: only the first completion flips completed_at; reuse (for this or
        # any other account) and expired tokens find no row to update.
        claimed = LocalIdentification.objects.filter(
            token=token, completed_at__isnull=True, expires_at__gt=now
        ).update(completed_at=now, account=account[:256])
        if claimed != 1:
            raise TokenRejected("identification unknown, expired or already used", status=404)
        identification = LocalIdentification.objects.get(token=token)
        device, new_device = self._meet(identification.device_id, account)
        return Identification(
            device_id=device.device_id,
            access_id=uuid.UUID(token).hex[:24],
            new_device=new_device,
            metadata_fields={k: list(v) for k, v in device.metadata.items()},
        )

    def update_metadata(self, device_id: str, fields: MetadataFields) -> None:
        from rupt_guard.local.models import LocalDevice

        with transaction.atomic(using=router.db_for_write(LocalDevice)):
            device = LocalDevice.objects.select_for_update().filter(device_id=device_id).first()
            if device is None:
                raise ProviderHTTPError("unknown device", status=404)
            device.metadata = {**device.metadata, **{k: list(v) for k, v in fields.items()}}
            device.save(update_fields=["metadata"])

    @staticmethod
    def _meet(device_id: str, account: str):  # type: ignore[no-untyped-def]
        from rupt_guard.local.models import LocalDevice, LocalDeviceAccount

        device, _ = LocalDevice.objects.get_or_create(device_id=device_id)
        try:
            with transaction.atomic(using=router.db_for_write(LocalDeviceAccount)):
                LocalDeviceAccount.objects.create(device=device, account=account)
        except IntegrityError:
            return device, False  # this account met this device before
        return device, True
