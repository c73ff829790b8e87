"""Migration operations that change big tables without stopping sign-ins.

On PostgreSQL an index is built ``CONCURRENTLY``: writes go on while it is built, where a
plain ``CREATE INDEX`` would hold every sign-in's INSERT for as long as it takes over
millions of rows. Elsewhere (SQLite, MariaDB) they are Django's own operations. A
migration using them must say ``atomic = False``: PostgreSQL builds concurrently only
outside a transaction.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.db.models import UniqueConstraint


def _on_postgres(schema_editor: Any) -> bool:
    return bool(schema_editor.connection.vendor == "postgresql")


def _drop_invalid(schema_editor: Any, name: str) -> None:
    """A CONCURRENTLY build that failed (a timeout, a killed deploy) leaves an INVALID index
    of that name; it would block the next build, so the next ``migrate`` drops it first."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(%s) AND NOT indisvalid",
            [schema_editor.quote_name(name)],
        )
        invalid = cursor.fetchone() is not None
    if invalid:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")


def _if_not_exists(sql: str, prefix: str) -> str:
    if not sql.startswith(prefix):  # pragma: no cover - Django changed its SQL
        raise ValueError(f"Unexpected SQL for an index: {sql}")
    return f"{prefix}CONCURRENTLY IF NOT EXISTS {sql[len(prefix) :]}"


def _model_online(operation: Any, app_label: str, schema_editor: Any, state: Any) -> Any | None:
    """The model ``operation`` changes on PostgreSQL, or None when this database does not
    hold it (a router's ``allow_migrate``)."""
    model = state.apps.get_model(app_label, operation.model_name)
    return model if operation.allow_migrate_model(schema_editor.connection.alias, model) else None


class AddIndexOnline(migrations.AddIndex):
    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if not _on_postgres(schema_editor):
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        elif (model := _model_online(self, app_label, schema_editor, to_state)) is not None:
            _drop_invalid(schema_editor, self.index.name)
            sql = str(self.index.create_sql(model, schema_editor))
            # Run again after a failure that left a valid index: nothing to do.
            schema_editor.execute(_if_not_exists(sql, "CREATE INDEX "))

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if not _on_postgres(schema_editor):
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        elif (model := _model_online(self, app_label, schema_editor, from_state)) is not None:
            schema_editor.remove_index(model, self.index, concurrently=True)


class RemoveIndexOnline(migrations.RemoveIndex):
    """DROP INDEX CONCURRENTLY on PostgreSQL: a plain DROP INDEX waits for every open
    transaction on the table and holds up every sign-in that comes after it meanwhile."""

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if not _on_postgres(schema_editor):
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        elif _model_online(self, app_label, schema_editor, from_state) is not None:
            schema_editor.execute(
                f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(self.name)}"
            )


class AddUniqueConstraintOnline(migrations.AddConstraint):
    """A partial unique constraint, which PostgreSQL keeps as a unique index."""

    constraint: UniqueConstraint  # set by AddConstraint.__init__

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if not _on_postgres(schema_editor):
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        elif (model := _model_online(self, app_label, schema_editor, to_state)) is not None:
            _drop_invalid(schema_editor, self.constraint.name)
            sql = str(self.constraint.create_sql(model, schema_editor))
            schema_editor.execute(_if_not_exists(sql, "CREATE UNIQUE INDEX "))
