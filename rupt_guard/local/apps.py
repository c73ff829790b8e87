"""The local identification provider's app: its models, SDK and token endpoint."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LocalProviderConfig(AppConfig):
    name = "rupt_guard.local"
    label = "rupt_guard_local"
    verbose_name = _("Local identification provider")
    default_auto_field = "django.db.models.BigAutoField"
