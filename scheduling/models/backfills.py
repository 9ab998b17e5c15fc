"""Backfills: a schedule's fire times in a past range, created once each and run through the one path."""

from __future__ import annotations

from django.db import models

from scheduling.core.policies import OverlapPolicy


class BackfillStatus(models.TextChoices):
    RUNNING = "running", "running"
    FINISHED = "finished", "finished"
    CANCELLED = "cancelled", "cancelled"


class Backfill(models.Model):
    """Every fire time of ``schedule`` in ``[start, end)`` with no occurrence yet, filled in batches.

    The maintenance pass of any beat creates the occurrences a batch at a time (``cursor`` is where
    the next batch starts), so a large backfill never starves normal dispatch; the unique
    ``(schedule, scheduled_for)`` constraint keeps each fire time to one occurrence whoever fills it.
    """

    schedule = models.ForeignKey("scheduling.Schedule", on_delete=models.CASCADE, related_name="backfills")
    start = models.DateTimeField()
    end = models.DateTimeField()
    overlap_policy = models.CharField(
        max_length=20,
        choices=OverlapPolicy.choices(),
        default=OverlapPolicy.BUFFER_ALL,
        help_text="How the backfill's runs overlap: by default one after another (buffer all).",
    )
    status = models.CharField(max_length=20, choices=BackfillStatus.choices, default=BackfillStatus.RUNNING)
    #: Fire times in the range, counted when it was requested (excluded ones and existing occurrences included).
    count = models.PositiveIntegerField(default=0)
    #: Occurrences this backfill created so far.
    created = models.PositiveIntegerField(default=0)
    #: Where the next batch starts (fire times at or after it, before ``end``); empty once every fire
    #: time of the range has an occurrence (or the backfill was cancelled).
    cursor = models.DateTimeField(null=True, blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status"], name="backfill_running_idx", condition=models.Q(status="running"))]
        constraints = [
            models.CheckConstraint(condition=models.Q(end__gt=models.F("start")), name="backfill_end_after_start")
        ]

    def __str__(self) -> str:
        return f"backfill {self.pk} of schedule {self.schedule_id}"

    def progress(self) -> dict[str, dict[str, int]]:
        """Its occurrences counted by status, and their runs by run status (two grouped queries)."""
        occurrences = self.occurrences.values_list("status").annotate(n=models.Count("id")).order_by()
        runs = (
            self.occurrences.filter(run__isnull=False)
            .values_list("run__status")
            .annotate(n=models.Count("id"))
            .order_by()
        )
        return {
            "occurrences": {str(status): int(n) for status, n in occurrences},
            "runs": {str(status): int(n) for status, n in runs},
        }
