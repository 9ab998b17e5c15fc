"""The schedule-aware half of retention: which old runs to keep, and pruning old occurrence rows.

``orchestrator.retention`` prunes runs and knows nothing of schedules; this module gives it the
``keep the newest N runs of each schedule`` policy, deletes a pruned run's occurrence row with
it, and prunes occurrence rows that never had a run (skipped, missed) once they are old enough.
Deleting an old occurrence is safe for exactly-once: the beat never looks behind a schedule's
``next_run_at``, and the unique constraint only ever guards times still ahead of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import OuterRef

from orchestrator.retention import Policy, Protect
from scheduling.models import OccurrenceStatus, ScheduledRun


def policy(keep: int) -> Policy:
    """Keep the newest ``keep`` runs of every schedule; delete a pruned run's occurrence row with it."""
    return Policy(protect=newest_runs_per_schedule(keep), with_batch=_occurrences_of)


def _occurrences_of(run_ids: Sequence[uuid.UUID], dry_run: bool) -> int:
    rows = ScheduledRun.objects.filter(run_id__in=list(run_ids))
    return rows.count() if dry_run else rows.delete()[0]


def newest_runs_per_schedule(keep: int) -> Protect:
    """A ``Protect`` policy: of a batch of runs, those among the ``keep`` newest runs of their schedule.

    Each candidate is checked against its own schedule's ``keep`` newest (a correlated ``LIMIT``
    on ``occurrence_schedule_recent_idx``), so a batch reads about ``keep`` rows per candidate
    however long a schedule's history is; ranking every run of the batch's schedules read the
    whole history of a busy schedule on every batch.
    """

    def protect(run_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        if keep <= 0 or not run_ids:
            return set()
        newest_of_its_schedule = (
            ScheduledRun.objects.filter(schedule_id=OuterRef("schedule_id"), run__isnull=False)
            .order_by("-created_at", "-id")
            .values("run_id")[:keep]
        )
        kept = ScheduledRun.objects.filter(run_id__in=list(run_ids)).filter(run_id__in=newest_of_its_schedule)
        return set(kept.values_list("run_id", flat=True))

    return protect


def prune_occurrences(*, older_than: datetime, dry_run: bool, batch_size: int = 1000) -> int:
    """Delete occurrences created before ``older_than`` that have no run (skipped, missed; buffered ones stay)."""
    candidates = ScheduledRun.objects.filter(created_at__lt=older_than, run__isnull=True).exclude(
        status=OccurrenceStatus.BUFFERED
    )
    if dry_run:
        return candidates.count()
    deleted = 0
    after = 0  # keyset on the primary key: each batch starts past the last, never over the rows it deleted
    while True:
        with transaction.atomic():
            ids = list(candidates.filter(id__gt=after).order_by("id").values_list("id", flat=True)[:batch_size])
            if not ids:
                return deleted
            after = ids[-1]
            deleted += ScheduledRun.objects.filter(id__in=ids).delete()[0]
