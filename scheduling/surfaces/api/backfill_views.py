"""Backfills in the API: ``POST /api/schedules/{id}/backfill/`` (a dry run or a request), ``/api/backfills/``.

The views parse and answer; ``scheduling.engine.backfills`` validates (errors keyed by field),
records and cancels. A request answers ``202``: the beats create the occurrences a batch at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from orchestrator import rules
from scheduling.engine import backfills
from scheduling.models import Backfill, Schedule
from scheduling.surfaces.api.base import ApiView, documented
from scheduling.surfaces.api.fields import json_kind
from scheduling.surfaces.api.serializers import ErrorSerializer

VIEW_BACKFILL = "scheduling.view_backfill"

_ERRORS = {
    400: OpenApiResponse(
        response=OpenApiTypes.OBJECT,
        description='Invalid input: each field with its messages, e.g. {"end": ["must be after start"]}.',
    ),
    401: OpenApiResponse(response=ErrorSerializer, description="Authentication required."),
    403: OpenApiResponse(response=ErrorSerializer, description="The user lacks the model permission."),
    404: OpenApiResponse(response=ErrorSerializer, description="No such object."),
}


@extend_schema_field(OpenApiTypes.DATETIME)
class MomentField(serializers.Field):  # type: ignore[type-arg]
    """An ISO 8601 date and time as JSON text; its zone is required (checked by the engine, by field)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            raise serializers.ValidationError(f"must be a date and time in ISO 8601, as text, not {json_kind(data)}")
        try:
            parsed = parse_datetime(data.strip()) if len(data) <= 64 else None
        except ValueError as exc:  # well-formed but impossible: minute 99, an offset of 25 hours
            raise serializers.ValidationError(f"is not a valid date and time: {exc}") from exc
        if parsed is None:
            raise serializers.ValidationError("must be a date and time in ISO 8601, e.g. 2026-01-01T00:00:00Z")
        return parsed

    def to_representation(self, value: Any) -> Any:
        return serializers.DateTimeField().to_representation(value)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            raise serializers.ValidationError(f"must be true or false, not {json_kind(data)}")
        return data


class BackfillRequestSerializer(serializers.Serializer[dict[str, Any]]):
    start = MomentField(help_text="First moment of the range (included), with its zone, e.g. `2026-01-01T00:00:00Z`.")
    end = MomentField(help_text="End of the range (excluded); not after now: a backfill fills the past.")
    overlap_policy = serializers.ChoiceField(
        choices=backfills.POLICIES,
        default=backfills.POLICIES[0],
        help_text="`buffer_all` (default): one run after another. `allow`: all at once (the limits still apply).",
    )
    dry_run = StrictBooleanField(
        default=False, help_text="List the fire times (first 1000) and their count; write nothing."
    )


class BackfillSerializer(serializers.ModelSerializer[Backfill]):
    class Meta:
        model = Backfill
        fields = [
            "id", "schedule", "start", "end", "count", "created", "status", "overlap_policy",
            "requested_by", "created_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class ProgressSerializer(serializers.Serializer[dict[str, Any]]):
    occurrences = serializers.DictField(child=serializers.IntegerField(), help_text="Its occurrences by status.")
    runs = serializers.DictField(child=serializers.IntegerField(), help_text="Their runs by run status.")


class BackfillDetailSerializer(BackfillSerializer):
    progress = serializers.SerializerMethodField()

    class Meta(BackfillSerializer.Meta):
        fields = [*BackfillSerializer.Meta.fields, "progress"]
        read_only_fields = fields

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, backfill: Backfill) -> dict[str, dict[str, int]]:
        return backfill.progress()


class FireTimeSerializer(serializers.Serializer[dict[str, Any]]):
    at = serializers.DateTimeField()
    excluded = serializers.CharField(allow_null=True, help_text="The calendar that excludes it, or null.")


