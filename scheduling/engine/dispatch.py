"""The dispatch step: claim due schedules, create their occurrences and runs, advance, commit, publish.

One tick, for any number of beat processes at once against one database:

1. ``store.claim_due`` claims up to ``SCHEDULER_BATCH_SIZE`` due schedules with
   ``SELECT ... FOR UPDATE SKIP LOCKED`` (joined with their job and directive, read as plain
   values); rows another beat holds are skipped, so beats share the work.
2. ``planning.plan`` (the pure core) decides each schedule's occurrences: misfire, then overlap.
3. In the same transaction: occurrences are inserted with ``ON CONFLICT DO NOTHING RETURNING``
   (a conflict is a normal outcome: someone already handled that occurrence); runs are inserted,
   and active runs a ``replace`` decision supersedes are cancelled, only for the occurrences this
   tick won; every claimed schedule's cursor advances in one statement.
4. After commit, the runs are published. A run committed but never published (the beat died, or
   Redis was down) stays ``pending`` and the maintenance step's recovery publishes it.

The statements of a tick are fixed in number (they do not grow with the batch): see the
query-count test in ``tests/db/test_dispatch.py``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from orchestrator import db, events, tracing
from orchestrator.cancelling import cancel_runs
from orchestrator.models import RunTrigger
from orchestrator.publishing import publish_runs
from orchestrator.snapshots import PlannedRun, base_snapshot, plan_run
from orchestrator.store import insert_runs
from scheduling.core import planning
from scheduling.core.policies import BUFFERING, Action, Decision, OverlapPolicy, runs_to_cancel
from scheduling.engine import hooks, store
from scheduling.engine.outcomes import OUTCOMES
from scheduling.engine.reports import Handled, Missed, OccurrencesMissed, TickReport
from scheduling.engine.runs import schedule_ref
from scheduling.models import ScheduledRun

logger = logging.getLogger(__name__)

#: A schedule that could not be planned is tried again this much later.
RETRY_PLANNING_AFTER = timedelta(minutes=1)


def bounds() -> planning.Bounds:
    return planning.Bounds(
        late_after=timedelta(seconds=settings.SCHEDULER_MISFIRE_THRESHOLD_SECONDS),
        max_catchup=settings.SCHEDULER_MAX_CATCHUP,
        max_enumerate=settings.SCHEDULER_MAX_ENUMERATE,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class _Planned:
    schedule: store.Claimed
    decision: Decision
    run: PlannedRun | None


@dataclass(kw_only=True)
class _Batch:
    """What a tick decided for its claimed schedules, before anything is written."""

    planned: list[_Planned] = field(default_factory=list)
    occurrences: list[store.Occurrence] = field(default_factory=list)
    plans: list[tuple[int, planning.Plan]] = field(default_factory=list)
    #: Events that do not depend on the inserts (a schedule that could not be planned).
    events: list[dict[str, Any]] = field(default_factory=list)

    def won(self, inserted: set[tuple[int, datetime]]) -> list[_Planned]:
        return [item for item in self.planned if (item.schedule.id, item.decision.scheduled_for) in inserted]


def dispatch_due(
    now: datetime, *, limit: int | None = None, ahead: bool = False, hold: Callable[[], float] | None = None
) -> TickReport:
    """One dispatch tick at ``now``: claim, plan, write, commit, publish. Returns what it did.

    ``limit``: schedules claimed (default ``SCHEDULER_BATCH_SIZE``). ``ahead``: ``now`` is a moment
    still to come (see ``scheduling.engine.loop``, preparing a burst): a schedule whose decision
    depends on runs that may end before then (an overlap policy other than ``allow``, with a run
    active or an occurrence buffered) is left as it is, for a tick at that moment. ``hold`` is
    called just before the commit: it waits until that moment, so nothing is visible or published
    early, and returns the moment on the monotonic clock (the lag counts from it, also when late).
    """
    report = TickReport(started_at=now)
    began = time.monotonic()  # ``now`` on the monotonic clock (a test's clock may be fixed)
    with transaction.atomic():
        claimed = store.claim_due(now, limit or settings.SCHEDULER_BATCH_SIZE)
        report.claimed = len(claimed)
        if not claimed:
            return report
        batch = _plan(claimed, now=now, ahead=ahead, report=report)
        inserted = store.insert_occurrences(batch.occurrences, now=now)
        report.conflicts = len(batch.occurrences) - len(inserted)
        won = batch.won(inserted)
        # each run's trace starts here (tracing on): its traceparent is written with it
        runs, traces = tracing.begin([item.run for item in won if item.run is not None], now=now)
        insert_runs(runs)
        store.advance_schedules(batch.plans, taken=_runs_taken(won))
        superseded = runs_to_cancel(((item.schedule.id, item.decision) for item in batch.planned), inserted)
        if superseded:
            cancel_runs(superseded, reason="replaced by a newer occurrence", now=now)
        if hold is not None:
            if db.is_postgres():
                # the deferred foreign-key checks (three per occurrence) run now, not in the commit at the moment
                db.execute("SET CONSTRAINTS ALL IMMEDIATE", [])
            began = hold()  # ``now``: what was done before it delays nothing

    if settings.SCHEDULER_FAULT_CRASH_AFTER_COMMIT and runs:
        logger.critical("fault injection: exiting after commit, before publish")
        os._exit(17)

    published = publish_runs(runs, now=now)
    traces.end()
    report.published = len(published)
    report.unpublished = {run.id for run in runs} - {run.id for run in published}
    report.published_at = now + timedelta(seconds=time.monotonic() - began)
    _record(report, won, batch, now=now)
    hooks.tick_completed.send(report)
    if report.handled:
        logger.info(
            "tick: %d dispatched, %d skipped, %d missed, %d buffered, %d published",
            report.count(Action.DISPATCH),
            report.count(Action.SKIP),
            report.count(Action.MISS),
            report.count(Action.BUFFER),
            report.published,
        )
    return report


def _plan(claimed: Sequence[store.Claimed], *, now: datetime, ahead: bool, report: TickReport) -> _Batch:
    """Each claimed schedule's plan and, for the occurrences to dispatch, their runs (nothing written)."""
    batch = _Batch()
    ids = [c.id for c in claimed]
    needs_active = any(c.state.overlap_policy != OverlapPolicy.ALLOW for c in claimed)
    active = ScheduledRun.objects.active_runs_by_schedule(ids) if needs_active else {}
    needs_buffered = any(c.state.overlap_policy in BUFFERING for c in claimed)
    buffered = ScheduledRun.objects.buffered_counts(ids) if needs_buffered else {}
    limits = bounds()
    for schedule in claimed:
        depends_on_runs = schedule.state.overlap_policy != OverlapPolicy.ALLOW
        if ahead and depends_on_runs and (active.get(schedule.id) or buffered.get(schedule.id)):
            report.deferred += 1
            continue  # untouched: due as before, dispatched by the tick at ``now`` with what is active then
        try:
            plan = planning.plan(
                schedule.state,
                now=now,
                active_run_ids=active.get(schedule.id, []),
                buffered=buffered.get(schedule.id, 0),
                bounds=limits,
            )
        except Exception as exc:  # one bad schedule must not stop the others
            batch.plans.append((schedule.id, _stalled(schedule, now=now, error=exc, report=report, batch=batch)))
            continue
        batch.plans.append((schedule.id, plan))
        base: dict[str, Any] | None = None
        for decision in plan.decisions:
            run = None
            if decision.action == Action.DISPATCH:
                if base is None:
                    base = base_snapshot(schedule.job, schedule.directive, schedule.params)
                ref = schedule_ref(
                    schedule_id=schedule.id,
                    name=schedule.name,
                    tenant=schedule.tenant,
                    scheduled_for=decision.scheduled_for,
                    max_concurrency=schedule.max_concurrency,
                    overlap_policy=schedule.state.overlap_policy,
                    deadline_seconds=schedule.deadline_seconds,
                )
                run = plan_run(job_id=schedule.job.id, base=base, schedule=ref, trigger=RunTrigger.SCHEDULE, now=now)
            batch.planned.append(_Planned(schedule=schedule, decision=decision, run=run))
            batch.occurrences.append(
                store.Occurrence(
                    schedule_id=schedule.id,
                    scheduled_for=decision.scheduled_for,
                    status=OUTCOMES[decision.action].status,
                    run_id=run.id if run else None,
                    dispatched_at=now if run else None,
                    reason=decision.reason,
                    missed_count=decision.missed_count,
                    missed_until=decision.missed_until,
                )
            )
    return batch


