"""Django's cache on the project's Redis: the counters of login and API token throttling.

Django's own ``RedisCache``, with two differences: it starts the demo's embedded Redis before
its first connection (like ``project.redis.client``), and it never raises when Redis does not
answer. Throttling counts failed logins here; a Redis outage must not turn every login page into
a 500, so a read answers the default and a write is dropped (logged once until Redis answers).
With ``REDIS_URL=sentinel://...`` it uses the apps' own client of the master the Sentinels name
(``orchestrator.connections``), which Django's client cannot reach by URL.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

from orchestrator import connections
from project.redis import ensure_embedded

logger = logging.getLogger(__name__)


class SentinelCacheClient(RedisCacheClient):
    """Django's cache client on the connection pool of the master the Sentinels name now."""

    def _get_connection_pool(self, write: bool) -> Any:
        return connections.redis_client().connection_pool


class RedisCache(DjangoRedisCache):
    _failing = False

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        ensure_embedded()  # the demo's embedded server (a no-op when REDIS_URL is set)
        super().__init__(server, params)
        if connections.is_sentinel_url(server):
            self._class = SentinelCacheClient

    def _guard(self, operation: str, default: Any, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            result = call(*args, **kwargs)
        except (redis.RedisError, OSError) as exc:
            if not self._failing:
                logger.warning("the cache (Redis) does not answer (%s); %s skipped", exc, operation)
            self._failing = True
            return default
        self._failing = False
        return result

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return self._guard("read", default, super().get, key, default, version)

    def add(self, key: Any, value: Any, timeout: Any = None, version: Any = None) -> bool:
        return bool(self._guard("write", True, super().add, key, value, timeout, version))

    def set(self, key: Any, value: Any, timeout: Any = None, version: Any = None) -> None:
        self._guard("write", None, super().set, key, value, timeout, version)

    def touch(self, key: Any, timeout: Any = None, version: Any = None) -> bool:
        return bool(self._guard("write", False, super().touch, key, timeout, version))

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        return int(self._guard("write", 0, super().incr, key, delta, version))

    def delete(self, key: Any, version: Any = None) -> bool:
        return bool(self._guard("write", False, super().delete, key, version))
