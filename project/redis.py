"""The demo's embedded Redis, started on first use (``SCHEDULER_REDIS_STARTER`` names ``ensure_embedded``).

The apps connect to Redis through ``orchestrator.connections``; this only makes sure the
embedded server is running when ``REDIS_URL`` was not set.
"""

from __future__ import annotations

from django.conf import settings

from project import embedded_redis


def ensure_embedded() -> None:
    """Start (or join) the embedded server when ``REDIS_URL`` was not set; a no-op otherwise."""
    state_dir = getattr(settings, "EMBEDDED_REDIS_DIR", None)
    if state_dir is not None:
        embedded_redis.ensure(state_dir)
