"""The admin: device list, filters, search and actions; the read-only audit trail; bounded pages."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import path
from django.utils import timezone

from rupt_guard import signals
from rupt_guard.admin import DeviceInline, EstimatedCountPaginator
from rupt_guard.choices import CheckSource, Decision, Reason, VerificationMethod
from rupt_guard.models import Device, DeviceSession, LoginCheck
from rupt_guard.testing import login_verified

from . import urls as site_urls
from .conftest import PASSWORD

pytestmark = pytest.mark.django_db

User = get_user_model()

DEVICES = "/admin/rupt_guard/device/"
CHECKS = "/admin/rupt_guard/logincheck/"

# The one line a site adds to show devices on its user page, on a site of its own here
# (the opt-in must not be automatic, so the default admin site stays untouched).
users_site = admin.AdminSite(name="users_admin")


class SiteUserAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, DeviceInline]


users_site.register(User, SiteUserAdmin)
urlpatterns = [*site_urls.urlpatterns, path("users-admin/", users_site.urls)]

# Staff roles: a superuser, and the permissions Django's admin checks for each page.
ROLES = {
    "superuser": None,
    "editor": ("view_device", "change_device", "view_logincheck"),
    "viewer": ("view_device", "view_logincheck"),
}


def make_staff(role):
    if ROLES[role] is None:
        return User.objects.create_superuser(role, f"{role}@example.com", PASSWORD)
    staff = User.objects.create_user(role, f"{role}@example.com", PASSWORD, is_staff=True)
    staff.user_permissions.set(
        Permission.objects.filter(content_type__app_label="rupt_guard", codename__in=ROLES[role])
    )
    return staff


@pytest.fixture
def sign_in(client):
    """Sign ``user`` in to the admin with a session that has passed rupt_guard's gate."""

    def as_(user):
        login_verified(client, user)
        return user

    return as_


@pytest.fixture
def staff_as(sign_in):
    return lambda role: sign_in(make_staff(role))


@pytest.fixture
def superuser(staff_as):
    return staff_as("superuser")


@pytest.fixture
def bob(db):
    return User.objects.create_user("bob", "bob@example.com", PASSWORD)


def make_device(user, external_id, **fields):
    return Device.objects.create(user=user, external_id=external_id, **fields)


def make_checks(user, device, count, *, start=None, **fields):
    """``count`` checks one minute apart, the last one newest; check i has IP 10.0.0.i (i < 256)."""
    start = start or timezone.now() - timedelta(days=1)
    defaults = {
        "source": CheckSource.FORM,
        "decision": Decision.ALLOW,
        "reason": Reason.VERIFIED_DEVICE,
    }
    return LoginCheck.objects.bulk_create(
        LoginCheck(
            user=user,
            device=device,
            created_at=start + timedelta(minutes=i),
            ip=f"10.0.{i // 256}.{i % 256}",
            **{**defaults, **fields},
        )
        for i in range(count)
    )


def open_session(device):
    """A real server-side session that signed in from ``device``; return its key."""
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store["signed_in"] = True
    store.create()
    DeviceSession.objects.create(
        device=device, session_key=store.session_key, expires_at=store.get_expiry_date()
    )
    return store.session_key


def session_exists(key):
    return import_module(settings.SESSION_ENGINE).SessionStore().exists(key)


def change_form_data(page, **fields):
    """What the browser posts back from a device change page: its inline rows, ``fields``."""
    data = {"_save": "Save", **fields}
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        for key, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{key}"] = value
        for form in formset.forms:
            data[form.add_prefix("id")] = form.instance.pk
            data[form.add_prefix(formset.fk.name)] = form.instance.device_id
    return data


def run_action(client, action, *devices_, reason="ticket 42: owner called"):
    """Run a trust action as staff do: pick it, then give the reason it asks for."""
    selected = {"action": action, "_selected_action": [device.pk for device in devices_]}
    asked = client.post(DEVICES, selected)
    assert asked.status_code == 200
    assert asked.templates[0].name == "rupt_guard/admin/action_reason.html"
    response = client.post(DEVICES, {**selected, "apply": "1", "reason": reason}, follow=True)
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def listed(response):
    return {row.external_id for row in response.context["cl"].result_list}


