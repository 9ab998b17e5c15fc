"""API views: parse, call a model method or a service, answer. No business logic lives here."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from orchestrator import constraints, rules
from orchestrator.cancelling import cancel_runs
from orchestrator.errors import RowDeletedError
from orchestrator.models import Job, Run, RunStatus, RunTrigger
from scheduling.models import Schedule, ScheduledRun
from scheduling.models.occurrences import history_order
from scheduling.surfaces import actions, control_state, pausing
from scheduling.surfaces.api import filters as query_filters
from scheduling.surfaces.api import keyset
from scheduling.surfaces.api import serializers as api
from scheduling.surfaces.api.backfill_views import ScheduleBackfillActions
from scheduling.surfaces.api.base import ApiView, documented
from scheduling.surfaces.api.errors import Conflict
from scheduling.surfaces.api.overview import ScheduleDetailSerializer
from scheduling.surfaces.api.pagination import EstimatedCountPagination, Pagination

VIEW_SCHEDULE = "scheduling.view_schedule"
VIEW_RUN = "orchestrator.view_run"
_CANCELLABLE = (RunStatus.PENDING, RunStatus.QUEUED, RunStatus.RUNNING)

_ERRORS = {
    400: OpenApiResponse(
        response=OpenApiTypes.OBJECT,
        description='Invalid input: each field with its messages, e.g. {"cron": ["..."]} (or {"detail": "..."}).',
    ),
    401: OpenApiResponse(response=api.ErrorSerializer, description="Authentication required."),
    403: OpenApiResponse(response=api.ErrorSerializer, description="The user lacks the model permission."),
}
_NOT_FOUND = {404: OpenApiResponse(response=api.ErrorSerializer, description="No such object (or no such page).")}


def query(serializer_class: type[serializers.Serializer[Any]], request: Request) -> dict[str, Any]:
    """Validated query parameters (a 400 naming the parameter when one is invalid)."""
    data: dict[str, str] = {}
    for name in [str(key) for key in serializer_class().fields]:
        values = request.query_params.getlist(name)
        if len(values) > 1:
            raise ValidationError({name: ["give this parameter once"]})
        if values:
            data[name] = values[0]  # a plain dict: an empty value is validated, not taken as absent
    parsed = serializer_class(data=data)
    parsed.is_valid(raise_exception=True)
    return dict(parsed.validated_data)


@extend_schema_view(
    list=documented(
        parameters=[query_filters.ScheduleFilterSerializer],
        responses={200: api.ScheduleSerializer, **_ERRORS, **_NOT_FOUND},
    ),
    create=documented(
        request=api.ScheduleCreateSerializer,
        responses={201: api.ScheduleSerializer, **_ERRORS},
        examples=[
            OpenApiExample(
                "A daily cron in Berlin time",
                request_only=True,
                value={
                    "name": "nightly-report",
                    "job": "noop",
                    "cron": "0 2 * * *",
                    "timezone": "Europe/Berlin",
                    "overlap_policy": "skip",
                    "misfire_policy": "run_once",
                },
            ),
            OpenApiExample(
                "Every five minutes",
                request_only=True,
                value={"name": "every-5m", "job": "noop", "kind": "interval", "interval_seconds": 300},
            ),
        ],
    ),
    retrieve=documented(responses={200: ScheduleDetailSerializer, **_ERRORS, **_NOT_FOUND}),
    partial_update=documented(responses={200: api.ScheduleSerializer, **_ERRORS, **_NOT_FOUND}),
    destroy=documented(responses={204: None, **_ERRORS, **_NOT_FOUND}),
)
class ScheduleViewSet(ScheduleBackfillActions, ApiView, viewsets.ModelViewSet[Schedule]):
    """Schedules: what runs when. Validation is the model's, the same as the admin's."""

    serializer_class = api.ScheduleSerializer
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_permissions = {
        "list": [VIEW_SCHEDULE],
        "retrieve": [VIEW_SCHEDULE],
        "metadata": [VIEW_SCHEDULE],
        "create": ["scheduling.add_schedule"],
        "partial_update": ["scheduling.change_schedule"],
        "destroy": ["scheduling.delete_schedule"],
        "enable": rules.ENABLE_DISABLE,
        "disable": rules.ENABLE_DISABLE,
        "run_now": rules.RUN_NOW,
        "history": [VIEW_SCHEDULE, "scheduling.view_scheduledrun", VIEW_RUN],
        **ScheduleBackfillActions.required_permissions,
    }

    def get_queryset(self) -> QuerySet[Schedule]:
        rows = Schedule.objects.select_related("job", "directive").prefetch_related("calendars")
        if self.action != "list":
            return rows
        filters = query(query_filters.ScheduleFilterSerializer, self.request)
        if filters.get("enabled") is not None:
            rows = rows.filter(enabled=filters["enabled"])
        if "job" in filters:
            rows = rows.filter(job__key=filters["job"])
        if "tenant" in filters:
            rows = rows.filter(tenant=filters["tenant"])
        if "kind" in filters:
            rows = rows.filter(kind=filters["kind"])
        if "source" in filters:
            rows = rows.filter(source=filters["source"])
        if filters.get("name"):
            rows = rows.filter(name__icontains=filters["name"])
        if "state" in filters:
            rows = rows.filter(control_state.having(filters["state"]))
        return rows.order_by("name")

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        if self.action == "retrieve":
            return ScheduleDetailSerializer
        return api.ScheduleCreateSerializer if self.action == "create" else api.ScheduleSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now()}

    def perform_create(self, serializer: serializers.BaseSerializer[Any]) -> None:
        with constraints.enforced():  # a name taken meanwhile: 400 naming it, as the check before
            serializer.save()

    def perform_update(self, serializer: serializers.BaseSerializer[Any]) -> None:
        with constraints.enforced():  # a delete meanwhile: RowDeletedError, a 404
            serializer.save()

    @documented(request=None, responses={200: api.ScheduleSerializer, **_ERRORS, **_NOT_FOUND})
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, pk: str | None = None) -> Response:
        """Enable the schedule; its next run is computed from now (missed ones follow the misfire policy)."""
        return self._set_enabled(True)

    @documented(request=None, responses={200: api.ScheduleSerializer, **_ERRORS, **_NOT_FOUND})
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, pk: str | None = None) -> Response:
        """Disable the schedule; runs already started go on."""
        return self._set_enabled(False)

    def _set_enabled(self, enabled: bool) -> Response:
        schedule = self.get_object()
        pausing.set_enabled([schedule.pk], enabled, by=pausing.actor(self.request.user))
        try:
            schedule.refresh_from_db()
        except Schedule.DoesNotExist:  # deleted meanwhile: as if the delete came first
            raise NotFound(str(RowDeletedError("schedule", schedule.pk))) from None
        return Response(api.ScheduleSerializer(schedule).data)

    @documented(
        request=None,
        responses={202: api.RunDetailSerializer, **_ERRORS, **_NOT_FOUND},
        description="Run the schedule's job now, through the same path as the beat (trigger `api`). "
        "The overlap policy does not apply; the concurrency limits do. The answer is the queued run.",
    )
    @action(detail=True, methods=["post"], url_path="run-now")
    def run_now(self, request: Request, pk: str | None = None) -> Response:
        schedule = self.get_object()
        run = actions.run_now(schedule, trigger=RunTrigger.API)
        run = Run.objects.select_related("job").prefetch_related("artifacts", "llm_calls").get(pk=run.pk)
        return Response(
            api.RunDetailSerializer(run).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": f"/api/runs/{run.pk}/"},
        )

    @documented(
        parameters=[query_filters.HistoryFilterSerializer],
        responses={200: api.HistoryPageSerializer, **_ERRORS, **_NOT_FOUND},
        description="The schedule's occurrences with their runs, newest first, paginated: by `page` "
        "(with `count`: exact below 100,000 rows, PostgreSQL's estimate above), or by `cursor` (keyset "
        "pages, the same cost at any depth; no `count`).",
    )
    @action(detail=True, methods=["get"])
    def history(self, request: Request, pk: str | None = None) -> Response:
        schedule = self.get_object()
        filters = query(query_filters.HistoryFilterSerializer, request)
        rows = (
            ScheduledRun.objects.filter(schedule=schedule)
            .select_related("run", "run__job")
            .annotate(at=Coalesce(F("scheduled_for"), F("created_at")))  # filtered on, and the cursor's position
            .order_by(*history_order())
        )
        if "status" in filters:
            rows = rows.filter(status=filters["status"])
        if "run_status" in filters:
            rows = rows.filter(run__status=filters["run_status"])
        if "since" in filters:
            rows = rows.filter(at__gte=filters["since"])
        if "until" in filters:
            rows = rows.filter(at__lt=filters["until"])
        if "cursor" in filters:
            return self._history_by_cursor(request, rows, filters["cursor"])
        paginator = EstimatedCountPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(api.OccurrenceSerializer(page, many=True).data)

    def _history_by_cursor(
        self, request: Request, rows: QuerySet[ScheduledRun], after: keyset.Position | None
    ) -> Response:
        if "page" in request.query_params:
            raise ValidationError({"cursor": ["give either cursor or page, not both"]})
        found, following = keyset.page(rows, after, Pagination().get_page_size(request))
        link = None
        if following is not None:
            link = request.build_absolute_uri(
                replace_query_param(request.get_full_path(), "cursor", keyset.encode(following))
            )
        return Response({"next": link, "results": api.OccurrenceSerializer(found, many=True).data})


@extend_schema_view(
    list=documented(
        parameters=[query_filters.RunFilterSerializer],
        responses={200: api.RunSerializer, **_ERRORS, **_NOT_FOUND},
        description="Runs, newest first, paginated; `count` is exact below 100,000 runs and PostgreSQL's "
        "estimate above (counting ten million rows cost more than the page).",
    ),
    retrieve=documented(responses={200: api.RunDetailSerializer, **_ERRORS, **_NOT_FOUND}),
)
class RunViewSet(ApiView, viewsets.ReadOnlyModelViewSet[Run]):
    """Runs, newest first: scheduled, manual and API-triggered alike."""

    serializer_class = api.RunSerializer
    pagination_class = EstimatedCountPagination
    required_permissions = {
        "list": [VIEW_RUN],
        "retrieve": [VIEW_RUN],
        "metadata": [VIEW_RUN],
        "cancel": rules.CANCEL_RUN,
    }

    def get_queryset(self) -> QuerySet[Run]:
        rows = Run.objects.select_related("job")
        if self.action != "list":
            return rows.prefetch_related("artifacts", "llm_calls")
        filters = query(query_filters.RunFilterSerializer, self.request)
        if "status" in filters:
            rows = rows.filter(status=filters["status"])
        if "job" in filters:
            rows = rows.filter(job__key=filters["job"])
        if "schedule" in filters:
            rows = rows.filter(occurrence__schedule_id=filters["schedule"])
        if "trigger" in filters:
            rows = rows.filter(trigger=filters["trigger"])
        if "created_after" in filters:
            rows = rows.filter(created_at__gte=filters["created_after"])
        if "created_before" in filters:
            rows = rows.filter(created_at__lt=filters["created_before"])
        return rows.order_by("-created_at", "-id")

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return api.RunSerializer if self.action == "list" else api.RunDetailSerializer

    @documented(
        request=api.RunCancelSerializer,
        responses={
            200: api.RunDetailSerializer,
            409: OpenApiResponse(response=api.ErrorSerializer, description="The run already ended."),
            **_ERRORS,
            **_NOT_FOUND,
        },
        description="Cancel a pending, queued or running run (a running one is terminated).",
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        body = api.RunCancelSerializer(data=request.data if isinstance(request.data, dict) else {})
        body.is_valid(raise_exception=True)
        with transaction.atomic():
            cancelled = cancel_runs([run.pk], reason=body.validated_data["reason"], now=timezone.now())
        if not cancelled:
            run.refresh_from_db()
            raise Conflict(
                f"run {run.pk} is {run.status}; only {', '.join(s.value for s in _CANCELLABLE)} runs can be cancelled"
            )
        return Response(api.RunDetailSerializer(self.get_queryset().get(pk=run.pk)).data)


@extend_schema_view(
    list=documented(responses={200: api.JobSerializer, **_ERRORS, **_NOT_FOUND}),
    retrieve=documented(responses={200: api.JobSerializer, **_ERRORS, **_NOT_FOUND}),
)
class JobViewSet(ApiView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Job]):
    """Jobs: the registered code and its operational settings (edited in the admin)."""

    serializer_class = api.JobSerializer
    queryset = Job.objects.order_by("key")
    lookup_field = "key"
    lookup_value_regex = r"[^/]+"
    required_permissions = {
        "list": ["orchestrator.view_job"],
        "retrieve": ["orchestrator.view_job"],
        "metadata": ["orchestrator.view_job"],
    }
