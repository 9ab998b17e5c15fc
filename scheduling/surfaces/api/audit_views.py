"""``GET /api/schedules/{id}/audit/``: every change to a schedule, at every door, newest first.

A viewset of its own on the schedules' prefix (``routes``), one detail route, needing
``scheduling.view_schedule``. The entries outlive the schedule: a deleted schedule's trail (its
deletion last) is still answered; an id that never had a schedule is a 404.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from orchestrator import audit
from orchestrator.models import AuditEntry
from scheduling.models import Schedule
from scheduling.surfaces.api import serializers as api
from scheduling.surfaces.api.base import ApiView, documented
from scheduling.surfaces.api.pagination import Pagination

#: Digits of the largest key PostgreSQL's bigint holds, less one: a longer id names no row.
MAX_ID_DIGITS = 18


class AuditEntrySerializer(serializers.Serializer[AuditEntry]):
    at = serializers.DateTimeField(read_only=True, help_text="When, in UTC.")
    actor = serializers.CharField(
        read_only=True,
        help_text="Who or what: a username (an API token's user), yaml:<file>, import_celery_beat, "
        "beat_schedule, cli, beat (a resume at its time) or system (a pause after failures).",
    )
    door = serializers.CharField(read_only=True, help_text="admin, web, api, yaml, import, cli, beat or other.")
    action = serializers.CharField(
        read_only=True, help_text="created, changed, deleted, paused, resumed, enabled, disabled or backfill."
    )
    changes = serializers.DictField(
        read_only=True,
        child=serializers.DictField(),
        help_text='The changed fields: {"field": {"before": ..., "after": ...}} (every field on creation and '
        'deletion); a secret is shown as "(hidden)".',
    )


class ScheduleAuditViewSet(ApiView, viewsets.GenericViewSet[Schedule]):
    """A schedule's audit trail."""

    serializer_class = AuditEntrySerializer  # type: ignore[assignment]
    queryset = Schedule.objects.all()
    lookup_value_regex = r"[0-9]+"
    required_permissions = {"audit": ["scheduling.view_schedule"]}

    @documented(
        responses={
            200: AuditEntrySerializer(many=True),
            400: OpenApiResponse(
                description='A bad page or page_size, by name: {"page": ["must be a whole number ..."]}.'
            ),
            401: OpenApiResponse(response=api.ErrorSerializer, description="Authentication required."),
            403: OpenApiResponse(response=api.ErrorSerializer, description="The user lacks scheduling.view_schedule."),
            404: OpenApiResponse(response=api.ErrorSerializer, description="No such schedule (or no such page)."),
        },
        description="Every change to the schedule at every door (admin, /schedules/, API, YAML sync, imports, "
        "CLI, the beat): who, when, and the fields before and after. Newest first, paginated.",
        examples=[
            OpenApiExample(
                "A PATCH of the params",
                response_only=True,
                value={
                    "count": 1,
                    "next": None,
                    "previous": None,
                    "results": [
                        {
                            "at": "2026-12-07T09:30:00Z",
                            "actor": "alice",
                            "door": "api",
                            "action": "changed",
                            "changes": {"params": {"before": {"path": "a.log"}, "after": {"path": "b.log"}}},
                        }
                    ],
                },
            )
        ],
    )
    @action(detail=True, methods=["get"])
    def audit(self, request: Request, pk: str | None = None) -> Response:
        key = int(pk) if pk and pk.isascii() and pk.isdigit() and len(pk) <= MAX_ID_DIGITS else None
        if key is None:  # more digits than a key has: no such schedule, and never had one
            raise NotFound("No Schedule matches the given query.")
        entries = audit.entries_for(Schedule, key)
        if not Schedule.objects.filter(pk=key).exists() and not entries.exists():
            raise NotFound("No Schedule matches the given query.")
        paginator = Pagination()
        page: list[Any] = paginator.paginate_queryset(entries, request, view=self)
        return paginator.get_paginated_response(AuditEntrySerializer(page, many=True).data)  # type: ignore[arg-type]
