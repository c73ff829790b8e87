"""The app config: wires the receivers, system checks and log filters when Django is ready."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RuptGuardConfig(AppConfig):
    name = "rupt_guard"
    verbose_name = _("Login device checks")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.apps import apps
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_in, user_logged_out
        from django.db.models.signals import post_save, pre_delete
        from django_otp.forms import otp_verification_failed

        from rupt_guard import checks  # noqa: F401  (registers the system checks)
        from rupt_guard.gate.receivers import (
            on_factors_changed,
            on_factors_reset,
            on_otp_verification_failed,
            on_user_deleted,
            on_user_logged_in,
            on_user_logged_out,
            on_user_saved,
        )
        from rupt_guard.providers import logs
        from rupt_guard.signals import factors_changed, factors_reset

        user_logged_in.connect(on_user_logged_in, dispatch_uid="rupt_guard_user_logged_in")
        user_logged_out.connect(on_user_logged_out, dispatch_uid="rupt_guard_user_logged_out")
        post_save.connect(
            on_user_saved, sender=get_user_model(), dispatch_uid="rupt_guard_user_saved"
        )
        pre_delete.connect(
            on_user_deleted, sender=get_user_model(), dispatch_uid="rupt_guard_user_deleted"
        )
        otp_verification_failed.connect(
            on_otp_verification_failed, dispatch_uid="rupt_guard_otp_verification_failed"
        )
        factors_reset.connect(on_factors_reset, dispatch_uid="rupt_guard_factors_reset")
        factors_changed.connect(on_factors_changed, dispatch_uid="rupt_guard_factors_changed")
        logs.install()

        if apps.is_installed("django.contrib.admin"):
            from django.contrib import admin

            # The admin login goes through the same gate: its form gets the identify tag.
            if admin.site.login_template is None:
                admin.site.login_template = "rupt_guard/admin/login.html"
