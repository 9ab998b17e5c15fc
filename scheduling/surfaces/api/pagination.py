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


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int:
        return _whole_number(request, "page_size", self.max_page_size) or self.page_size

    def paginate_queryset(self, queryset: QuerySet[Any], request: Request, view: APIView | None = None) -> list[Any]:
        _whole_number(request, "page", None)
        return list(super().paginate_queryset(queryset, request, view) or [])

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == "page_size":
                parameter["schema"]["maximum"] = self.max_page_size
        return parameters


class EstimatedCountPagination(Pagination):
    """For lists of the history: from 100,000 rows (estimated) on, ``count`` is PostgreSQL's estimate.

    Counting ten million runs, or a busy schedule's millions of occurrences, took longer than the
    page itself. Below that the count is exact. Deep pages by number still read every row before
    them: a schedule's history offers ``cursor`` for those.
    """

    django_paginator_class = EstimatedCountPaginator