def _runs_taken(won: Sequence[_Planned]) -> dict[int, int]:
    """Per schedule, the occurrences this tick inserted that will run (dispatched now or buffered)."""
    taken: dict[int, int] = {}
    for item in won:
        if item.decision.action in (Action.DISPATCH, Action.BUFFER):
            taken[item.schedule.id] = taken.get(item.schedule.id, 0) + 1
    return taken


def _stalled(
    schedule: store.Claimed, *, now: datetime, error: Exception, report: TickReport, batch: _Batch
) -> planning.Plan:
    """A schedule that could not be planned: reported, and left where it is until ``RETRY_PLANNING_AFTER``."""
    report.errors.append(f"{schedule.name}: {error}")
    logger.exception(
        "could not plan schedule %s; retrying in a minute",
        schedule.name,
        extra={"event": events.SCHEDULE_ERROR, "schedule_id": schedule.id},
    )
    batch.events.append(
        {
            "event": events.SCHEDULE_ERROR,
            "schedule": schedule.name,
            "schedule_id": schedule.id,
            "error": f"{type(error).__name__}: {error}",
        }
    )
    return planning.Plan(
        decisions=[],
        next_run_at=schedule.state.next_run_at,
        due_at=now + RETRY_PLANNING_AFTER,
        last_run_at=None,
        disable=False,
    )


