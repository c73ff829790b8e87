"""The Django app a site adds beside django-allauth (``"rupt_guard.allauth"``)."""

from __future__ import annotations

from django.apps import AppConfig, apps
from django.utils.translation import gettext_lazy as _


class RuptGuardAllauthConfig(AppConfig):
    name = "rupt_guard.allauth"
    label = "rupt_guard_allauth"
    verbose_name = _("rupt_guard for django-allauth")

    def ready(self) -> None:
        from rupt_guard.allauth import checks  # noqa: F401  (registers the system checks)
        from rupt_guard.trust.factors import register_factor_source

        if apps.is_installed("allauth.mfa"):
            from rupt_guard.allauth.factors import authenticator_factors

            # allauth.mfa's TOTP and recovery codes become factors of the challenge.
            register_factor_source(authenticator_factors)
