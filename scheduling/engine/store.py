"""The schedule and occurrence tables' hot statements, each written once, PostgreSQL and SQLite side by side.

Claim the due schedules, insert occurrences, advance the claimed schedules' cursors, and the two
cheap look-ups of the loop (the earliest due time, how many are due). Each is a fixed number of
statements per batch, whatever its size: on PostgreSQL the writes pass whole columns as arrays
(``orchestrator.db``); SQLite (the demo) gets the same statements in its own dialect.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator import db
from orchestrator.snapshots import DirectiveRef, JobSettings
from scheduling.core import planning, timing
from scheduling.core.calendars import CalendarSpec
from scheduling.models.calendars import spec_of

#: Rows per SQLite statement: 10 parameters a row.
_SQLITE_CHUNK = 1000

_CLAIM = """
SELECT s.id, s.name, s.tenant, s.kind, s.cron, s.interval_seconds, s.run_at, s.timezone, s.start_at, s.end_at,
       s.next_run_at, s.jitter_seconds, s.misfire_policy, s.misfire_grace_seconds, s.overlap_policy,
       s.max_concurrency, s.params, s.job_id, j.key, j.queue, j.timeout_seconds, j.max_retries, j.max_concurrency,
       j.kind, s.directive_id, d.name, d.params, s.remaining_runs, s.deadline_seconds,
       EXISTS (SELECT 1 FROM scheduling_schedule_calendars c WHERE c.schedule_id = s.id)
FROM scheduling_schedule s
JOIN orchestrator_job j ON j.id = s.job_id
LEFT JOIN orchestrator_directive d ON d.id = s.directive_id
WHERE s.enabled AND s.due_at <= %s
ORDER BY s.due_at
LIMIT %s"""

_INSERT_OCCURRENCES = {
    "postgresql": """
INSERT INTO scheduling_scheduledrun (schedule_id, scheduled_for, status, run_id, "trigger", dispatched_at, reason,
                                     missed_count, missed_until, created_at, run_active)
SELECT u.schedule_id, u.scheduled_for, u.status, u.run_id, 'schedule', u.dispatched_at, u.reason, u.missed_count,
       u.missed_until, %b, u.run_id IS NOT NULL
FROM unnest(%b::bigint[], %b::timestamptz[], %b::text[], %b::uuid[], %b::timestamptz[], %b::text[], %b::int[],
            %b::timestamptz[]) AS u(schedule_id, scheduled_for, status, run_id, dispatched_at, reason, missed_count,
                                    missed_until)
ON CONFLICT (schedule_id, scheduled_for) DO NOTHING
RETURNING schedule_id, scheduled_for""",
    "sqlite": """
INSERT INTO scheduling_scheduledrun (schedule_id, scheduled_for, status, run_id, "trigger", dispatched_at, reason,
                                     missed_count, missed_until, created_at, run_active)
VALUES {rows}
ON CONFLICT (schedule_id, scheduled_for) DO NOTHING
RETURNING schedule_id, scheduled_for""",
}
_SQLITE_OCCURRENCE_ROW = "(%s, %s, %s, %s, 'schedule', %s, %s, %s, %s, %s, %s)"

_ADVANCE = {
    "postgresql": """
UPDATE scheduling_schedule AS s SET next_run_at = v.next_run_at, due_at = v.due_at,
       last_run_at = COALESCE(v.last_run_at, s.last_run_at), enabled = s.enabled AND NOT v.disable,
       remaining_runs = CASE WHEN s.remaining_runs IS NULL THEN NULL ELSE GREATEST(s.remaining_runs - v.taken, 0) END
FROM unnest(%b::bigint[], %b::timestamptz[], %b::timestamptz[], %b::timestamptz[], %b::boolean[], %b::int[])
     AS v(id, next_run_at, due_at, last_run_at, disable, taken)
WHERE s.id = v.id AND s.id = ANY(%b::bigint[])""",
    "sqlite": """
