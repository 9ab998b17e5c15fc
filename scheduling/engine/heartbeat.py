"""Beat heartbeats in Redis: who is dispatching, when it last ticked, how long the tick took.

Each beat process (``celery beat`` or ``manage.py scheduler --serve``) keeps one hash
``ostinato:beat:<host>:<pid>`` with ``host``, ``pid``, ``version``, ``started_at``, ``last_tick_at``
(epoch seconds), ``last_tick_ms``, ``ticks`` and ``dispatched`` (occurrences dispatched since it
started), plus its score in the index ``ostinato:beats`` (member: the hash's key, score: the last
tick). The hash expires ``SCHEDULER_BEAT_HEARTBEAT_SECONDS`` after the last tick, so a dead beat
disappears by itself; readers drop index entries whose hash is gone.

Writing costs one pipelined round trip per loop cycle and no database query. A Redis error is
logged (once until Redis answers again) and never stops the beat: heartbeats are for operators,
dispatching does not depend on them.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata

import redis
from django.conf import settings

from orchestrator import keys
from orchestrator.connections import redis_client
from scheduling.core.policies import Action
from scheduling.engine.reports import Cycle

logger = logging.getLogger(__name__)


def _version() -> str:
    try:
        return metadata.version("ostinato")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True, kw_only=True)
class BeatStatus:
    """One live beat as read back from Redis; times in epoch seconds, ``age_seconds`` since its last tick."""

    key: str
    host: str
    pid: int
    version: str
    started_at: float
    last_tick_at: float
    last_tick_ms: float
    ticks: int
    dispatched: int
    age_seconds: float

    @property
    def last_tick(self) -> datetime:
        """``last_tick_at`` as an aware UTC datetime (for display)."""
        return datetime.fromtimestamp(self.last_tick_at, tz=UTC)


class BeatHeartbeat:
    """The heartbeat of this process; ``record`` is the loop's per-cycle hook."""

    def __init__(self, *, client: redis.Redis | None = None) -> None:
        self._client = client
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.key = keys.beat_key(self.host, self.pid)
        self._started_at = time.time()
        self._version = _version()
        self._ticks = 0
        self._dispatched = 0
        self._failing = False

    def on_cycle(self, cycle: Cycle, duration_seconds: float) -> None:
        """``Dispatcher(on_cycle=...)``: record the cycle just finished."""
        dispatched = cycle.tick.count(Action.DISPATCH) if cycle.tick is not None else 0
        self.record(duration_seconds=duration_seconds, dispatched=dispatched)

    def record(self, *, duration_seconds: float, dispatched: int) -> None:
        """Count one cycle and write the heartbeat (one round trip); never raises for Redis errors."""
        self._ticks += 1
        self._dispatched += dispatched
        now = time.time()
        ttl_ms = int(float(settings.SCHEDULER_BEAT_HEARTBEAT_SECONDS) * 1000)
        client = self._client or redis_client()
        try:
            with client.pipeline(transaction=False) as pipe:
                pipe.hset(
                    self.key,
                    mapping={
                        "host": self.host,
                        "pid": self.pid,
                        "version": self._version,
                        "started_at": f"{self._started_at:.3f}",
                        "last_tick_at": f"{now:.3f}",
                        "last_tick_ms": f"{duration_seconds * 1000:.1f}",
                        "ticks": self._ticks,
                        "dispatched": self._dispatched,
                    },
                )
                pipe.pexpire(self.key, ttl_ms)
                pipe.zadd(keys.BEATS_INDEX, {self.key: now})
                pipe.execute()
        except (redis.RedisError, OSError) as exc:
            if not self._failing:
                logger.warning("cannot write the beat heartbeat to Redis (%s); dispatching goes on", exc)
            self._failing = True
        else:
            if self._failing:
                logger.info("beat heartbeat written again")
            self._failing = False

    def clear(self) -> None:
        """Remove this process's heartbeat (a clean shutdown); errors are ignored."""
        client = self._client or redis_client()
        try:
            with client.pipeline(transaction=False) as pipe:
                pipe.delete(self.key)
                pipe.zrem(keys.BEATS_INDEX, self.key)
                pipe.execute()
        except (redis.RedisError, OSError):
            pass


def _text(value: bytes | str | None, default: str = "") -> str:
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else str(value)


def live_beats(*, client: redis.Redis | None = None, now: float | None = None) -> list[BeatStatus]:
    """Every beat whose heartbeat has not expired, most recent tick first (raises ``redis.RedisError``).

    Index entries older than the heartbeat TTL are removed on the way (their hashes expired).
    """
    client = client or redis_client()
    now = time.time() if now is None else now
    max_age = float(settings.SCHEDULER_BEAT_HEARTBEAT_SECONDS)
    client.zremrangebyscore(keys.BEATS_INDEX, "-inf", now - max_age)
    members: list[bytes | str] = client.zrange(keys.BEATS_INDEX, 0, -1)  # type: ignore[assignment]
    names = [_text(key) for key in members]
    if not names:
        return []
    with client.pipeline(transaction=False) as pipe:
        for key in names:
            pipe.hgetall(key)
        hashes = pipe.execute()
    beats = []
    for key, raw in zip(names, hashes, strict=True):
        if not raw:
            continue
        fields = {_text(k): _text(v) for k, v in raw.items()}
        last_tick_at = float(fields.get("last_tick_at", 0) or 0)
        beats.append(
            BeatStatus(
                key=key,
                host=fields.get("host", "?"),
                pid=int(fields.get("pid", 0) or 0),
                version=fields.get("version", "unknown"),
                started_at=float(fields.get("started_at", 0) or 0),
                last_tick_at=last_tick_at,
                last_tick_ms=float(fields.get("last_tick_ms", 0) or 0),
                ticks=int(fields.get("ticks", 0) or 0),
                dispatched=int(fields.get("dispatched", 0) or 0),
                age_seconds=max(0.0, now - last_tick_at),
            )
        )
    beats.sort(key=lambda beat: beat.last_tick_at, reverse=True)
    return beats
