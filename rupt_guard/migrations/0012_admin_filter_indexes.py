# Written for Django 5.2 (the operations makemigrations gives, built online).

from django.db import migrations, models

from rupt_guard.online_migrations import AddIndexOnline, RemoveIndexOnline


class Migration(migrations.Migration):
    """An index behind every filter and search of the admin (issue 17).

    Built CONCURRENTLY on PostgreSQL (AddIndexOnline), which cannot run in a transaction:
    sign-ins keep writing to these tables while the indexes are built.
    """

    atomic = False

    dependencies = [
        ("rupt_guard", "0011_token_once_index"),
    ]

    operations = [
        # The device id's index, with varchar_pattern_ops on PostgreSQL: it serves the
        # equality lookups the old one did, and the admin's prefix search in any collation.
        AddIndexOnline(
            model_name="device",
            index=models.Index(
                fields=["external_id"],
                name="rupt_guard_dev_ext_prefix",
                opclasses=["varchar_pattern_ops"],
            ),
        ),
        AddIndexOnline(
            model_name="device",
            index=models.Index(
                condition=models.Q(("verified_at__isnull", False)),
                fields=["last_seen_at"],
                name="rupt_guard_dev_verified",
            ),
        ),
        AddIndexOnline(
            model_name="device",
            index=models.Index(
                condition=models.Q(("verified_at__isnull", True)),
                fields=["last_seen_at"],
                name="rupt_guard_dev_unverified",
            ),
        ),
        AddIndexOnline(
            model_name="device",
            index=models.Index(
                condition=models.Q(("blocked_at__isnull", False)),
                fields=["last_seen_at"],
                name="rupt_guard_dev_blocked",
            ),
        ),
        AddIndexOnline(
            model_name="logincheck",
            index=models.Index(fields=["source", "-created_at"], name="rupt_guard_check_source"),
        ),
        AddIndexOnline(
            model_name="logincheck",
            index=models.Index(
                condition=models.Q(("provider_error", ""), _negated=True),
                fields=["provider_error", "-created_at"],
                name="rupt_guard_check_error",
            ),
        ),
        AddIndexOnline(
            model_name="trustevent",
            index=models.Index(fields=["action", "-created_at"], name="rupt_guard_event_action"),
        ),
        # Last, once its replacement serves; dropped CONCURRENTLY on PostgreSQL.
        RemoveIndexOnline(
            model_name="device",
            name="rupt_guard_dev_external",
        ),
    ]
