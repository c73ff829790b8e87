"""Privacy by default: client addresses are stored only as ``IP_ADDRESSES`` allows, in every
table and every email, while limits still see the whole address during the request."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from rupt_guard.client import stored_address
from rupt_guard.gate.mark import SESSION_KEY
from rupt_guard.models import Device, LoginCheck

pytestmark = pytest.mark.django_db

ADDRESS_V4 = "203.0.113.57"
ADDRESS_V6 = "2001:db8:85a3:8d3:1319:8a2e:370:7348"


def every_stored_value() -> str:
    """Everything every installed model's table holds, as one text to search."""
    rows = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            table = model._meta.db_table
            if table not in connection.introspection.table_names(cursor):
                continue
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            rows.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(rows)


def sign_in_and_pass(client, login, pass_challenge, address: str) -> None:
    assert login(device="laptop", REMOTE_ADDR=address).status_code == 302
    assert pass_challenge().status_code == 302
    assert client.session[SESSION_KEY]["state"] == "passed"


@pytest.mark.parametrize(
    ("address", "kept"),
    [(ADDRESS_V4, "203.0.113.0"), (ADDRESS_V6, "2001:db8:85a3::")],
)
def test_truncated_addresses_leave_no_whole_address_anywhere(
    client,
    user,
    login,
    pass_challenge,
    guard_settings_override,
    mailoutbox,
    django_capture_on_commit_callbacks,
    address,
    kept,
):
    guard_settings_override(IP_ADDRESSES="truncated")
    client.defaults["REMOTE_ADDR"] = address
    with django_capture_on_commit_callbacks(execute=True):
        sign_in_and_pass(client, login, pass_challenge, address)
    assert LoginCheck.objects.get().ip == kept
    assert Device.objects.get().last_ip == kept
    stored = every_stored_value()
    assert address not in stored
    assert mailoutbox and all(address not in m.body for m in mailoutbox)


def test_none_keeps_no_address_at_all(client, user, login, pass_challenge, guard_settings_override):
    guard_settings_override(IP_ADDRESSES="none")
    client.defaults["REMOTE_ADDR"] = ADDRESS_V4
    sign_in_and_pass(client, login, pass_challenge, ADDRESS_V4)
    assert LoginCheck.objects.get().ip is None
    assert Device.objects.get().last_ip is None
    assert "203.0.113" not in every_stored_value()


def test_limits_still_count_the_whole_address(client, user, login, guard_settings_override):
    """Two neighbours of one /24 are two addresses to the sign-in limit: truncation is for
    what is kept, not for telling clients apart during the request."""
    guard_settings_override(
        IP_ADDRESSES="truncated", SIGN_IN_RATES={"account": None, "address": "1/h"}
    )
    assert login(device="a", REMOTE_ADDR="203.0.113.1").status_code == 302
    client.cookies.clear()
    assert login(device="b", REMOTE_ADDR="203.0.113.2").status_code == 302
    assert LoginCheck.objects.count() == 2  # the second address was not limited
    client.cookies.clear()
    login(device="c", REMOTE_ADDR="203.0.113.2")
    assert LoginCheck.objects.count() == 2  # while the same address again is


def test_full_is_the_default_and_a_bad_value_is_refused(guard_settings_override):
    assert stored_address(ADDRESS_V4) == ADDRESS_V4
    with pytest.raises(ImproperlyConfigured):
        guard_settings_override(IP_ADDRESSES="hashed")
        stored_address(ADDRESS_V4)


def test_no_token_code_or_secret_is_kept_in_any_table_or_log_line(
    client, user, rupt_server, mailoutbox, caplog
):
    """A whole sign-in and its challenge, logged at DEBUG: the identification token, the
    emailed code, Rupt's API secret and the password appear in no table and no log line.
    (django-otp keeps a pending email code in its own row until it is used: checked after
    the challenge passed, as here.)"""
    import logging
    import re

    from rupt_guard.testing.fake_rupt import SECRET

    from .conftest import PASSWORD, WEBHOOK_SECRET

    caplog.set_level(logging.DEBUG)
    token = rupt_server.identify("laptop")
    client.post(
        "/accounts/login/",
        {"username": "alice", "password": PASSWORD, "rupt_identification": token},
    )
    page = client.get("/rupt-guard/challenge/")  # the code is emailed on arrival
    code = re.search(r"Your sign-in code: (\d{6})", mailoutbox[-1].body).group(1)
    device = page.context["method"].device
    client.post("/rupt-guard/challenge/", {"otp_device": device.persistent_id, "otp_token": code})
    assert client.session[SESSION_KEY]["state"] == "passed"
    stored = every_stored_value()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (token, code, SECRET, WEBHOOK_SECRET, PASSWORD):
        assert secret not in stored, secret
        assert secret not in logged, secret