def queries_for(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response


@pytest.fixture
def sent():
    """Record what the device signals are sent with."""
    seen = []

    def receiver(signal, **kwargs):
        seen.append((signal, kwargs))

    chosen = (signals.device_verified, signals.device_revoked, signals.device_blocked)
    for signal in chosen:
        signal.connect(receiver)
    yield seen
    for signal in chosen:
        signal.disconnect(receiver)


# Pages render, with what each role may do ------------------------------------------------


@pytest.mark.parametrize("role", ["superuser", "editor", "viewer"])
def test_every_list_and_change_page_renders(client, staff_as, user, role):
    staff_as(role)
    device = make_device(user, "dev-laptop-0123456789abcdef", label="Laptop")
    (check,) = make_checks(user, device, 1)

    devices_page = client.get(DEVICES)
    assert devices_page.status_code == 200
    assert listed(devices_page) == {"dev-laptop-0123456789abcdef"}
    change = client.get(f"{DEVICES}{device.pk}/change/")
    assert change.status_code == 200
    assert b"dev-laptop-0123456789abcdef" in change.content
    # Only the label is editable, and only with the change permission.
    assert (b'name="label"' in change.content) == (role != "viewer")
    assert b'name="verified_at' not in change.content
    assert b'name="blocked_at' not in change.content
    assert b'name="metadata"' not in change.content

    checks_page = client.get(CHECKS)
    assert checks_page.status_code == 200
    assert check in checks_page.context["cl"].result_list
    check_page = client.get(f"{CHECKS}{check.pk}/change/")
    assert check_page.status_code == 200
    assert b'name="_save"' not in check_page.content
    assert b'name="decision"' not in check_page.content


def test_device_list_shows_the_columns(client, superuser, user):
    make_device(
        user,
        "a-very-long-device-id-from-the-provider",
        label="Work laptop",
        last_ip="203.0.113.7",
        verified_at=timezone.now(),
        verification_method=VerificationMethod.TOTP,
        blocked_at=timezone.now(),
    )
    text = client.get(DEVICES).content.decode()
    assert "Work laptop" in text
    assert "203.0.113.7" in text
    assert 'title="a-very-long-device-id-from-the-provider"' in text
    assert ">a-very-long-dev…<" in text  # shortened to 16 characters
    assert "(Authenticator app)" in text
    assert 'alt="True"' in text  # the blocked column's icon


def test_view_only_staff_sees_no_actions_and_cannot_run_one(client, staff_as, user):
    staff_as("viewer")
    device = make_device(user, "dev-1")
    response = client.get(DEVICES)
    assert response.context["action_form"] is None
    assert b'name="action"' not in response.content

    client.post(DEVICES, {"action": "block", "_selected_action": [device.pk]})
    device.refresh_from_db()
    assert device.blocked_at is None


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (
            "editor",
            {"mark_verified", "revoke_verification", "block", "unblock", "reset_owners_factors"},
        ),
        (
            "superuser",
            {
                "mark_verified",
                "revoke_verification",
                "block",
                "unblock",
                "reset_owners_factors",
                "delete_selected",
            },
        ),
    ],
)
def test_staff_who_may_change_devices_get_the_actions(client, staff_as, user, role, expected):
    staff_as(role)
    make_device(user, "dev-1")
    choices = client.get(DEVICES).context["action_form"].fields["action"].choices
    assert {value for value, _label in choices if value} == expected


def test_devices_are_not_added_by_hand(client, superuser):
    assert client.get(f"{DEVICES}add/").status_code == 403


def test_editing_a_device_changes_only_its_label(client, staff_as, user):
    staff_as("editor")
    blocked_at = timezone.now() - timedelta(days=1)
    device = make_device(user, "dev-1", blocked_at=blocked_at)
    make_checks(user, device, 2)
    url = f"{DEVICES}{device.pk}/change/"
    data = change_form_data(client.get(url), label="Kitchen tablet")
    # A forged post cannot unblock or verify: those fields are read-only.
    data.update({"blocked_at_0": "", "blocked_at_1": "", "verified_at_0": "2026-01-01"})
    response = client.post(url, data)
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.label == "Kitchen tablet"
    assert device.blocked_at == blocked_at  # unblocking goes through the action
    assert device.verified_at is None


