"""What the status page (``/schedules/status/``) shows: a snapshot of the running deployment.

Beats come from their Redis heartbeats, workers from Celery's control ping and inspect, queue
depths from the broker (``scheduling.ops.queues``), limit slots from the lease sorted sets, and
the rest from a handful of bounded database queries. A part whose source does not answer is
shown with the error instead of failing the whole page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis
from django.utils import timezone

from orchestrator.connections import redis_client
from orchestrator.models import Job, Run, RunStatus
from scheduling.core import timing
from scheduling.engine import heartbeat
from scheduling.models import Schedule
from scheduling.ops import health, queues

#: Due-soon schedules looked at for the next minute's occurrences (a bound on the page's cost).
DUE_SOON_LIMIT = 500
#: Running runs examined for overrunning their timeout.
RUNNING_LIMIT = 1000
WINDOW_SECONDS = 60
#: Running runs linked from each worker's row on the status page.
RUNS_SHOWN_PER_WORKER = 5
#: The lease sorted sets of ``workers.leases`` (read here by name: scheduling does not import workers).
LIMIT_PREFIX = "ostinato:limit:"


@dataclass(frozen=True, kw_only=True)
class Overrun:
    run_id: str
    job: str
    worker: str
    started_at: datetime
    timeout_seconds: int
    over_seconds: float


@dataclass(kw_only=True)
class Snapshot:
    now: datetime
    beats: list[heartbeat.BeatStatus] = field(default_factory=list)
    workers: list[health.WorkerStatus] = field(default_factory=list)
    queue_depths: dict[str, int] = field(default_factory=dict)
    slots: list[dict[str, Any]] = field(default_factory=list)
    due_next_minute: int = 0
    due_schedules: list[str] = field(default_factory=list)
    oldest_pending: Run | None = None
    overruns: list[Overrun] = field(default_factory=list)
    #: Worker name -> its running runs (oldest first, at most ``RUNS_SHOWN_PER_WORKER`` each).
    running_by_worker: dict[str, list[Run]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def worker_rows(self) -> list[tuple[health.WorkerStatus, list[Run]]]:
        """Each answering worker with the runs it is running (for the page's links)."""
        return [(worker, self.running_by_worker.get(worker.name, [])) for worker in self.workers]


def occurrences_due(now: datetime, *, window_seconds: int = WINDOW_SECONDS) -> tuple[int, list[str]]:
    """Occurrences of enabled schedules due before ``now + window`` (overdue ones included), and their names."""
    until = now + timedelta(seconds=window_seconds)
    soon = list(Schedule.objects.filter(enabled=True, next_run_at__lt=until).order_by("next_run_at")[:DUE_SOON_LIMIT])
    total = 0
    for schedule in soon:
        first = schedule.next_run_at or now  # never None: filtered on it
        following, _more = timing.fire_times_between(schedule, max(first, now), until, window_seconds)
        total += 1 + sum(1 for when in following if when < until)
    return total, [schedule.name for schedule in soon[:20]]


def overrunning(now: datetime) -> list[Overrun]:
    """Runs still ``running`` after their job's timeout (their worker may be stuck or gone)."""
    found = []
    running = Run.objects.filter(status=RunStatus.RUNNING, started_at__isnull=False).select_related("job")
    for run in running.order_by("started_at")[:RUNNING_LIMIT]:
        started_at = run.started_at or now  # never None: filtered on it
        elapsed = (now - started_at).total_seconds()
        if elapsed > run.job.timeout_seconds:
            found.append(
                Overrun(
                    run_id=str(run.id),
                    job=run.job.key,
                    worker=run.worker,
                    started_at=started_at,
                    timeout_seconds=run.job.timeout_seconds,
                    over_seconds=elapsed - run.job.timeout_seconds,
                )
            )
    return found


def slots_in_use(client: redis.Redis) -> dict[str, int]:
    """Unexpired limit leases per scope (``global``, ``job:<key>``, ``schedule:<id>``), by Redis's clock."""
    now_ms = int(client.time()[0]) * 1000
    keys = [k.decode() if isinstance(k, bytes) else str(k) for k in client.scan_iter(match=f"{LIMIT_PREFIX}*")]
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.zcount(key, now_ms, "+inf")
        counts = pipe.execute(raise_on_error=False)
    return {
        key.removeprefix(LIMIT_PREFIX): int(count)
        for key, count in zip(keys, counts, strict=True)
        if not isinstance(count, Exception)
    }


def _redis_parts(snapshot: Snapshot, client: redis.Redis) -> None:
    snapshot.beats = heartbeat.live_beats(client=client, now=time.time())
    limits = {f"job:{key}": cap for key, cap in Job.objects.values_list("key", "max_concurrency")}
    in_use = slots_in_use(client)
    scopes = sorted(set(in_use) | {scope for scope, cap in limits.items() if cap})
    snapshot.slots = [
        {"scope": scope, "in_use": in_use.get(scope, 0), "capacity": limits.get(scope)} for scope in scopes
    ]


def snapshot(*, now: datetime | None = None) -> Snapshot:
    now = now or timezone.now()
    snap = Snapshot(now=now)
    try:
        _redis_parts(snap, redis_client())
    except (redis.RedisError, OSError) as exc:
        snap.errors["redis"] = f"Redis does not answer: {exc}"
    try:
        snap.queue_depths = queues.queue_depths(Job.objects.values_list("queue", flat=True))
    except Exception as exc:  # the broker does not answer (its errors differ by transport)
        snap.errors["broker"] = f"the broker does not answer: {exc}"
    else:  # workers answer through the broker
        try:
            snap.workers = health.workers(details=True)
        except Exception as exc:  # likewise
            snap.errors["workers"] = f"cannot reach the workers: {exc}"
    snap.due_next_minute, snap.due_schedules = occurrences_due(now)
    snap.oldest_pending = (
        Run.objects.filter(status=RunStatus.PENDING).select_related("job").order_by("created_at", "id").first()
    )
    snap.overruns = overrunning(now)
    snap.running_by_worker = running_by_worker()
    return snap


def running_by_worker(*, limit: int = RUNNING_LIMIT) -> dict[str, list[Run]]:
    """What each worker is running, from the runs table (one bounded query): worker name -> runs."""
    found: dict[str, list[Run]] = {}
    running = Run.objects.filter(status=RunStatus.RUNNING).select_related("job").order_by("started_at")[:limit]
    for run in running:
        shown = found.setdefault(run.worker, [])
        if len(shown) < RUNS_SHOWN_PER_WORKER:
            shown.append(run)
    return found
