"""Page-number pagination: ``?page=N&page_size=M`` (M at most 500); a malformed value is a 400, not ignored."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination

from orchestrator.estimated_count import EstimatedCountPaginator

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from rest_framework.request import Request
    from rest_framework.views import APIView


def _whole_number(request: Request, name: str, maximum: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    # At most 18 digits: int() of thousands refuses to convert them (ValueError), and no page is that far.
    well_formed = raw.isascii() and raw.isdigit() and len(raw) <= 18
    if not well_formed or int(raw) < 1 or (maximum is not None and int(raw) > maximum):
        limit = f" to {maximum}" if maximum is not None else " or more"
        raise ValidationError({name: [f"must be a whole number from 1{limit}, not {raw!r}"]})
    return int(raw)


#: How deep numbered pages of the history lists reach. A page reads every row before it (an
#: ``OFFSET``): the middle of a busy schedule's 3 million occurrences took 41 s of the database.
DEEPEST_ROW = 10_000


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    #: Numbered pages end at this row (page x page_size); None: they do not end.
    deepest_row: int | None = None

    def get_page_size(self, request: Request) -> int:
        return _whole_number(request, "page_size", self.max_page_size) or self.page_size

    def paginate_queryset(self, queryset: QuerySet[Any], request: Request, view: APIView | None = None) -> list[Any]:
        number = _whole_number(request, "page", None) or 1
        if self.deepest_row is not None and (number - 1) * (size := self.get_page_size(request)) >= self.deepest_row:
            raise ValidationError(
                {
                    "page": [
                        f"page {number} of {size} rows starts past row {self.deepest_row:,}, where numbered pages "
                        "end (a deeper one reads every row before it): narrow the list with its time filters, or "
                        "follow `cursor` pages where the list offers them"
                    ]
                }
            )
        return list(super().paginate_queryset(queryset, request, view) or [])

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == "page_size":
                parameter["schema"]["maximum"] = self.max_page_size
            if parameter["name"] == "page" and self.deepest_row is not None:
                parameter["description"] = (
                    f"A page number. Numbered pages reach the first {self.deepest_row:,} rows (page x page_size); "
                    "past them: the time filters, or `cursor` where offered."
                )
        return parameters


class EstimatedCountPagination(Pagination):
    """For lists of the history: from 100,000 rows (estimated) on, ``count`` is PostgreSQL's estimate.

    Counting ten million runs, or a busy schedule's millions of occurrences, took longer than the
    page itself. Below that the count is exact. Numbered pages end at row ``DEEPEST_ROW``; past it
    a request is a 400 that says how to get there: the list's time filters, or ``cursor`` pages
    (a schedule's history), which cost the same at any depth.
    """

    django_paginator_class = EstimatedCountPaginator
    deepest_row = DEEPEST_ROW