# Actions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["superuser", "editor"])
def test_mark_verified(
    client, staff_as, user, role, sent, rupt_server, django_capture_on_commit_callbacks
):
    staff = staff_as(role)
    first, second = make_device(user, "dev-1"), make_device(user, "dev-2")
    untouched = make_device(user, "dev-3")
    rupt_server.identify("dev-1")
    rupt_server.identify("dev-2")

    with django_capture_on_commit_callbacks(execute=True):
        messages = run_action(client, "mark_verified", first, second)

    assert messages == ["2 devices were marked verified."]
    for device in (first, second):
        device.refresh_from_db()
        assert device.verified_at is not None
        assert device.verification_method == VerificationMethod.ADMIN
        assert device.verified_with == f"staff:{staff.pk}"
        # The provider was told, for this account.
        assert device.metadata_sync_pending is False
        (entry,) = rupt_server.metadata[device.external_id]["2fa_verified"]
        assert entry.startswith(f"{user.pk}:")
    untouched.refresh_from_db()
    assert untouched.verified_at is None
    assert {kwargs["device"] for signal, kwargs in sent} == {first, second}
    assert {signal for signal, _kwargs in sent} == {signals.device_verified}


@pytest.mark.parametrize("role", ["superuser", "editor"])
def test_revoke_clears_the_verification_and_ends_the_devices_sessions(
    client, staff_as, user, role, sent
):
    staff = staff_as(role)
    device = make_device(
        user,
        "dev-1",
        verified_at=timezone.now(),
        verification_method=VerificationMethod.TOTP,
        verified_with="otp_totp.totpdevice/1",
    )
    other = make_device(user, "dev-2", verified_at=timezone.now())
    key, other_key = open_session(device), open_session(other)
    assert session_exists(key)

    messages = run_action(client, "revoke_verification", device)

    assert messages == ["1 device lost its verification; its sessions were ended."]
    device.refresh_from_db()
    assert device.verified_at is None
    assert device.verification_method == ""
    assert device.verified_with == ""
    assert device.metadata_sync_pending is True  # the provider is told on commit
    assert not DeviceSession.objects.filter(device=device).exists()
    assert not session_exists(key)
    # The device that was not selected keeps its trust and its session.
    other.refresh_from_db()
    assert other.verified_at is not None
    assert session_exists(other_key)
    ((signal, kwargs),) = sent
    assert signal is signals.device_revoked
    assert kwargs["device"] == device
    assert kwargs["by"] == staff


@pytest.mark.parametrize("role", ["superuser", "editor"])
def test_block_sets_blocked_at_and_ends_the_devices_sessions(client, staff_as, user, role, sent):
    staff = staff_as(role)
    device = make_device(user, "dev-1")
    earlier = timezone.now() - timedelta(days=3)
    already = make_device(user, "dev-2", blocked_at=earlier)
    key = open_session(device)

    messages = run_action(client, "block", device, already)

    assert messages == ["1 device was blocked; its sessions were ended."]
    device.refresh_from_db()
    assert device.blocked_at is not None
    assert not session_exists(key)
    assert not DeviceSession.objects.filter(device=device).exists()
    already.refresh_from_db()
    assert already.blocked_at == earlier  # keeps the time it was first blocked
    ((signal, kwargs),) = sent
    assert (signal, kwargs["device"], kwargs["by"]) == (signals.device_blocked, device, staff)


@pytest.mark.parametrize("role", ["superuser", "editor"])
def test_unblock_clears_blocked_at(client, staff_as, user, role):
    staff_as(role)
    first = make_device(user, "dev-1", blocked_at=timezone.now())
    second = make_device(user, "dev-2", blocked_at=timezone.now())
    never = make_device(user, "dev-3")
    untouched = make_device(user, "dev-4", blocked_at=timezone.now())

    messages = run_action(client, "unblock", first, second, never)

    assert messages == ["2 devices were unblocked."]
    assert set(Device.objects.filter(blocked_at__isnull=False)) == {untouched}


