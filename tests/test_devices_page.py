"""The user's own devices: listing (this one first, paged, told apart), rename, sign out
and forget, block, unblock, sign out everywhere else; and password changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rupt_guard.choices import TrustAction
from rupt_guard.gate.mark import SESSION_KEY
from rupt_guard.models import Device, DeviceSession, TrustEvent
from rupt_guard.testing import login_verified
from rupt_guard.trust import devices as device_actions
from rupt_guard.trust.user_agents import describe, label_for
from rupt_guard.views.devices import DEVICES_PER_PAGE

from .conftest import PASSWORD

DEVICES = "/rupt-guard/devices/"
FIREFOX_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:132.0) Gecko/20100101 Firefox/132.0"
CHROME_131 = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
CHROME_120 = CHROME_131.replace("Chrome/131", "Chrome/120")

pytestmark = pytest.mark.django_db


def place_for_ip(ip):
    return {"203.0.113.7": "Lyon, France"}.get(ip)


@pytest.fixture
def verified(client, user, login, pass_challenge):
    """Signed in from a new device, challenge passed: a trusted session."""
    login(device="dev-laptop", HTTP_USER_AGENT=FIREFOX_MAC, REMOTE_ADDR="203.0.113.7")
    assert pass_challenge().status_code == 302
    return Device.objects.get(user=user, external_id="dev-laptop")


def test_page_lists_only_my_devices_and_marks_this_one(
    client, user, verified, guard_settings_override
):
    guard_settings_override(PLACE_FOR_IP="tests.test_devices_page.place_for_ip")
    bob = get_user_model().objects.create_user("bob", "bob@example.com", "x")
    Device.objects.create(user=bob, external_id="bobs", label="Bob's phone")
    Device.objects.create(user=user, external_id="old", label="Old tablet")
    page = client.get(DEVICES)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Firefox 132 on macOS" in text
    assert "Old tablet" in text
    assert "Bob's phone" not in text
    assert "Lyon, France" in text
    assert page.context["current"].device == verified
    assert page.context["current"].is_current
    assert [row.device.label for row in page.context["rows"]] == ["Old tablet"]


def test_page_needs_a_session_that_passed_the_gate(client, user, login):
    assert client.get(DEVICES)["Location"].startswith("/accounts/login/")
    login()  # new device: pending
    assert client.get(DEVICES)["Location"].startswith("/rupt-guard/challenge/")


def test_session_without_a_mark_must_pass_a_challenge(client, user):
    # Signed in before rupt_guard was installed: no mark in the session.
    login_verified(client, user)
    session = client.session
    del session[SESSION_KEY]
    session.save()
    response = client.get(DEVICES)
    assert response["Location"] == "/rupt-guard/confirm/?next=%2Frupt-guard%2Fdevices%2F"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert SESSION_KEY not in client.session  # a GET (say, a cross-site image) changes nothing
    started = client.post("/rupt-guard/confirm/", {"next": DEVICES})
    assert started["Location"] == "/rupt-guard/challenge/?next=%2Frupt-guard%2Fdevices%2F"
    assert client.session[SESSION_KEY]["state"] == "pending"


def test_rename(client, verified):
    response = client.post(
        f"/rupt-guard/devices/{verified.pk}/rename/", {f"d{verified.pk}-label": "Work laptop"}
    )
    assert response.status_code == 302
    verified.refresh_from_db()
    assert verified.label == "Work laptop"


def test_cannot_touch_another_users_device(client, verified):
    bob = get_user_model().objects.create_user("bob", "bob@example.com", "x")
    bobs = Device.objects.create(user=bob, external_id="bobs", verified_at="2026-11-01T00:00Z")
    assert client.post(f"/rupt-guard/devices/{bobs.pk}/revoke/").status_code == 404
    assert client.post(f"/rupt-guard/devices/{bobs.pk}/rename/", {"label": "x"}).status_code == 404
    bobs.refresh_from_db()
    assert bobs.verified_at is not None


def test_revoke_asks_first_then_ends_that_devices_sessions(
    client, user, verified, rupt_server, django_capture_on_commit_callbacks
):
    from django.test import Client

    # The same account signed in on another computer, verified too.
    other = Client()
    other.post(
        "/accounts/login/",
        {
            "username": "alice",
            "password": PASSWORD,
            "rupt_identification": rupt_server.identify("dev-desk"),
        },
    )
    other_device = Device.objects.get(external_id="dev-desk")
    Device.objects.filter(pk=other_device.pk).update(verified_at="2026-11-01T00:00Z")
    other_key = other.session.session_key
    assert DeviceSession.objects.filter(device=other_device, session_key=other_key).exists()

    confirm = client.get(f"/rupt-guard/devices/{other_device.pk}/revoke/")
    assert confirm.status_code == 200
    assert b"Sign out and forget" in confirm.content
    other_device.refresh_from_db()
    assert other_device.verified_at is not None  # a GET changes nothing

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/rupt-guard/devices/{other_device.pk}/revoke/")
    assert response["Location"] == DEVICES
    other_device.refresh_from_db()
    assert other_device.verified_at is None
    assert not Session.objects.filter(session_key=other_key).exists()
    assert other.get("/private/")["Location"].startswith("/accounts/login/")
    assert client.get("/private/").status_code == 200  # my own session goes on


def test_revoke_needs_csrf(user, verified, client):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.cookies = client.cookies
    assert strict.post(f"/rupt-guard/devices/{verified.pk}/revoke/").status_code == 403
    verified.refresh_from_db()
    assert verified.verified_at is not None


@pytest.mark.parametrize("save_every_request", [False, True])
def test_revoking_this_device_signs_me_out(client, verified, settings, save_every_request):
    settings.SESSION_SAVE_EVERY_REQUEST = save_every_request
    response = client.post(f"/rupt-guard/devices/{verified.pk}/revoke/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert client.get("/private/")["Location"].startswith("/accounts/login/")


def test_password_change_clears_every_verification(client, user, verified, guard_settings_override):
    user.refresh_from_db()
    user.set_password("a brand new password 42")
    user.save()
    verified.refresh_from_db()
    assert verified.verified_at is None

    guard_settings_override(REVOKE_ON_PASSWORD_CHANGE=False)
    Device.objects.filter(pk=verified.pk).update(verified_at="2026-11-01T00:00Z")
    user.set_password("and another one 43")
    user.save()
    verified.refresh_from_db()
    assert verified.verified_at is not None


def test_saving_a_user_without_a_new_password_keeps_trust(user, verified):
    user.refresh_from_db()
    user.first_name = "Alice"
    user.save()
    verified.refresh_from_db()
    assert verified.verified_at is not None


def test_a_sign_in_over_another_users_session_stays_revocable(
    client, user, login, rupt_server, guard_settings_override
):
    from rupt_guard.trust import devices

    guard_settings_override(ON_NEW_DEVICE="allow")
    get_user_model().objects.create_user("bob", "bob@example.com", "bob-password-1")
    client.post(
        "/accounts/login/",
        {
            "username": "bob",
            "password": "bob-password-1",
            "rupt_identification": rupt_server.identify("family"),
        },
    )
    login(device="family")  # Alice signs in over Bob's session: login() flushes it
    alices = Device.objects.get(user=user, external_id="family")
    assert DeviceSession.objects.filter(
        device=alices, session_key=client.session.session_key
    ).exists()
    devices.block(alices)
    assert client.get("/private/")["Location"].startswith("/accounts/login/")


def test_a_password_change_does_not_make_the_session_unrevocable(client, user, verified):
    from rupt_guard.trust import devices

    old_key = client.session.session_key
    response = client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "brand new pass 42!",
            "new_password2": "brand new pass 42!",
        },
    )
    assert response.status_code == 302
    assert client.session.session_key != old_key  # update_session_auth_hash rotated it
    assert client.get("/private/").status_code == 200  # the gate follows the new key
    assert DeviceSession.objects.filter(session_key=client.session.session_key).exists()
    devices.block(Device.objects.get(pk=verified.pk))
    assert client.get("/private/")["Location"].startswith("/accounts/login/")


# The devices page: this device first, the others paged, each told apart.


def make_devices(user, count, *, start=None, **fields):
    """``count`` devices last seen one minute apart, the newest first."""
    start = start or timezone.now() - timedelta(hours=1)
    return Device.objects.bulk_create(
        Device(
            user=user,
            external_id=f"bulk-{i}",
            label=f"Device {i}",
            last_seen_at=start - timedelta(minutes=i),
            **fields,
        )
        for i in range(count)
    )


def sign_in_elsewhere(user, rupt_server, external_id, **meta):
    """Another browser of the same account, signed in from a verified device."""
    Device.objects.update_or_create(
        user=user, external_id=external_id, defaults={"verified_at": timezone.now()}
    )
    other = Client(**meta)
    other.post(
        "/accounts/login/",
        {
            "username": user.get_username(),
            "password": PASSWORD,
            "rupt_identification": rupt_server.identify(external_id),
        },
    )
    assert other.get("/private/").status_code == 200
    return other


def test_this_device_first_then_the_others_by_last_seen_paged(client, user, verified):
    # This device was seen long ago (a tab left open); it still leads the first page.
    Device.objects.filter(pk=verified.pk).update(last_seen_at=timezone.now() - timedelta(days=9))
    make_devices(user, DEVICES_PER_PAGE + 5)
    first = client.get(DEVICES)
    assert first.context["current"].device == verified
    names = [row.device.label for row in first.context["rows"]]
    assert names == [f"Device {i}" for i in range(DEVICES_PER_PAGE)]
    text = first.content.decode()
    assert text.index("This device") < text.index("Device 0")
    assert f"{DEVICES_PER_PAGE + 5} other devices" in text
    assert "Page 1 of 2" in text and 'href="?page=2"' in text

    second = client.get(f"{DEVICES}?page=2")
    assert second.context["current"] is None  # first page only
    assert [row.device.label for row in second.context["rows"]] == [
        f"Device {i}" for i in range(DEVICES_PER_PAGE, DEVICES_PER_PAGE + 5)
    ]
    assert "Page 2 of 2" in second.content.decode()
    # A page that does not exist shows the nearest one rather than an error.
    assert client.get(f"{DEVICES}?page=99").context["page_obj"].number == 2
    assert client.get(f"{DEVICES}?page=x").context["page_obj"].number == 1


def test_devices_seen_at_the_same_time_are_each_on_exactly_one_page(client, user, verified):
    same = timezone.now() - timedelta(hours=1)
    Device.objects.bulk_create(
        Device(user=user, external_id=f"tie-{i}", label=f"Tie {i}", last_seen_at=same)
        for i in range(DEVICES_PER_PAGE * 2 + 3)
    )
    seen = []
    for number in (1, 2, 3):
        seen += [row.device.pk for row in client.get(f"{DEVICES}?page={number}").context["rows"]]
    assert sorted(seen) == sorted(
        Device.objects.exclude(pk=verified.pk).values_list("pk", flat=True)
    )


def test_the_page_costs_the_same_queries_with_many_devices(client, user, verified):
    def queries(path):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path).status_code == 200
        return len(captured)

    make_devices(user, 3)
    few = queries(DEVICES)
    Device.objects.filter(user=user).exclude(pk=verified.pk).delete()
    make_devices(user, DEVICES_PER_PAGE * 5)
    assert queries(DEVICES) == few
    assert queries(f"{DEVICES}?page=4") <= few


def test_two_browsers_of_the_same_kind_are_told_apart(
    client, user, verified, guard_settings_override
):
    guard_settings_override(PLACE_FOR_IP="tests.test_devices_page.place_for_ip")
    now = timezone.now()
    Device.objects.create(
        user=user,
        external_id="old-chrome",
        label=label_for(CHROME_120),
        last_user_agent=CHROME_120,
        last_ip="198.51.100.9",
        last_seen_at=now - timedelta(days=3),
    )
    Device.objects.create(
        user=user,
        external_id="new-chrome",
        label="Work laptop",  # renamed: the browser shows underneath
        last_user_agent=CHROME_131,
        last_ip="203.0.113.7",
        last_seen_at=now - timedelta(minutes=5),
    )
    rows = {row.device.external_id: row for row in client.get(DEVICES).context["rows"]}
    assert (rows["old-chrome"].name, rows["old-chrome"].agent) == ("Chrome 120 on Linux", "")
    assert (rows["new-chrome"].name, rows["new-chrome"].agent) == (
        "Work laptop",
        "Chrome 131 on Linux",
    )
    # timesince() joins number and unit with a no-break space.
    assert rows["old-chrome"].last_seen == "3\xa0days ago"
    assert rows["new-chrome"].last_seen == "5\xa0minutes ago"
    assert (rows["old-chrome"].place, rows["new-chrome"].place) == ("", "Lyon, France")
    text = client.get(DEVICES).content.decode().replace("\xa0", " ")
    for shown in (
        "Chrome 120 on Linux",
        "Chrome 131 on Linux",
        "198.51.100.9",
        "last seen 3 days ago",
    ):
        assert shown in text
    assert "(UTC)" in text  # exact times say their time zone


def test_times_are_in_the_sites_time_zone_and_say_so(client, user, verified, settings):
    settings.TIME_ZONE = "Europe/Paris"
    Device.objects.filter(pk=verified.pk).update(
        first_seen_at=datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    )
    text = client.get(DEVICES).content.decode()
    assert "July 1, 2026, 2 p.m. (Europe/Paris)" in text


@pytest.mark.parametrize(
    ("agent", "described", "label"),
    [
        (FIREFOX_MAC, "Firefox 132 on macOS", "Firefox on macOS"),
        (CHROME_131, "Chrome 131 on Linux", "Chrome on Linux"),
        (CHROME_131 + " Edg/131.0.2903.86", "Edge 131 on Linux", "Edge on Linux"),
        (CHROME_131 + " OPR/114.0.0.0", "Opera 114 on Linux", "Opera on Linux"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
            "Safari 17 on iOS",
            "Safari on iOS",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
            "Chrome 131 on iOS",
            "Chrome on iOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
            "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
            "Samsung Internet 23 on Android",
            "Samsung Internet on Android",
        ),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "Windows", "Windows"),
        ("curl/8.4.0", "", ""),
        ("", "", ""),
    ],
)
def test_what_a_user_agent_says_with_its_version(agent, described, label):
    assert describe(agent) == described
    # The name a new device is given keeps no version: it would be wrong after an update.
    assert label_for(agent) == label


def test_each_state_offers_its_own_actions(client, user, verified, rupt_server):
    staff = get_user_model().objects.create_user("staff", "staff@example.com", "x", is_staff=True)
    trusted = Device.objects.create(user=user, external_id="trusted", verified_at=timezone.now())
    Device.objects.create(user=user, external_id="unused")
    sign_in_elsewhere(user, rupt_server, "signed-in")
    signed_in = Device.objects.get(user=user, external_id="signed-in")
    Device.objects.filter(pk=signed_in.pk).update(verified_at=None)
    mine = Device.objects.create(user=user, external_id="mine")
    device_actions.block(mine, by=user)
    reported = Device.objects.create(user=user, external_id="reported")
    device_actions.block(reported, by=None, reason="reported from the email link")
    by_staff = Device.objects.create(user=user, external_id="by-staff")
    device_actions.block(by_staff, by=staff, reason="fraud")

    page = client.get(DEVICES)
    rows = {row.device.external_id: row for row in page.context["rows"]}
    rows["dev-laptop"] = page.context["current"]

    def offered(key):
        row = rows[key]
        return {
            name
            for name, on in [
                ("forget", row.can_forget),
                ("block", row.can_block),
                ("unblock", row.can_unblock),
            ]
            if on
        }

    assert offered("dev-laptop") == {"forget", "block"}
    assert offered("trusted") == {"forget", "block"}
    assert offered("signed-in") == {"forget", "block"}  # unverified, but a session to end
    assert offered("unused") == {"block"}  # nothing to sign out, nothing to forget
    assert offered("mine") == offered("reported") == {"unblock"}
    assert offered("by-staff") == set()
    assert rows["by-staff"].blocked_by_staff
    text = page.content.decode()
    assert f'/rupt-guard/devices/{signed_in.pk}/revoke/">Sign out<' in text
    assert f'/rupt-guard/devices/{trusted.pk}/revoke/">Sign out and forget<' in text
    assert "Blocked by the site's staff" in text


def test_block_asks_first_then_blocks_and_ends_that_devices_sessions(
    client, user, verified, rupt_server
):
    other = sign_in_elsewhere(user, rupt_server, "dev-desk")
    desk = Device.objects.get(user=user, external_id="dev-desk")
    confirm = client.get(f"/rupt-guard/devices/{desk.pk}/block/")
    assert confirm.status_code == 200
    assert "refuses every sign-in from it" in confirm.content.decode()
    desk.refresh_from_db()
    assert desk.blocked_at is None  # a GET changes nothing

    response = client.post(f"/rupt-guard/devices/{desk.pk}/block/", {"page": "3"})
    assert response["Location"] == f"{DEVICES}?page=3"  # back where the person was
    desk.refresh_from_db()
    assert desk.blocked_at is not None
    assert other.get("/private/")["Location"].startswith("/accounts/login/")
    assert client.get("/private/").status_code == 200  # my own session goes on
    event = TrustEvent.objects.get(device=desk, action=TrustAction.DEVICE_BLOCKED)
    assert (event.actor, event.reason) == (user, "")
    # Blocked, it cannot sign in again.
    refused = Client().post(
        "/accounts/login/",
        {
            "username": "alice",
            "password": PASSWORD,
            "rupt_identification": rupt_server.identify("dev-desk"),
        },
    )
    assert refused.status_code == 200


def test_what_blocking_does_follows_the_policy(client, user, verified, guard_settings_override):
    other = Device.objects.create(user=user, external_id="other")
    guard_settings_override(ON_BLOCKED_DEVICE="challenge")
    text = client.get(f"/rupt-guard/devices/{other.pk}/block/").content.decode()
    assert "every sign-in from it must pass your second factor" in text


def test_blocking_this_device_signs_me_out(client, user, verified):
    confirm = client.get(f"/rupt-guard/devices/{verified.pk}/block/")
    assert "This is the device you are using" in confirm.content.decode()
    response = client.post(f"/rupt-guard/devices/{verified.pk}/block/")
    assert response["Location"] == "/accounts/login/"
    verified.refresh_from_db()
    assert verified.blocked_at is not None
    assert client.get("/private/")["Location"].startswith("/accounts/login/")


def test_unblock_only_a_blocked_device_and_it_is_not_trusted_again(
    client, user, verified, rupt_server
):
    desk = Device.objects.create(user=user, external_id="dev-desk", verified_at=timezone.now())
    # Not blocked: nothing to unblock.
    assert client.get(f"/rupt-guard/devices/{desk.pk}/unblock/")["Location"] == DEVICES
    client.post(f"/rupt-guard/devices/{desk.pk}/unblock/")
    assert not TrustEvent.objects.filter(action=TrustAction.DEVICE_UNBLOCKED).exists()

    client.post(f"/rupt-guard/devices/{desk.pk}/block/")
    confirm = client.get(f"/rupt-guard/devices/{desk.pk}/unblock/")
    assert "unblocking does not make it trusted" in confirm.content.decode()
    response = client.post(f"/rupt-guard/devices/{desk.pk}/unblock/", follow=True)
    assert "Its next sign-in must pass your second factor." in response.content.decode()
    desk.refresh_from_db()
    assert desk.blocked_at is None and desk.verified_at is None
    # Its next sign-in is challenged, not refused and not let through.
    other = Client()
    other.post(
        "/accounts/login/",
        {
            "username": "alice",
            "password": PASSWORD,
            "rupt_identification": rupt_server.identify("dev-desk"),
        },
    )
    assert other.session[SESSION_KEY]["state"] == "pending"


def test_a_block_by_staff_is_not_the_users_to_lift(client, user, verified):
    staff = get_user_model().objects.create_user("staff", "staff@example.com", "x", is_staff=True)
    desk = Device.objects.create(user=user, external_id="dev-desk")
    device_actions.block(desk, by=staff, reason="fraud")
    assert client.get(f"/rupt-guard/devices/{desk.pk}/unblock/")["Location"] == DEVICES
    response = client.post(f"/rupt-guard/devices/{desk.pk}/unblock/", follow=True)
    assert "Only the site&#x27;s staff can unblock that device." in response.content.decode()
    desk.refresh_from_db()
    assert desk.blocked_at is not None


def test_sign_out_everywhere_else(client, user, verified, rupt_server):
    desk = sign_in_elsewhere(user, rupt_server, "dev-desk")
    # A second profile that Rupt sees as this same device: a session of this device, not mine.
    twin = sign_in_elsewhere(user, rupt_server, "dev-laptop")
    mine = client.session.session_key
    response = client.post("/rupt-guard/devices/sign-out-others/", follow=True)
    assert "You were signed out everywhere else." in response.content.decode()
    assert desk.get("/private/")["Location"].startswith("/accounts/login/")
    assert twin.get("/private/")["Location"].startswith("/accounts/login/")
    assert client.get("/private/").status_code == 200
    assert list(DeviceSession.objects.values_list("session_key", flat=True)) == [mine]
    # Trust is left alone: the desk signs in again without a challenge.
    assert Device.objects.get(user=user, external_id="dev-desk").verified_at is not None
    sign_in_elsewhere(user, rupt_server, "dev-desk")


def test_sign_out_everywhere_else_keeps_a_session_whose_key_is_being_followed(
    client, user, verified
):
    # The password was just changed here: the session has a new key, and its row is still
    # under the old one until the gate follows it (gate.tracking).
    old_key = client.session.session_key
    client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "brand new pass 42!",
            "new_password2": "brand new pass 42!",
        },
    )
    DeviceSession.objects.filter(session_key=client.session.session_key).update(session_key=old_key)
    session = client.session
    session[SESSION_KEY] = {**session[SESSION_KEY], "key": old_key}
    session.save()
    client.post("/rupt-guard/devices/sign-out-others/")
    assert client.get("/private/").status_code == 200


@pytest.mark.parametrize("action", ["block", "unblock", "revoke"])
def test_actions_need_csrf_and_my_own_device(client, user, verified, action):
    bob = get_user_model().objects.create_user("bob", "bob@example.com", "x")
    bobs = Device.objects.create(user=bob, external_id="bobs", blocked_at=timezone.now())
    assert client.get(f"/rupt-guard/devices/{bobs.pk}/{action}/").status_code == 404
    assert client.post(f"/rupt-guard/devices/{bobs.pk}/{action}/").status_code == 404
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = client.cookies
    assert strict.post(f"/rupt-guard/devices/{verified.pk}/{action}/").status_code == 403


def test_sign_out_everywhere_else_needs_csrf_and_a_trusted_session(client, user, verified):
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = client.cookies
    assert strict.post("/rupt-guard/devices/sign-out-others/").status_code == 403
    assert (
        Client()
        .post("/rupt-guard/devices/sign-out-others/")["Location"]
        .startswith("/accounts/login/")
    )


def test_rename_brings_me_back_to_my_page(client, user, verified):
    response = client.post(
        f"/rupt-guard/devices/{verified.pk}/rename/",
        {f"d{verified.pk}-label": "Work laptop", "page": "2"},
    )
    assert response["Location"] == f"{DEVICES}?page=2"
    # Only a page number goes back into the address.
    response = client.post(
        f"/rupt-guard/devices/{verified.pk}/rename/",
        {f"d{verified.pk}-label": "Work laptop", "page": "//evil.example"},
    )
    assert response["Location"] == DEVICES
