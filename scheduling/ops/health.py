"""Readiness checks (``/readyz``) and the live view of Celery workers (``/readyz``, the status page).

Each check answers with a ``Check`` value: its name, whether it passed, a one-line detail and,
for staff, structured data. Checks that depend on another one (the beat heartbeats and the
workers need the broker) report that dependency instead of waiting on a dead server. A broker
other than our Redis (RabbitMQ) has a check of its own, ``broker``. Every wait is bounded: Redis by
the client's socket timeouts, the broker by one connection attempt, Celery by
``HEALTH_CELERY_TIMEOUT_SECONDS``.

Worker presence comes from Celery's own remote control: a ``ping`` broadcast finds the workers
that answer, then ``inspect`` (limited to those workers, so it returns as soon as they replied)
asks them for their queues, pool size and active tasks.

That broadcast waits ``HEALTH_CELERY_TIMEOUT_SECONDS`` (a second) for replies, so ``/readyz``
answers anonymous callers from ``READINESS``, a per-process cache of the last result kept
``HEALTH_CACHE_SECONDS`` (see ``ReadinessCache``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from orchestrator import broker
from orchestrator.connections import celery_app, redis_client
from scheduling.engine import heartbeat
from scheduling.models import Schedule

logger = logging.getLogger(__name__)

CHECKS = ("database", "migrations", "redis", "broker", "beat", "workers")

_migrations_applied = False  # once true it stays true for this process's code


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class WorkerStatus:
    """A worker that answered the ping: its Celery name, queues, pool size and active task count."""

    name: str
    queues: list[str]
    concurrency: int | None = None
    active: int | None = None


@dataclass(frozen=True, kw_only=True)
class Readiness:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> list[str]:
        return [check.name for check in self.checks if not check.ok]


def workers(*, timeout: float | None = None, details: bool = False) -> list[WorkerStatus]:
    """The workers answering Celery's control ``ping`` within ``timeout`` seconds, with their queues.

    With ``details``, also their pool size (``stats``) and active tasks (``active``).
    """
    timeout = float(settings.HEALTH_CELERY_TIMEOUT_SECONDS) if timeout is None else timeout
    control = celery_app().control
    replies = control.ping(timeout=timeout) or []
    names = sorted({name for reply in replies for name in reply})
    if not names:
        return []
    inspect = control.inspect(destination=names, timeout=timeout, limit=len(names))
    queues: dict[str, Any] = inspect.active_queues() or {}
    stats: dict[str, Any] = (inspect.stats() or {}) if details else {}
    active: dict[str, Any] = (inspect.active() or {}) if details else {}
    found = []
    for name in names:
        pool = (stats.get(name) or {}).get("pool") or {}
        concurrency = pool.get("max-concurrency")
        found.append(
            WorkerStatus(
                name=name,
                queues=sorted(str(queue.get("name")) for queue in queues.get(name) or []),
                concurrency=int(concurrency) if isinstance(concurrency, int) else None,
                active=len(active[name]) if name in active else None,
            )
        )
    return found


def queues_with_enabled_schedules() -> list[str]:
    """The queues that enabled schedules' jobs go to (each needs a worker)."""
    queues: Iterable[str] = (
        Schedule.objects.filter(enabled=True).order_by().values_list("job__queue", flat=True).distinct()
    )
    return sorted(set(queues))


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        connection.close()
        return Check(name="database", ok=False, detail=f"the database does not answer: {exc}".strip())
    return Check(name="database", ok=True, detail=f"{connection.vendor} answers")


