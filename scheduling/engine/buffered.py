"""Buffered occurrences: started one at a time when their schedule's active runs have ended.

Under ``buffer_one`` and ``buffer_all`` an occurrence due while a run of its schedule is active is
kept as a ``buffered`` row. When that run ends (the ``run_ended`` hook, in the worker that recorded
the end) and on every beat's maintenance pass, the oldest buffered occurrence of each such
schedule gets its run, through the same snapshot and publish path as a dispatched one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from django.db import transaction

from orchestrator import events, tracing
from orchestrator.models import RunTrigger
from orchestrator.publishing import publish_runs
from orchestrator.snapshots import PlannedRun
from orchestrator.store import insert_runs
from scheduling.engine.runs import planned_for
from scheduling.models import OccurrenceStatus, Schedule, ScheduledRun

logger = logging.getLogger(__name__)


def release_buffered(now: datetime, schedule_ids: Sequence[int] | None = None) -> list[PlannedRun]:
    """Start the oldest buffered occurrence of each schedule whose runs have all ended.

    Called when a run ends (a hook in the worker) and by every beat's maintenance step.
    """
    with transaction.atomic():
        waiting = ScheduledRun.objects.filter(status=OccurrenceStatus.BUFFERED)
        if schedule_ids is not None:
            waiting = waiting.filter(schedule_id__in=list(schedule_ids))
        candidate_ids = list(waiting.values_list("schedule_id", flat=True).distinct()[:500])
        if not candidate_ids:
            return []
        schedules = list(
            Schedule.objects.filter(id__in=candidate_ids)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("job", "directive")
        )
        active = ScheduledRun.objects.active_runs_by_schedule([s.pk for s in schedules])
        released: list[tuple[Schedule, ScheduledRun, PlannedRun]] = []
        for schedule in schedules:
            if active.get(schedule.pk):
                continue
            occurrence = (
                ScheduledRun.objects.filter(schedule=schedule, status=OccurrenceStatus.BUFFERED)
                .order_by("scheduled_for")
                .first()
            )
            if occurrence is None:
                continue
            trigger = RunTrigger.BACKFILL if occurrence.backfill_id else RunTrigger.SCHEDULE
            run = planned_for(schedule, occurrence.scheduled_for, trigger, now=now)
            released.append((schedule, occurrence, run))
        released, traces = _traced(released, now=now)
        kept: list[tuple[Schedule, ScheduledRun, PlannedRun]] = []
        for schedule, occurrence, run in released:
            changed = ScheduledRun.objects.filter(pk=occurrence.pk, status=OccurrenceStatus.BUFFERED).update(
                status=OccurrenceStatus.DISPATCHED, run_id=run.id, dispatched_at=now, run_active=True
            )
            if not changed:
                continue  # no longer buffered (a cancelled backfill skipped it meanwhile): no run for it
            kept.append((schedule, occurrence, run))
            if occurrence.scheduled_for and (
                schedule.last_run_at is None or occurrence.scheduled_for > schedule.last_run_at
            ):
                Schedule.objects.filter(pk=schedule.pk).update(last_run_at=occurrence.scheduled_for)
        released = kept
        insert_runs([run for _, _, run in released])  # after the occurrences (the foreign key is checked at commit)
    for schedule, occurrence, run in released:
        logger.info(
            "released a buffered occurrence",
            extra={
                "event": events.RUN_RELEASED,
                "schedule_id": schedule.pk,
                "run_id": str(run.id),
                "scheduled_for": occurrence.scheduled_for,
            },
        )
    published = publish_runs([run for _, _, run in released], now=now)
    traces.end()
    return published


def _traced(
    released: list[tuple[Schedule, ScheduledRun, PlannedRun]], *, now: datetime
) -> tuple[list[tuple[Schedule, ScheduledRun, PlannedRun]], tracing.Begun]:
    """Tracing on: each released run starts a trace of its own (``ostinato.release``), linked to the trace
    of its schedule's latest run (the one it waited for), never nested in it."""
    if not released or not tracing.enabled():
        return released, tracing.Begun()
    links = {}
    for schedule, occurrence, run in released:
        latest = (
            ScheduledRun.objects.filter(schedule=schedule, run__isnull=False)
            .exclude(pk=occurrence.pk)
            .order_by("-scheduled_for")
            .values_list("run__traceparent", flat=True)
            .first()
        )
        if latest:
            links[run.id] = latest
    runs, traces = tracing.begin([run for _, _, run in released], now=now, name="ostinato.release", links=links)
    return [(s, o, run) for (s, o, _), run in zip(released, runs, strict=True)], traces
