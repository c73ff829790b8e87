"""The core works without Django REST framework: the REST API is the ``api`` extra.

Each test runs a small site in a fresh interpreter whose import system refuses
``rest_framework`` and ``drf_spectacular``, as on a site that never installed them (the
packages stay installed for the rest of the suite). The site checks, migrates and signs a
user in through a challenge; mounting the API there is a clear ``ImproperlyConfigured``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SETTINGS = """
import os

SECRET_KEY = "without-drf-tests-only"
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True
ROOT_URLCONF = os.environ["SITE_URLCONF"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "site.sqlite3"}}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": os.path.abspath("cache"),
    }
}
SILENCED_SYSTEM_CHECKS = ["rupt_guard.W014"]  # one process: file increments suffice
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp.plugins.otp_email",
    "rupt_guard",
]
MIDDLEWARE = [
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
        "DIRS": [os.environ["SITE_TEMPLATES"]],
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
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/private/"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
RUPT_GUARD = {
    "CLIENT_ID": "test-client",
    "API_SECRET": "sk_test_secret_never_logged",
    "API_BASE_URL": os.environ["FAKE_RUPT_URL"],
    "TIMEOUT": 2.0,
    "SITE_URL": "https://site.example",
}
"""

URLS = """
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import include, path


@login_required
def private(request):
    return HttpResponse(f"private page of {request.user.get_username()}")


urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("private/", private, name="private"),
    path("rupt-guard/", include("rupt_guard.urls")),
]
"""

URLS_WITH_API = URLS + 'urlpatterns.append(path("api/", include("rupt_guard.api.urls")))\n'

# Runs in the child: refuse DRF, start the fake Rupt, set Django up, then run the scenario.
PRELUDE = """
import importlib.abc, os, re, sys


class WithoutDRF(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {"rest_framework", "drf_spectacular"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, WithoutDRF())
from rupt_guard.testing.fake_rupt import start_fake_rupt

fake, server = start_fake_rupt()
os.environ["FAKE_RUPT_URL"] = fake.url
import django

django.setup()
from django.core.management import call_command
"""

SIGN_IN = """
call_command("check")
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.test.utils import setup_test_environment

setup_test_environment()
get_user_model().objects.create_user("alice", "alice@example.com", "a long password 2026")
client = Client()
answer = client.post(
    "/accounts/login/",
    {
        "username": "alice",
        "password": "a long password 2026",
        "rupt_identification": fake.identify(),
    },
)
print("login ->", answer.status_code, answer["Location"])
# Pending: not signed in yet, so the page it goes to sends it to the challenge.
pending = client.get(answer["Location"])
challenge = pending["Location"]
print("pending ->", pending.status_code, challenge)
page = client.get(challenge)
assert page.status_code == 200, page.status_code
(email,) = [d for d in page.context["devices"] if "email" in d.persistent_id]
code = re.search(r"\\b(\\d{6})\\b", mail.outbox[-1].body).group(1)
answer = client.post(challenge, {"otp_device": email.persistent_id, "otp_token": code})
print("code ->", answer.status_code, answer["Location"])
private = client.get("/private/")
print("private ->", private.status_code, private.content.decode())
print("DRF imported:", sorted(m for m in sys.modules if m.startswith("rest_framework")))
"""


# rupt_guard.allauth beside django-allauth, wired as docs/allauth.md says.
ALLAUTH = """
INSTALLED_APPS += ["allauth", "allauth.account", "allauth.mfa", "rupt_guard.allauth"]
MIDDLEWARE += ["allauth.account.middleware.AccountMiddleware"]
ACCOUNT_ADAPTER = "rupt_guard.allauth.adapter.AccountAdapter"
ACCOUNT_FORMS = {"login": "rupt_guard.allauth.forms.LoginForm"}
"""

CHECK = """
call_command("check")
print("DRF imported:", sorted(m for m in sys.modules if m.startswith("rest_framework")))
"""


def run_site(
    tmp_path: Path, urls: str, scenario: str, settings: str = SETTINGS
) -> subprocess.CompletedProcess[str]:
    site = tmp_path / "site"
    (site / "registration").mkdir(parents=True, exist_ok=True)
    (site / "site_settings.py").write_text(settings)
    (site / "site_urls.py").write_text(urls)
    (site / "registration" / "login.html").write_text("{{ form }}")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "site_settings",
        "SITE_URLCONF": "site_urls",
        "SITE_TEMPLATES": str(site),
    }
    script = textwrap.dedent(PRELUDE) + textwrap.dedent(scenario)
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=site,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_site_without_drf_checks_and_signs_in_through_a_challenge(tmp_path):
    result = run_site(tmp_path, URLS, SIGN_IN)

    assert result.returncode == 0, result.stderr
    assert "login -> 302 /private/" in result.stdout
    assert "pending -> 302 /rupt-guard/challenge/?next=%2Fprivate%2F" in result.stdout
    assert "code -> 302 /private/" in result.stdout
    assert "private -> 200 private page of alice" in result.stdout
    assert "DRF imported: []" in result.stdout


def test_mounting_the_api_without_drf_says_to_install_the_api_extra(tmp_path):
    result = run_site(tmp_path, URLS_WITH_API, 'call_command("check")\n')

    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: rupt_guard.api")
    assert 'pip install "rupt-guard[api]"' in last_line
    assert "No module named 'rest_framework'" in result.stderr  # the cause, chained


def test_the_allauth_stages_and_the_testing_kit_need_no_drf(tmp_path):
    scenario = "import rupt_guard.testing.plugin, rupt_guard.allauth.stages\n" + CHECK
    result = run_site(tmp_path, URLS, scenario, SETTINGS + ALLAUTH)

    assert result.returncode == 0, result.stderr
    assert "DRF imported: []" in result.stdout


def test_allauth_headless_without_drf_is_a_system_check_error(tmp_path):
    headless = SETTINGS + ALLAUTH + 'INSTALLED_APPS += ["allauth.headless"]\n'
    result = run_site(tmp_path, URLS, CHECK, headless)

    assert result.returncode != 0
    assert "SystemCheckError" in result.stderr
    assert "(rupt_guard.E015) allauth.headless is installed" in result.stderr
    assert 'pip install "rupt-guard[api]"' in result.stderr