def check_migrations() -> Check:
    global _migrations_applied
    if not _migrations_applied:
        try:
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except DatabaseError as exc:
            return Check(name="migrations", ok=False, detail=f"cannot read the applied migrations: {exc}".strip())
        if plan:
            pending = [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
            return Check(
                name="migrations",
                ok=False,
                detail=f"{len(pending)} migration(s) not applied; run manage.py migrate",
                data={"pending": pending[:20]},
            )
        _migrations_applied = True
    return Check(name="migrations", ok=True, detail="all applied")


def check_redis() -> Check:
    try:
        redis_client().ping()
    except (redis.RedisError, OSError) as exc:
        return Check(name="redis", ok=False, detail=f"Redis does not answer: {exc}")
    return Check(name="redis", ok=True, detail="answers")


def check_broker() -> Check | None:
    """Whether the broker takes a connection; None when the broker is our Redis (``check_redis`` says)."""
    if broker.broker_is_our_redis():
        return None
    try:
        with celery_app().connection_for_read() as connection:
            connection.ensure_connection(max_retries=0)
            transport = connection.transport.driver_type
    except Exception as exc:  # every transport fails in its own words
        return Check(name="broker", ok=False, detail=f"the broker does not answer: {exc}")
    return Check(name="broker", ok=True, detail=f"{transport} answers")


def check_beat(*, redis_ok: bool) -> Check:
    max_age = float(settings.SCHEDULER_BEAT_HEARTBEAT_SECONDS)
    if not redis_ok:
        return Check(name="beat", ok=False, detail="unknown: beat heartbeats live in Redis, which does not answer")
    try:
        beats = [beat for beat in heartbeat.live_beats() if beat.age_seconds <= max_age]
    except (redis.RedisError, OSError) as exc:
        return Check(name="beat", ok=False, detail=f"cannot read beat heartbeats: {exc}")
    data = {"beats": [{"host": b.host, "pid": b.pid, "age_seconds": round(b.age_seconds, 3)} for b in beats]}
    if not beats:
        return Check(name="beat", ok=False, detail=f"no beat has ticked in the last {max_age:g}s", data=data)
    return Check(name="beat", ok=True, detail=f"{len(beats)} beat(s) ticking", data=data)


def check_workers(*, broker_ok: bool, database_ok: bool) -> Check:
    if not broker_ok:
        return Check(
            name="workers", ok=False, detail="unknown: workers answer through the broker, which does not answer"
        )
    if not database_ok:
        return Check(name="workers", ok=False, detail="unknown: the queues to serve come from the database")
    needed = queues_with_enabled_schedules()
    try:
        found = workers()
    except Exception as exc:  # the broker's errors differ by transport
        return Check(name="workers", ok=False, detail=f"cannot reach the workers: {exc}")
    served = {queue for worker in found for queue in worker.queues}
    missing = [queue for queue in needed if queue not in served]
    data = {
        "queues_needed": needed,
        "workers": [{"name": w.name, "queues": w.queues} for w in found],
        "queues_without_worker": missing,
    }
    if missing:
        return Check(
            name="workers",
            ok=False,
            detail=f"no worker answers for queue(s) {', '.join(missing)} (enabled schedules use them)",
            data=data,
        )
    return Check(name="workers", ok=True, detail=f"{len(found)} worker(s) answer; every needed queue served", data=data)


def readiness() -> Readiness:
    """Run every check (database, migrations, Redis, the broker when it is not our Redis, beat heartbeat,
    workers) once."""
    database = check_database()
    no_database = Check(name="migrations", ok=False, detail="unknown: the database does not answer")
    migrations = check_migrations() if database.ok else no_database
    redis_check = check_redis()
    broker_check = check_broker()
    broker_ok = redis_check.ok if broker_check is None else broker_check.ok
    beat = check_beat(redis_ok=redis_check.ok)
    workers_check = check_workers(broker_ok=broker_ok, database_ok=database.ok)
    own_broker = [] if broker_check is None else [broker_check]
    return Readiness(checks=[database, migrations, redis_check, *own_broker, beat, workers_check])


class ReadinessCache:
    """The last ``readiness()`` of this process, answered again while it is younger than a limit.

    Why per process and not in Redis: the answer is about what this process can reach (a web
    process that lost the database must say so), it needs no round trip to the server whose
    health it reports, and gunicorn runs a handful of processes, so a deployment sends at most
    that many broadcasts per period however many probes (or anonymous clients) ask.

    At most one thread of the process runs the checks at a time; while it does, other threads get
    the previous answer if there is one (they wait only for the very first). ``runs`` counts how
    often the checks ran: each run is one Celery ``ping`` broadcast.
    """

    def __init__(self, compute: Callable[[], Readiness], *, clock: Callable[[], float] = time.monotonic) -> None:
        self._compute = compute
        self._clock = clock
        self._lock = threading.Lock()
        self._value: Readiness | None = None
        self._stamp = -math.inf
        self.runs = 0

    def get(self, *, max_age_seconds: float) -> tuple[Readiness, float]:
        """The readiness and its age in seconds: the cached one while younger than ``max_age_seconds``."""
        value, stamp = self._value, self._stamp
        age = self._clock() - stamp
        if value is not None:
            if age < max_age_seconds:
                return value, age
            if not self._lock.acquire(blocking=False):
                return value, age  # another thread is refreshing it: the previous answer meanwhile
        else:
            self._lock.acquire()
        try:
            value, stamp = self._value, self._stamp
            age = self._clock() - stamp
            if value is not None and age < max_age_seconds:
                return value, age  # refreshed while this thread waited for the lock
            value = self._compute()
            self._value, self._stamp = value, self._clock()
            self.runs += 1
            return value, 0.0
        finally:
            self._lock.release()

    def refresh(self) -> Readiness:
        """Run the checks now (waiting for a refresh already under way) and keep the result."""
        with self._lock:
            value = self._compute()
            self._value, self._stamp = value, self._clock()
            self.runs += 1
            return value

    def expire(self) -> None:
        """Make the next ``get`` run the checks (tests; an operator who needs a fresh answer now)."""
        self._stamp = -math.inf


#: What ``/readyz`` answers from (``HEALTH_CACHE_SECONDS``).
READINESS = ReadinessCache(lambda: readiness())