def test_an_action_that_changes_nothing_says_so(client, superuser, user):
    device = make_device(user, "dev-1")
    assert run_action(client, "unblock", device) == ["0 devices were unblocked."]


def test_deleting_a_device_ends_its_sessions(client, superuser, user):
    device = make_device(user, "dev-1")
    key = open_session(device)
    response = client.post(f"{DEVICES}{device.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Device.objects.filter(pk=device.pk).exists()
    assert not session_exists(key)


def test_deleting_selected_devices_ends_their_sessions(client, superuser, user):
    first, second = make_device(user, "dev-1"), make_device(user, "dev-2")
    kept = make_device(user, "dev-3")
    keys = [open_session(first), open_session(second)]
    kept_key = open_session(kept)
    response = client.post(
        DEVICES,
        {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert list(Device.objects.all()) == [kept]
    assert not any(session_exists(key) for key in keys)
    assert session_exists(kept_key)


# Filters and search ----------------------------------------------------------------------


ALL_OF_THE_FLEET = {"verified-recent", "blocked-week", "plain-month", "verified-blocked-old"}


@pytest.fixture
def fleet(user, bob):
    now = timezone.now()
    make_device(user, "verified-recent", verified_at=now, last_seen_at=now - timedelta(hours=1))
    make_device(user, "blocked-week", blocked_at=now, last_seen_at=now - timedelta(days=3))
    make_device(bob, "plain-month", last_seen_at=now - timedelta(days=20))
    make_device(
        bob,
        "verified-blocked-old",
        verified_at=now,
        blocked_at=now,
        last_seen_at=now - timedelta(days=60),
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ALL_OF_THE_FLEET),
        ("verified=yes", {"verified-recent", "verified-blocked-old"}),
        ("verified=no", {"blocked-week", "plain-month"}),
        ("blocked=yes", {"blocked-week", "verified-blocked-old"}),
        ("blocked=no", {"verified-recent", "plain-month"}),
        ("seen=24h", {"verified-recent"}),
        ("seen=7d", {"verified-recent", "blocked-week"}),
        ("seen=30d", {"verified-recent", "blocked-week", "plain-month"}),
        ("verified=yes&blocked=no", {"verified-recent"}),
    ],
)
def test_device_filters(client, superuser, fleet, query, expected):
    response = client.get(f"{DEVICES}?{query}")
    assert response.status_code == 200
    assert listed(response) == expected


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("alice", {"verified-recent", "blocked-week"}),
        ("ali", {"verified-recent", "blocked-week"}),  # the beginning of a username
        (" Alice ", {"verified-recent", "blocked-week"}),  # usernames are mostly lower case
        ("plain-month", {"plain-month"}),  # a whole device id
        ("verified-", {"verified-recent", "verified-blocked-old"}),  # its beginning
        # Inside a name or an id: only an index that no B-tree is would find it.
        ("blocked-old", set()),
        ("lice", set()),
        # Django's user table has no index on the address: not searched.
        ("bob@example.com", set()),
        ("nobody", set()),
    ],
)
def test_device_search_by_the_beginning_of_a_username_or_device_id(
    client, superuser, fleet, term, expected
):
    response = client.get(DEVICES, {"q": term})
    assert response.status_code == 200
    assert listed(response) == expected


def test_device_search_says_what_it_matches(client, superuser, fleet):
    text = client.get(DEVICES).context["cl"].search_help_text
    assert "starts with what you type" in text
    assert "Email addresses are not searched" in text


def test_device_search_finds_addresses_when_the_user_model_indexes_them(
    client, superuser, fleet, monkeypatch
):
    # A custom user model with an indexed (say unique) email field.
    monkeypatch.setattr(User._meta.get_field("email"), "db_index", True)
    response = client.get(DEVICES, {"q": "bob@exam"})
    assert listed(response) == {"plain-month", "verified-blocked-old"}
    assert "username or email address" in response.context["cl"].search_help_text


