"""redis-py clients for the project's own use of Redis (limit leases, heartbeats, in-flight markers)."""

from __future__ import annotations

import threading

import redis
from django.conf import settings

from project import embedded_redis

_local = threading.local()


def ensure_embedded() -> None:
    """Start (or join) the embedded server when ``REDIS_URL`` was not set; a no-op otherwise."""
    state_dir = getattr(settings, "EMBEDDED_REDIS_DIR", None)
    if state_dir is not None:
        embedded_redis.ensure(state_dir)


def client() -> redis.Redis:
    """A redis-py client for this thread, with short timeouts so a dead Redis fails fast."""
    cached: redis.Redis | None = getattr(_local, "client", None)
    if cached is None:
        ensure_embedded()
        cached = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=30,
        )
        _local.client = cached
    return cached


def reset_client() -> None:
    """Forget this thread's client (after a fork, or in tests that restart Redis)."""
    cached: redis.Redis | None = getattr(_local, "client", None)
    if cached is not None:
        cached.close()
    _local.client = None
