from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RuptGuardConfig(AppConfig):
    name = "rupt_guard"
    verbose_name = _("Login device checks")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.apps import apps
        from django.contrib.auth.signals import user_logged_in

        from . import checks  # noqa: F401  (registers the system checks)
        from .receivers import on_user_logged_in

        user_logged_in.connect(on_user_logged_in, dispatch_uid="rupt_guard_user_logged_in")

        if apps.is_installed("django.contrib.admin"):
            from django.contrib import admin

            # The admin login goes through the same gate: its form gets the identify tag.
            if admin.site.login_template is None:
                admin.site.login_template = "rupt_guard/admin/login.html"