def test_device_search_with_an_email_username_field(client, superuser, fleet, monkeypatch):
    # A custom user model whose USERNAME_FIELD is its email address.
    monkeypatch.setattr(User, "USERNAME_FIELD", "email")
    assert listed(client.get(DEVICES, {"q": "bob@"})) == {"plain-month", "verified-blocked-old"}
    assert listed(client.get(DEVICES, {"q": "bob"})) == {"plain-month", "verified-blocked-old"}
    assert listed(client.get(DEVICES, {"q": "alice@example.com"})) == {
        "verified-recent",
        "blocked-week",
    }


def test_device_search_with_a_numeric_username_field(client, superuser, fleet, monkeypatch):
    monkeypatch.setattr(User, "USERNAME_FIELD", "id")
    monkeypatch.setattr(User, "__str__", lambda user: f"user {user.pk}")
    bob = User.objects.get(username="bob")
    assert listed(client.get(DEVICES, {"q": str(bob.pk)})) == {
        "plain-month",
        "verified-blocked-old",
    }
    # Letters cannot be an id: the device id is still searched.
    assert listed(client.get(DEVICES, {"q": "plain"})) == {"plain-month"}


def test_a_short_prefix_matching_many_accounts_lists_some_and_says_so(
    client, superuser, fleet, monkeypatch
):
    from rupt_guard.admin import DeviceAdmin

    monkeypatch.setattr(DeviceAdmin, "user_match_limit", 1)
    for name in ("bobby", "bobcat"):
        make_device(User.objects.create_user(name, f"{name}@example.com", "x"), f"phone-{name}")
    response = client.get(DEVICES, {"q": "bob"})
    assert len({device.user_id for device in response.context["cl"].result_list}) == 1
    (message,) = [str(m) for m in response.context["messages"]]
    assert message == (
        "More than 1 accounts match “bob”: only the devices of 1 of them are listed. "
        "Type more of the name."
    )


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("blocked-old", {"verified-blocked-old"}),
        ("BLOCKED", {"blocked-week", "verified-blocked-old"}),
        ("@EXAMPLE.com", ALL_OF_THE_FLEET),
        ("lic", {"verified-recent", "blocked-week"}),
        # Under three characters a trigram index is of no use: the beginning only.
        ("bo", {"plain-month", "verified-blocked-old"}),
    ],
)
def test_substring_search_is_an_option(client, superuser, fleet, monkeypatch, term, expected):
    from rupt_guard.admin import DeviceAdmin

    monkeypatch.setattr(DeviceAdmin, "substring_search", True)
    response = client.get(DEVICES, {"q": term})
    assert listed(response) == expected
    assert "contains what you type" in response.context["cl"].search_help_text


def test_device_list_has_no_date_drill_down_and_sorts_only_by_last_seen(client, superuser, fleet):
    response = client.get(DEVICES)
    assert response.context["cl"].date_hierarchy is None
    assert b"xfull" not in response.content  # Django's date hierarchy navigation
    # A column no index orders is not offered for sorting, and ?o= for it is ignored.
    sortable = {
        header["text"] for header in response.context["result_headers"] if header["sortable"]
    }
    assert {str(text) for text in sortable} == {"last seen"}
    by_label = client.get(DEVICES, {"o": "2"})
    changelist = by_label.context["cl"]
    assert changelist.list_display[2] == "label"
    assert changelist.get_ordering_field_columns() == {}
    assert changelist.queryset.query.order_by == ("-last_seen_at", "-pk")


@pytest.fixture
def audit(user, bob):
    laptop = make_device(user, "laptop")
    alice = make_checks(user, laptop, 2)
    blocked = make_checks(
        bob, None, 1, decision=Decision.BLOCK, reason=Reason.BLOCKED_DEVICE, source=CheckSource.API
    )
    failed = make_checks(
        bob,
        None,
        1,
        decision=Decision.CHALLENGE,
        reason=Reason.PROVIDER_ERROR,
        provider_error="timeout",
    )
    return {"alice": set(alice), "blocked": set(blocked), "failed": set(failed)}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("decision__exact=block", ["blocked"]),
        ("reason__exact=provider_error", ["failed"]),
        ("source__exact=api", ["blocked"]),
        ("provider_error__exact=timeout", ["failed"]),
        ("decision__exact=allow", ["alice"]),
    ],
)
def test_login_check_filters(client, superuser, audit, query, expected):
    response = client.get(f"{CHECKS}?{query}")
    assert response.status_code == 200
    assert set(response.context["cl"].result_list) == set().union(*(audit[k] for k in expected))


