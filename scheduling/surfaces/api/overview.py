"""``GET /api/schedules/{id}/``: the schedule plus ``recent``, ``upcoming`` and ``counts`` (``surfaces.overview``).

Only the detail answers them (the list stays one query per page). The serializers below exist
for the OpenAPI document: they name each shape's fields; the values come from ``overview``.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orchestrator.models import RunStatus
from scheduling.models import OccurrenceStatus, Schedule
from scheduling.surfaces import control_state, overview
from scheduling.surfaces.api.serializers import ScheduleSerializer


class RunBriefSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=RunStatus.choices)


class RecentOccurrenceSerializer(serializers.Serializer[dict[str, Any]]):
    """One of the newest occurrences, newest first by when it was written."""

    scheduled_for = serializers.DateTimeField(allow_null=True, help_text="Nominal time (UTC); null for a run-now.")
    status = serializers.ChoiceField(choices=OccurrenceStatus.choices, help_text="The occurrence's own status.")
    reason = serializers.CharField(help_text="Why it was skipped, missed or buffered; empty when it ran.")
    trigger = serializers.CharField(help_text="schedule, manual, api or backfill.")
    missed_count = serializers.IntegerField(help_text="How many fire times a missed row stands for.")
    overdue = serializers.BooleanField(help_text="Its run was not finished by scheduled_for + deadline_seconds.")
    run = RunBriefSerializer(allow_null=True, help_text="Its run (id and status), or null when it has none.")


class UpcomingTimeSerializer(serializers.Serializer[dict[str, Any]]):
    """One upcoming fire time; excluded ones count among the ten."""

    at = serializers.DateTimeField(help_text="The fire time in UTC.")
    local = serializers.CharField(help_text="The same instant in the schedule's time zone (ISO 8601 with offset).")
    excluded = serializers.CharField(
        allow_null=True, help_text="The name of the calendar that excludes this time (it will be skipped), or null."
    )


class OccurrenceCountsSerializer(serializers.Serializer[dict[str, Any]]):
    """Occurrence counts: ``buffered`` over every occurrence waiting now, the others over the whole
    history, or over its newest ``window`` occurrences when it is longer than that."""

    missed = serializers.IntegerField(help_text="Missed fire times (a missed row may stand for many).")
    skipped = serializers.IntegerField(help_text="Skipped occurrences, calendar exclusions included.")
    excluded = serializers.IntegerField(help_text="Of the skipped: those a calendar excluded.")
    buffered = serializers.IntegerField(
        help_text="Occurrences waiting for the schedule's active run to end (all of them, whatever window says)."
    )
    overdue = serializers.IntegerField(help_text="Occurrences whose run was not finished by its deadline.")
    window = serializers.IntegerField(
        allow_null=True,
        help_text=f"null: missed, skipped, excluded and overdue cover the whole history. A number "
        f"({overview.COUNTED_OVER:,}): the history is longer, and they cover its newest that many "
        "occurrences (by scheduled time, newest first, as the history lists them).",
    )


class ScheduleDetailSerializer(ScheduleSerializer):
    """A schedule with its last occurrences, next fire times and occurrence counts."""

    recent = serializers.SerializerMethodField(help_text="The last 10 occurrences with their outcomes, newest first.")
    upcoming = serializers.SerializerMethodField(
        help_text="The next 10 fire times after now, each marked with the calendar that excludes it (or null); "
        "fewer when the schedule ends or has fewer remaining_runs, none when it has no runs left."
    )
    upcoming_note = serializers.SerializerMethodField(
        help_text="Why `upcoming` is empty, in the words of the admin, the schedule page and `celery schedules "
        f'next`: "{control_state.NO_RUNS_LEFT_NOTE}" or "{control_state.ENDED_NOTE}"; null when there are '
        "upcoming times."
    )
    counts = serializers.SerializerMethodField(
        help_text=f"Missed, skipped, buffered and overdue occurrences; all but buffered over the newest "
        f"{overview.COUNTED_OVER:,} occurrences when the history is longer (then window says so)."
    )

    class Meta(ScheduleSerializer.Meta):
        fields = [*ScheduleSerializer.Meta.fields, "recent", "upcoming", "upcoming_note", "counts"]
        read_only_fields = [*ScheduleSerializer.Meta.read_only_fields, "recent", "upcoming", "upcoming_note", "counts"]

    @extend_schema_field(RecentOccurrenceSerializer(many=True))
    def get_recent(self, schedule: Schedule) -> list[overview.RecentItem]:
        return overview.recent(schedule)

    @extend_schema_field(UpcomingTimeSerializer(many=True))
    def get_upcoming(self, schedule: Schedule) -> list[overview.UpcomingItem]:
        return self._upcoming(schedule)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_upcoming_note(self, schedule: Schedule) -> str | None:
        return control_state.upcoming_note(schedule, self._upcoming(schedule))

    def _upcoming(self, schedule: Schedule) -> list[overview.UpcomingItem]:
        """The schedule's upcoming times, worked out once for ``upcoming`` and ``upcoming_note``."""
        found: dict[int, list[overview.UpcomingItem]] = self.__dict__.setdefault("_upcoming_by_pk", {})
        if schedule.pk not in found:
            found[schedule.pk] = overview.upcoming(schedule, now=self.context.get("now") or timezone.now())
        return found[schedule.pk]

    @extend_schema_field(OccurrenceCountsSerializer)
    def get_counts(self, schedule: Schedule) -> overview.Counts:
        return overview.counts(schedule)
