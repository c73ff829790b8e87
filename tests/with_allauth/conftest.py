"""Fixtures of the django-allauth site: allauth's backend checks passwords for ours."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings


@pytest.fixture(autouse=True)
def _allauth_password_backend(rupt_server, guard_settings_override):
    guard_settings_override(PASSWORD_BACKEND=django_settings.ALLAUTH_PASSWORD_BACKEND)