def test_login_check_search_is_an_exact_username(client, superuser, audit):
    response = client.get(CHECKS, {"q": "bob"})
    assert set(response.context["cl"].result_list) == audit["blocked"] | audit["failed"]
    assert response.context["cl"].search_help_text == "The exact username of the account."
    # A part of a name would need a scan of every check ever recorded: no match.
    assert not client.get(CHECKS, {"q": "bo"}).context["cl"].result_list
    # Nor an address, which Django's user table does not index.
    assert not client.get(CHECKS, {"q": "bob@example.com"}).context["cl"].result_list


def test_login_check_search_takes_an_address_the_user_model_indexes(
    client, superuser, audit, monkeypatch
):
    monkeypatch.setattr(User._meta.get_field("email"), "db_index", True)
    response = client.get(CHECKS, {"q": "bob@example.com"})
    assert set(response.context["cl"].result_list) == audit["blocked"] | audit["failed"]
    assert response.context["cl"].search_help_text == (
        "The exact username or email address of the account."
    )
    assert not client.get(CHECKS, {"q": "bob@example"}).context["cl"].result_list


def test_login_check_admin_denies_add_change_and_delete(client, superuser, user):
    (check,) = make_checks(user, None, 1)
    assert client.get(f"{CHECKS}add/").status_code == 403
    assert client.post(f"{CHECKS}add/", {"decision": "allow"}).status_code == 403
    response = client.post(f"{CHECKS}{check.pk}/change/", {"decision": "block"})
    assert response.status_code == 403
    assert client.get(f"{CHECKS}{check.pk}/delete/").status_code == 403
    assert client.post(f"{CHECKS}{check.pk}/delete/", {"post": "yes"}).status_code == 403
    # No bulk delete either: the list offers no action at all.
    assert client.get(CHECKS).context["action_form"] is None
    client.post(CHECKS, {"action": "delete_selected", "_selected_action": [check.pk]})
    check.refresh_from_db()
    assert check.decision == Decision.ALLOW


# Bounded pages ---------------------------------------------------------------------------


def test_device_list_queries_do_not_grow_with_rows(client, superuser, user, bob):
    for i in range(3):
        make_device(user if i % 2 else bob, f"dev-{i}", verified_at=timezone.now())
    client.get(DEVICES)  # warm per-process caches (content types)
    few, response = queries_for(client, DEVICES)
    assert len(response.context["cl"].result_list) == 3
    for i in range(3, 60):
        owner = User.objects.create_user(f"user{i}", f"user{i}@example.com", "x")
        make_device(owner, f"dev-{i}", verified_at=timezone.now())
    many, response = queries_for(client, DEVICES)
    assert len(response.context["cl"].result_list) == 60
    assert many == few


def test_login_check_list_queries_do_not_grow_with_rows(client, superuser, user, bob):
    make_checks(user, make_device(user, "laptop"), 3)
    client.get(CHECKS)
    few, response = queries_for(client, CHECKS)
    assert len(response.context["cl"].result_list) == 3
    for i in range(3, 60):
        owner = User.objects.create_user(f"user{i}", f"user{i}@example.com", "x")
        make_checks(owner, make_device(owner, f"dev-{i}"), 1)
    many, response = queries_for(client, CHECKS)
    assert len(response.context["cl"].result_list) == 60
    assert many == few


def inline_checks(response):
    (inline,) = response.context["inline_admin_formsets"]
    return inline.formset


