"""Bounded admin pages: a paginator that never counts a huge list row by row, and a change
list that never lets a page number or a sort send the database through millions of rows.

Django's admin counts every list it shows (``COUNT(*)``) and links to its last page
(``OFFSET`` of nearly every row). On a table of millions, both read the whole table or
index. :class:`BoundedPaginator` counts at most ``count_limit`` rows of a filtered list,
takes the size of a bigger one from PostgreSQL's planner, and offers only the pages within
the first ``count_limit`` rows: to see further, staff narrow the list with a filter or a
search, which is what they do anyway.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from math import ceil
from typing import Any, Literal

from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Expression, QuerySet
from django.utils.formats import number_format
from django.utils.translation import gettext

# How a paginator's count was found (BoundedPaginator.count_kind).
EXACT = "exact"
ESTIMATE = "estimate"  # the planner's figure: shown as "about N"
AT_LEAST = "at_least"  # counting stopped at the limit, no estimate: "more than N"


class BoundedPaginator(Paginator):  # type: ignore[type-arg]  # not subscriptable at run time
    """A paginator whose count and deepest page are bounded, whatever the table's size.

    - An unfiltered list larger than ``estimate_above`` rows takes its count from
      PostgreSQL's statistics (``pg_class.reltuples``, kept by autovacuum's ANALYZE).
    - Any other list is counted for real, up to ``count_limit`` rows: the count reads the
      list's own ``ORDER BY ... LIMIT``, so it follows the index that serves the page.
      Beyond that, PostgreSQL's planner estimates the filtered list's size ("about N");
      elsewhere the count says "more than ``count_limit``".
    - Only the pages within the first ``count_limit`` rows are offered.

    ``count`` stays an ``int`` (Django's admin compares and pluralises it);
    ``count_kind`` and ``describe_count()`` tell templates how to show it.
    """

    estimate_above = 10_000
    count_limit = 10_000

    _count_kind = EXACT

    @cached_property
    def count(self) -> int:
        estimate = self._table_estimate()
        if estimate is not None and estimate > self.estimate_above:
            self._count_kind = ESTIMATE
            return estimate
        counted = self._count_up_to(self.count_limit + 1)
        if counted <= self.count_limit:
            return counted
        planned = self._planner_estimate()
        if planned is not None and planned > self.count_limit:
            self._count_kind = ESTIMATE
            return planned
        self._count_kind = AT_LEAST
        return counted

    @property
    def count_kind(self) -> str:
        """How ``count`` was found: EXACT, ESTIMATE or AT_LEAST."""
        self.count  # noqa: B018 - counting sets it
        return self._count_kind

    @cached_property
    def num_pages(self) -> int:
        if self.count == 0 and not self.allow_empty_first_page:
            return 0
        pages = ceil(max(1, self.count - self.orphans) / self.per_page)
        # The deepest page reads OFFSET + LIMIT rows: keep it within count_limit.
        return min(pages, max(1, self.count_limit // self.per_page))

    @property
    def is_bounded(self) -> bool:
        """Whether the list may go on past the pages offered."""
        return self.count_kind != EXACT or self.count > self.count_limit

    def describe_count(self) -> str:
        """The count as the admin shows it: "42", "about 1,200,000", "more than 10,000"."""
        count = self.count
        if self.count_kind == ESTIMATE:
            return gettext("about %(count)s") % {"count": number_format(count)}
        if self.count_kind == AT_LEAST:
            return gettext("more than %(count)s") % {"count": number_format(self.count_limit)}
        return number_format(count)

    def _queryset(self) -> QuerySet[Any] | None:
        return self.object_list if isinstance(self.object_list, QuerySet) else None

    def _count_up_to(self, limit: int) -> int:
        queryset = self._queryset()
        if queryset is None:
            return len(self.object_list)
        # COUNT(*) over "SELECT <ordering columns> ... ORDER BY <the list's order> LIMIT n":
        # the ordering is kept in the subquery, so PostgreSQL reads the index that serves
        # the page, n entries at most. The primary-key tie-breaker Django's change list
        # adds, and the other columns, would make each entry a row to read as well: with
        # the index's columns alone the count can be an index-only scan.
        pk_names = {"pk", queryset.model._meta.pk.name, queryset.model._meta.pk.attname}
        ordering = [
            field
            for field in queryset.query.order_by
            if not (isinstance(field, str) and field.lstrip("-") in pk_names)
        ]
        names = [field for field in ordering if isinstance(field, str)]
        if ordering and len(names) == len(ordering):
            queryset = queryset.order_by(*names).values(*(f.lstrip("-") for f in names))
        return queryset[:limit].count()

    def _table_estimate(self) -> int | None:
        """The planner's row count of an unfiltered list's table (PostgreSQL only)."""
        queryset = self._queryset()
        if queryset is None:
            return None
        query = queryset.query
        if query.where or query.is_sliced or query.combinator or query.distinct:
            return None
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return None
        table = connection.ops.quote_name(queryset.model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [table])
            row = cursor.fetchone()
        # reltuples is -1 for a table that was never analysed.
        if row is None or row[0] is None or row[0] < 0:
            return None
        return int(row[0])

    def _planner_estimate(self) -> int | None:
        """How many rows PostgreSQL's planner expects the (filtered) list to have: a plan,
        not a scan. None elsewhere, or when the plan cannot be read."""
        queryset = self._queryset()
        if queryset is None or connections[queryset.db].vendor != "postgresql":
            return None
        explained = queryset.order_by().explain(format="json")
        try:
            plan = json.loads(explained)
            if isinstance(plan, list):  # EXPLAIN's JSON is a list of one plan
                plan = plan[0]
            return int(plan["Plan"]["Plan Rows"])
        except (IndexError, KeyError, TypeError, ValueError):  # unknown format: no estimate
            return None


class BoundedChangeList(ChangeList):
    """A change list whose page is found on the list's own table and index, and which sorts
    only by the columns in ``sortable_by``.

    - The page's primary keys come first (``SELECT id ... ORDER BY ... LIMIT/OFFSET``, no
      join), then its rows with their ``list_select_related`` joins, for those keys only.
      Asked in one query, the database would join the rows the OFFSET skips too, and for
      a list it expects to be long (before knowing it is empty, say) would rather scan
      the joined tables whole. The devices page does the same.
    - Django's ``sortable_by`` only hides the other columns' sort links: ``?o=`` in the URL
      would still sort by them, which on a big table means sorting every row.
    """

    def get_results(self, request: Any) -> None:
        super().get_results(request)
        page = self.result_list
        if isinstance(page, QuerySet):
            if not page.query.is_sliced:  # one page only, or "show all": a few rows
                page = page[: max(self.list_per_page, self.list_max_show_all)]
            keys = list(page.values_list("pk", flat=True))
            self.result_list = self.queryset.filter(pk__in=keys)

    def get_ordering_field(self, field_name: Callable[..., Any] | str) -> Expression | str | None:
        if self.sortable_by is not None and field_name not in self.sortable_by:
            return None
        return super().get_ordering_field(field_name)

    def get_ordering_field_columns(self) -> dict[int, Literal["asc", "desc"]]:
        # The headers show as sorted only the columns the list is really sorted by.
        columns = super().get_ordering_field_columns()
        return {
            index: order
            for index, order in columns.items()
            if 0 <= index < len(self.list_display)
            and self.get_ordering_field(self.list_display[index])
        }
