"""The system checks of the django-allauth wiring: what `manage.py check` tells a site."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.core import checks

from rupt_guard.allauth.adapter import RuptGuardAdapterMixin


class SiteAdapter(RuptGuardAdapterMixin, DefaultAccountAdapter):
    """A site's own adapter, with the mixin first."""


def ids() -> set[str]:
    return {message.id for message in checks.run_checks(tags=[checks.Tags.security])}


def test_the_recipes_wiring_passes(rupt_server):
    assert not {"rupt_guard.W018", "rupt_guard.W019"} & ids()


def test_allauths_own_adapter_lacks_our_stages(rupt_server, settings):
    settings.ACCOUNT_ADAPTER = "allauth.account.adapter.DefaultAccountAdapter"
    assert "rupt_guard.W018" in ids()


def test_a_sites_adapter_with_the_mixin_has_them(rupt_server, settings):
    settings.ACCOUNT_ADAPTER = "tests.with_allauth.test_allauth_checks.SiteAdapter"
    assert "rupt_guard.W018" not in ids()


def test_allauths_own_login_form_lacks_the_script(rupt_server, settings):
    settings.ACCOUNT_FORMS = {}
    assert "rupt_guard.W019" in ids()