def test_device_page_shows_the_newest_50_checks_in_bounded_queries(client, superuser, user):
    device = make_device(user, "dev-1")
    make_checks(user, device, 3)
    url = f"{DEVICES}{device.pk}/change/"
    client.get(url)
    few, response = queries_for(client, url)
    assert len(inline_checks(response).forms) == 3

    LoginCheck.objects.all().delete()
    make_checks(user, device, 80)
    make_checks(user, make_device(user, "dev-2"), 5)  # another device's checks stay out
    many, response = queries_for(client, url)
    formset = inline_checks(response)
    assert [form.instance.ip for form in formset.forms] == [
        f"10.0.0.{i}" for i in range(79, 29, -1)
    ]
    text = response.content.decode()
    assert "<p>10.0.0.79</p>" in text
    assert "<p>10.0.0.30</p>" in text
    assert "<p>10.0.0.29</p>" not in text
    assert many == few


def test_device_page_saves_with_its_bounded_inline(client, superuser, user):
    device = make_device(user, "dev-1")
    make_checks(user, device, 80)
    url = f"{DEVICES}{device.pk}/change/"
    response = client.post(url, change_form_data(client.get(url), label="Work laptop"))
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.label == "Work laptop"
    assert LoginCheck.objects.filter(device=device).count() == 80


@pytest.mark.urls(__name__)
def test_user_page_inline_lists_newest_devices_read_only(client, superuser, user):
    url = f"/users-admin/auth/user/{user.pk}/change/"
    now = timezone.now()
    for i in range(3):
        make_device(user, f"dev-{i:02}", last_seen_at=now - timedelta(hours=i))
    make_device(superuser, "not-alices")
    client.get(url)
    few, response = queries_for(client, url)
    (inline,) = response.context["inline_admin_formsets"]
    assert [form.instance.external_id for form in inline.formset.forms] == [
        "dev-00",
        "dev-01",
        "dev-02",
    ]
    assert not inline.has_add_permission
    assert not inline.has_change_permission
    assert not inline.has_delete_permission
    assert b'name="rupt_guard_devices-0-label"' not in response.content

    for i in range(3, 60):
        make_device(user, f"dev-{i:02}", last_seen_at=now - timedelta(hours=i))
    many, response = queries_for(client, url)
    (inline,) = response.context["inline_admin_formsets"]
    assert [form.instance.external_id for form in inline.formset.forms] == [
        f"dev-{i:02}" for i in range(50)
    ]
    assert many == few


def test_default_user_admin_has_no_device_inline(client, superuser, user):
    response = client.get(f"/admin/auth/user/{user.pk}/change/")
    assert response.status_code == 200
    assert not any(
        isinstance(inline.opts, DeviceInline)
        for inline in response.context["inline_admin_formsets"]
    )


# The count of a huge audit table ---------------------------------------------------------


def test_paginator_counts_for_real_when_filtered_or_small(user):
    make_checks(user, None, 7)
    make_checks(user, None, 2, decision=Decision.BLOCK, reason=Reason.BLOCKED_DEVICE)
    assert EstimatedCountPaginator(LoginCheck.objects.all(), 5).count == 9
    filtered = LoginCheck.objects.filter(decision=Decision.BLOCK)
    assert EstimatedCountPaginator(filtered, 5).count == 2


def count_queries_on(queries, table):
    return [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and table in q["sql"]]


@pytest.mark.postgres
def test_unfiltered_list_takes_its_count_from_the_planner_on_postgres(
    client, superuser, user, monkeypatch
):
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_above", 10)
    make_checks(user, None, 30)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE rupt_guard_logincheck")
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'rupt_guard_logincheck'")
        (estimate,) = cursor.fetchone()
    make_checks(user, None, 5)  # not analysed yet: the estimate lags, as it does in production
    real = LoginCheck.objects.count()
    assert int(estimate) != real

    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHECKS)
    assert response.context["cl"].result_count == int(estimate)
    # The only counts are the last day's missing-token summary, on the created_at index.
    counts = count_queries_on(queries.captured_queries, "rupt_guard_logincheck")
    assert all('"rupt_guard_logincheck"."created_at" >=' in sql for sql in counts), counts

    # A filtered list is counted for real.
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"{CHECKS}?decision__exact=allow")
    assert response.context["cl"].result_count == 35
    assert count_queries_on(queries.captured_queries, "rupt_guard_logincheck")
