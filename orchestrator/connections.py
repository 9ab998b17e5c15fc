"""The Celery app and the Redis client the three apps use, found from Django settings alone.

The apps never import the standalone ``project`` package (they also run inside a host's Django
project): the Celery app is ``SCHEDULER_CELERY_APP`` (``"module:attribute"``) when set, else
Celery's current app, which a Django project's own ``celery.py`` sets when it is imported. Redis,
for limit leases, heartbeats and in-flight notes, is ``SCHEDULER_REDIS_URL``, else the broker's URL
when the broker is Redis. A project that starts its Redis itself on first use (the demo's
embedded one) names the function that does it in ``SCHEDULER_REDIS_STARTER``.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import redis
from django.conf import settings
from django.utils.module_loading import import_string

from orchestrator.errors import SchedulerError

_local = threading.local()
_started: set[str] = set()
_start_lock = threading.Lock()

#: Broker URL schemes that name a Redis server (kombu's spellings).
REDIS_SCHEMES = ("redis", "rediss", "redis+socket", "sentinel")


def celery_app() -> Any:
    """The Celery app runs are published through and workers belong to."""
    configured = settings.SCHEDULER_CELERY_APP
    if configured:
        return import_string(str(configured).replace(":", "."))
    from celery import current_app

    return current_app


def ensure_redis_started() -> None:
    """Run ``SCHEDULER_REDIS_STARTER`` once per process (a project's own Redis started on first use)."""
    starter = settings.SCHEDULER_REDIS_STARTER
    if not starter:
        return
    with _start_lock:
        if starter in _started:
            return
        import_string(str(starter))()
        _started.add(starter)


def redis_url() -> str:
    """``SCHEDULER_REDIS_URL``, else the broker's URL when the broker is Redis (in redis-py's spelling)."""
    configured = settings.SCHEDULER_REDIS_URL
    if configured:
        return str(configured)
    broker = str(celery_app().conf.broker_url or "")
    scheme = urlsplit(broker).scheme
    if scheme in ("redis", "rediss"):
        return broker
    if scheme == "redis+socket":
        return redis_py_url(broker)
    raise SchedulerError(
        "SCHEDULER_REDIS_URL is not set and the Celery broker is not Redis "
        f"({scheme or 'no broker URL'}): set SCHEDULER_REDIS_URL=redis://host:6379/0 for limits and heartbeats"
    )


def redis_py_url(kombu_url: str) -> str:
    """redis-py's spelling of a kombu ``redis+socket://path?virtual_host=N`` URL (``unix://path?db=N``)."""
    parts = urlsplit(kombu_url)
    query = parse_qs(parts.query)
    db = query.pop("virtual_host", ["0"])[0]
    rest = {key: values[0] for key, values in query.items()}
    rest["db"] = db
    return f"unix://{parts.path}?{urlencode(rest)}"


def redis_client() -> redis.Redis:
    """A redis-py client for this thread, with short timeouts so a dead Redis fails fast."""
    cached: redis.Redis | None = getattr(_local, "client", None)
    if cached is None:
        ensure_redis_started()
        cached = redis.Redis.from_url(redis_url(), socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)
        _local.client = cached
    return cached


def reset_redis_client() -> None:
    """Forget this thread's client (after a fork, or in tests that restart Redis or change its URL)."""
    cached: redis.Redis | None = getattr(_local, "client", None)
    if cached is not None:
        cached.close()
    _local.client = None
