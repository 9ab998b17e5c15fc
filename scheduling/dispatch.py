"""The dispatch step: claim due schedules, create their occurrences and runs, advance, commit, publish.

One tick, for any number of beat processes at once against one database:

1. ``SELECT ... FOR UPDATE SKIP LOCKED`` claims up to ``SCHEDULER_BATCH_SIZE`` due schedules
   (joined with their job and directive, read as plain values); rows another beat holds are
   skipped, so beats share the work.
2. ``planning.plan`` decides each schedule's occurrences (misfire, then overlap policy).
3. In the same transaction: occurrences are inserted with ``ON CONFLICT DO NOTHING RETURNING``
   (a conflict is a normal outcome: someone already handled that occurrence), runs are inserted
   only for the occurrences this tick won, and every schedule's cursor advances in one statement.
4. After commit, the runs are published. A run committed but never published (the beat died, or
   Redis was down) stays ``pending`` and ``maintain``'s recovery publishes it.

The statements of a tick are fixed in number (they do not grow with the batch): see the
query-count test in ``tests/integration/test_dispatch.py``. On PostgreSQL the writes pass whole
columns as arrays (``orchestrator.db``), so a batch of a thousand costs a few statements.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from orchestrator import db, events, service
from orchestrator.models import Run, RunTrigger
from orchestrator.service import DirectiveRef, JobSettings, PlannedRun
from scheduling import hooks, planning, timing
from scheduling.models import OccurrenceStatus, Schedule, ScheduledRun
from scheduling.policies import Action, Decision

logger = logging.getLogger(__name__)

_INSERT_CHUNK = 1000  # rows per portable INSERT (SQLite): 9 params a row
_STATUS_FOR_ACTION = {
    Action.DISPATCH: OccurrenceStatus.DISPATCHED,
    Action.SKIP: OccurrenceStatus.SKIPPED,
    Action.MISS: OccurrenceStatus.MISSED,
    Action.BUFFER: OccurrenceStatus.BUFFERED,
}
_EVENT_FOR_ACTION = {
    Action.SKIP: events.RUN_SKIPPED,
    Action.MISS: events.RUN_MISSED,
    Action.BUFFER: events.RUN_BUFFERED,
}

_CLAIM = """
SELECT s.id, s.name, s.tenant, s.kind, s.cron, s.interval_seconds, s.run_at, s.timezone, s.start_at, s.end_at,
       s.next_run_at, s.jitter_seconds, s.misfire_policy, s.misfire_grace_seconds, s.overlap_policy,
       s.max_concurrency, s.params, s.job_id, j.key, j.queue, j.timeout_seconds, j.max_retries, j.max_concurrency,
       s.directive_id, d.name, d.params
FROM scheduling_schedule s
JOIN orchestrator_job j ON j.id = s.job_id
LEFT JOIN orchestrator_directive d ON d.id = s.directive_id
WHERE s.enabled AND s.due_at <= %s
ORDER BY s.due_at
LIMIT %s"""

_INSERT_OCCURRENCES_PG = """
INSERT INTO scheduling_scheduledrun (schedule_id, scheduled_for, status, run_id, "trigger", dispatched_at, reason,
                                     missed_count, missed_until, created_at, run_active)
SELECT u.schedule_id, u.scheduled_for, u.status, u.run_id, 'schedule', u.dispatched_at, u.reason, u.missed_count,
       u.missed_until, %b, u.run_id IS NOT NULL
FROM unnest(%b::bigint[], %b::timestamptz[], %b::text[], %b::uuid[], %b::timestamptz[], %b::text[], %b::int[],
            %b::timestamptz[]) AS u(schedule_id, scheduled_for, status, run_id, dispatched_at, reason, missed_count,
                                    missed_until)
ON CONFLICT (schedule_id, scheduled_for) DO NOTHING
RETURNING schedule_id, scheduled_for"""

_ADVANCE_PG = """
UPDATE scheduling_schedule AS s SET next_run_at = v.next_run_at, due_at = v.due_at,
       last_run_at = COALESCE(v.last_run_at, s.last_run_at), enabled = s.enabled AND NOT v.disable
