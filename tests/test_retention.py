"""Retention that runs itself (PRUNE_AFTER_SIGN_IN), and what the admin says is kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from rupt_guard.choices import CheckSource, Decision, Reason
from rupt_guard.models import Device, LoginCheck
from rupt_guard.testing import login_verified

pytestmark = pytest.mark.django_db


def old_rows(user, days=400):
    long_ago = timezone.now() - timedelta(days=days)
    device = Device.objects.create(user=user, external_id="old", last_seen_at=long_ago)
    check = LoginCheck.objects.create(
        user=user,
        device=device,
        created_at=long_ago,
        source=CheckSource.FORM,
        decision=Decision.ALLOW,
        reason=Reason.VERIFIED_DEVICE,
    )
    return device, check


def test_a_sign_in_prunes_once_an_hour_when_asked(user, login, guard_settings_override):
    guard_settings_override(PRUNE_AFTER_SIGN_IN=True)
    device, check = old_rows(user)
    login(device="today")
    assert not Device.objects.filter(pk=device.pk).exists()
    assert not LoginCheck.objects.filter(pk=check.pk).exists()
    # Within the hour (any worker: the shared cache), a sign-in prunes nothing more.
    device, check = old_rows(user)
    login(device="today")
    assert Device.objects.filter(pk=device.pk).exists()


def test_off_by_default(user, login):
    device, _ = old_rows(user)
    login(device="today")
    assert Device.objects.filter(pk=device.pk).exists()


def test_the_admin_says_what_is_kept(client, user, guard_settings_override):
    from django.contrib.auth import get_user_model

    old_rows(user, days=30)
    root = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    login_verified(client, root)
    page = client.get("/admin/rupt_guard/logincheck/").content.decode()
    assert "Login checks: 180 days." in page and "Oldest kept:" in page
    assert "run it from cron, or set PRUNE_AFTER_SIGN_IN" in page
    guard_settings_override(PRUNE_AFTER_SIGN_IN=True, LOGIN_CHECK_RETENTION_DAYS=None)
    page = client.get("/admin/rupt_guard/logincheck/").content.decode()
    assert "kept for ever" in page and "Applied after sign-ins" in page
