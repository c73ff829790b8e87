"""Settings of the benchmark site: the same project plain or guarded.

Chosen by the environment, so that every process of one variant (the in-process workers,
gunicorn, ``manage.py``) runs the very same configuration:

- ``RUPT_BENCH_VARIANT``: ``plain`` (Django's ModelBackend, no rupt_guard or django-otp at
  all) or ``guarded`` (rupt_guard wired as its README says: the core configuration, no DRF
  views or passkeys).
- ``RUPT_BENCH_DB``: ``postgres`` (database ``RUPT_BENCH_PGDATABASE``) or ``sqlite`` (file
  ``RUPT_BENCH_SQLITE``).
- ``RUPT_BENCH_HASHER``: ``md5`` (exposes rupt_guard's own cost) or ``default`` (Django's).
- ``RUPT_BENCH_RUPT_URL``: the fake Rupt's address.
"""

from __future__ import annotations

import os
from pathlib import Path

VARIANT = os.environ.get("RUPT_BENCH_VARIANT", "guarded")
GUARDED = VARIANT == "guarded"
assert VARIANT in ("plain", "guarded"), VARIANT  # noqa: S101 - a typo must not pass as plain

SECRET_KEY = "rupt-guard-benchmark-only"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "benchmarks.site.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
WSGI_APPLICATION = "benchmarks.site.wsgi.application"

if os.environ.get("RUPT_BENCH_DB", "postgres") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("RUPT_BENCH_PGDATABASE", "rupt_guard_bench"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("RUPT_BENCH_SQLITE", "/tmp/rupt_guard_bench.sqlite3"),  # noqa: S108
        }
    }

# The shared cache production needs (rupt_guard.E009): Redis, database 13 as agreed for
# this machine. Plain Django never touches it; both variants carry it so they differ only
# by rupt_guard.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("RUPT_BENCH_REDIS", "redis://127.0.0.1:6379/13"),
    }
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]

if GUARDED:
    INSTALLED_APPS += [
        "django_otp",
        "django_otp.plugins.otp_totp",
        "django_otp.plugins.otp_static",
        "django_otp.plugins.otp_email",
        "rupt_guard",
    ]
    at = MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1
    MIDDLEWARE[at:at] = [
        "django_otp.middleware.OTPMiddleware",
        "rupt_guard.middleware.RuptGuardMiddleware",
    ]
    AUTHENTICATION_BACKENDS = ["rupt_guard.backends.RuptGuardBackend"]

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/hello/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [Path(__file__).resolve().parent / "templates"],
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

STATIC_URL = "/static/"
# Codes and notices are sent and dropped: the benchmark times the sign-in, not a mailbox.
EMAIL_BACKEND = "benchmarks.site.mail.BuildAndDropBackend"
DEFAULT_FROM_EMAIL = "bench@example.com"

if os.environ.get("RUPT_BENCH_HASHER", "md5") == "md5":
    # Fast and insecure: it shrinks the password check so that rupt_guard's cost shows.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

RUPT_GUARD = {
    "PROVIDER": {
        "BACKEND": "rupt",
        "OPTIONS": {
            "CLIENT_ID": "bench-client",
            "API_SECRET": "sk_test_secret_never_logged",  # rupt_guard.testing.fake_rupt's
            "API_BASE_URL": os.environ.get("RUPT_BENCH_RUPT_URL", "http://127.0.0.1:9"),
        },
    },
    "SITE_URL": "http://127.0.0.1",
    # Every benchmark client signs in from 127.0.0.1, hundreds of times a minute: the
    # per-address limit (100 an hour) would refuse nearly all of them. Off, and said so in
    # the README; the limits' cost is four cache calls a sign-in (see "What it costs").
    "SIGN_IN_RATES": {"account": None, "address": None},
}

# The webhook is not benchmarked; its "not configured" notice would only fill the output.
SILENCED_SYSTEM_CHECKS = ["rupt_guard.I001"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    # Warnings and worse only: a log line per sign-in would time the terminal.
    "root": {"handlers": ["console"], "level": "WARNING"},
}
