from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RuptGuardConfig(AppConfig):
    name = "rupt_guard"
    verbose_name = _("Login device checks")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
