"""The base-template contract: a site that replaces rupt_guard/base.html with its own layout
keeps rupt_guard's stylesheet, messages and the way back to the site."""

from __future__ import annotations

import pytest

from rupt_guard.gate.mark import SESSION_KEY

pytestmark = pytest.mark.django_db

SITE_BASE = """<!doctype html><html><head><title>{% block title %}{% endblock %} | Acme</title>
</head><body><nav>Acme nav</nav><div id="acme-content">{% block content %}{% endblock %}</div>
</body></html>"""
OVERRIDE = '{% extends "acme/base.html" %}'


@pytest.fixture
def site_layout(tmp_path, settings):
    (tmp_path / "acme").mkdir()
    (tmp_path / "acme" / "base.html").write_text(SITE_BASE)
    (tmp_path / "rupt_guard").mkdir()
    (tmp_path / "rupt_guard" / "base.html").write_text(OVERRIDE)
    engine = dict(settings.TEMPLATES[0])
    engine["DIRS"] = [tmp_path, *engine.get("DIRS", [])]
    settings.TEMPLATES = [engine, *settings.TEMPLATES[1:]]


def test_a_site_layout_keeps_our_stylesheet_messages_and_way_home(
    client, user, login, site_layout, guard_settings_override
):
    guard_settings_override(HOME_URL="/private/")
    login(device="new")
    assert client.session[SESSION_KEY]["state"] == "pending"
    page = client.get("/rupt-guard/challenge/").content.decode()
    assert "Acme nav" in page and "| Acme</title>" in page
    content = page[page.index('id="acme-content"') :]
    assert "rupt_guard/rupt_guard.css" in content  # inside the site's content block
    assert 'class="rupt-guard-card"' in content
    assert 'href="/private/">Back to the site' in content


def test_messages_show_inside_a_site_layout(client, user, site_layout):
    from rupt_guard.models import Device
    from rupt_guard.testing import login_verified

    device = Device.objects.create(user=user, external_id="laptop")
    login_verified(client, user)
    response = client.post(
        f"/rupt-guard/devices/{device.pk}/rename/", {f"d{device.pk}-label": "Work"}, follow=True
    )
    page = response.content.decode()
    content = page[page.index('id="acme-content"') :]
    assert "Device renamed." in content


def test_home_url_none_hides_the_link(client, user, login, guard_settings_override):
    guard_settings_override(HOME_URL=None)
    login(device="new")
    assert "Back to the site" not in client.get("/rupt-guard/challenge/").content.decode()
    guard_settings_override(HOME_URL="/")
    assert "Back to the site" in client.get("/rupt-guard/challenge/").content.decode()
