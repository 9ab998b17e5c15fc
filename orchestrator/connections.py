"""The Celery app and the Redis client the three apps use, found from Django settings alone.

The apps never import the standalone ``project`` package (they also run inside a host's Django
project): the Celery app is ``SCHEDULER_CELERY_APP`` (``"module:attribute"``) when set, else
Celery's current app, which a Django project's own ``celery.py`` sets when it is imported. Redis,
for limit leases, heartbeats and in-flight notes, is ``SCHEDULER_REDIS_URL``, else the broker's URL
when the broker is Redis. A project that starts its Redis itself on first use (the demo's
embedded one) names the function that does it in ``SCHEDULER_REDIS_STARTER``.

Either URL may name Redis Sentinels in kombu's form, ``sentinel://h1:26379/0;sentinel://h2:26379``
(the database from the first URL that has one, a password for the master in any of them), with the
master's name in ``SCHEDULER_REDIS_SENTINEL_MASTER`` or the broker's ``master_name`` transport
option. The client then asks the Sentinels for the master on every new connection (redis-py's
``Sentinel.master_for``), so after a failover it reconnects to the promoted replica, and a demoted
primary's ``READONLY`` answer drops the connection instead of writing there.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import redis
from django.conf import settings
from django.utils.module_loading import import_string
from redis.sentinel import Sentinel

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
    if scheme in ("redis", "rediss", "sentinel"):
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


#: Timeouts of every connection to Redis (and to the Sentinels): a dead server fails fast.
_TIMEOUTS: dict[str, Any] = {"socket_connect_timeout": 2, "socket_timeout": 5}


def redis_client() -> redis.Redis:
    """A redis-py client for this thread, with short timeouts so a dead Redis fails fast."""
    cached: redis.Redis | None = getattr(_local, "client", None)
    if cached is None:
        ensure_redis_started()
        url = redis_url()
        if is_sentinel_url(url):
            cached = sentinel_master_client(SentinelTarget.parse(url, sentinel_master_name()))
        else:
            cached = redis.Redis.from_url(url, **_TIMEOUTS, health_check_interval=30)
        _local.client = cached
    return cached


def is_sentinel_url(url: str) -> bool:
    """Whether ``url`` names Redis Sentinels (kombu's ``sentinel://``) rather than a Redis server."""
    return urlsplit(url).scheme == "sentinel"


def sentinel_master_name() -> str:
    """``SCHEDULER_REDIS_SENTINEL_MASTER``, else the Celery broker's ``master_name`` transport option."""
    configured = settings.SCHEDULER_REDIS_SENTINEL_MASTER
    if configured:
        return str(configured)
    options = celery_app().conf.broker_transport_options or {}
    if options.get("master_name"):
        return str(options["master_name"])
    raise SchedulerError(
        "the Redis URL names Sentinels but no master name is set: set SCHEDULER_REDIS_SENTINEL_MASTER "
        "(REDIS_SENTINEL_MASTER in the standalone project) or the broker's transport option master_name"
    )


@dataclass(frozen=True, kw_only=True)
class SentinelTarget:
    """A master watched by Sentinels, as named by kombu's ``sentinel://a:26379/0;sentinel://b:26379`` URL."""

    sentinels: tuple[tuple[str, int], ...]
    master_name: str
    db: int = 0
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str, master_name: str) -> SentinelTarget:
        """The Sentinels of ``url`` (``;``-separated), its database and the master's credentials."""
        sentinels, db, username, password = [], 0, None, None
        for part in filter(None, (piece.strip() for piece in url.split(";"))):
            parts = urlsplit(part)
            try:
                port, path = parts.port or 26379, parts.path.strip("/")
                db = db or (int(path) if path else 0)
            except ValueError:
                raise SchedulerError(f"not a Sentinel URL (sentinel://host:port/db): {part!r}") from None
            if parts.scheme != "sentinel" or not parts.hostname:
                raise SchedulerError(f"not a Sentinel URL (sentinel://host:port/db): {part!r}")
            sentinels.append((parts.hostname, port))
            username = username or (unquote(parts.username) if parts.username else None)
            password = password or (unquote(parts.password) if parts.password else None)
        return cls(sentinels=tuple(sentinels), master_name=master_name, db=db, username=username, password=password)


def sentinel_master_client(target: SentinelTarget) -> redis.Redis:
    """A client of the master the Sentinels name now; each new connection asks them again.

    A Sentinel's answer is believed only if it sees the master up and at least the broker's
    ``min_other_sentinels`` transport option (kombu's default 0) other Sentinels, as kombu does,
    so the broker and our keys follow the same master.
    """
    options = celery_app().conf.broker_transport_options or {}
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels),
        min_other_sentinels=int(options.get("min_other_sentinels", 0)),
        sentinel_kwargs=dict(_TIMEOUTS),
        **_TIMEOUTS,
    )
    credentials = {"username": target.username, "password": target.password}
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        target.master_name,
        db=target.db,
        health_check_interval=30,
        **{key: value for key, value in credentials.items() if value},
    )
    return client


def reset_redis_client() -> None:
    """Forget this thread's client (after a fork, or in tests that restart Redis or change its URL)."""
    cached: redis.Redis | None = getattr(_local, "client", None)
    if cached is not None:
        cached.close()
        sentinels = getattr(cached.connection_pool, "sentinel_manager", None)
        if sentinels is not None:
            sentinels.close()  # its own connections to each Sentinel
    _local.client = None
