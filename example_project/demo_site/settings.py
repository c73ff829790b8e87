"""The demo site: SQLite, console email, the local provider unless Rupt keys are given.

Environment:
  RUPT_CLIENT_ID, RUPT_API_SECRET  use the real Rupt instead of the local provider
  RUPT_GUARD_<KEY>                 any RUPT_GUARD key, e.g. RUPT_GUARD_ON_NEW_DEVICE=allow
                                   (JSON values: RUPT_GUARD_TIMEOUT=0.5)
  DEMO_DB                          the SQLite file (default example_project/db.sqlite3)
  DEMO_EMAIL_DIR                   write emails as files there instead of to the console
"""

import json
import os
from pathlib import Path

from rupt_guard.conf import DEFAULTS

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
USE_TZ = True
ROOT_URLCONF = "demo_site.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "demo_site",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp.plugins.otp_email",
    "rupt_guard",
    "rupt_guard.local",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "rupt_guard.middleware.RuptGuardMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

AUTHENTICATION_BACKENDS = ["rupt_guard.backends.RuptGuardBackend"]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_DB", BASE_DIR / "db.sqlite3"),
    }
}

STATIC_URL = "/static/"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "private"
LOGOUT_REDIRECT_URL = "home"

DEFAULT_FROM_EMAIL = "demo@localhost"
# The name an authenticator app shows beside the account (django-otp's setting).
OTP_TOTP_ISSUER = "rupt_guard demo"
if os.environ.get("DEMO_EMAIL_DIR"):
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = os.environ["DEMO_EMAIL_DIR"]
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"


def _guard_settings() -> dict:
    settings = {"PROVIDER": "local"}
    if os.environ.get("RUPT_CLIENT_ID") and os.environ.get("RUPT_API_SECRET"):
        settings = {
            "PROVIDER": "rupt",
            "CLIENT_ID": os.environ["RUPT_CLIENT_ID"],
            "API_SECRET": os.environ["RUPT_API_SECRET"],
        }
    for key in DEFAULTS:
        value = os.environ.get(f"RUPT_GUARD_{key}")
        if value is not None:
            try:
                settings[key] = json.loads(value)  # numbers, true/false, null, lists
            except ValueError:
                settings[key] = value
    return settings


RUPT_GUARD = _guard_settings()
