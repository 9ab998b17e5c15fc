"""The dispatch step: claim due schedules, create their occurrences and runs, advance, commit, publish.

One tick, for any number of beat processes at once against one database:

1. ``SELECT ... FOR UPDATE SKIP LOCKED`` claims up to ``SCHEDULER_BATCH_SIZE`` due schedules;
   rows another beat holds are skipped, so beats share the work.
2. ``planning.plan`` decides each schedule's occurrences (misfire, then overlap policy).
3. In the same transaction: occurrences are inserted with ``ON CONFLICT DO NOTHING RETURNING``
   (a conflict is a normal outcome: someone already handled that occurrence), runs are inserted
   only for the occurrences this tick won, and every schedule's cursor advances in one statement.
4. After commit, the runs are published. A run committed but never published (the beat died, or
   Redis was down) stays ``pending`` and ``maintain``'s recovery publishes it.

The number of queries of a tick is fixed (it does not grow with the batch): see the query-count
test in ``tests/integration/test_dispatch.py``.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field

from orchestrator import events, service
from orchestrator.models import Run, RunTrigger
from scheduling import hooks, planning, timing
from scheduling.models import OccurrenceStatus, Schedule, ScheduledRun
from scheduling.policies import Action, Decision

logger = logging.getLogger(__name__)

_INSERT_CHUNK = 1000  # rows per INSERT: a whole batch is one statement (10 params a row)
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
    #: The tick's clock reading: dispatch lag is ``started_at - scheduled_for``.
    started_at: datetime | None = None
    claimed: int = 0
    handled: list[Handled] = field(default_factory=list)
    published: int = 0
    conflicts: int = 0
    errors: list[str] = field(default_factory=list)
    next_due_at: datetime | None = None

    def count(self, action: str) -> int:
        return sum(1 for item in self.handled if item.action == action)


def bounds() -> planning.Bounds:
    return planning.Bounds(
        late_after=timedelta(seconds=settings.SCHEDULER_MISFIRE_THRESHOLD_SECONDS),
        max_catchup=settings.SCHEDULER_MAX_CATCHUP,
        max_enumerate=settings.SCHEDULER_MAX_ENUMERATE,
    )


def state_of(schedule: Schedule) -> planning.ScheduleState:
    if schedule.next_run_at is None:
        raise ValueError(f"schedule {schedule.pk} has no next run")
    return planning.ScheduleState(
        schedule_id=schedule.pk,
        spec=timing.Spec(
            kind=schedule.kind,
            cron=schedule.cron,
            interval_seconds=schedule.interval_seconds,
            run_at=schedule.run_at,
            timezone=schedule.timezone,
            start_at=schedule.start_at,
            end_at=schedule.end_at,
        ),
        next_run_at=schedule.next_run_at,
        jitter_seconds=schedule.jitter_seconds,
        misfire_policy=schedule.misfire_policy,
        misfire_grace_seconds=schedule.misfire_grace_seconds,
        overlap_policy=schedule.overlap_policy,
    )


def schedule_context(schedule: Schedule, scheduled_for: datetime | None) -> dict[str, Any]:
    """What a run of ``schedule`` freezes about it in its snapshot."""
    return {
        "schedule": {
            "id": schedule.pk,
            "name": schedule.name,
            "tenant": schedule.tenant,
            "scheduled_for": events.utc_stamp(scheduled_for) if scheduled_for else None,
            "max_concurrency": schedule.max_concurrency,
            "overlap_policy": schedule.overlap_policy,
        }
    }


def run_request(schedule: Schedule, scheduled_for: datetime | None, trigger: str) -> service.RunRequest:
    return service.RunRequest(
        job=schedule.job,
        directive=schedule.directive,
        params=schedule.params or {},
        trigger=trigger,
        context=schedule_context(schedule, scheduled_for),
    )


def _utc(value: Any) -> datetime:
    """A datetime read back from RETURNING: aware on PostgreSQL, text in UTC on SQLite."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def insert_occurrences(rows: Sequence[ScheduledRun]) -> set[tuple[int, datetime]]:
    """Insert occurrence rows, skipping any that exist; return the (schedule, time) keys inserted."""
    if not rows:
        return set()
    meta = ScheduledRun._meta
    fields: list[Field[Any, Any]] = [
        cast("Field[Any, Any]", meta.get_field(name))
        for name in (
            "schedule",
            "scheduled_for",
            "status",
            "run",
            "trigger",
            "dispatched_at",
            "reason",
            "missed_count",
            "missed_until",
            "created_at",
        )
    ]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    inserted: set[tuple[int, datetime]] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[start : start + _INSERT_CHUNK]
            params: list[Any] = []
            for row in chunk:
                for f in fields:
                    params.append(f.get_db_prep_save(getattr(row, f.attname), connection))
            cursor.execute(
                f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES "  # noqa: S608 (identifiers only)
                + ", ".join([placeholder] * len(chunk))
                + f" ON CONFLICT ({quote('schedule_id')}, {quote('scheduled_for')}) DO NOTHING"
                + f" RETURNING {quote('schedule_id')}, {quote('scheduled_for')}",
                params,
            )
            inserted.update((int(sid), _utc(when)) for sid, when in cursor.fetchall())
    return inserted


