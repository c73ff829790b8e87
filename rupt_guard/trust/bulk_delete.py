"""Delete rows by primary key in set form, doing to the rows that point at them what the
ORM's ``on_delete`` would (CASCADE, SET_NULL), with no model instances and no signals.

``QuerySet.delete()`` loads every row it deletes, and every dependant, to send signals and
follow cascades in Python: millions of objects for a retention run. Here one batch is a
fixed list of statements whatever its size: the dependants first (deepest first, each
matched by a subquery on its parent's keys), then the rows themselves. The keys travel as
one parameter (a PostgreSQL array, a JSON array that SQLite's ``json_each`` reads), so a
statement neither grows with the batch nor meets a limit on parameters.

The caller holds the transaction: the rows' keys were read (and locked, where the database
can) in it, so every statement acts on the same rows and no reference dangles at commit.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, models

# S608 below: the SQL is built from quoted table and column names out of the models' _meta,
# never from a value; the keys are always a parameter.

# The boolean that picks the rows a statement acts on, in three parts: the middle one is
# the column compared with the batch's keys, what comes before and after wraps it in the
# subqueries that lead from a dependant to the batch's rows.
Where = tuple[str, str, str]


class NotInSetForm(Exception):
    """A relation whose ``on_delete`` has no set-form equivalent here (PROTECT, SET(...))."""


@dataclass(frozen=True)
class Statement:
    head: str  # "DELETE FROM ... WHERE " or "UPDATE ... SET ... = NULL WHERE "
    where: Where
    counts: str  # "app.Model" (rows deleted) or "app.Model.field" (references cleared)
    clears: bool


@dataclass
class Deleted:
    rows: int = 0
    cascaded: Counter[str] = field(default_factory=Counter)  # other tables' rows deleted
    cleared: Counter[str] = field(default_factory=Counter)  # references set to NULL


def delete_rows(model: type[models.Model], keys: Sequence[Any], using: str) -> Deleted:
    """Delete ``model``'s rows with these primary keys and apply their dependants'
    ``on_delete``; run it inside the transaction that read ``keys``."""
    done = Deleted()
    if not keys:
        return done
    connection = connections[using]
    *dependants, own = statements(model, using)
    # django-stubs 5.2 lacks Field.rel_db_type (the column type of a key pointing here).
    key_type = model._meta.pk.rel_db_type(connection)  # type: ignore[attr-defined]
    matches, params = _keys(connection, keys, key_type)
    with connection.cursor() as cursor:
        for statement in dependants:
            cursor.execute(_sql(statement, matches), params)
            counter = done.cleared if statement.clears else done.cascaded
            counter[statement.counts] += cursor.rowcount
        cursor.execute(_sql(own, matches), params)
        done.rows = cursor.rowcount
    return done


@functools.cache
def statements(model: type[models.Model], using: str) -> tuple[Statement, ...]:
    """What deleting ``model``'s rows takes: its dependants' statements, then its own
    DELETE, last. The same for every batch, so it is worked out once."""
    qn = connections[using].ops.quote_name
    own: Where = ("", f"{qn(model._meta.db_table)}.{qn(model._meta.pk.column)}", "")
    found = _dependants(model, own, is_batch=True, seen=(model,), qn=qn)
    head = f"DELETE FROM {qn(model._meta.db_table)} WHERE "  # noqa: S608
    found.append(Statement(head, own, model._meta.label, False))
    return tuple(found)


def _dependants(
    model: type[models.Model], where: Where, *, is_batch: bool, seen: tuple[type, ...], qn: Any
) -> list[Statement]:
    found: list[Statement] = []
    for relation in _relations(model):
        dependant, fk, on_delete = relation.related_model, relation.field, relation.on_delete
        if on_delete is models.DO_NOTHING:
            continue  # the site said so: the database is left to cope, as the ORM would
        label = dependant._meta.label
        table = qn(dependant._meta.db_table)
        refers = _refers(fk, model, where, is_batch=is_batch, qn=qn)
        if on_delete is models.SET_NULL:
            head = f"UPDATE {table} SET {qn(fk.column)} = NULL WHERE "  # noqa: S608
            found.append(Statement(head, refers, f"{label}.{fk.name}", True))
        elif on_delete is models.CASCADE:
            if dependant in seen:
                # Cascading round a cycle (a tree of rows) takes a closure, not fixed steps.
                raise NotInSetForm(f"{label}.{fk.name} cascades back to {label}.")
            # Its own dependants first: their subqueries still find its rows.
            found += _dependants(dependant, refers, is_batch=False, seen=(*seen, dependant), qn=qn)
            head = f"DELETE FROM {table} WHERE "  # noqa: S608
            found.append(Statement(head, refers, label, False))
        else:
            raise NotInSetForm(
                f"{label}.{fk.name} has on_delete={getattr(on_delete, '__name__', on_delete)}, "
                f"which rupt_guard cannot apply in set form."
            )
    return found


def _relations(model: type[models.Model]) -> list[Any]:
    # As Django's Collector: the reverse many-to-one and one-to-one relations, hidden ones
    # included (a many-to-many's through table points here with a hidden foreign key).
    return [
        rel
        for rel in model._meta.get_fields(include_hidden=True)
        if rel.auto_created and not rel.concrete and (rel.one_to_one or rel.one_to_many)
    ]


def _refers(
    fk: models.ForeignKey[Any, Any],
    parent: type[models.Model],
    where: Where,
    *,
    is_batch: bool,
    qn: Any,
) -> Where:
    """The dependant rows whose ``fk`` points at one of ``parent``'s rows picked by ``where``."""
    column = f"{qn(fk.model._meta.db_table)}.{qn(fk.column)}"
    if is_batch and fk.target_field.primary_key:
        return ("", column, "")  # it holds the batch's keys themselves
    table = qn(parent._meta.db_table)
    before, keys, after = where
    target = f"{table}.{qn(fk.target_field.column)}"
    subquery = f"{column} IN (SELECT {target} FROM {table} WHERE {before}"  # noqa: S608
    return (subquery, keys, f"{after})")


def _sql(statement: Statement, matches: str) -> str:
    before, column, after = statement.where
    return statement.head + before + matches.format(column=column) + after


def _keys(connection: Any, keys: Sequence[Any], pk_type: str) -> tuple[str, list[Any]]:
    """How a statement says "{column} is one of the keys", and its parameters."""
    if connection.vendor == "postgresql":
        if all(isinstance(key, int | uuid.UUID) for key in keys):
            # The array's text, made once a batch: psycopg would adapt the list item by item
            # for every statement (several milliseconds per 10,000 keys, each time).
            array: Any = "{" + ",".join(map(str, keys)) + "}"
        else:
            array = list(keys)
        return "{column} = ANY(%s::" + pk_type + "[])", [array]
    if connection.vendor == "sqlite":
        # JSON1 is there wherever Django's JSONField works, which rupt_guard's models need.
        # A UUID as the column stores it: 32 hex digits.
        values = json.dumps([key.hex if isinstance(key, uuid.UUID) else key for key in keys])
        return "{column} IN (SELECT value FROM json_each(%s))", [values]
    # Not tested here: a plain list, one parameter a key.
    return "{column} IN (" + ", ".join(["%s"] * len(keys)) + ")", list(keys)
