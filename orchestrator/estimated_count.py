"""Counting a list of the history without ``COUNT(*)``: the planner's row estimate when the list is large.

The run and occurrence tables grow without bound. A paginated list counts its rows on every page:
a full scan, 0.1 s at a million runs and ten times that at ten million, and the same for one busy
schedule's history. The count only sizes the page links, and PostgreSQL's own estimate is good
enough there: ``reltuples`` (kept by ``ANALYZE`` and autovacuum) for an unfiltered table, the
plan's row estimate for a filtered list. Below ``EXACT_BELOW`` estimated rows the count is exact.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Model, QuerySet
from django.utils.functional import cached_property

#: Below this estimate the exact count is cheap enough, and exact.
EXACT_BELOW = 100_000


def estimated_rows(model: type[Model], *, using: str = "default") -> int | None:
    """PostgreSQL's estimate of ``model``'s table's rows; None elsewhere or when never analysed."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table])
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0:
        return None
    return int(row[0])


def planned_rows(queryset: QuerySet[Any]) -> int | None:
    """The planner's estimate of ``queryset``'s rows (``EXPLAIN``, nothing run); None off PostgreSQL.

    None too for a query Django knows is empty without asking (``pk__in=[]``): it has no SQL.
    """
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    try:
        sql, params = queryset.order_by().query.sql_with_params()
    except EmptyResultSet:
        return None
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def is_unfiltered(queryset: QuerySet[Any]) -> bool:
    return not queryset.query.where and not queryset.query.distinct


class EstimatedCountPaginator(Paginator):  # type: ignore[type-arg]
    """A ``Paginator`` whose count of a large list is the planner's estimate, not ``COUNT(*)``."""

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        if isinstance(rows, QuerySet):
            estimate = estimated_rows(rows.model, using=rows.db) if is_unfiltered(rows) else planned_rows(rows)
            if estimate is not None and estimate >= EXACT_BELOW:
                return estimate
        return int(super().count)
