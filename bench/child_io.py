"""The bench database and Redis as a child step sees them: raw SQL, the queue's messages, the shared constants.

Every module of a child process (``bench.child``, ``bench.seeding``, ``bench.beats``) reads and
writes through these. Imported only after ``bench.child`` has set Django up.
"""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import redis
from django.db import connection, connections

QUEUE = "default"
HISTORY = 2000  # runs and occurrences written before any measurement (see PERFORMANCE.md: empty tables mislead)
BENCH_INTERVAL = 3600  # every seeded schedule fires hourly: after its burst it is idle again
REDBEAT_PREFIX = "bench-redbeat:"


def redis_client() -> redis.Redis:
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL)


def sql(statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        return list(cursor.fetchall()) if cursor.description else []


def queued_messages() -> list[dict[str, Any]]:
    raw = redis_client().lrange(QUEUE, 0, -1)
    return [json.loads(item) for item in raw]


def message_args(message: dict[str, Any]) -> str:
    body = json.loads(base64.b64decode(message["body"]))
    return json.dumps(body[0])


def job_id(key: str) -> int:
    return int(sql("SELECT id FROM orchestrator_job WHERE key = %s", [key])[0][0])


def analyze_as_autovacuum_would() -> list[str]:
    """ANALYZE each table autovacuum would analyze now (more rows changed since its last analyze than
    ``autovacuum_analyze_threshold`` + ``autovacuum_analyze_scale_factor`` x its rows); returns their names.

    A stand-in for a server with autovacuum off (the development machines' PostgreSQL): a bench
    that starts from truncated tables otherwise keeps the plans its connections made on them empty,
    e.g. a foreign-key check that scans the whole run table for every occurrence inserted
    (PERFORMANCE.md, "Empty tables mislead"); a deployment's autovacuum replans them within a minute.
    """
    due = [
        name
        for (name,) in sql(
            "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
            "WHERE s.n_mod_since_analyze > current_setting('autovacuum_analyze_threshold')::int "
            "+ current_setting('autovacuum_analyze_scale_factor')::float * greatest(c.reltuples, 0)"
        )
    ]
    for name in due:
        sql(f'ANALYZE "{name}"')
    return due


class Autovacuum:
    """``analyze_as_autovacuum_would`` every ``every_s`` in a thread of its own, with its own
    connection, as autovacuum's worker does beside the beat (an ANALYZE in the beat's loop would
    hold its ticks for as long as it takes)."""

    def __init__(self, *, every_s: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every_s,), daemon=True, name="autovacuum")
        self._thread.start()

    def _run(self, every_s: float) -> None:
        try:
            while not self._stop.wait(every_s):
                analyze_as_autovacuum_would()
        finally:
            connections.close_all()  # this thread's own

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
