"""The bench database and Redis as a child step sees them: raw SQL, the queue's messages, the shared constants.

Every module of a child process (``bench.child``, ``bench.seeding``, ``bench.beats``) reads and
writes through these. Imported only after ``bench.child`` has set Django up.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import redis
from django.db import connection

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