class DryRunSerializer(serializers.Serializer[dict[str, Any]]):
    count = serializers.IntegerField(help_text="Fire times in [start, end).")
    existing = serializers.IntegerField(help_text="Of them, the ones with an occurrence already (left alone).")
    fire_times = FireTimeSerializer(many=True, help_text="The first 1000 without an occurrence, oldest first.")


def _by(request: Request) -> str:
    return str(request.user.get_username())


class ScheduleBackfillActions:
    """Mixed into ``ScheduleViewSet``: ``POST /api/schedules/{id}/backfill/`` (needs ``scheduling.add_backfill``)."""

    required_permissions: dict[str, Sequence[str] | rules.Rule] = {"backfill": rules.BACKFILL}

    @documented(
        request=BackfillRequestSerializer,
        responses={202: BackfillSerializer, 200: DryRunSerializer, **_ERRORS},
        description="Create every fire time of the schedule in [start, end) that has no occurrence yet, once "
        "(trigger `backfill`, through the one run path, limits respected; excluded fire times are recorded "
        "skipped). The beats create them in batches; follow `GET /api/backfills/{id}/`. With `dry_run` the "
        "answer lists the fire times and nothing is written. Backfill runs do not take `remaining_runs`.",
        examples=[
            OpenApiExample(
                "A week, one run after another",
                request_only=True,
                value={"start": "2026-01-01T00:00:00Z", "end": "2026-01-08T00:00:00Z"},
            ),
        ],
    )
    @action(detail=True, methods=["post"])
    def backfill(self: Any, request: Request, pk: str | None = None) -> Response:
        schedule: Schedule = self.get_object()
        body = BackfillRequestSerializer(data=request.data if isinstance(request.data, dict) else {})
        body.is_valid(raise_exception=True)
        given = body.validated_data
        now = timezone.now()
        if given["dry_run"]:
            preview = backfills.dry_run(schedule, start=given["start"], end=given["end"],
                                        overlap_policy=given["overlap_policy"], now=now)  # fmt: skip
            shown = {"count": preview.count, "existing": preview.existing, "fire_times": preview.fire_times}
            return Response(DryRunSerializer(shown).data)
        backfill = backfills.request(
            schedule, start=given["start"], end=given["end"], overlap_policy=given["overlap_policy"],
            by=_by(request), now=now,
        )  # fmt: skip
        return Response(
            BackfillSerializer(backfill).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": f"/api/backfills/{backfill.pk}/"},
        )


@extend_schema_view(
    list=documented(responses={200: BackfillSerializer, **_ERRORS}),
    retrieve=documented(responses={200: BackfillDetailSerializer, **_ERRORS}),
)
class BackfillViewSet(ApiView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Backfill]):
    """Backfills, newest first, and their progress (``?schedule=<id>`` lists one schedule's)."""

    serializer_class = BackfillSerializer
    lookup_value_regex = r"[0-9]+"
    required_permissions = {
        "list": [VIEW_BACKFILL],
        "retrieve": [VIEW_BACKFILL],
        "metadata": [VIEW_BACKFILL],
        "cancel": rules.CANCEL_BACKFILL,
    }

    def get_queryset(self) -> QuerySet[Backfill]:
        rows = Backfill.objects.order_by("-created_at", "-id")
        if self.action == "list":
            schedule = self.request.query_params.get("schedule")
            if schedule is not None:
                if not schedule.isascii() or not schedule.isdigit():
                    raise serializers.ValidationError({"schedule": ["must be a schedule id (a whole number)"]})
                rows = rows.filter(schedule_id=int(schedule))
        return rows

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return BackfillSerializer if self.action == "list" else BackfillDetailSerializer

    @documented(
        request=None,
        responses={
            200: BackfillDetailSerializer,
            409: OpenApiResponse(response=ErrorSerializer, description="The backfill is no longer running."),
            **_ERRORS,
        },
        description="Cancel a running backfill: its buffered occurrences are skipped and its runs not yet "
        "started are cancelled; runs already running finish, and what ran stays.",
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        backfill = backfills.cancel(self.get_object(), by=_by(request), now=timezone.now())
        return Response(BackfillDetailSerializer(backfill).data)
