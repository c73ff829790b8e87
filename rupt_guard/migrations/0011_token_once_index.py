from django.db import migrations, models

from rupt_guard.online_migrations import AddUniqueConstraintOnline


class Migration(migrations.Migration):
    # Built CONCURRENTLY on PostgreSQL, which cannot be done in a transaction; alone in its
    # migration, so a build that fails can simply be run again.
    atomic = False

    dependencies = [
        ("rupt_guard", "0010_one_write_per_sign_in"),
    ]

    operations = [
        AddUniqueConstraintOnline(
            model_name="logincheck",
            constraint=models.UniqueConstraint(
                condition=models.Q(("token_digest__isnull", False)),
                fields=("token_digest",),
                name="rupt_guard_check_token_once",
            ),
        ),
    ]
