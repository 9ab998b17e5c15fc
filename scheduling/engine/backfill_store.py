"""The backfill's one hot statement: insert a batch of its occurrences, skipping any that exist.

Like ``engine.store.insert_occurrences`` (the beat's), with the trigger ``backfill`` and the
backfill's id on each row. ``ON CONFLICT (schedule_id, scheduled_for) DO NOTHING`` leaves an
existing occurrence (the beat's own, another backfill's) untouched and missing from the result.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator import db

#: Rows per SQLite statement: 9 parameters a row.
_SQLITE_CHUNK = 1000

_INSERT = {
    "postgresql": """
INSERT INTO scheduling_scheduledrun (schedule_id, scheduled_for, status, run_id, "trigger", dispatched_at, reason,
                                     missed_count, created_at, run_active, backfill_id)
SELECT %b, u.scheduled_for, u.status, u.run_id, 'backfill', u.dispatched_at, u.reason, 1, %b, u.run_id IS NOT NULL, %b
FROM unnest(%b::timestamptz[], %b::text[], %b::uuid[], %b::timestamptz[], %b::text[])
     AS u(scheduled_for, status, run_id, dispatched_at, reason)
ON CONFLICT (schedule_id, scheduled_for) DO NOTHING
RETURNING scheduled_for""",
    "sqlite": """
INSERT INTO scheduling_scheduledrun (schedule_id, scheduled_for, status, run_id, "trigger", dispatched_at, reason,
                                     missed_count, created_at, run_active, backfill_id)
VALUES {rows}
ON CONFLICT (schedule_id, scheduled_for) DO NOTHING
RETURNING scheduled_for""",
}
_SQLITE_ROW = "(%s, %s, %s, %s, 'backfill', %s, %s, 1, %s, %s, %s)"


@dataclass(frozen=True, kw_only=True, slots=True)
class Row:
    """One occurrence of a backfill batch: its time, status, and its run when it is dispatched now."""

    scheduled_for: datetime
    status: str
    run_id: uuid.UUID | None = None
    reason: str = ""


def insert(schedule_id: int, backfill_id: int, rows: Sequence[Row], *, now: datetime) -> set[datetime]:
    """Insert ``rows`` of one schedule for one backfill; return the times inserted (existing ones are not)."""
    if not rows:
        return set()
    if db.is_postgres():
        returned = db.execute(
            _INSERT["postgresql"],
            [
                schedule_id,
                now,
                backfill_id,
                [r.scheduled_for for r in rows],
                [r.status for r in rows],
                [r.run_id for r in rows],
                [now if r.run_id else None for r in rows],
                [r.reason for r in rows],
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
                    schedule_id,
                    db.db_datetime(r.scheduled_for),
                    r.status,
                    r.run_id.hex if r.run_id else None,
                    db.db_datetime(now) if r.run_id else None,
                    r.reason,
                    db.db_datetime(now),
                    r.run_id is not None,
                    backfill_id,
                ]
            sql = _INSERT["sqlite"].format(rows=", ".join([_SQLITE_ROW] * len(chunk)))
            returned += db.execute(sql, params, fetch=True)
    return {when for when in (db.as_utc(row[0]) for row in returned) if when is not None}