FROM unnest(%b::bigint[], %b::timestamptz[], %b::timestamptz[], %b::timestamptz[], %b::boolean[])
     AS v(id, next_run_at, due_at, last_run_at, disable)
WHERE s.id = v.id AND s.id = ANY(%b::bigint[])"""


@dataclass(frozen=True, kw_only=True)
class Handled:
    """One occurrence a tick handled, for reports and the ``scheduler --once`` output."""

    schedule_id: int
    schedule: str
    scheduled_for: datetime
    action: str
    reason: str = ""
    run_id: uuid.UUID | None = None
    queue: str = ""
    missed_count: int = 1


@dataclass(kw_only=True)
class TickReport:
    #: The tick's clock reading, the time its occurrences are dispatched at (``dispatched_at``).
    started_at: datetime | None = None
    #: When its runs were published, on the tick's clock (``started_at`` plus the time taken since):
    #: dispatch lag is ``published_at - scheduled_for``. For a burst prepared ahead, ``started_at``
    #: is the moment itself and the time taken is from that moment on.
    published_at: datetime | None = None
    claimed: int = 0
    handled: list[Handled] = field(default_factory=list)
    published: int = 0
    #: Runs this tick committed but could not publish (the broker refused them): they stay pending,
    #: and recovery publishes them (``MaintenanceReport.recovered``), where their lag is counted.
    unpublished: set[uuid.UUID] = field(default_factory=set)
    conflicts: int = 0
    #: Claimed while preparing ahead but left for the tick at its time (see ``dispatch_due``).
    deferred: int = 0
    errors: list[str] = field(default_factory=list)
    next_due_at: datetime | None = None
    #: When the loop got this report back (runs published, events written): set by ``scheduling.loop``.
    finished_at: datetime | None = None

    def count(self, action: str) -> int:
        return sum(1 for item in self.handled if item.action == action)


@dataclass(frozen=True, kw_only=True, slots=True)
class Claimed:
    """A claimed schedule as the dispatch step needs it: plain values, no ORM instance."""

    id: int
    name: str
    tenant: str
    state: planning.ScheduleState
    max_concurrency: int | None
    params: dict[str, Any]
    job: JobSettings
    directive: DirectiveRef | None


def _json(value: Any) -> Any:
    if value is None or isinstance(value, dict | list):
        return value
    return json.loads(value)


class _Shared:
    """Within one claimed batch, one ``JobSettings`` per job and one ``DirectiveRef`` per directive:
    thousands of schedules share a few of each, and building them was a measurable part of a burst."""

    def __init__(self) -> None:
        self.jobs: dict[tuple[Any, ...], JobSettings] = {}
        self.directives: dict[int, DirectiveRef] = {}

    def job(self, key: tuple[Any, ...]) -> JobSettings:
        found = self.jobs.get(key)
        if found is None:
            job_id, job_key, queue, timeout, retries, job_max = key
            found = self.jobs[key] = JobSettings(
                id=job_id, key=job_key, queue=queue, timeout_seconds=timeout, max_retries=retries,
                max_concurrency=job_max,
            )  # fmt: skip
        return found

    def directive(self, directive_id: int | None, name: str, params: Any) -> DirectiveRef | None:
        if directive_id is None:
            return None
        found = self.directives.get(directive_id)
        if found is None:
            found = self.directives[directive_id] = DirectiveRef(id=directive_id, name=name, params=_json(params) or {})
        return found


def _claimed(row: Sequence[Any], shared: _Shared) -> Claimed:
    (
        sid, name, tenant, kind, cron, interval_seconds, run_at, zone, start_at, end_at, next_run_at, jitter,
        misfire_policy, misfire_grace, overlap_policy, max_concurrency, params, job_id, job_key, queue,
        timeout, retries, job_max, directive_id, directive_name, directive_params,
    ) = row  # fmt: skip
    spec = timing.Spec(
        kind=kind,
        cron=cron,
        interval_seconds=interval_seconds,
        run_at=db.as_utc(run_at),
        timezone=zone,
        start_at=db.as_utc(start_at),
        end_at=db.as_utc(end_at),
    )
    cursor = db.as_utc(next_run_at)
    if cursor is None:
        raise ValueError(f"schedule {sid} is due but has no next run")
    return Claimed(
        id=sid,
        name=name,
        tenant=tenant,
        state=planning.ScheduleState(
            schedule_id=sid,
            spec=spec,
            next_run_at=cursor,
            jitter_seconds=jitter,
            misfire_policy=misfire_policy,
            misfire_grace_seconds=misfire_grace,
            overlap_policy=overlap_policy,
        ),
        max_concurrency=max_concurrency,
        params=_json(params) or {},
        job=shared.job((job_id, job_key, queue, timeout, retries, job_max)),
        directive=shared.directive(directive_id, directive_name, directive_params),
    )


_EARLIEST = "SELECT due_at FROM scheduling_schedule WHERE enabled AND due_at IS NOT NULL ORDER BY due_at LIMIT 1"


def earliest_due_at() -> datetime | None:
    """When the next enabled schedule falls due: one look-up in the claim's index, on every idle tick.

    A raw statement: building it through the ORM cost more than twice the query itself.
    """
    rows = db.execute(_EARLIEST, [], fetch=True, binary=True)
    return db.as_utc(rows[0][0]) if rows else None


_DUE_COUNT = "SELECT count(*) FROM (SELECT 1 FROM scheduling_schedule WHERE enabled AND due_at <= %s LIMIT %s) AS due"


def due_count(at: datetime, cap: int) -> int:
    """How many enabled schedules are due by ``at``, counted up to ``cap`` (the scan stops there)."""
    rows = db.execute(_DUE_COUNT, [db.db_datetime(at), cap], fetch=True)
    return int(rows[0][0])


def claim_due(now: datetime, limit: int) -> list[Claimed]:
    """Due schedules locked for this transaction; rows another beat holds are skipped, not awaited."""
    lock = "\nFOR UPDATE OF s SKIP LOCKED" if db.is_postgres() else ""
    rows = db.execute(_CLAIM + lock, [db.db_datetime(now), limit], fetch=True, binary=True)
    shared = _Shared()
    return [_claimed(row, shared) for row in rows]


def bounds() -> planning.Bounds:
    return planning.Bounds(
        late_after=timedelta(seconds=settings.SCHEDULER_MISFIRE_THRESHOLD_SECONDS),
        max_catchup=settings.SCHEDULER_MAX_CATCHUP,
        max_enumerate=settings.SCHEDULER_MAX_ENUMERATE,
    )


def schedule_context(
    *,
    schedule_id: int,
    name: str,
    tenant: str,
    scheduled_for: datetime | None,
    max_concurrency: int | None,
    overlap_policy: str,
) -> dict[str, Any]:
    """What a run of a schedule freezes about it in its snapshot."""
    return {
        "schedule": {
            "id": schedule_id,
            "name": name,
            "tenant": tenant,
            "scheduled_for": events.utc_stamp(scheduled_for) if scheduled_for else None,
            "max_concurrency": max_concurrency,
            "overlap_policy": overlap_policy,
        }
    }


def planned_for(schedule: Schedule, scheduled_for: datetime | None, trigger: str, *, now: datetime) -> PlannedRun:
    """A run of ``schedule`` (an ORM row: run now, buffered releases) through the same snapshot path."""
    base = service.base_snapshot(
        JobSettings.of(schedule.job), DirectiveRef.of(schedule.directive), schedule.params or {}
    )
    context = schedule_context(
        schedule_id=schedule.pk,
        name=schedule.name,
        tenant=schedule.tenant,
        scheduled_for=scheduled_for,
        max_concurrency=schedule.max_concurrency,
        overlap_policy=schedule.overlap_policy,
    )
    return service.plan_run(job_id=schedule.job_id, base=base, context=context, trigger=trigger, now=now)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Occurrence:
    schedule_id: int
    scheduled_for: datetime
    status: str
    run_id: uuid.UUID | None
    dispatched_at: datetime | None
    reason: str
    missed_count: int
    missed_until: datetime | None


def insert_occurrences(rows: Sequence[_Occurrence], *, now: datetime) -> set[tuple[int, datetime]]:
    """Insert occurrence rows, skipping any that exist; return the (schedule, time) keys inserted."""
    if not rows:
        return set()
    if db.is_postgres():
        returned = db.execute(
            _INSERT_OCCURRENCES_PG,
            [
                now,
                [r.schedule_id for r in rows],
                [r.scheduled_for for r in rows],
                [r.status for r in rows],
                [r.run_id for r in rows],
                [r.dispatched_at for r in rows],
                [r.reason for r in rows],
                [r.missed_count for r in rows],
                [r.missed_until for r in rows],
            ],
            fetch=True,
            binary=True,
        )
    else:
        returned = []
        quote = connection.ops.quote_name
        placeholder = "(%s, %s, %s, %s, 'schedule', %s, %s, %s, %s, %s, %s)"
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[start : start + _INSERT_CHUNK]
            params: list[Any] = []
            for r in chunk:
                params += [
                    r.schedule_id,
                    db.db_datetime(r.scheduled_for),
                    r.status,
                    r.run_id.hex if r.run_id else None,
                    db.db_datetime(r.dispatched_at),
                    r.reason,
                    r.missed_count,
                    db.db_datetime(r.missed_until),
                    db.db_datetime(now),
                    r.run_id is not None,
                ]
            returned += db.execute(
                f"INSERT INTO {quote(ScheduledRun._meta.db_table)} (schedule_id, scheduled_for, status, run_id, "  # noqa: S608
                f'"trigger", dispatched_at, reason, missed_count, missed_until, created_at, run_active) VALUES '
                + ", ".join([placeholder] * len(chunk))
                + " ON CONFLICT (schedule_id, scheduled_for) DO NOTHING RETURNING schedule_id, scheduled_for",
                params,
                fetch=True,
            )
    return {(int(sid), when) for sid, when in ((sid, db.as_utc(when)) for sid, when in returned) if when}


def advance_schedules(plans: Sequence[tuple[int, planning.Plan]]) -> None:
    """Write every claimed schedule's new cursor in one statement."""
    if not plans:
        return
    if db.is_postgres():
        ids = [sid for sid, _ in plans]
        db.execute(
            _ADVANCE_PG,
            [
                ids,
                [p.next_run_at for _, p in plans],
                [p.due_at for _, p in plans],
                [p.last_run_at for _, p in plans],
                [p.disable for _, p in plans],
                ids,  # the ANY lets the planner look the rows up by key instead of hashing the whole table
            ],
            binary=True,
        )
        return
    table = connection.ops.quote_name(Schedule._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(plans))
    params: list[Any] = []
    for sid, p in plans:
        params += [
            sid,
            db.db_datetime(p.next_run_at),
            db.db_datetime(p.due_at),
            db.db_datetime(p.last_run_at),
            int(p.disable),
        ]
    db.execute(
        f"WITH v(id, next_run_at, due_at, last_run_at, disable) AS (VALUES {values}) "  # noqa: S608
        f"UPDATE {table} SET next_run_at = v.next_run_at, due_at = v.due_at, "
        f"last_run_at = COALESCE(v.last_run_at, {table}.last_run_at), "
        f"enabled = {table}.enabled AND NOT v.disable FROM v WHERE {table}.id = v.id",
        params,
    )


