"""Export and erasure of a user's personal data: exactly their rows out, none of them left."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.admin.sites import site as admin_site
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import serializers
from django.core.management import call_command
from django.test import RequestFactory
from django.utils import timezone

from rupt_guard.admin_actions import export_users_data
from rupt_guard.choices import CheckSource, Decision, Reason, TrustAction
from rupt_guard.local.models import LocalDevice, LocalDeviceAccount, LocalIdentification
from rupt_guard.models import Device, DeviceSession, LoginCheck, PendingErasure, TrustEvent
from rupt_guard.testing import login_verified
from rupt_guard.trust.personal_data import erase, export_for

PASSWORD = "correct horse battery staple"
IP = "203.0.113.77"
AGENT = "Erin-Browser/1.0 (unique-agent-marker)"


def make_user(username: str, email: str = ""):
    # No email and no factor: a fresh sign-in counts as the step-up (gate.reauth).
    return get_user_model().objects.create_user(username, email, PASSWORD)


def give_rows(user, device_id: str, *, verified: bool = True) -> Device:
    now = timezone.now()
    device = Device.objects.create(
        user=user,
        external_id=device_id,
        label=f"{user.username}'s laptop",
        last_ip=IP if user.username == "erin" else "198.51.100.9",
        last_user_agent=AGENT if user.username == "erin" else "Other/1.0",
        verified_at=now - timedelta(days=1) if verified else None,
        metadata={"2fa_verified": [f"{user.pk}:2026-11-24T10:00:00Z"]},
    )
    check = LoginCheck.objects.create(
        user=user,
        device=device,
        source=CheckSource.FORM,
        decision=Decision.ALLOW,
        reason=Reason.values[0],
        ip=device.last_ip,
        user_agent=device.last_user_agent,
    )
    # A sign-in with no usable token: its session is found through its check only.
    tokenless = LoginCheck.objects.create(
        user=user,
        source=CheckSource.FORM,
        decision=Decision.CHALLENGE,
        reason=Reason.values[0],
        ip=device.last_ip,
    )
    DeviceSession.objects.create(
        device=device,
        sign_in=check,
        session_key=f"{user.username}-session-key-{device_id}-1",
        expires_at=now + timedelta(days=1),
    )
    DeviceSession.objects.create(
        sign_in=tokenless,
        session_key=f"{user.username}-session-key-{device_id}-2",
        expires_at=now + timedelta(days=1),
    )
    TrustEvent.objects.create(
        user=user, action=TrustAction.DEVICE_VERIFIED, device=device, device_label=device.label
    )
    return device


@pytest.fixture
def erin(db):
    return make_user("erin")


@pytest.fixture
def frank(db):
    return make_user("frank")


def test_export_holds_exactly_the_users_rows(erin, frank):
    erin_device = give_rows(erin, "erin-device-0001")
    give_rows(frank, "frank-device-0001")
    data = json.loads(json.dumps(export_for(erin)))  # JSON-serialisable as it is

    assert [d["external_id"] for d in data["devices"]] == ["erin-device-0001"]
    assert data["devices"][0]["last_ip"] == IP
    assert data["devices"][0]["last_user_agent"] == AGENT
    assert {c["id"] for c in data["login_checks"]} == set(
        LoginCheck.objects.filter(user=erin).values_list("pk", flat=True)
    )
    assert {c["device"] for c in data["login_checks"]} == {erin_device.pk, None}
    assert [e["action"] for e in data["trust_events"]] == [TrustAction.DEVICE_VERIFIED]
    assert data["sessions"] == 2
    assert data["factors"] == []
    assert data["account"] == {"username": "erin", "account_id": str(erin.pk)}
    assert "frank" not in json.dumps(data)


def test_security_page_download_needs_a_step_up_and_gives_the_users_json(client, erin, frank):
    give_rows(erin, "erin-device-0002")
    give_rows(frank, "frank-device-0002")
    # Erin has an email code (a factor to step up with): a plain session must step up first.
    erin.email = "erin@example.com"
    erin.save()
    login_verified(client, erin)
    response = client.get("/rupt-guard/security/data/")
    assert response.status_code == 302
    assert "/security/confirm/" in response["Location"]

    erin.email = ""
    erin.save()  # no factor left: the fresh sign-in counts as the step-up
    response = client.get("/rupt-guard/security/data/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    data = json.loads(response.content)
    assert [d["external_id"] for d in data["devices"]] == ["erin-device-0002"]

    page = client.get("/rupt-guard/security/")
    assert b"/rupt-guard/security/data/" in page.content


def test_api_export_is_the_callers_and_needs_a_session_step_up(client, erin, frank):
    give_rows(erin, "erin-device-0003")
    give_rows(frank, "frank-device-0003")
    response = client.get("/api/rupt-guard/personal-data/")
    assert response.status_code in (401, 403)

    login_verified(client, erin)
    response = client.get("/api/rupt-guard/personal-data/")
    assert response.status_code == 200
    data = response.json()
    assert [d["external_id"] for d in data["devices"]] == ["erin-device-0003"]
    assert len(data["login_checks"]) == 2

    erin.email = "erin@example.com"
    erin.save()  # now she has a factor, and this session never verified it
    response = client.get("/api/rupt-guard/personal-data/")
    assert response.status_code == 403
    assert response.json()["code"] == "step_up_required"


def test_admin_action_exports_the_selected_users(erin, frank, db):
    give_rows(erin, "erin-device-0004")
    give_rows(frank, "frank-device-0004")
    staff = get_user_model().objects.create_user("staff", "", PASSWORD, is_staff=True)
    request = RequestFactory().post("/admin/auth/user/")
    request.user = staff
    user_admin = admin_site._registry[get_user_model()]
    queryset = get_user_model().objects.filter(pk=erin.pk)

    refused = _run_action(user_admin, request, queryset)
    assert refused is None

    staff.user_permissions.add(Permission.objects.get(codename="change_device"))
    request.user = get_user_model().objects.get(pk=staff.pk)  # a fresh permission cache
    response = _run_action(user_admin, request, queryset)
    data = json.loads(response.content)
    assert [u["account"]["username"] for u in data["users"]] == ["erin"]
    assert [d["external_id"] for d in data["users"][0]["devices"]] == ["erin-device-0004"]


def _run_action(user_admin, request, queryset):
    user_admin.message_user = lambda *args, **kwargs: None
    return export_users_data(user_admin, request, queryset)


def assert_nothing_of(user, account: str, device_ids: list[str]) -> None:
    """Scan every row of every model of rupt_guard and rupt_guard.local."""
    user_model = get_user_model()
    markers = [IP, AGENT, *device_ids, f"{user.username}-session-key"]
    models = [
        model
        for app in ("rupt_guard", "rupt_guard_local")
        for model in apps.get_app_config(app).get_models()
        if model._meta.managed  # an unmanaged model (the admin's Dashboard) has no table
    ]
    assert PendingErasure in models and LocalDeviceAccount in models
    for model in models:
        user_fields = [
            f
            for f in model._meta.concrete_fields
            if f.is_relation and f.related_model is user_model
        ]
        for field in user_fields:
            hits = model.objects.filter(**{field.attname: user.pk})
            assert not hits.exists(), f"{model.__name__}.{field.name} still names the user"
        for obj in model.objects.all():
            text = serializers.serialize("json", [obj])
            for marker in markers:
                assert marker not in text, f"{model.__name__} row {obj.pk} holds {marker!r}"
            for name in ("account", "account_id"):
                if hasattr(obj, name):
                    assert getattr(obj, name) != account, f"{model.__name__}.{name}"
            # A device's metadata is shared: another account's entries stay, never theirs.
            for entries in getattr(obj, "metadata", {}).values():
                assert not any(e.startswith(f"{account}:") for e in entries), model.__name__


def local_records(user, device_id: str) -> None:
    local = LocalDevice.objects.create(
        device_id=device_id, metadata={"2fa_verified": [f"{user.pk}:2026-11-24T10:00:00Z"]}
    )
    LocalDeviceAccount.objects.create(device=local, account=str(user.pk))
    LocalIdentification.objects.create(
        token="6f1c9d1e-5d7a-4b8e-9b1a-0c2d3e4f5a6b",
        device_id=device_id,
        expires_at=timezone.now(),
        completed_at=timezone.now(),
        account=str(user.pk),
    )


def test_deleting_a_user_leaves_none_of_their_rows_and_queues_rupt(
    erin, frank, rupt_server, django_capture_on_commit_callbacks
):
    shared = "shared-device-0005"
    give_rows(erin, "erin-device-0005")
    give_rows(erin, shared)
    give_rows(frank, shared)
    for device in ("erin-device-0005", shared):
        rupt_server.metadata[device] = {
            "2fa_verified": [f"{erin.pk}:2026-11-24T10:00:00Z", f"{frank.pk}:2026-11-24T10:00:00Z"]
        }
    account = str(erin.pk)
    erin_pk = erin.pk

    with django_capture_on_commit_callbacks(execute=True):
        erin.delete()

    assert not get_user_model().objects.filter(pk=erin_pk).exists()
    assert not PendingErasure.objects.exists()  # Rupt was up: done at once
    erin.pk = erin_pk
    assert_nothing_of(erin, account, ["erin-device-0005"])
    for device in ("erin-device-0005", shared):
        entries = rupt_server.metadata[device]["2fa_verified"]
        assert not any(entry.startswith(f"{account}:") for entry in entries)
    # Frank's verification of the shared device survives at Rupt and here.
    assert rupt_server.metadata[shared]["2fa_verified"][0].startswith(f"{frank.pk}:")
    assert Device.objects.filter(user=frank).count() == 1
    assert LoginCheck.objects.filter(user=frank).count() == 2
    assert DeviceSession.objects.count() == 2  # Frank's


def test_rupt_down_never_blocks_the_deletion_and_sync_retries(
    erin, rupt_server, django_capture_on_commit_callbacks
):
    give_rows(erin, "erin-device-0006")
    rupt_server.metadata["erin-device-0006"] = {"2fa_verified": [f"{erin.pk}:2026-11-24T10:00Z"]}
    account = str(erin.pk)
    rupt_server.fail_next(503)

    with django_capture_on_commit_callbacks(execute=True):
        erin.delete()

    assert not get_user_model().objects.filter(username="erin").exists()
    assert not Device.objects.exists() and not LoginCheck.objects.exists()
    queued = PendingErasure.objects.get()
    assert (queued.external_id, queued.account_id, queued.attempts) == (
        "erin-device-0006",
        account,
        1,
    )
    assert queued.last_error == "http_status"
    assert rupt_server.metadata["erin-device-0006"]["2fa_verified"] != []

    out = StringIO()
    call_command("rupt_guard_sync", stdout=out, stderr=StringIO())
    assert "1 erasure(s) done at the provider, 0 still pending." in out.getvalue()
    assert not PendingErasure.objects.exists()
    assert rupt_server.metadata["erin-device-0006"]["2fa_verified"] == []


def test_sync_keeps_the_queue_while_rupt_is_down(erin, rupt_server):
    give_rows(erin, "erin-device-0007")
    rupt_server.metadata["erin-device-0007"] = {}
    erin.delete()  # no commit callbacks run here: nothing was tried yet
    assert PendingErasure.objects.get().attempts == 0
    rupt_server.fail_next(500)
    err = StringIO()
    call_command("rupt_guard_sync", stdout=StringIO(), stderr=err)
    row = PendingErasure.objects.get()
    assert row.attempts == 1
    assert "failed" in err.getvalue()
    call_command("rupt_guard_sync", stdout=StringIO(), stderr=StringIO())
    assert not PendingErasure.objects.exists()


def test_erase_command_keeps_the_user_and_erases_their_rows(
    erin, frank, rupt_server, django_capture_on_commit_callbacks
):
    give_rows(erin, "erin-device-0008")
    give_rows(frank, "frank-device-0008")
    rupt_server.metadata["erin-device-0008"] = {"2fa_verified": [f"{erin.pk}:2026-11-24T10:00Z"]}
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("rupt_guard_erase", "--user", "erin", "--keep-user", stdout=out)
    assert "1 device(s)" in out.getvalue()
    assert get_user_model().objects.filter(pk=erin.pk).exists()
    assert_nothing_of(erin, str(erin.pk), ["erin-device-0008"])
    assert rupt_server.metadata["erin-device-0008"]["2fa_verified"] == []
    assert Device.objects.filter(user=frank).count() == 1
    assert export_for(erin)["devices"] == []


def test_erase_command_refuses_an_unknown_user(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("rupt_guard_erase", "--user", "nobody")


def test_erase_counts(erin):
    give_rows(erin, "erin-device-0009")
    counts = erase(erin, keep_user=True)
    assert counts["devices"] == 1
    assert counts["login_checks"] == 2
    assert counts["trust_events"] == 1
    assert counts["sessions"] == 2
    assert counts["queued_at_provider"] == 1


def test_local_provider_records_go_with_the_user(
    settings, erin, frank, django_capture_on_commit_callbacks
):
    settings.RUPT_GUARD = {"PROVIDER": "local"}
    give_rows(erin, "erin-device-0010")
    give_rows(erin, "shared-local-0010")
    give_rows(frank, "shared-local-0010")
    local_records(erin, "erin-device-0010")
    shared = LocalDevice.objects.create(
        device_id="shared-local-0010",
        metadata={
            "2fa_verified": [f"{erin.pk}:2026-11-24T10:00Z", f"{frank.pk}:2026-11-24T10:00Z"]
        },
    )
    LocalDeviceAccount.objects.create(device=shared, account=str(erin.pk))
    LocalDeviceAccount.objects.create(device=shared, account=str(frank.pk))
    account, erin_pk = str(erin.pk), erin.pk

    with django_capture_on_commit_callbacks(execute=True):
        erin.delete()

    erin.pk = erin_pk
    assert not PendingErasure.objects.exists()
    assert_nothing_of(erin, account, ["erin-device-0010"])
    shared.refresh_from_db()
    assert [e.split(":")[0] for e in shared.metadata["2fa_verified"]] == [str(frank.pk)]
    assert list(shared.accounts.values_list("account", flat=True)) == [str(frank.pk)]


def test_the_site_user_admin_offers_the_export(client, erin, frank):
    """Through the admin as staff use it: the action is on the user list, and answers the
    selected users' data as a download."""
    from rupt_guard.testing import login_verified

    give_rows(erin, "erin-device-0005")
    root = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    login_verified(client, root)
    page = client.get("/admin/auth/user/")
    actions = dict(page.context["action_form"].fields["action"].choices)
    assert "export_users_data" in actions
    response = client.post(
        "/admin/auth/user/", {"action": "export_users_data", "_selected_action": [erin.pk]}
    )
    data = json.loads(response.content)
    assert [u["account"]["username"] for u in data["users"]] == ["erin"]