WITH v(id, next_run_at, due_at, last_run_at, disable, taken) AS (VALUES {rows})
UPDATE scheduling_schedule SET next_run_at = v.next_run_at, due_at = v.due_at,
       last_run_at = COALESCE(v.last_run_at, scheduling_schedule.last_run_at),
       enabled = scheduling_schedule.enabled AND NOT v.disable,
       remaining_runs = MAX(scheduling_schedule.remaining_runs - v.taken, 0)
FROM v WHERE scheduling_schedule.id = v.id""",
}

_CALENDARS = """
SELECT sc.schedule_id, c.id, c.name, c.timezone, c.dates, c.crons
FROM scheduling_schedule_calendars sc
JOIN scheduling_calendar c ON c.id = sc.calendar_id
WHERE sc.schedule_id IN ({ids})
ORDER BY sc.schedule_id, c.name"""

_EARLIEST = "SELECT due_at FROM scheduling_schedule WHERE enabled AND due_at IS NOT NULL ORDER BY due_at LIMIT 1"
_DUE_COUNT = "SELECT count(*) FROM (SELECT 1 FROM scheduling_schedule WHERE enabled AND due_at <= %s LIMIT %s) AS due"


@dataclass(frozen=True, kw_only=True, slots=True)
class Claimed:
    """A claimed schedule as the dispatch step needs it: plain values, no ORM instance."""

    id: int
    name: str
    tenant: str
    state: planning.ScheduleState
    max_concurrency: int | None
    #: The schedule's deadline (None: none), frozen into each run's snapshot.
    deadline_seconds: int | None
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
            job_id, job_key, queue, timeout, retries, job_max, job_kind = key
            found = self.jobs[key] = JobSettings(
                id=job_id, key=job_key, queue=queue, timeout_seconds=timeout, max_retries=retries,
                max_concurrency=job_max, kind=job_kind,
            )  # fmt: skip
        return found

    def directive(self, directive_id: int | None, name: str, params: Any) -> DirectiveRef | None:
        if directive_id is None:
            return None
        found = self.directives.get(directive_id)
        if found is None:
            found = self.directives[directive_id] = DirectiveRef(id=directive_id, name=name, params=_json(params) or {})
        return found


def _claimed(row: Sequence[Any], shared: _Shared, attached: dict[int, tuple[CalendarSpec, ...]]) -> Claimed:
    (
        sid, name, tenant, kind, cron, interval_seconds, run_at, zone, start_at, end_at, next_run_at, jitter,
        misfire_policy, misfire_grace, overlap_policy, max_concurrency, params, job_id, job_key, queue,
        timeout, retries, job_max, job_kind, directive_id, directive_name, directive_params, remaining_runs,
        deadline_seconds, _,
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
            calendars=attached.get(sid, ()),
            remaining_runs=remaining_runs,
        ),
        max_concurrency=max_concurrency,
        deadline_seconds=deadline_seconds,
        params=_json(params) or {},
        job=shared.job((job_id, job_key, queue, timeout, retries, job_max, job_kind)),
        directive=shared.directive(directive_id, directive_name, directive_params),
    )


def earliest_due_at() -> datetime | None:
    """When the next enabled schedule falls due: one look-up in the claim's index, on every idle tick.

    A raw statement: building it through the ORM cost more than twice the query itself.
    """
    rows = db.execute(_EARLIEST, [], fetch=True, binary=True)
    return db.as_utc(rows[0][0]) if rows else None


def due_count(at: datetime, cap: int) -> int:
    """How many enabled schedules are due by ``at``, counted up to ``cap`` (the scan stops there)."""
    rows = db.execute(_DUE_COUNT, [db.db_datetime(at), cap], fetch=True)
    return int(rows[0][0])


def claim_due(now: datetime, limit: int) -> list[Claimed]:
    """Due schedules locked for this transaction; rows another beat holds are skipped, not awaited."""
    lock = "\nFOR UPDATE OF s SKIP LOCKED" if db.is_postgres() else ""
    rows = db.execute(_CLAIM + lock, [db.db_datetime(now), limit], fetch=True, binary=True)
    shared = _Shared()
    attached = _calendars([row[0] for row in rows if row[-1]])
    return [_claimed(row, shared, attached) for row in rows]


def _calendars(schedule_ids: Sequence[int]) -> dict[int, tuple[CalendarSpec, ...]]:
    """The exclusion calendars of the claimed schedules that have any: one more statement, only then."""
    if not schedule_ids:
        return {}
    rows = db.execute(_CALENDARS.format(ids=", ".join(["%s"] * len(schedule_ids))), list(schedule_ids), fetch=True)
    specs: dict[int, CalendarSpec] = {}
    found: dict[int, list[CalendarSpec]] = {}
    for schedule_id, calendar_id, name, zone, dates, crons in rows:
        spec = specs.get(calendar_id)
        if spec is None:
            spec = specs[calendar_id] = spec_of(name, zone, _json(dates), _json(crons))
        found.setdefault(schedule_id, []).append(spec)
    return {schedule_id: tuple(listed) for schedule_id, listed in found.items()}


@dataclass(frozen=True, kw_only=True, slots=True)
class Occurrence:
    """An occurrence row to insert: what a tick decided for one schedule and time."""

    schedule_id: int
    scheduled_for: datetime
    status: str
    run_id: uuid.UUID | None
    dispatched_at: datetime | None
    reason: str
    missed_count: int
    missed_until: datetime | None


def insert_occurrences(rows: Sequence[Occurrence], *, now: datetime) -> set[tuple[int, datetime]]:
    """Insert occurrence rows, skipping any that exist; return the ``(schedule, time)`` keys inserted.

    The unique ``(schedule, scheduled_for)`` constraint is the deduplicator: a row another beat
    inserted first is skipped (``ON CONFLICT DO NOTHING``) and missing from the result.
    """
    if not rows:
        return set()
    if db.is_postgres():
        returned = db.execute(
            _INSERT_OCCURRENCES["postgresql"],
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
        for start in range(0, len(rows), _SQLITE_CHUNK):
            chunk = rows[start : start + _SQLITE_CHUNK]
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
            sql = _INSERT_OCCURRENCES["sqlite"].format(rows=", ".join([_SQLITE_OCCURRENCE_ROW] * len(chunk)))
            returned += db.execute(sql, params, fetch=True)
    return {(int(sid), when) for sid, when in ((sid, db.as_utc(when)) for sid, when in returned) if when}


def advance_schedules(plans: Sequence[tuple[int, planning.Plan]], taken: dict[int, int] | None = None) -> None:
    """Write every claimed schedule's new cursor (``next_run_at``, ``due_at``, ``last_run_at``) in one statement.

    A one-off whose occurrence was handled disables itself here (``Plan.disable``). ``taken``: per
    schedule, the occurrences this tick inserted and will run: ``remaining_runs`` loses them in the
    same transaction that created them (an empty ``remaining_runs`` stays empty: NULL minus n).
    """
    if not plans:
        return
    counts = taken or {}
    if db.is_postgres():
        ids = [sid for sid, _ in plans]
        db.execute(
            _ADVANCE["postgresql"],
            [
                ids,
                [p.next_run_at for _, p in plans],
                [p.due_at for _, p in plans],
                [p.last_run_at for _, p in plans],
                [p.disable for _, p in plans],
                [counts.get(sid, 0) for sid in ids],
                ids,  # the ANY lets the planner look the rows up by key instead of hashing the whole table
            ],
            binary=True,
        )
        return
    params: list[Any] = []
    for sid, p in plans:
        moments = (db.db_datetime(moment) for moment in (p.next_run_at, p.due_at, p.last_run_at))
        params += [sid, *moments, p.disable, counts.get(sid, 0)]
    db.execute(_ADVANCE["sqlite"].format(rows=", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(plans))), params)
