"""The way back: staff reset a user's factors (admin action, command), with who and why on
record and the owner emailed; and every other staff action on trust records who and why."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from rupt_guard.choices import CheckSource, Decision, Reason, TrustAction
from rupt_guard.gate.mark import SESSION_KEY
from rupt_guard.models import Device, LoginCheck, TrustEvent
from rupt_guard.testing import login_verified

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db

User = get_user_model()
DEVICES = "/admin/rupt_guard/device/"
USERS = "/admin/auth/user/"
REASON = "ticket 4711: lost phone, identity checked by video call"


@pytest.fixture
def alice_factors(user):
    return [
        TOTPDevice.objects.create(user=user, name="Phone", confirmed=True),
        StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True),
        TOTPDevice.objects.create(user=user, name="half set up", confirmed=False),
    ]


@pytest.fixture
def admin_client(client):
    staff = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    login_verified(client, staff)
    client.staff = staff
    return client


def factors_of(user):
    from django_otp import devices_for_user

    return list(devices_for_user(user, confirmed=None))


def test_the_user_admin_resets_factors_after_asking_why(
    admin_client, user, alice_factors, mailoutbox, django_capture_on_commit_callbacks
):
    selected = {"action": "reset_users_factors", "_selected_action": [user.pk]}
    asked = admin_client.post(USERS, selected)
    assert asked.status_code == 200
    assert "Why?" in asked.content.decode()
    assert len(factors_of(user)) == 3  # asking changed nothing
    empty = admin_client.post(USERS, {**selected, "apply": "1", "reason": "  "})
    assert empty.status_code == 200  # a reason is required
    assert len(factors_of(user)) == 3
    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client.post(USERS, {**selected, "apply": "1", "reason": REASON}, follow=True)
    assert done.status_code == 200
    assert factors_of(user) == []
    (event,) = TrustEvent.objects.filter(user=user, action=TrustAction.FACTORS_RESET)
    assert event.actor == admin_client.staff and event.actor_name == "root"
    assert event.reason == REASON and event.device_label == "3"
    (mail,) = mailoutbox
    assert mail.to == [user.email] and REASON in mail.body
    assert "second factors were reset" in mail.subject.lower()


def test_after_a_reset_the_next_challenge_falls_back_to_email(client, user, alice_factors, login):
    call_command("rupt_guard_reset_factors", "alice", reason=REASON)
    login(device="new-phone")
    (offered,) = client.get("/rupt-guard/challenge/").context["devices"]
    assert isinstance(offered, EmailDevice)


def test_the_device_admin_resets_the_owners_and_can_forget_their_devices(
    admin_client, user, alice_factors, mailoutbox
):
    laptop = Device.objects.create(
        user=user, external_id="laptop", verified_at=timezone.now(), verification_method="totp"
    )
    selected = {"action": "reset_owners_factors", "_selected_action": [laptop.pk]}
    admin_client.post(DEVICES, selected)
    admin_client.post(DEVICES, {**selected, "apply": "1", "reason": REASON, "forget_devices": "on"})
    assert factors_of(user) == []
    laptop.refresh_from_db()
    assert laptop.verified_at is None
    revoked = TrustEvent.objects.get(action=TrustAction.DEVICE_REVOKED, device=laptop)
    assert revoked.reason == REASON and revoked.actor == admin_client.staff


def test_the_command_resets_records_and_emails(
    user, alice_factors, mailoutbox, capsys, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("rupt_guard_reset_factors", "alice", reason=REASON)
    assert factors_of(user) == []
    event = TrustEvent.objects.get(action=TrustAction.FACTORS_RESET)
    assert event.actor is None and event.reason == REASON
    assert len(mailoutbox) == 1
    assert "Removed 3 second factor(s) of alice." in capsys.readouterr().out


def test_the_command_needs_a_real_user_and_a_reason(user, alice_factors):
    with pytest.raises(CommandError):
        call_command("rupt_guard_reset_factors", "nobody", reason=REASON)
    with pytest.raises(CommandError):
        call_command("rupt_guard_reset_factors", "alice", reason="   ")
    assert len(factors_of(user)) == 3
    assert not TrustEvent.objects.exists()


def test_a_superuser_without_email_gets_back_in_through_a_trusted_device(
    client, login, rupt_server, capsys
):
    """The README's way back: sign in once (challenged: the device is recorded), reset from
    the server's shell, which lists the latest sign-ins, then vouch for the device staff
    checked with --trust-device, and sign in again from it."""
    root = User.objects.create_superuser("root", "", PASSWORD)
    TOTPDevice.objects.create(user=root, name="lost phone", confirmed=True)
    assert login("root", device="root-laptop").status_code == 302
    assert client.session[SESSION_KEY]["state"] == "pending"
    client.post("/rupt-guard/logout/")
    call_command("rupt_guard_reset_factors", "root", reason=REASON)
    device = Device.objects.get(user=root)
    listed = capsys.readouterr().out
    assert f"{device.pk:>6}  {device}" in listed  # staff find the ID to vouch for here
    call_command("rupt_guard_reset_factors", "root", reason=REASON, trust_device=device.pk)
    device.refresh_from_db()
    assert device.verification_method == "admin"
    assert TrustEvent.objects.get(action=TrustAction.DEVICE_VERIFIED).reason == REASON
    assert login("root", device="root-laptop").status_code == 302
    assert client.session[SESSION_KEY]["state"] == "passed"
    assert client.get("/admin/").status_code == 200


def test_only_a_device_of_that_user_can_be_trusted(user, alice_factors):
    bob = User.objects.create_user("bob", "bob@example.com", PASSWORD)
    bobs = Device.objects.create(user=bob, external_id="bobs-laptop")
    with pytest.raises(CommandError):
        call_command("rupt_guard_reset_factors", "alice", reason=REASON, trust_device=bobs.pk)
    assert len(factors_of(user)) == 3  # refused before anything changed
    bobs.refresh_from_db()
    assert bobs.verified_at is None


@pytest.mark.parametrize(
    ("action", "action_record", "fields"),
    [
        ("mark_verified", TrustAction.DEVICE_VERIFIED, {}),
        ("revoke_verification", TrustAction.DEVICE_REVOKED, {"verified_at": timezone.now()}),
        ("block", TrustAction.DEVICE_BLOCKED, {}),
        ("unblock", TrustAction.DEVICE_UNBLOCKED, {"blocked_at": timezone.now()}),
    ],
)
def test_every_staff_action_on_trust_records_who_and_why(
    admin_client, user, action, action_record, fields
):
    device = Device.objects.create(user=user, external_id="d1", **fields)
    selected = {"action": action, "_selected_action": [device.pk]}
    admin_client.post(DEVICES, selected)
    assert not TrustEvent.objects.exists()  # nothing before the reason
    admin_client.post(DEVICES, {**selected, "apply": "1", "reason": REASON})
    (event,) = TrustEvent.objects.all()
    assert (event.action, event.device, event.reason) == (action_record, device, REASON)
    assert event.actor == admin_client.staff


def test_a_users_own_revocation_is_recorded_without_a_reason(client, user):
    device = Device.objects.create(user=user, external_id="d1", verified_at=timezone.now())
    login_verified(client, user)
    client.post(f"/rupt-guard/devices/{device.pk}/revoke/")
    event = TrustEvent.objects.get(action=TrustAction.DEVICE_REVOKED)
    assert event.actor == user and event.reason == ""


def test_staff_without_the_change_permission_cannot_reset(client, user, alice_factors):
    from django.contrib.auth.models import Permission

    viewer = User.objects.create_user("viewer", "v@example.com", PASSWORD, is_staff=True)
    viewer.user_permissions.set(
        Permission.objects.filter(codename__in=["view_user", "change_user"])
    )
    login_verified(client, viewer)
    selected = {"action": "reset_users_factors", "_selected_action": [user.pk]}
    client.post(USERS, {**selected, "apply": "1", "reason": REASON})
    assert len(factors_of(user)) == 3


def test_the_audit_trail_keeps_a_deleted_device_and_actor(admin_client, user):
    device = Device.objects.create(user=user, external_id="d1", label="Work laptop")
    LoginCheck.objects.create(
        user=user,
        device=device,
        source=CheckSource.FORM,
        decision=Decision.CHALLENGE,
        reason=Reason.NEW_DEVICE,
    )
    selected = {"action": "block", "_selected_action": [device.pk]}
    admin_client.post(DEVICES, {**selected, "apply": "1", "reason": REASON})
    device.delete()
    admin_client.staff.delete()
    event = TrustEvent.objects.get()
    assert (event.device, event.actor) == (None, None)
    assert (event.device_label, event.actor_name) == ("Work laptop", "root")