def advance_schedules(plans: Sequence[tuple[int, planning.Plan]]) -> None:
    """Write every claimed schedule's new cursor in one statement."""
    if not plans:
        return
    table = connection.ops.quote_name(Schedule._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} AS s SET next_run_at = v.next_run_at, due_at = v.due_at, "  # noqa: S608
                "last_run_at = COALESCE(v.last_run_at, s.last_run_at), enabled = s.enabled AND NOT v.disable "
                "FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[], %s::timestamptz[], %s::boolean[]) "
                "AS v(id, next_run_at, due_at, last_run_at, disable) WHERE s.id = v.id",
                [
                    [sid for sid, _ in plans],
                    [p.next_run_at for _, p in plans],
                    [p.due_at for _, p in plans],
                    [p.last_run_at for _, p in plans],
                    [p.disable for _, p in plans],
                ],
            )
            return
        adapt = connection.ops.adapt_datetimefield_value
        values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(plans))
        params: list[Any] = []
        for sid, p in plans:
            params += [sid, adapt(p.next_run_at), adapt(p.due_at), adapt(p.last_run_at), int(p.disable)]
        cursor.execute(
            f"WITH v(id, next_run_at, due_at, last_run_at, disable) AS (VALUES {values}) "  # noqa: S608
            f"UPDATE {table} SET next_run_at = v.next_run_at, due_at = v.due_at, "
            f"last_run_at = COALESCE(v.last_run_at, {table}.last_run_at), "
            f"enabled = {table}.enabled AND NOT v.disable FROM v WHERE {table}.id = v.id",
            params,
        )


