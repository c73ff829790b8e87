"""System checks of the django-allauth wiring (registered by ``rupt_guard.allauth``)."""

from __future__ import annotations

import importlib
from typing import Any

from django.apps import apps
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string

from rupt_guard.allauth.adapter import CHECK_STAGE, GATE_STAGE


@register(Tags.security)
def check_allauth(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from allauth.account import app_settings as account_settings
    from allauth.account.adapter import get_adapter

    from rupt_guard.allauth.forms import IdentifyFormMixin

    messages: list[CheckMessage] = []
    stages = get_adapter().get_login_stages()
    if CHECK_STAGE not in stages or GATE_STAGE not in stages:
        messages.append(
            Warning(
                "rupt_guard's login stages are not among django-allauth's: a challenged "
                'sign-in is still held (at login()), but allauth says "Successfully signed '
                'in" over it and its MFA does not count as the second factor.',
                hint="ACCOUNT_ADAPTER = 'rupt_guard.allauth.adapter.AccountAdapter', or "
                "RuptGuardAdapterMixin first in your adapter's bases.",
                id="rupt_guard.W018",
            )
        )
    login_form = account_settings.FORMS.get("login")
    form_class = import_string(login_form) if isinstance(login_form, str) else login_form
    if form_class is None or not issubclass(form_class, IdentifyFormMixin):
        messages.append(
            Warning(
                "django-allauth's login form has no identify script: every password "
                "sign-in comes without a token, and ON_MISSING_TOKEN decides it.",
                hint="ACCOUNT_FORMS = {'login': 'rupt_guard.allauth.forms.LoginForm'}, or "
                "IdentifyFormMixin first in your login form's bases.",
                id="rupt_guard.W019",
            )
        )
    if apps.is_installed("allauth.headless") and not _has_rest_framework():
        messages.append(
            Error(
                "allauth.headless is installed, and a headless sign-in rupt_guard challenges "
                "is completed through rupt_guard's REST API, which needs Django REST "
                "framework: it is not installed, so that sign-in could not be held.",
                hint='Install the api extra (pip install "rupt-guard[api]") and mount '
                'include("rupt_guard.api.urls"), or remove allauth.headless.',
                id="rupt_guard.E015",
            )
        )
    return messages


def _has_rest_framework() -> bool:
    """Imported, not looked up: the same answer as rupt_guard.api's own import gets."""
    try:
        importlib.import_module("rest_framework")
    except ImportError:
        return False
    return True