def _record(report: TickReport, won: Sequence[_Planned], batch: _Batch, *, now: datetime) -> None:
    """Report the occurrences this tick won and write their events (a dispatch's is written by publishing)."""
    written = list(batch.events)
    missed: list[Missed] = []
    for item in won:
        schedule, decision, run = item.schedule, item.decision, item.run
        report.handled.append(
            Handled(
                schedule_id=schedule.id,
                schedule=schedule.name,
                scheduled_for=decision.scheduled_for,
                action=decision.action,
                reason=decision.reason,
                run_id=run.id if run else None,
                queue=schedule.job.queue if run else "",
                missed_count=decision.missed_count,
            )
        )
        if decision.action == Action.DISPATCH:
            continue
        event: dict[str, Any] = {
            "event": OUTCOMES[decision.action].event,
            "schedule": schedule.name,
            "schedule_id": schedule.id,
            "scheduled_for": events.utc_stamp(decision.scheduled_for),
            "job": schedule.job.key,
            "trigger": RunTrigger.SCHEDULE,
            "reason": decision.reason,
        }
        if decision.missed_count > 1:
            event["missed_count"] = decision.missed_count
        written.append(event)
        if decision.action == Action.MISS:
            missed.append(
                Missed(
                    schedule_id=schedule.id,
                    schedule=schedule.name,
                    job=schedule.job.key,
                    tenant=schedule.tenant,
                    scheduled_for=decision.scheduled_for,
                    reason=decision.reason,
                    missed_count=decision.missed_count,
                )
            )
    if len(won) < len(batch.planned):
        logger.debug("%d occurrence(s) already handled elsewhere", len(batch.planned) - len(won))
    events.emit(written)
    if missed:
        hooks.occurrences_missed.send(OccurrencesMissed(items=tuple(missed), now=now))