def dispatch_due(now: datetime) -> TickReport:
    """One dispatch tick at ``now``: claim, plan, write, commit, publish. Returns what it did."""
    report = TickReport(started_at=now)
    runs: list[Run] = []
    to_cancel: list[tuple[str, str]] = []
    pending_events: list[dict[str, Any]] = []
    with transaction.atomic():
        schedules = list(Schedule.objects.claim_due(now, settings.SCHEDULER_BATCH_SIZE))
        report.claimed = len(schedules)
        if not schedules:
            return report
        ids = [s.pk for s in schedules]
        needs_active = any(s.overlap_policy != "allow" for s in schedules)
        active = ScheduledRun.objects.active_runs_by_schedule(ids) if needs_active else {}
        needs_buffered = any(s.overlap_policy in ("buffer_one", "buffer_all") for s in schedules)
        buffered = ScheduledRun.objects.buffered_counts(ids) if needs_buffered else {}

        occurrence_rows: list[ScheduledRun] = []
        run_for: dict[tuple[int, datetime], Run] = {}
        plans: list[tuple[int, planning.Plan]] = []
        planned: list[tuple[Schedule, Decision]] = []
        for schedule in schedules:
            try:
                plan = planning.plan(
                    state_of(schedule),
                    now=now,
                    active_run_ids=active.get(schedule.pk, []),
                    buffered=buffered.get(schedule.pk, 0),
                    bounds=bounds(),
                )
            except Exception as exc:  # one bad schedule must not stop the others
                report.errors.append(f"{schedule.name}: {exc}")
                logger.exception(
                    "could not plan schedule %s; retrying in a minute",
                    schedule.name,
                    extra={"event": "schedule_error", "schedule_id": schedule.pk},
                )
                pending_events.append(
                    {
                        "event": "schedule_error",
                        "schedule": schedule.name,
                        "schedule_id": schedule.pk,
                        "error": f"{type(exc).__name__}: {exc}",
                    }
                )
                retry_at = now + timedelta(minutes=1)
                plans.append(
                    (
                        schedule.pk,
                        planning.Plan(
                            decisions=[],
                            next_run_at=schedule.next_run_at,
                            due_at=retry_at,
                            last_run_at=None,
                            disable=False,
                        ),
                    )
                )
                continue
            plans.append((schedule.pk, plan))
            for decision in plan.decisions:
                planned.append((schedule, decision))
                run = None
                if decision.action == Action.DISPATCH:
                    run = service.build_run(run_request(schedule, decision.scheduled_for, RunTrigger.SCHEDULE), now=now)
                    run_for[(schedule.pk, decision.scheduled_for)] = run
                    to_cancel += [(run_id, f"replaced by run {run.id}") for run_id in decision.cancel_run_ids]
                occurrence_rows.append(
                    ScheduledRun(
                        schedule_id=schedule.pk,
                        scheduled_for=decision.scheduled_for,
                        status=_STATUS_FOR_ACTION[decision.action],
                        run_id=run.id if run else None,
                        trigger=RunTrigger.SCHEDULE,
                        dispatched_at=now if run else None,
                        reason=decision.reason,
                        missed_count=decision.missed_count,
                        missed_until=decision.missed_until,
                        created_at=now,
                    )
                )

        won = insert_occurrences(occurrence_rows)
        report.conflicts = len(occurrence_rows) - len(won)
        runs = [run for key, run in run_for.items() if key in won]
        service.insert_runs(runs)
        advance_schedules(plans)
        if to_cancel:
            service.cancel_runs([run_id for run_id, _ in to_cancel], reason="replaced by a newer occurrence", now=now)

    if settings.SCHEDULER_FAULT_CRASH_AFTER_COMMIT and runs:
        logger.critical("fault injection: exiting after commit, before publish")
        os._exit(17)

    published = service.publish_runs(runs, now=now)
    report.published = len(published)

    for schedule, decision in planned:
        key = (schedule.pk, decision.scheduled_for)
        if key not in won:
            logger.debug("occurrence %s of %s already handled elsewhere", decision.scheduled_for, schedule.name)
            continue
        run = run_for.get(key)
        report.handled.append(
            Handled(
                schedule_id=schedule.pk,
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
                "schedule_id": schedule.pk,
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


def release_buffered(now: datetime, schedule_ids: Sequence[int] | None = None) -> list[Run]:
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
        runs: list[Run] = []
        released: list[tuple[Schedule, ScheduledRun, Run]] = []
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
            run = service.build_run(run_request(schedule, occurrence.scheduled_for, RunTrigger.SCHEDULE), now=now)
            runs.append(run)
            released.append((schedule, occurrence, run))
        service.insert_runs(runs)
        for schedule, occurrence, run in released:
            ScheduledRun.objects.filter(pk=occurrence.pk, status=OccurrenceStatus.BUFFERED).update(
                status=OccurrenceStatus.DISPATCHED, run=run, dispatched_at=now
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
    return service.publish_runs(runs, now=now)


@dataclass(kw_only=True)
class MaintenanceReport:
    recovered: list[Run] = field(default_factory=list)
    released: list[Run] = field(default_factory=list)


def maintain(now: datetime) -> MaintenanceReport:
    """The slower half of a beat: publish pending runs whose time has come (unpublished, retries,
    lost wake-ups), release buffered occurrences, and run the registered maintenance hooks
    (the workers app's reaper of runs whose worker died)."""
    report = MaintenanceReport()
    report.recovered = service.publish_due(now=now) + service.republish_lost(now=now)
    report.released = release_buffered(now)
    hooks.maintenance(now)
    return report
