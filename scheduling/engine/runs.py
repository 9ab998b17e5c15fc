"""Runs of a schedule: what a run freezes about its schedule, and a run of a ``Schedule`` row.

The dispatch step builds its runs from claimed values (no ORM instance on the hot path); run now
and buffered releases start from a row. Both freeze the same ``ScheduleRef``.
"""

from __future__ import annotations

from datetime import datetime

from orchestrator import events
from orchestrator.snapshots import DirectiveRef, JobSettings, PlannedRun, ScheduleRef, base_snapshot, plan_run
from scheduling.models import Schedule


def schedule_ref(
    *,
    schedule_id: int,
    name: str,
    tenant: str,
    scheduled_for: datetime | None,
    max_concurrency: int | None,
    overlap_policy: str,
    deadline_seconds: int | None,
) -> ScheduleRef:
    """What a run of a schedule freezes about it (``scheduled_for`` None: a run asked for by hand)."""
    return ScheduleRef(
        id=schedule_id,
        name=name,
        tenant=tenant,
        scheduled_for=events.utc_stamp(scheduled_for) if scheduled_for else None,
        max_concurrency=max_concurrency,
        overlap_policy=overlap_policy,
        deadline_seconds=deadline_seconds or 0,
    )


def planned_for(schedule: Schedule, scheduled_for: datetime | None, trigger: str, *, now: datetime) -> PlannedRun:
    """A run of ``schedule`` (an ORM row: run now, buffered releases) through the same snapshot path."""
    base = base_snapshot(JobSettings.of(schedule.job), DirectiveRef.of(schedule.directive), schedule.params or {})
    ref = schedule_ref(
        schedule_id=schedule.pk,
        name=schedule.name,
        tenant=schedule.tenant,
        scheduled_for=scheduled_for,
        max_concurrency=schedule.max_concurrency,
        deadline_seconds=schedule.deadline_seconds,
        overlap_policy=schedule.overlap_policy,
    )
    return plan_run(job_id=schedule.job_id, base=base, schedule=ref, trigger=trigger, now=now)