def dispatch_due(
    now: datetime, *, limit: int | None = None, ahead: bool = False, hold: Callable[[], float] | None = None
) -> TickReport:
    """One dispatch tick at ``now``: claim, plan, write, commit, publish. Returns what it did.

    ``limit``: schedules claimed (default ``SCHEDULER_BATCH_SIZE``). ``ahead``: ``now`` is a moment
    still to come (see ``scheduling.loop``, preparing a burst): a schedule whose decision depends
    on runs that may end before then (an overlap policy other than ``allow``, with a run active
    or an occurrence buffered) is left as it is, for a tick at that moment. ``hold`` is called
    just before the commit: it waits until that moment, so nothing is visible or published early,
    and returns the moment on the monotonic clock (the lag counts from it, also when it was late).
    """
    report = TickReport(started_at=now)
    began = time.monotonic()  # ``now`` on the monotonic clock (a test's clock may be fixed)
    runs: list[PlannedRun] = []
    pending_events: list[dict[str, Any]] = []
    planned: list[tuple[Claimed, Decision, PlannedRun | None]] = []
    with transaction.atomic():
        claimed = claim_due(now, limit or settings.SCHEDULER_BATCH_SIZE)
        report.claimed = len(claimed)
        if not claimed:
            return report
        ids = [c.id for c in claimed]
        needs_active = any(c.state.overlap_policy != "allow" for c in claimed)
        active = ScheduledRun.objects.active_runs_by_schedule(ids) if needs_active else {}
        needs_buffered = any(c.state.overlap_policy in ("buffer_one", "buffer_all") for c in claimed)
        buffered = ScheduledRun.objects.buffered_counts(ids) if needs_buffered else {}
        limits = bounds()

        occurrences: list[_Occurrence] = []
        plans: list[tuple[int, planning.Plan]] = []
        for schedule in claimed:
            if (
                ahead
                and schedule.state.overlap_policy != "allow"
                and (active.get(schedule.id) or buffered.get(schedule.id))
            ):
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
                report.errors.append(f"{schedule.name}: {exc}")
                logger.exception(
                    "could not plan schedule %s; retrying in a minute",
                    schedule.name,
                    extra={"event": "schedule_error", "schedule_id": schedule.id},
                )
                pending_events.append(
                    {
                        "event": "schedule_error",
                        "schedule": schedule.name,
                        "schedule_id": schedule.id,
                        "error": f"{type(exc).__name__}: {exc}",
                    }
                )
                stalled = planning.Plan(
                    decisions=[],
                    next_run_at=schedule.state.next_run_at,
                    due_at=now + timedelta(minutes=1),
                    last_run_at=None,
                    disable=False,
                )
                plans.append((schedule.id, stalled))
                continue
            plans.append((schedule.id, plan))
            base: dict[str, Any] | None = None
            for decision in plan.decisions:
                run = None
                if decision.action == Action.DISPATCH:
                    if base is None:
                        base = service.base_snapshot(schedule.job, schedule.directive, schedule.params)
                    context = schedule_context(
                        schedule_id=schedule.id,
                        name=schedule.name,
                        tenant=schedule.tenant,
                        scheduled_for=decision.scheduled_for,
                        max_concurrency=schedule.max_concurrency,
                        overlap_policy=schedule.state.overlap_policy,
                    )
                    run = service.plan_run(
                        job_id=schedule.job.id, base=base, context=context, trigger=RunTrigger.SCHEDULE, now=now
                    )
                planned.append((schedule, decision, run))
                occurrences.append(
                    _Occurrence(
                        schedule_id=schedule.id,
                        scheduled_for=decision.scheduled_for,
                        status=_STATUS_FOR_ACTION[decision.action],
                        run_id=run.id if run else None,
                        dispatched_at=now if run else None,
                        reason=decision.reason,
                        missed_count=decision.missed_count,
                        missed_until=decision.missed_until,
                    )
                )

        won = insert_occurrences(occurrences, now=now)
        report.conflicts = len(occurrences) - len(won)
        runs = [run for schedule, decision, run in planned if run and (schedule.id, decision.scheduled_for) in won]
        # Only a decision this tick carried out may cancel: a lost insert means another beat handled
        # that occurrence, and the active run ``replace`` saw may be that beat's run of it.
        to_cancel = [
            run_id
            for schedule, decision, _ in planned
            if (schedule.id, decision.scheduled_for) in won
            for run_id in decision.cancel_run_ids
        ]
        service.insert_runs(runs)
        advance_schedules(plans)
        if to_cancel:
            service.cancel_runs(to_cancel, reason="replaced by a newer occurrence", now=now)
        if hold is not None:
            if db.is_postgres():
                # the deferred foreign-key checks (three per occurrence) run now, not in the commit at the moment
                db.execute("SET CONSTRAINTS ALL IMMEDIATE", [])
            began = hold()  # ``now``: what was done before it delays nothing

    if settings.SCHEDULER_FAULT_CRASH_AFTER_COMMIT and runs:
        logger.critical("fault injection: exiting after commit, before publish")
        os._exit(17)

    published = service.publish_runs(runs, now=now)
    report.published = len(published)
    report.unpublished = {run.id for run in runs} - {run.id for run in published}
    report.published_at = now + timedelta(seconds=time.monotonic() - began)

    for schedule, decision, run in planned:
        if (schedule.id, decision.scheduled_for) not in won:
            logger.debug("occurrence %s of %s already handled elsewhere", decision.scheduled_for, schedule.name)
            continue
        report.handled.append(
            Handled(
                schedule_id=schedule.id,
                schedule=schedule.name,
                scheduled_for=decision.scheduled_for,
                action=str(decision.action),
                reason=decision.reason,
                run_id=run.id if run else None,
                queue=schedule.job.queue if run else "",
                missed_count=decision.missed_count,
            )
        )
        name = _EVENT_FOR_ACTION.get(decision.action)
        if name:
            event: dict[str, Any] = {
                "event": name,
                "schedule": schedule.name,
                "schedule_id": schedule.id,
                "scheduled_for": events.utc_stamp(decision.scheduled_for),
                "job": schedule.job.key,
                "trigger": RunTrigger.SCHEDULE,
                "reason": decision.reason,
            }
            if decision.missed_count > 1:
                event["missed_count"] = decision.missed_count
            pending_events.append(event)
    events.emit(pending_events)
    hooks.tick_completed(report)
    if report.handled:
        logger.info(
            "tick: %d dispatched, %d skipped, %d missed, %d buffered, %d published",
            report.count("dispatch"),
            report.count("skip"),
            report.count("miss"),
            report.count("buffer"),
            report.published,
        )
    return report


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
            run = planned_for(schedule, occurrence.scheduled_for, RunTrigger.SCHEDULE, now=now)
            released.append((schedule, occurrence, run))
        service.insert_runs([run for _, _, run in released])
        for schedule, occurrence, run in released:
            ScheduledRun.objects.filter(pk=occurrence.pk, status=OccurrenceStatus.BUFFERED).update(
                status=OccurrenceStatus.DISPATCHED, run_id=run.id, dispatched_at=now, run_active=True
            )
            if occurrence.scheduled_for and (
                schedule.last_run_at is None or occurrence.scheduled_for > schedule.last_run_at
            ):
                Schedule.objects.filter(pk=schedule.pk).update(last_run_at=occurrence.scheduled_for)
    for schedule, occurrence, run in released:
        logger.info(
            "released a buffered occurrence",
            extra={
                "event": "run_released",
                "schedule_id": schedule.pk,
                "run_id": str(run.id),
                "scheduled_for": occurrence.scheduled_for,
            },
        )
    return service.publish_runs([run for _, _, run in released], now=now)


@dataclass(kw_only=True)
class MaintenanceReport:
    #: The runs recovery published, as read before publishing (``service.announced_by_recovery``).
    recovered: list[Run] = field(default_factory=list)
    released: list[PlannedRun] = field(default_factory=list)
    #: When the recovered runs were published, on the beat's clock (``now`` plus the time taken).
    published_at: datetime | None = None


def maintain(now: datetime) -> MaintenanceReport:
    """The slower half of a beat: publish pending runs whose time has come (unpublished, retries,
    lost wake-ups), release buffered occurrences, and run the registered maintenance hooks
    (the workers app's reaper of runs whose worker died); then the maintenance report's hooks."""
    report = MaintenanceReport()
    began = time.monotonic()
    report.recovered = service.publish_due(now=now) + service.republish_lost(now=now)
    report.published_at = now + timedelta(seconds=time.monotonic() - began)
    report.released = release_buffered(now)
    hooks.maintenance(now)
    hooks.maintenance_completed(report)
    return report
