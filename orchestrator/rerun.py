"""Run again: a new run of a past run's frozen configuration, through the one path.

The new run copies the original's ``directive_snapshot`` (job settings, directive, params, the
schedule it belongs to) as it was frozen, so it runs what the original ran even if the schedule,
the directive or the job changed since. It is recorded as ``manual``, with ``rerun_of`` (the
original's id) and ``rerun_by`` (who asked) in its snapshot, and with no ``scheduled_for``: it is
not an occurrence of the schedule. ``hooks.run_again`` lets ``scheduling`` record it among the
schedule's occurrences (as run now does) in the same transaction; publishing follows the commit.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from django.db import transaction

from orchestrator import hooks, ids, store
from orchestrator.models import Run, RunTrigger
from orchestrator.publishing import publish_runs
from orchestrator.snapshots import PlannedRun, RunSnapshot

#: The snapshot keys naming the run a run was started again from, and who asked.
RERUN_OF = "rerun_of"
RERUN_BY = "rerun_by"


def again_snapshot(original: Run, *, actor: str) -> dict[str, Any]:
    """The original's frozen snapshot for a new run: same everything, no occurrence time, its origin."""
    snapshot: dict[str, Any] = copy.deepcopy(original.directive_snapshot or {})
    schedule = snapshot.get("schedule")
    if isinstance(schedule, dict):
        snapshot["schedule"] = {**schedule, "scheduled_for": None}
    snapshot[RERUN_OF] = str(original.id)
    snapshot[RERUN_BY] = actor
    return snapshot


def rerun_of(run: Run) -> str | None:
    """The id of the run ``run`` was started again from, or None."""
    value = (run.directive_snapshot or {}).get(RERUN_OF) if isinstance(run.directive_snapshot, dict) else None
    return str(value) if value else None


def run_again(original: Run, *, actor: str, now: datetime) -> Run:
    """Create, commit and publish a ``manual`` run of ``original``'s frozen configuration; returns it."""
    planned = PlannedRun(
        id=ids.uuid7(now),
        job_id=original.job_id,
        trigger=RunTrigger.MANUAL,
        directive_snapshot=again_snapshot(original, actor=actor),
        created_at=now,
    )
    schedule = RunSnapshot.of(planned.directive_snapshot).schedule
    with transaction.atomic():
        store.insert_runs([planned])
        hooks.run_again.send(
            hooks.RunAgain(
                run_id=planned.id,
                original_id=original.id,
                schedule_id=schedule.id if schedule is not None and schedule.id else None,
                trigger=planned.trigger,
                actor=actor,
                now=now,
            )
        )
    publish_runs([planned], now=now)
    return Run.objects.get(id=planned.id)
