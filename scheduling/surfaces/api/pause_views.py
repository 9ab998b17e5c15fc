"""``POST /api/schedules/{id}/pause/`` and ``POST /api/schedules/{id}/resume/``.

A viewset of its own on the schedules' prefix (``routes``): only these two detail routes. Both need
``scheduling.change_schedule`` (``orchestrator.rules.PAUSE_RESUME``, as in the admin and on
/schedules/) and answer the schedule. Pausing a schedule that is not enabled (already paused, or
disabled) and resuming one that is not paused are ``409 Conflict`` saying what it is instead: the
request cannot apply to the schedule as it is, and repeating it will not help.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from orchestrator import rules
from orchestrator.admin_helpers import log_change
from scheduling.models import Schedule
from scheduling.surfaces import control_state, pause_input, pausing
from scheduling.surfaces.api import serializers as api
from scheduling.surfaces.api.base import ApiView, documented
from scheduling.surfaces.api.errors import Conflict
from scheduling.surfaces.api.inputs import DateTimeInput, TextInput

_ANSWERS = {
    400: OpenApiResponse(description='Invalid input, by field: {"note": ["..."]} or {"resume_at": ["..."]}.'),
    401: OpenApiResponse(response=api.ErrorSerializer, description="Authentication required."),
    403: OpenApiResponse(response=api.ErrorSerializer, description="The user lacks scheduling.change_schedule."),
    404: OpenApiResponse(response=api.ErrorSerializer, description="No such schedule."),
}


class PauseSerializer(serializers.Serializer[dict[str, Any]]):
    note = TextInput(help_text="Why it is paused (required): shown wherever the schedule is shown.")
    resume_at = DateTimeInput(
        help_text="Optional: resume by itself at this time (ISO 8601; without an offset: in the schedule's "
        "zone); must be in the future. Null or left out: until resumed."
    )


def _state(schedule: Schedule) -> str:
    if schedule.paused:
        return control_state.pause_text(schedule)
    return "enabled" if schedule.enabled else "disabled (not paused)"


def _history(request: Request, schedule: Schedule, message: str) -> None:
    """The admin history's entry, as the admin and /schedules/ write it (the API acts as a user too)."""
    if request.user.pk is not None:
        log_change(int(request.user.pk), [schedule], message)


class SchedulePauseViewSet(ApiView, viewsets.GenericViewSet[Schedule]):
    """Pause and resume a schedule."""

    serializer_class = api.ScheduleSerializer
    queryset = Schedule.objects.select_related("job", "directive")
    lookup_value_regex = r"[0-9]+"
    required_permissions = {"pause": rules.PAUSE_RESUME, "resume": rules.PAUSE_RESUME}

    def _answer(self, schedule: Schedule) -> Response:
        fresh = self.get_queryset().prefetch_related("calendars").get(pk=schedule.pk)
        return Response(api.ScheduleSerializer(fresh).data)

    @documented(
        request=PauseSerializer,
        responses={
            200: api.ScheduleSerializer,
            409: OpenApiResponse(response=api.ErrorSerializer, description="The schedule is not enabled."),
            **_ANSWERS,
        },
        description="Pause an enabled schedule with a note (who paused it is recorded), until `resume_at` or "
        "until resumed. Occurrences that fall due while it is paused follow its misfire policy on resume.",
        examples=[
            OpenApiExample(
                "Paused over a release",
                request_only=True,
                value={"note": "release freeze, INC-1234", "resume_at": "2026-12-24T08:00:00Z"},
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        schedule = self.get_object()
        body = PauseSerializer(data=request.data if isinstance(request.data, dict) else {})
        body.is_valid(raise_exception=True)
        note = pause_input.note(body.validated_data.get("note"))
        until = pause_input.until(body.validated_data.get("resume_at"), schedule.timezone)
        if not schedule.enabled:
            raise Conflict(f"schedule {schedule.name!r} is {_state(schedule)}; only an enabled schedule can be paused")
        done = pausing.pause([schedule.pk], note=note, by=pausing.actor(request.user), until=until, now=timezone.now())
        if not done:  # paused or disabled meanwhile
            schedule.refresh_from_db()
            raise Conflict(f"schedule {schedule.name!r} is {_state(schedule)}; only an enabled schedule can be paused")
        schedule.refresh_from_db()
        _history(request, schedule, pausing.history_message("Paused", schedule, where=" through the API"))
        return self._answer(schedule)

    @documented(
        request=None,
        responses={
            200: api.ScheduleSerializer,
            409: OpenApiResponse(response=api.ErrorSerializer, description="The schedule is not paused."),
            **_ANSWERS,
        },
        description="Resume a paused schedule (its note stays in the event log). Occurrences that fell due "
        "while it was paused follow its misfire policy.",
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        schedule = self.get_object()
        if not schedule.paused:
            raise Conflict(f"schedule {schedule.name!r} is {_state(schedule)}, not paused; nothing to resume")
        done = pausing.resume([schedule.pk], by=pausing.actor(request.user), now=timezone.now())
        if not done:
            schedule.refresh_from_db()
            raise Conflict(f"schedule {schedule.name!r} is {_state(schedule)}, not paused; nothing to resume")
        _history(request, schedule, pausing.history_message("Resumed", schedule, where=" through the API"))
        return self._answer(schedule)
