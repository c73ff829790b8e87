"""A realistic django-allauth site on top of the suite's settings: allauth, allauth.account,
allauth.mfa and rupt_guard.allauth, wired as docs/allauth.md says.

    DJANGO_SETTINGS_MODULE=tests.with_allauth.settings pytest tests/with_allauth
"""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, MIDDLEWARE

INSTALLED_APPS = [
    *INSTALLED_APPS,
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.headless",
    "rupt_guard.allauth",
]
MIDDLEWARE = [*MIDDLEWARE, "allauth.account.middleware.AccountMiddleware"]
ROOT_URLCONF = "tests.with_allauth.urls"
LOGIN_URL = "/accounts/login/"

ACCOUNT_ADAPTER = "rupt_guard.allauth.adapter.AccountAdapter"
ACCOUNT_FORMS = {"login": "rupt_guard.allauth.forms.LoginForm"}
ACCOUNT_EMAIL_VERIFICATION = "optional"
HEADLESS_FRONTEND_URLS = {"account_signup": "/signup/"}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TRUST_ENABLED = True  # allauth's "trust this browser" after its MFA stage

# allauth's backend checks the password for ours (README: PASSWORD_BACKEND); the fixtures
# of tests/with_allauth/conftest.py add it to each test's RUPT_GUARD.
ALLAUTH_PASSWORD_BACKEND = "allauth.account.auth_backends.AuthenticationBackend"
