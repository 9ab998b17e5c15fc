"""The run table's hot statements, each written once, PostgreSQL and SQLite side by side.

Insert planned runs, mark published ones queued, claim a delivery, record its end: the statements
of every dispatch and every run. PostgreSQL gets one server-bound statement per batch with
columns as arrays (see ``orchestrator.db``); SQLite (the demo) gets the same statement in its own
dialect. Each status change is a compare-and-set: a caller that lost it learns so from the count.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings

from orchestrator import db
from orchestrator.models import Job, Run, RunStatus
from orchestrator.snapshots import PlannedRun, RunSnapshot

#: Rows per SQLite statement (its parameter limit is 32,766 from 3.32 on; 13 a row here).
_SQLITE_CHUNK = 500

_INSERT_RUNS = {
    "postgresql": """
INSERT INTO orchestrator_run (id, job_id, directive_snapshot, "trigger", status, created_at, publish_after,
                              task_id, attempt, wait_reason, error, worker, steps)
SELECT u.id, u.job_id, u.snapshot::jsonb, u.trigger, 'pending', u.created_at,
       u.created_at + %b * interval '1 second', u.id::text, 0, '', '', '', '[]'::jsonb
FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::text[], %b::timestamptz[])
     AS u(id, job_id, snapshot, trigger, created_at)""",
    "sqlite": """
INSERT INTO orchestrator_run (id, job_id, directive_snapshot, "trigger", status, created_at, publish_after,
                              task_id, attempt, wait_reason, error, worker, steps)
VALUES {rows}""",
}
_SQLITE_RUN_ROW = "(%s, %s, %s, %s, 'pending', %s, %s, %s, 0, '', '', '', '[]')"
#: With tracing on, the runs' ``traceparent`` too (off, the column keeps its database default, ``''``).
_INSERT_TRACED_RUNS = {
    "postgresql": """
INSERT INTO orchestrator_run (id, job_id, directive_snapshot, "trigger", status, created_at, publish_after,
                              task_id, attempt, wait_reason, error, worker, steps, traceparent)
SELECT u.id, u.job_id, u.snapshot::jsonb, u.trigger, 'pending', u.created_at,
       u.created_at + %b * interval '1 second', u.id::text, 0, '', '', '', '[]'::jsonb, u.traceparent
FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::text[], %b::timestamptz[], %b::text[])
     AS u(id, job_id, snapshot, trigger, created_at, traceparent)""",
    "sqlite": """
INSERT INTO orchestrator_run (id, job_id, directive_snapshot, "trigger", status, created_at, publish_after,
                              task_id, attempt, wait_reason, error, worker, steps, traceparent)
VALUES {rows}""",
}
_SQLITE_TRACED_ROW = "(%s, %s, %s, %s, 'pending', %s, %s, %s, 0, '', '', '', '[]', %s)"

_MARK_QUEUED = {
    "postgresql": "UPDATE orchestrator_run SET status = 'queued', queued_at = %b "
    "WHERE id = ANY(%b::uuid[]) AND status = 'pending'",
    "sqlite": "UPDATE orchestrator_run SET status = 'queued', queued_at = %s "
    "WHERE id IN ({ids}) AND status = 'pending'",
}

_CLAIM = {
    # the job's current settings come back with the claim: one round trip per delivery
    "postgresql": """
UPDATE orchestrator_run AS r
SET status = 'running', attempt = r.attempt + 1, started_at = %s, finished_at = NULL, worker = %s
FROM orchestrator_job AS j
WHERE j.id = r.job_id AND r.id = %s AND r.status IN ('pending', 'queued') AND r.attempt = %s
RETURNING r.trigger, r.directive_snapshot, r.created_at, r.wait_reason, r.job_id, j.key, j.queue,
          j.timeout_seconds, j.max_retries, j.max_concurrency""",
    # SQLite's RETURNING sees only the updated table: the job is read in a second statement
    "sqlite": """
UPDATE orchestrator_run
SET status = 'running', attempt = attempt + 1, started_at = %s, finished_at = NULL, worker = %s
WHERE id = %s AND status IN ('pending', 'queued') AND attempt = %s
RETURNING "trigger", directive_snapshot, created_at, wait_reason, job_id""",
}
_JOB_SETTINGS = "SELECT key, queue, timeout_seconds, max_retries, max_concurrency FROM orchestrator_job WHERE id = %s"

_FINISH = {
    # ``{reads}``: the registered end reads (``EndRead``), each a scalar sub-select of its own
    "postgresql": """
