"""Actions on schedules that every door (admin, API, CLI, schedules page) calls."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from orchestrator import db, tracing
from orchestrator.errors import RowDeletedError
from orchestrator.models import Run, RunTrigger
from orchestrator.publishing import publish_runs
from orchestrator.store import insert_runs
from scheduling.engine.runs import planned_for
from scheduling.models import OccurrenceStatus, Schedule, ScheduledRun


def _held(schedule: Schedule) -> bool:
    """Lock the schedule's key until the commit; False when it is gone.

    A delete between the door reading the schedule and this commit would otherwise fail the
    occurrence's foreign key at the commit (a 500); with the key locked (``FOR KEY SHARE``, what
    that foreign-key check takes anyway, only earlier) a delete waits for this run's rows.
    """
    lock = " FOR KEY SHARE" if db.is_postgres() else ""
    sql = f"SELECT 1 FROM {Schedule._meta.db_table} WHERE id = %s{lock}"  # noqa: S608 (a model table name)
    return bool(db.execute(sql, [schedule.pk], fetch=True))


def run_now(schedule: Schedule, *, trigger: str = RunTrigger.MANUAL, now: datetime | None = None) -> Run:
    """Run ``schedule``'s job and directive now, through the same path as the beat; returns the run.

    The schedule's cadence is not shifted; a disabled schedule runs too (on purpose: the
    occurrence row says so). The overlap policy does not apply to a run asked for explicitly;
    the concurrency limits do.
    """
    now = now or timezone.now()
    reason = "run now" + ("" if schedule.enabled else " (the schedule is disabled)")
    with transaction.atomic():
        if not _held(schedule):
            raise RowDeletedError("schedule", schedule.pk)  # the doors answer 404, as if the delete came first
        (run,), traces = tracing.begin([planned_for(schedule, None, trigger, now=now)], now=now, name="ostinato.create")
        insert_runs([run])
        ScheduledRun.objects.create(
            schedule=schedule,
            scheduled_for=None,
            status=OccurrenceStatus.DISPATCHED,
            run_id=run.id,
            trigger=trigger,
            dispatched_at=now,
            reason=reason,
            created_at=now,
            run_active=True,
        )
    publish_runs([run], now=now)
    traces.end()
    return Run.objects.get(id=run.id)