OLD = "2026-01-01T00:00:00Z"


def test_a_row_keeps_only_its_own_entries_of_the_field_we_use(
    client, user, rupt_server, login, pass_challenge, django_capture_on_commit_callbacks
):
    """Rupt's map is the device's: a stranger's verification and keys we never read are
    about other people and stay at Rupt, not in our table."""
    rupt_server.metadata["shared"] = {
        "2fa_verified": [f"stranger-7:{OLD}", f"{user.pk}:{OLD}"],
        "favourite_colour": ["blue"],
    }
    login(device="shared")
    assert Device.objects.get(user=user).metadata == {"2fa_verified": [f"{user.pk}:{OLD}"]}
    with django_capture_on_commit_callbacks(execute=True):
        assert pass_challenge().status_code == 302
    device = Device.objects.get(user=user)
    [entry] = device.metadata["2fa_verified"]
    assert entry.startswith(f"{user.pk}:") and entry != f"{user.pk}:{OLD}"
    assert device.metadata == {"2fa_verified": [entry]}
    # The push writes what our rows know: the stranger had no row here, so no entry.
    assert rupt_server.metadata["shared"] == {
        "2fa_verified": [entry],
        "favourite_colour": ["blue"],
    }
    assert "stranger-7" not in every_stored_value()
    assert "favourite_colour" not in every_stored_value()


def test_two_accounts_on_one_device_each_keep_their_own_entry(
    client,
    user,
    django_user_model,
    rupt_server,
    login,
    pass_challenge,
    django_capture_on_commit_callbacks,
):
    bob = django_user_model.objects.create_user("bob", "bob@example.com", "pw-bob-123456")
    for username, password in (("alice", None), ("bob", "pw-bob-123456")):
        login(username, **({"password": password} if password else {}), device="shared")
        with django_capture_on_commit_callbacks(execute=True):
            assert pass_challenge().status_code == 302
        client.logout()
    entries = rupt_server.metadata["shared"]["2fa_verified"]
    assert sorted(e.split(":")[0] for e in entries) == sorted([str(user.pk), str(bob.pk)])
    for person in (user, bob):
        stored = Device.objects.get(user=person).metadata["2fa_verified"]
        assert [e.split(":")[0] for e in stored] == [str(person.pk)]


def test_a_site_sharing_the_field_keeps_other_sites_entries(
    client,
    user,
    rupt_server,
    login,
    pass_challenge,
    guard_settings_override,
    django_capture_on_commit_callbacks,
):
    """With TRUST_RUPT_METADATA the field is shared with the project's other back ends on
    purpose: dropping their entries at our push would undo their verifications."""
    guard_settings_override(TRUST_RUPT_METADATA=True, ACCOUNT_ID=lambda u: f"acct-{u.pk}")
    rupt_server.metadata["shared"] = {"2fa_verified": [f"acct-999:{OLD}"]}
    login(device="shared")
    with django_capture_on_commit_callbacks(execute=True):
        assert pass_challenge().status_code == 302
    entries = rupt_server.metadata["shared"]["2fa_verified"]
    assert entries[0] == f"acct-999:{OLD}"
    assert entries[1].startswith(f"acct-{user.pk}:")
    assert Device.objects.get(user=user).metadata == {"2fa_verified": entries}


def test_the_migration_trims_rows_written_before_it(user, django_user_model):
    from importlib import import_module

    from django.apps import apps as registry

    migration = import_module("rupt_guard.migrations.0009_trimmed_metadata")
    bob = django_user_model.objects.create_user("bob")
    now = "2026-11-01T00:00:00Z"
    mixed = {"2fa_verified": [f"{user.pk}:{now}", f"{bob.pk}:{now}"], "other": ["x"]}
    alice_row = Device.objects.create(user=user, external_id="shared", metadata=mixed)
    bob_row = Device.objects.create(user=bob, external_id="shared", metadata=mixed)
    untouched = Device.objects.create(user=bob, external_id="quiet", metadata={})

    class Editor:
        connection = connection

    migration.trim_stored_metadata(registry, Editor())
    alice_row.refresh_from_db()
    bob_row.refresh_from_db()
    untouched.refresh_from_db()
    assert alice_row.metadata == {"2fa_verified": [f"{user.pk}:{now}"]}
    assert bob_row.metadata == {"2fa_verified": [f"{bob.pk}:{now}"]}
    assert untouched.metadata == {}
