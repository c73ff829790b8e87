"""Settings for the test suite. ``RUPT_GUARD_TEST_DB=postgres`` runs it on PostgreSQL.

The site is wired like a real one (DRF with its default authentication, authtoken,
flatpages with the fallback middleware, a 404 page and a middleware that show the user):
a pending sign-in must look anonymous to every one of them (tests/test_security_model.py).
"""

import atexit
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "rupt-guard-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if os.environ.get("RUPT_GUARD_TEST_DB") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            # One name per Python version: tox may run them side by side.
            "NAME": os.environ.get(
                "PGDATABASE", f"rupt_guard_py{sys.version_info[0]}{sys.version_info[1]}"
            ),
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
        }
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}


def _redis_answers(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# A cache every worker shares, as production needs (rupt_guard.E009 refuses a per-process
# one): Redis as sites run it when it answers (CI starts it), else files on this machine.
if os.environ.get("RUPT_GUARD_REQUIRE_REDIS") == "1" or _redis_answers():
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            # Not database 0: each test clears the cache, which flushes the whole database.
            "LOCATION": os.environ.get("RUPT_GUARD_TEST_REDIS", "redis://127.0.0.1:6379/9"),
        }
    }
else:
    _CACHE_DIR = tempfile.mkdtemp(prefix="rupt-guard-test-cache-")
    atexit.register(shutil.rmtree, _CACHE_DIR, ignore_errors=True)
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": _CACHE_DIR,
        }
    }
    # Its increments are not atomic (rupt_guard.W014): fine for one test process.
    SILENCED_SYSTEM_CHECKS = ["rupt_guard.W014"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.flatpages",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp.plugins.otp_email",
    "django_otp_webauthn",
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
    # A site's own middleware reading request.user (an audit header).
    "tests.realistic_site.SiteUserMiddleware",
    # Last, as Django's docs say: it renders a flat page in place of any 404.
    "django.contrib.flatpages.middleware.FlatpageFallbackMiddleware",
]
SITE_ID = 1

AUTHENTICATION_BACKENDS = ["rupt_guard.backends.RuptGuardBackend"]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/private/"
LOGOUT_REDIRECT_URL = "/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tests.realistic_site.site_user",
            ]
        },
    }
]

STATIC_URL = "/static/"
MEDIA_URL = "/media/"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast tests only

RUPT_GUARD = {
    "CLIENT_ID": "test-client",
    "API_SECRET": "sk_test_secret_never_logged",
    # Nothing listens here: a test that forgets the fake Rupt server fails loudly.
    "API_BASE_URL": "http://127.0.0.1:9",
}

# DRF's default authentication classes (Session, then Basic) apply: no override.
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {"TITLE": "rupt_guard test site", "VERSION": "1"}

# Passkeys (django-otp-webauthn): never passwordless here, the password comes first and the
# passkey is the second factor of rupt_guard's challenge. The browser tests override the
# origin with their live server's (WebAuthn needs localhost or https).
OTP_WEBAUTHN_RP_ID = "localhost"
OTP_WEBAUTHN_RP_NAME = "rupt_guard tests"
OTP_WEBAUTHN_ALLOWED_ORIGINS = ["http://localhost"]
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
