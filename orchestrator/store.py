"""The run table's hot statements: insert planned runs, mark published ones queued.

PostgreSQL gets one statement per batch with columns as arrays (server-side binding, see
``orchestrator.db``); SQLite (the demo) gets portable multi-row statements.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection

from orchestrator import db
from orchestrator.models import Run

if TYPE_CHECKING:
    from orchestrator.service import PlannedRun

_CHUNK = 500

_INSERT_PG = """
INSERT INTO orchestrator_run (id, job_id, directive_snapshot, "trigger", status, created_at, publish_after,
                              task_id, attempt, wait_reason, error, worker, steps)
SELECT u.id, u.job_id, u.snapshot::jsonb, u.trigger, 'pending', u.created_at,
       u.created_at + %b * interval '1 second', u.id::text, 0, '', '', '', '[]'::jsonb
FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::text[], %b::timestamptz[])
     AS u(id, job_id, snapshot, trigger, created_at)
"""

_MARK_QUEUED_PG = """
UPDATE orchestrator_run SET status = 'queued', queued_at = %b
WHERE id = ANY(%b::uuid[]) AND status = 'pending'
"""


def _snapshot_text(run: PlannedRun) -> str:
    return json.dumps(run.directive_snapshot, default=str, separators=(",", ":"))


def insert_runs(runs: Sequence[PlannedRun]) -> None:
    """Write planned runs as ``pending`` (inside the transaction that creates their context)."""
    if not runs:
        return
    grace = timedelta(seconds=float(settings.SCHEDULER_RECOVERY_GRACE_SECONDS))
    if db.is_postgres():
        db.execute(
            _INSERT_PG,
            [
                grace.total_seconds(),
                [run.id for run in runs],
                [run.job_id for run in runs],
                [_snapshot_text(run) for run in runs],
                [run.trigger for run in runs],
                [run.created_at for run in runs],
            ],
            binary=True,
        )
        return
    row = "(%s, %s, %s, %s, 'pending', %s, %s, %s, 0, '', '', '', '[]')"
    table = connection.ops.quote_name(Run._meta.db_table)
    columns = (
        'id, job_id, directive_snapshot, "trigger", status, created_at, publish_after, task_id, '
        "attempt, wait_reason, error, worker, steps"
    )
    for start in range(0, len(runs), _CHUNK):
        chunk = runs[start : start + _CHUNK]
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
        db.execute(f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([row] * len(chunk)), params)  # noqa: S608


def mark_queued(run_ids: Sequence[uuid.UUID], *, now: datetime) -> None:
    """``pending`` -> ``queued`` after publishing (a run a worker already took keeps its status)."""
    if not run_ids:
        return
    if db.is_postgres():
        db.execute(_MARK_QUEUED_PG, [now, list(run_ids)], binary=True)
    else:
        Run.objects.mark_queued(list(run_ids), now=now)
