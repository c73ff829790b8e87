"""What the local provider remembers: devices, which accounts met them, and tokens."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class LocalDevice(models.Model):
    """A browser profile, known by a server-side digest of its secret."""

    device_id = models.CharField(_("device id"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    metadata = models.JSONField(_("metadata fields"), default=dict, blank=True)

    class Meta:
        verbose_name = _("local device")

    def __str__(self) -> str:
        return self.device_id


class LocalDeviceAccount(models.Model):
    """An account this device has been completed for: ``new_device`` is false from then on."""

    device = models.ForeignKey(LocalDevice, on_delete=models.CASCADE, related_name="accounts")
    account = models.CharField(_("account"), max_length=256)
    first_seen_at = models.DateTimeField(_("first seen"), default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["device", "account"], name="rupt_guard_local_device_account"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account} @ {self.device_id}"


class LocalIdentification(models.Model):
    """A short-lived, single-use token the browser got for its device."""

    token = models.UUIDField(_("token"), unique=True)
    device_id = models.CharField(_("device id"), max_length=64)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), db_index=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    account = models.CharField(_("completed for account"), max_length=256, blank=True)

    def __str__(self) -> str:
        return str(self.token)
