"""Occurrences: one row per schedule and scheduled time (or per manual run), the exactly-once ledger."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from django.db import models
from django.db.models import Count, F, OrderBy, Q, Subquery, Sum, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from orchestrator.models import ACTIVE_STATUSES, Run, RunTrigger
from scheduling.models.backfills import Backfill
from scheduling.models.schedules import Schedule


class OccurrenceStatus(models.TextChoices):
    DISPATCHED = "dispatched", "dispatched"
    BUFFERED = "buffered", "buffered"
    SKIPPED = "skipped", "skipped"
    MISSED = "missed", "missed"


def history_order() -> list[OrderBy]:
    """A schedule's history order, newest first: the scheduled time (creation time for a run-now), then id.

    Exactly ``occurrence_history_idx``'s, so a query in this order walks that index and sorts nothing.
    """
    return [Coalesce("scheduled_for", "created_at").desc(), F("id").desc()]


class ScheduledRunQuerySet(models.QuerySet["ScheduledRun"]):
    def active_runs_by_schedule(self, schedule_ids: Sequence[int]) -> dict[int, list[str]]:
        """Ids of the active runs (pending, queued, running) of each schedule; costs what the batch holds.

        Only occurrences flagged ``run_active`` are read (a partial index), joined to their runs so
        the run's own status decides. Flags whose run has ended are cleared on the way, in the
        caller's transaction, so the flagged rows stay few without a write when a run ends.
        """
        found: dict[int, list[str]] = {}
        ended: list[Any] = []
        rows = self.filter(run_active=True, schedule_id__in=list(schedule_ids)).values_list(
            "schedule_id", "run_id", "run__status"
        )
        for schedule_id, run_id, status in rows:
            if status in ACTIVE_STATUSES:
                found.setdefault(schedule_id, []).append(str(run_id))
            else:
                ended.append(run_id)
        if ended:
            self.filter(run_id__in=ended).update(run_active=False)
        return found

    def buffered_counts(self, schedule_ids: Sequence[int]) -> dict[int, int]:
        rows = (
            self.filter(schedule_id__in=list(schedule_ids), status=OccurrenceStatus.BUFFERED)
            .values("schedule_id")
            .annotate(count=models.Count("id"))
        )
        return {row["schedule_id"]: row["count"] for row in rows}

    def outcome_counts(self, schedule_id: int, *, newest: int) -> dict[str, int]:
        """Missed fire times, skipped, excluded and overdue occurrences among the schedule's ``newest``
        occurrences (history order), every buffered one, and ``seen``: how many of the newest
        ``newest + 1`` exist (more than ``newest``: the history is longer than what was counted).

        One statement whose cost is bounded whatever the history holds: ``newest + 1`` entries of
        ``occurrence_history_idx`` with their rows, and the buffered ones through
        ``occurrence_buffered_idx`` (an uncorrelated subquery, evaluated once).
        """
        waiting = (
            self.model.objects.filter(schedule_id=schedule_id, status=OccurrenceStatus.BUFFERED)
            .order_by()
            .values("schedule_id")
            .annotate(count=Count("pk"))
            .values("count")
        )
        window = (
            self.filter(schedule_id=schedule_id)
            .annotate(position=Window(RowNumber(), order_by=history_order()))
            .annotate(waiting=Subquery(waiting))
            .order_by(*history_order())[: newest + 1]
        )
        counted = Q(position__lte=newest)
        totals = window.aggregate(
            seen=Count("pk"),
            missed=Sum("missed_count", filter=counted & Q(status=OccurrenceStatus.MISSED)),
            skipped=Count("pk", filter=counted & Q(status=OccurrenceStatus.SKIPPED)),
            excluded=Count("pk", filter=counted & Q(status=OccurrenceStatus.SKIPPED, reason__startswith="excluded")),
            overdue=Count("pk", filter=counted & Q(overdue_at__isnull=False)),
            buffered=models.Max("waiting"),
        )
        return {name: int(value or 0) for name, value in totals.items()}


class ScheduledRun(models.Model):
    """One occurrence of a schedule (or one manual run of it: ``scheduled_for`` is then empty).

    Unique per ``(schedule, scheduled_for)``: the database is the last line of defence against a
    double dispatch. A ``missed`` row with ``missed_count > 1`` stands for a range of occurrences
    too long to enumerate one by one (up to ``missed_until``).
    """

    # db_index off: the unique (schedule, scheduled_for) index serves the foreign key too
    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="occurrences", db_index=False)
    scheduled_for = models.DateTimeField(null=True, blank=True, help_text="Nominal time; empty for a manual run.")
    status = models.CharField(max_length=20, choices=OccurrenceStatus.choices)
    run = models.OneToOneField(Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="occurrence")
    trigger = models.CharField(max_length=20, choices=RunTrigger.choices, default=RunTrigger.SCHEDULE)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    #: Set when the occurrence gets a run; cleared lazily once that run has ended (see
    #: ``active_runs_by_schedule``). An index over the few flagged rows, not a source of truth.
    run_active = models.BooleanField(default=False)
    missed_count = models.PositiveIntegerField(default=1)
    missed_until = models.DateTimeField(null=True, blank=True)
    #: The backfill that created this occurrence (trigger ``backfill``); empty for the beat's own.
    backfill = models.ForeignKey(Backfill, on_delete=models.SET_NULL, null=True, blank=True, related_name="occurrences")
    #: When its run was found still unfinished past the schedule's ``deadline_seconds`` (once).
    overdue_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[ScheduledRunQuerySet] = ScheduledRunQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "scheduled_for"], name="occurrence_unique_per_schedule_time"),
        ]
        indexes = [
            models.Index(fields=["schedule", "-created_at"], name="occurrence_schedule_recent_idx"),
            models.Index(
                fields=["schedule", "scheduled_for"],
                name="occurrence_buffered_idx",
                condition=Q(status="buffered"),
            ),
            models.Index(fields=["schedule"], name="occurrence_run_active_idx", condition=Q(run_active=True)),
            # A schedule's history in the API's order (scheduled time, or creation time for a manual
            # run; newest first): a page, first or deep (by cursor), reads only its own rows.
            models.Index(
                F("schedule"),
                Coalesce("scheduled_for", "created_at").desc(),
                F("id").desc(),
                name="occurrence_history_idx",
            ),
            # The admin's occurrence list, newest first, across schedules.
            models.Index(fields=["-created_at"], name="occurrence_created_idx"),
        ]

    @property
    def is_overdue(self) -> bool:
        """Its run was found unfinished past ``scheduled_for + deadline_seconds`` (``overdue_at`` is set)."""
        return self.overdue_at is not None

    def __str__(self) -> str:
        when = self.scheduled_for.isoformat() if self.scheduled_for else "manual"
        return f"{self.schedule_id}@{when}"
