"""Deadlines: a scheduled run not finished by ``scheduled_for + deadline_seconds`` is overdue.

Every beat's maintenance pass calls ``mark_overdue(now)``: it reads the schedules with a deadline
(``schedule_deadline_idx``: none, and the pass stops there), then only their occurrences whose run
is still active (the ``run_active`` partial index, by schedule, then the run's own status), keeps
those whose deadline has passed, and flags them with one conditional
``UPDATE … WHERE overdue_at IS NULL RETURNING``. Only the statement that flips ``overdue_at``
reports a row, so with several beats each overdue run is flagged, logged (event ``run_overdue``),
sent to the ``run_overdue`` hook (the Prometheus counter ``ostinato_runs_overdue_total``) exactly
once. Flagging never stops or cancels the run: a deadline is an alarm, not a timeout.

Why schedules first: ``run_active`` flags are cleared lazily (when the schedule is next
dispatched), so thousands of them stand for runs that ended long ago. Read from the flags, each
pass looked up every flagged run by its id in a primary key as large as the history before
checking its schedule's deadline: 3,000 look-ups (7 ms at 3 million runs, a third of the pass at
10 million) for fleets where no schedule has a deadline at all.

A run that ends late before any maintenance pass saw it (a deadline shorter than the maintenance
interval, or all beats down) is flagged at its end instead, by ``flag_late_end`` on the
orchestrator's ``run_ended`` hook in the worker: one indexed read per ended scheduled run, and the
same conditional update, so it still counts once. Its ``overdue_at`` is then the run's end and the
event carries the final ``status``.

Only occurrences the beat dispatched (trigger ``schedule``) have a deadline: a run now has no
nominal time, and a backfill's fire times are past by construction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from orchestrator import events
from orchestrator.hooks import RunEnded
from orchestrator.models import ACTIVE_STATUSES, RunTrigger
from scheduling.engine import hooks
from scheduling.engine.reports import RunOverdue
from scheduling.models import Schedule, ScheduledRun

logger = logging.getLogger(__name__)

#: Occurrences flagged per maintenance pass at most; the rest wait for the next pass.
BATCH = 1000

_FLAG = "UPDATE scheduling_scheduledrun SET overdue_at = %s WHERE id IN ({ids}) AND overdue_at IS NULL RETURNING id"

_FIELDS = (
    "pk",
    "schedule_id",
    "schedule__name",
    "run_id",
    "run__job__key",
    "scheduled_for",
    "schedule__deadline_seconds",
)


def mark_overdue(now: datetime) -> list[RunOverdue]:
    """Flag the active scheduled runs past their deadline at ``now``, each once across all beats.

    Returns what this call flagged (another beat's flags are not repeated).
    """
    with_deadline = list(
        Schedule.objects.filter(deadline_seconds__isnull=False).order_by().values_list("pk", flat=True)
    )
    if not with_deadline:
        return []
    rows = (
        ScheduledRun.objects.filter(
            schedule_id__in=with_deadline,
            run_active=True,
            run__status__in=ACTIVE_STATUSES,
            overdue_at__isnull=True,
            trigger=RunTrigger.SCHEDULE,
            scheduled_for__lt=now,
            schedule__deadline_seconds__isnull=False,
        )
        .order_by("scheduled_for")
        .values_list(*_FIELDS)[:BATCH]
    )
    late = [row for row in rows if row[5] + timedelta(seconds=row[6]) < now]
    return _flag(late, at=now, ended_status="")


def flag_late_end(ended: RunEnded) -> None:
    """At a scheduled run's end: flag it overdue if it ended past its deadline and no pass flagged it yet."""
    ref = ended.frozen.schedule
    if ref is None or not ref.scheduled_for:
        return  # a run now: no nominal time, no deadline
    if ref.deadline_seconds is not None:  # frozen at creation (older snapshots: look it up)
        if ref.deadline_seconds == 0:
            return  # no deadline: no read at every run's end (it was a third of a noop run's task time)
        due_by = datetime.fromisoformat(ref.scheduled_for.replace("Z", "+00:00"))
        if timezone.now() <= due_by + timedelta(seconds=ref.deadline_seconds):
            return  # finished (at the latest now) within its deadline
    row = (
        ScheduledRun.objects.filter(
            run_id=ended.run_id,
            overdue_at__isnull=True,
            trigger=RunTrigger.SCHEDULE,
            schedule__deadline_seconds__isnull=False,
        )
        .values_list(*_FIELDS, "run__finished_at")
        .first()
    )
    if row is None or row[7] is None:
        return
    finished_at: datetime = row[7]
    if finished_at > row[5] + timedelta(seconds=row[6]):
        _flag([row[:7]], at=finished_at, ended_status=ended.status)


def _flag(rows: Sequence[tuple[Any, ...]], *, at: datetime, ended_status: str) -> list[RunOverdue]:
    if not rows:
        return []
    ids = [row[0] for row in rows]
    with connection.cursor() as cursor:
        stamp = connection.ops.adapt_datetimefield_value(at)  # SQLite: the ORM's own text form
        cursor.execute(_FLAG.format(ids=", ".join(["%s"] * len(ids))), [stamp, *ids])
        won = {found for (found,) in cursor.fetchall()}
    flagged = [
        RunOverdue(
            schedule_id=schedule_id,
            schedule=name,
            run_id=run_id if isinstance(run_id, uuid.UUID) else uuid.UUID(str(run_id)),
            job=job,
            scheduled_for=scheduled_for,
            deadline_seconds=deadline_seconds,
            overdue_at=at,
            ended_status=ended_status,
        )
        for pk, schedule_id, name, run_id, job, scheduled_for, deadline_seconds in rows
        if pk in won
    ]
    if flagged:
        events.emit([_event(item) for item in flagged])
    for item in flagged:
        logger.warning(
            "run %s of %s is overdue: not finished %ds after %s",
            item.run_id,
            item.schedule,
            item.deadline_seconds,
            events.utc_stamp(item.scheduled_for),
            extra={
                "event": events.RUN_OVERDUE,
                "schedule_id": item.schedule_id,
                "run_id": str(item.run_id),
                "scheduled_for": item.scheduled_for,
            },
        )
        hooks.run_overdue.send(item)
    return flagged


def _event(item: RunOverdue) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event": events.RUN_OVERDUE,
        "schedule": item.schedule,
        "schedule_id": item.schedule_id,
        "run_id": str(item.run_id),
        "scheduled_for": events.utc_stamp(item.scheduled_for),
        "deadline_seconds": item.deadline_seconds,
        "job": item.job,
    }
    if item.ended_status:
        event["status"] = item.ended_status
    return event