UPDATE orchestrator_run SET status = %s, started_at = %s, finished_at = %s, error = %s, result = %s::jsonb,
    wait_reason = ''
WHERE id = %s AND status = 'running' AND attempt = %s
RETURNING id{reads}""",
    "sqlite": """
UPDATE orchestrator_run SET status = %s, started_at = %s, finished_at = %s, error = %s, result = %s,
    wait_reason = ''
WHERE id = %s AND status = 'running' AND attempt = %s
RETURNING id""",
}


@dataclass(frozen=True, kw_only=True)
class EndRead:
    """A value another app reads in the statement that records a run's end: no round trip of its own.

    The orchestrator knows nothing of schedules; ``scheduling`` registers one (the schedule's
    failure streak, so that a success on a streak at 0 sends nothing more). ``sql`` is a scalar
    sub-select with one ``%s``, bound to ``param(snapshot, status)``: the run's frozen snapshot
    and the status being recorded; None reads nothing (the sub-select then finds no row and
    reads NULL). The value is read in the finish's own statement (PostgreSQL only), so at that
    statement's snapshot: a subscriber of ``run_ended`` finds it in ``RunEnded.read[name]``, which
    is empty when the end was recorded any other way (SQLite, a retry, a cancel, the reaper, a
    finish that lost its compare-and-set).
    """

    name: str
    sql: str
    param: Callable[[RunSnapshot, str], Any]


_end_reads: dict[str, EndRead] = {}


def add_end_read(read: EndRead) -> None:
    """Read ``read`` in every finish from now on (idempotent by name; an app's ``ready`` calls it)."""
    _end_reads[read.name] = read
    _finish_statement.cache_clear()


@cache
def _finish_statement() -> tuple[str, tuple[EndRead, ...]]:
    reads = tuple(_end_reads.values())
    columns = "".join(f",\n       ({read.sql})" for read in reads)
    return _FINISH["postgresql"].format(reads=columns), reads


def _snapshot_text(run: PlannedRun) -> str:
    return json.dumps(run.directive_snapshot, default=str, separators=(",", ":"))


def insert_runs(runs: Sequence[PlannedRun]) -> None:
    """Write planned runs as ``pending``, inside the transaction that creates their context.

    ``publish_after`` is set one recovery grace ahead: if nobody publishes the run by then (its
    publisher died after the commit), the beats' recovery does.
    """
    if not runs:
        return
    grace = timedelta(seconds=float(settings.SCHEDULER_RECOVERY_GRACE_SECONDS))
    traced = any(run.traceparent for run in runs)
    if db.is_postgres():
        columns: list[Any] = [
            grace.total_seconds(),
            [run.id for run in runs],
            [run.job_id for run in runs],
            [_snapshot_text(run) for run in runs],
            [run.trigger for run in runs],
            [run.created_at for run in runs],
        ]
        if traced:
            columns.append([run.traceparent for run in runs])
        db.execute((_INSERT_TRACED_RUNS if traced else _INSERT_RUNS)["postgresql"], columns, binary=True)
        return
    statement = (_INSERT_TRACED_RUNS if traced else _INSERT_RUNS)["sqlite"]
    row = _SQLITE_TRACED_ROW if traced else _SQLITE_RUN_ROW
    for start in range(0, len(runs), _SQLITE_CHUNK):
        chunk = runs[start : start + _SQLITE_CHUNK]
        params: list[Any] = []
        for run in chunk:
            params += [
                run.id.hex,
                run.job_id,
                _snapshot_text(run),
                run.trigger,
                db.db_datetime(run.created_at),
                db.db_datetime(run.created_at + grace),
                str(run.id),
            ]
            if traced:
                params.append(run.traceparent)
        db.execute(statement.format(rows=", ".join([row] * len(chunk))), params)


def mark_queued(run_ids: Sequence[uuid.UUID], *, now: datetime) -> None:
    """``pending`` -> ``queued`` just before publishing (a run no longer pending keeps its status).

    Before, not after: see ``orchestrator.publishing.publish_runs``.
    """
    if not run_ids:
        return
    if db.is_postgres():
        db.execute(_MARK_QUEUED["postgresql"], [now, list(run_ids)], binary=True)
        return
    for start in range(0, len(run_ids), _SQLITE_CHUNK):
        chunk = run_ids[start : start + _SQLITE_CHUNK]
        sql = _MARK_QUEUED["sqlite"].format(ids=", ".join(["%s"] * len(chunk)))
        db.execute(sql, [db.db_datetime(now), *(run_id.hex for run_id in chunk)])


def unmark_queued(run_ids: Sequence[uuid.UUID], *, now: datetime, forget_queued_at: bool) -> int:
    """Undo ``mark_queued(run_ids, now=now)`` after a failed publish: ``queued`` -> ``pending``.

    Only runs still ``queued`` by that mark (``queued_at`` is its ``now``): one a worker claimed
    meanwhile (its message did go out) keeps its status. ``forget_queued_at``: the runs were never
    queued before, and ``recovery.announced_by_recovery`` must still see them so.
    """
    if not run_ids:
        return 0
    fields: dict[str, Any] = {"status": RunStatus.PENDING}
    if forget_queued_at:
        fields["queued_at"] = None
    return Run.objects.filter(id__in=list(run_ids), status=RunStatus.QUEUED, queued_at=now).update(**fields)


def claim_run(run_id: uuid.UUID, *, attempt: int, worker: str, now: datetime) -> Run | None:
    """Compare-and-set the delivery of ``attempt``: ``pending|queued`` -> ``running``, attempt + 1.

    A message carries the attempt it was published for, so a late duplicate of an earlier
    attempt's message can never start a later attempt. Returns the run (not saved: a value read
    with the claim) with its job's current settings, or None when the claim is lost (a duplicate
    or stale message, a cancelled or finished run).
    """
    if db.is_postgres():
        rows = db.execute(_CLAIM["postgresql"], [now, worker, run_id, attempt], fetch=True, prepare=True)
        if not rows:
            return None
        trigger, snapshot, created_at, wait_reason, job_id, key, queue, timeout, retries, job_max = rows[0]
    else:
        rows = db.execute(_CLAIM["sqlite"], [db.db_datetime(now), worker, run_id.hex, attempt], fetch=True)
        if not rows:
            return None
        trigger, snapshot, created_at, wait_reason, job_id = rows[0]
        key, queue, timeout, retries, job_max = db.execute(_JOB_SETTINGS, [job_id], fetch=True)[0]
    run = Run(
        id=run_id,
        job_id=job_id,
        trigger=trigger,
        directive_snapshot=json.loads(snapshot) if isinstance(snapshot, str) else snapshot,
        status=RunStatus.RUNNING,
        attempt=attempt + 1,
        created_at=db.as_utc(created_at) or now,
        started_at=now,
        worker=worker,
        wait_reason=wait_reason,
    )
    run.job = Job(
        id=job_id, key=key, queue=queue, timeout_seconds=timeout, max_retries=retries, max_concurrency=job_max
    )
    return run


def finish_run(
    run_id: uuid.UUID,
    *,
    attempt: int,
    status: str,
    started: datetime,
    now: datetime,
    error: str,
    result: Any,
    snapshot: RunSnapshot | None = None,
) -> dict[str, Any] | None:
    """Compare-and-set ``running`` -> a final status, for the attempt this worker claimed (``attempt`` + 1).

    ``started`` is when the job began, after its limit slots were granted (later than the claim).
    One raw statement: the ORM's query building cost more than the update itself for short runs
    (bench/results/*profile-worker-noop-*.txt). None when this caller lost the compare-and-set;
    otherwise what the end reads (``EndRead``) read with it, by name (empty on SQLite, or
    without ``snapshot``, the run's, which their parameters come from).
    """
    encoded = None if result is None else json.dumps(result)
    if db.is_postgres():
        sql, reads = _finish_statement()
        params = [status, started, now, error, encoded, run_id, attempt + 1]
        if snapshot is None:
            params += [None] * len(reads)
        else:
            params += [read.param(snapshot, status) for read in reads]
        rows = db.execute(sql, params, fetch=True, prepare=True)
        if not rows:
            return None
        if snapshot is None:
            return {}
        return {read.name: value for read, value in zip(reads, rows[0][1:], strict=True)}
    params = [status, db.db_datetime(started), db.db_datetime(now), error, encoded, run_id.hex, attempt + 1]
    return {} if db.execute(_FINISH["sqlite"], params, fetch=True) else None
