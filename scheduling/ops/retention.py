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
from django.db.models import OuterRef, Subquery

from orchestrator import db
from orchestrator.retention import Policy, Protect
from scheduling.models import OccurrenceStatus, Schedule, ScheduledRun


def policy(keep: int) -> Policy:
    """Keep the newest ``keep`` runs of every schedule; delete a pruned run's occurrence row with it.

    The occurrence goes in the statement that deletes its run (``delete_with``) rather than being
    left behind with ``run`` cleared, which its ``SET_NULL`` would do.
    """
    return Policy(protect=newest_runs_per_schedule(keep), delete_with=(ScheduledRun,))


def newest_runs_per_schedule(keep: int) -> Protect:
    """A ``Protect`` policy: of a batch of runs, those among the ``keep`` newest runs of their schedule.

    Each schedule's ``keep``-th newest run is looked up once per prune (``LIMIT 1 OFFSET keep-1`` on
    ``occurrence_schedule_recent_idx``; a batch's new schedules in one statement) and remembered: a
    run is kept when it is at least that new. New runs only move that mark forward, so a remembered
    mark keeps more, never less. Ranking every run of the batch's schedules instead read a busy
    schedule's whole history on every batch.
    """
    marks: dict[int, tuple[datetime, int] | None] = {}  # None: fewer than ``keep`` runs, keep them all

    def protect(run_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        if keep <= 0 or not run_ids:
            return set()
        found = _occurrences_of(run_ids)
        unknown = {row[1] for row in found} - marks.keys()
        if unknown:  # one statement for the batch's new schedules: the keep-th newest of each
            nth = ScheduledRun.objects.filter(schedule_id=OuterRef("pk"), run__isnull=False).order_by(
                "-created_at", "-id"
            )[keep - 1 : keep]
            for schedule_id, mark_at, mark_id in Schedule.objects.filter(pk__in=unknown).values_list(
                "pk", Subquery(nth.values("created_at")), Subquery(nth.values("id"))
            ):
                marks[schedule_id] = None if mark_id is None else (mark_at, mark_id)
        kept: set[uuid.UUID] = set()
        for run_id, schedule_id, created_at, pk in found:
            mark = marks[schedule_id]
            if mark is None or (created_at, pk) >= mark:
                kept.add(run_id)
        return kept

    return protect


_OCCURRENCES_OF = (
    "SELECT run_id, schedule_id, created_at, id FROM scheduling_scheduledrun WHERE run_id = ANY(%b::uuid[])"
)


def _occurrences_of(run_ids: Sequence[uuid.UUID]) -> list[tuple[uuid.UUID, int, datetime, int]]:
    """``(run_id, schedule_id, created_at, id)`` of the runs' occurrences: the ids as one binary array on PostgreSQL.

    Django binds an ``IN`` list on the client, a placeholder and a quoted value per run: for a
    batch of thousands that cost more than the read itself.
    """
    if db.is_postgres():
        return [
            (row[0], row[1], row[2], row[3])
            for row in db.execute(_OCCURRENCES_OF, [list(run_ids)], fetch=True, binary=True)
        ]
    return list(
        ScheduledRun.objects.filter(run_id__in=list(run_ids)).values_list("run_id", "schedule_id", "created_at", "id")
    )


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
