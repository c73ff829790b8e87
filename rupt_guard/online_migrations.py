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


def _on_postgres(schema_editor: Any) -> bool:
    return bool(schema_editor.connection.vendor == "postgresql")


class AddIndexOnline(migrations.AddIndex):
    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if not _on_postgres(schema_editor):
            super().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, concurrently=True)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if not _on_postgres(schema_editor):
            super().database_backwards(app_label, schema_editor, from_state, to_state)
            return
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)


class AddUniqueConstraintOnline(migrations.AddConstraint):
    """A partial unique constraint, which PostgreSQL keeps as a unique index."""

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if not _on_postgres(schema_editor):
            super().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            sql = str(self.constraint.create_sql(model, schema_editor))
            prefix = "CREATE UNIQUE INDEX "
            if not sql.startswith(prefix):  # pragma: no cover - Django changed its SQL
                raise ValueError(f"Unexpected SQL for a partial unique constraint: {sql}")
            schema_editor.execute(prefix + "CONCURRENTLY " + sql[len(prefix) :])
