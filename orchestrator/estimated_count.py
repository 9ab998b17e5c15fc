"""Counting a list of the history without ``COUNT(*)``: the planner's row estimate when it is unfiltered.

The run and occurrence tables grow without bound. The admin's changelist counts its rows for the
paginator on every page: a full scan, 0.1 s at a million runs and ten times that at ten million.
Unfiltered, the count only sizes the page links, and PostgreSQL's own estimate (``reltuples``,
kept by ``ANALYZE`` and autovacuum) is good enough; filtered lists (usually small) and small
tables keep the exact count.
"""

from __future__ import annotations

from typing import Any

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


def is_unfiltered(queryset: QuerySet[Any]) -> bool:
    return not queryset.query.where and not queryset.query.distinct


class EstimatedCountPaginator(Paginator):  # type: ignore[type-arg]
    """A ``Paginator`` whose count of an unfiltered, large table is the planner's estimate, not ``COUNT(*)``."""

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        if isinstance(rows, QuerySet) and is_unfiltered(rows):
            estimate = estimated_rows(rows.model, using=rows.db)
            if estimate is not None and estimate >= EXACT_BELOW:
                return estimate
        return int(super().count)
