"""Admin searches an index can serve: whole or leading parts of usernames, addresses and
device ids, never a "contains" scan of the user table or of millions of devices.

Django's ``search_fields`` search with ``icontains`` (``UPPER(col) LIKE '%term%'``), which
no B-tree index serves. Here the term is first resolved to user ids through the user
model's indexed fields (its ``USERNAME_FIELD``, which Django requires to be unique, and
its email field when the model indexes it), then the rows are found by those ids and by
the device id, each through an index of its own. On PostgreSQL a prefix ``LIKE 'term%'``
uses the ``varchar_pattern_ops`` index Django adds to every indexed text column.

A site that really wants substring matching turns on ``substring_search`` and gives
PostgreSQL trigram indexes (pg_trgm) for it: see docs/operations.md, "Lists of millions of rows".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import Q

# How a term is matched against a text column.
EXACT = "exact"
PREFIX = "prefix"
SUBSTRING = "substring"

# A trigram index cannot serve fewer than three characters (it would read all of itself).
SUBSTRING_MIN_LENGTH = 3

_TEXT_LOOKUPS = {EXACT: "exact", PREFIX: "startswith", SUBSTRING: "icontains"}


def _field(model: Any, name: str) -> models.Field[Any, Any] | None:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return field if isinstance(field, models.Field) else None


def _is_text(field: models.Field[Any, Any]) -> bool:
    return isinstance(field, (models.CharField, models.TextField))


def _is_indexed(field: models.Field[Any, Any]) -> bool:
    # unique or db_index: a B-tree index, and on PostgreSQL Django's "_like" index with
    # varchar_pattern_ops for text columns, which serves LIKE 'term%' in any collation.
    return bool(field.unique or field.db_index)  # type: ignore[attr-defined]  # django-stubs 5.2 lacks Field.db_index


def email_field_name(user_model: Any) -> str | None:
    """The user model's email field, when it has one distinct from its username field."""
    name: str = user_model.get_email_field_name()
    if name == user_model.USERNAME_FIELD or _field(user_model, name) is None:
        return None
    return name


def default_user_fields(*, substring: bool = False) -> list[str]:
    """The user model's fields a search may match: the username field always; the email
    field when an index serves it (or, for ``substring``, the trigram index the manual
    asks for)."""
    user_model = get_user_model()
    names = [user_model.USERNAME_FIELD]
    email = email_field_name(user_model)
    field = _field(user_model, email) if email is not None else None
    if email is not None and field is not None and (substring or _is_indexed(field)):
        names.append(email)
    return names


def text_match(column: str, term: str, how: str, *, fold_case: bool = False) -> Q:
    """``column`` matched with ``term`` (exact, prefix or substring). ``fold_case`` also
    tries the term in lower case: an indexed match is case-sensitive on PostgreSQL, and
    usernames and addresses are mostly stored in lower case."""
    lookup = f"{column}__{_TEXT_LOOKUPS[how]}"
    match = Q(**{lookup: term})
    if fold_case and how != SUBSTRING and term.lower() != term:
        match |= Q(**{lookup: term.lower()})
    return match


def user_match(term: str, how: str, fields: Sequence[str]) -> Q | None:
    """A filter on the user model matching ``term`` in ``fields``; None when no field can
    take it (a numeric username field given letters, say)."""
    user_model = get_user_model()
    match: Q | None = None
    for name in fields:
        field = _field(user_model, name)
        if field is None:
            continue
        if _is_text(field):
            part = text_match(name, term, how, fold_case=True)
        else:
            try:
                part = Q(**{name: field.to_python(term)})
            except ValidationError:
                continue
        match = part if match is None else match | part
    return match


def matching_user_ids(
    term: str, how: str, fields: Sequence[str], limit: int
) -> tuple[list[Any], bool]:
    """The primary keys of at most ``limit`` users matching ``term``, and whether more
    matched. One query on the user table's indexes, stopping after ``limit + 1`` rows."""
    match = user_match(term, how, fields)
    if match is None:
        return [], False
    user_model = get_user_model()
    # No ORDER BY: any order would have to read every match before the first is returned.
    found = list(
        user_model._default_manager.filter(match)
        .order_by()
        .values_list("pk", flat=True)[: limit + 1]
    )
    return found[:limit], len(found) > limit
