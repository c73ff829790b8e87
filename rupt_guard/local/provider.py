"""The local provider: Rupt's semantics, answered from this site's own database.

A development and self-hosting stand-in that recognises a browser profile; it is not a
fingerprinting service. Needs ``"rupt_guard.local"`` in ``INSTALLED_APPS``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, router, transaction
from django.urls import reverse
from django.utils import timezone

from rupt_guard.conf import SettingDoc
from rupt_guard.local.models import LocalDevice, LocalDeviceAccount, LocalIdentification
from rupt_guard.providers.base import (
    Identification,
    IdentificationProvider,
    MetadataFields,
    ProviderHTTPError,
    TokenRejected,
    validate_token,
)


class LocalProvider(IdentificationProvider):
    #: Its options and their defaults; each is described in ``option_docs``.
    options: ClassVar[Mapping[str, Any]] = {
        "LOCAL_TOKEN_TTL": 300,
        "LOCAL_PROVIDER_IN_PRODUCTION": False,
    }
    option_docs: ClassVar[Mapping[str, SettingDoc]] = {
        "LOCAL_TOKEN_TTL": SettingDoc(
            "int (seconds)",
            ("Seconds a local identification token stays valid (a whole number, at least 1)."),
        ),
        "LOCAL_PROVIDER_IN_PRODUCTION": SettingDoc(
            "bool",
            (
                "Silence the warning for the local provider with `DEBUG = False` "
                "(`rupt_guard.W005`)."
            ),
        ),
    }

    def sdk_url(self) -> str:
        return reverse("rupt_guard:local_sdk")

    @property
    def token_ttl(self) -> int:
        return int(self.settings["LOCAL_TOKEN_TTL"])

    @classmethod
    def validate(cls, options: dict[str, Any]) -> dict[str, Any]:
        ttl = options["LOCAL_TOKEN_TTL"]
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
            raise ImproperlyConfigured(
                "The local provider's LOCAL_TOKEN_TTL must be a whole number of at least 1."
            )
        return options

    @classmethod
    def check(cls, options: dict[str, Any]) -> list[CheckMessage]:
        messages: list[CheckMessage] = []
        if not apps.is_installed("rupt_guard.local"):
            messages.append(
                Error(
                    "PROVIDER is 'local' but 'rupt_guard.local' is not in INSTALLED_APPS.",
                    hint="Add 'rupt_guard.local' after 'rupt_guard' and run migrate.",
                    id="rupt_guard.E007",
                )
            )
        if not settings.DEBUG and not options["LOCAL_PROVIDER_IN_PRODUCTION"]:
            messages.append(
                Warning(
                    "The local identification provider is in use with DEBUG = False. It "
                    "recognises a browser profile by a stored secret; it is not Rupt.",
                    hint="Use PROVIDER 'rupt' in production, or set "
                    "LOCAL_PROVIDER_IN_PRODUCTION = True if you mean it.",
                    id="rupt_guard.W005",
                )
            )
        return messages

    @classmethod
    def describe(cls, options: dict[str, Any]) -> list[tuple[str, str]]:
        return [("token lifetime", f"{options['LOCAL_TOKEN_TTL']} s")]

    def complete(self, token: str, account: str) -> Identification:
        token = validate_token(token)
        try:
            uuid.UUID(token)
        except ValueError:
            # Our own tokens are UUIDs; any other shape was never issued here.
            raise TokenRejected("identification unknown", status=404) from None
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
        with transaction.atomic(using=router.db_for_write(LocalDevice)):
            device = LocalDevice.objects.select_for_update().filter(device_id=device_id).first()
            if device is None:
                raise ProviderHTTPError("unknown device", status=404)
            device.metadata = {**device.metadata, **{k: list(v) for k, v in fields.items()}}
            device.save(update_fields=["metadata"])

    def erase_account(self, device_id: str, account: str, fields: MetadataFields) -> None:
        # The local provider's records are this site's own rows: the device's metadata
        # without this account's entries, and every pair and token completed for it.
        with transaction.atomic(using=router.db_for_write(LocalDevice)):
            device = LocalDevice.objects.select_for_update().filter(device_id=device_id).first()
            if device is not None:
                device.metadata = {**device.metadata, **{k: list(v) for k, v in fields.items()}}
                device.save(update_fields=["metadata"])
            LocalDeviceAccount.objects.filter(account=account).delete()
            LocalIdentification.objects.filter(account=account).delete()
            # A browser profile no account uses any more is nobody's to keep.
            if device is not None and not device.accounts.exists():
                LocalIdentification.objects.filter(device_id=device_id).delete()
                device.delete()

    @staticmethod
    def _meet(device_id: str, account: str):  # type: ignore[no-untyped-def]
        device, _ = LocalDevice.objects.get_or_create(device_id=device_id)
        try:
            with transaction.atomic(using=router.db_for_write(LocalDeviceAccount)):
                LocalDeviceAccount.objects.create(device=device, account=account)
        except IntegrityError:
            return device, False  # this account met this device before
        return device, True
