"""Prometheus metrics: what happened (counters, the lag histogram) and what is (gauges read at scrape time).

Two kinds, exposed together:

* **Event metrics** are recorded by the process where the thing happened: the beat records
  dispatch lag and skipped/missed occurrences (``scheduling.engine.hooks.tick_completed``), the worker
  records finished runs (``orchestrator.hooks.run_ended``). Every process writes them to
  ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode: gunicorn workers and
  Celery's prefork children included), and any exposition adds up the whole folder.
* **State metrics** (queue depth, limit slots in use, active runs) are read from the broker, Redis
  and the database when scraped, only by the web's exposition (``/metrics`` and the gunicorn master's
  port), so a deployment reports each once.

``/metrics`` on the web answers a ``Bearer`` token (``METRICS_TOKEN``) or a staff session. With
``METRICS_PORT`` set, beat and worker processes (and the gunicorn master) also serve their folder
on that port, bound to ``METRICS_ADDR``: scrape each host (container) there.
"""

from __future__ import annotations

import bisect
import hmac
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from django.conf import settings
from django.http import HttpRequest, HttpResponse

Path(settings.METRICS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)  # before the first value is written

from prometheus_client import (  # noqa: E402  (after the folder exists)
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily  # noqa: E402
from prometheus_client.registry import Collector  # noqa: E402

logger = logging.getLogger(__name__)

#: Seconds from an occurrence's nominal time to its dispatch (jitter included, on purpose).
LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


def observe_all(histogram: Histogram, amounts: Iterable[float]) -> None:
    """``histogram.observe(amount)`` for each amount, with one write per bucket instead of one per amount.

    In multiprocess mode every observation is a locked write to a memory-mapped file; a burst of
    thousands of dispatches spent more on them than on publishing. The bucket counts and the sum
    come out exactly as observing one by one would leave them (pinned by a unit test against
    ``observe``, which also catches a prometheus_client whose internals moved).
    """
    counts: dict[int, int] = {}
    total = 0.0
    bounds = histogram._upper_bounds  # the last one is +Inf: every amount finds a bucket
    for amount in amounts:
        total += amount
        index = bisect.bisect_left(bounds, amount)
        counts[index] = counts.get(index, 0) + 1
    if not counts:
        return
    histogram._sum.inc(total)
    for index, count in counts.items():
        histogram._buckets[index].inc(count)


RUNS_FINISHED = Counter(
    "ostinato_runs_finished",
    "Runs that reached a final status (succeeded, failed, timed_out, cancelled), by job.",
    ["job", "status"],
)
DISPATCH_LAG = Histogram(
    "ostinato_dispatch_lag_seconds",
    "Time its run was published minus scheduled time of each dispatched occurrence, by the job's queue.",
    # By queue, not by schedule: a label per schedule made the first dispatch of each schedule cost
    # more than the whole dispatch, and the beat's memory and the scraped series grow with N.
    ["queue"],
    buckets=LAG_BUCKETS,
)
OCCURRENCES_SKIPPED = Counter(
    "ostinato_occurrences_skipped",
    "Occurrences recorded skipped (overlap policy), by schedule name and reason.",
    ["schedule", "reason"],
)
OCCURRENCES_MISSED = Counter(
    "ostinato_occurrences_missed",
    "Occurrences recorded missed (misfire policy or grace), by schedule name and reason.",
    ["schedule", "reason"],
)
RUNS_OVERDUE = Counter(
    "ostinato_runs_overdue",
    "Scheduled runs not finished by scheduled_for + deadline_seconds (each counted once), by schedule name.",
    ["schedule"],
)
EVENT_LOG_WRITE_FAILURES = Counter(
    "ostinato_event_log_write_failures",
    "Event-log (JSONL) writes that failed; the runs went on.",
)

_POLICY_REASON = re.compile(r"\((overlap|misfire) policy (\w+)\)")


def reason_code(reason: str) -> str:
    """A bounded label for an occurrence's free-text reason (which may name runs and times).

    ``overlap_skip``, ``overlap_buffer_one``, ``overlap_replace``, ``misfire_run_once``,
    ``misfire_run_all``, ``misfire_skip``, ``misfire_grace``; anything else is ``other``.
    """
    found = _POLICY_REASON.search(reason)
    if found:
        return f"{found.group(1)}_{found.group(2)}"
    if "misfire grace" in reason:
        return "misfire_grace"
    return "other"


# --- event-log write failures: a per-process count, folded into the shared counter ----------------

_failures_lock = threading.Lock()
_failures_seen = 0


def sync_event_log_failures() -> None:
    """Add this process's new ``orchestrator.events.write_failures()`` to the shared counter."""
    global _failures_seen
    from orchestrator import events

    with _failures_lock:
        current = events.write_failures()
        if current > _failures_seen:
            EVENT_LOG_WRITE_FAILURES.inc(current - _failures_seen)
            _failures_seen = current


# --- state read at scrape time ------------------------------------------------------------------


class StateCollector(Collector):
    """Queue depth, limit slots in use and active runs, read when scraped. A source that is down
    is reported by ``ostinato_metrics_source_up`` instead of failing the scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "ostinato_metrics_source_up", "Whether a source of the state metrics answered.", labels=["source"]
        )
        try:
            jobs = self._jobs()
            yield from self._runs()
            up.add_metric(["database"], 1)
        except Exception as exc:  # the database is down: say so, keep the rest of the scrape
            logger.warning("metrics: database unavailable: %s", exc)
            jobs = []
            up.add_metric(["database"], 0)
        try:
            yield self._queue_depth(jobs)
            up.add_metric(["broker"], 1)
        except Exception as exc:  # the broker does not answer (its errors differ by transport)
            logger.warning("metrics: broker unavailable: %s", exc)
            up.add_metric(["broker"], 0)
        try:
            yield from self._redis(jobs)
            up.add_metric(["redis"], 1)
        except Exception as exc:  # Redis is down or refused a command
            logger.warning("metrics: Redis unavailable: %s", exc)
            up.add_metric(["redis"], 0)
        yield up

    @staticmethod
    def _jobs() -> list[tuple[str, str, int | None]]:
        from orchestrator.models import Job

        return list(Job.objects.order_by("key").values_list("key", "queue", "max_concurrency"))

    @staticmethod
    def _runs() -> Iterator[GaugeMetricFamily]:
        from django.db.models import Count

        from orchestrator.models import Run

        active = GaugeMetricFamily(
            "ostinato_runs_active", "Runs pending, queued or running now, by job and status.", labels=["job", "status"]
        )
        rows = (
            Run.objects.active()  # by its partial indexes: never a scan of the history
            .values_list("job__key", "status")
            .annotate(count=Count("id"))
            .order_by()
        )
        for job, status, count in rows:
            active.add_metric([job, status], count)
        yield active

    @staticmethod
    def _queue_depth(jobs: list[tuple[str, str, int | None]]) -> GaugeMetricFamily:
        from orchestrator.connections import celery_app
        from scheduling.ops.queues import queue_depths

        default_queue = str(celery_app().conf.task_default_queue or "celery")
        depth = GaugeMetricFamily(
            "ostinato_queue_depth", "Messages waiting in a broker queue (not yet taken by a worker).", labels=["queue"]
        )
        for queue, count in queue_depths([default_queue, *(queue for _, queue, _ in jobs)]).items():
            depth.add_metric([queue], count)
        return depth

    @staticmethod
    def _redis(jobs: list[tuple[str, str, int | None]]) -> Iterator[GaugeMetricFamily]:
        from orchestrator import keys
        from orchestrator.connections import redis_client

        redis = redis_client()
        now_ms = int(time.time() * 1000)
        in_use: dict[tuple[str, str], int] = {("job", key): 0 for key, _, _ in jobs}
        if settings.SCHEDULER_MAX_GLOBAL_RUNS:
            in_use[("global", "global")] = 0
        names = sorted(k.decode() if isinstance(k, bytes) else str(k) for k in redis.scan_iter(f"{keys.LIMIT_PREFIX}*"))
        pipe = redis.pipeline(transaction=False)
        for key in names:
            pipe.zcount(key, now_ms, "+inf")
        for key, count in zip(names, pipe.execute(raise_on_error=False), strict=True):
            if isinstance(count, Exception):
                continue  # not a lease set (a key of another layout): leave it out
            scope, _, name = keys.scope_of_limit_key(key).partition(":")
            in_use[(scope, name or scope)] = int(count)
        slots = GaugeMetricFamily(
            "ostinato_limit_slots_in_use",
            "Concurrency-limit leases held now, by scope (global, job, schedule) and name.",
            labels=["scope", "name"],
        )
        for (scope, name), count in sorted(in_use.items()):
            slots.add_metric([scope, name], count)
        yield slots
        limits = GaugeMetricFamily(
            "ostinato_limit_slots", "Configured concurrency limits, by scope and name.", labels=["scope", "name"]
        )
        if settings.SCHEDULER_MAX_GLOBAL_RUNS:
            limits.add_metric(["global", "global"], settings.SCHEDULER_MAX_GLOBAL_RUNS)
        for key, _, limit in jobs:
            if limit:
                limits.add_metric(["job", key], limit)
        yield limits
        from scheduling.engine.heartbeat import live_beats

        beats = GaugeMetricFamily(
            "ostinato_beats_live",
            "Beat processes with a fresh heartbeat (younger than SCHEDULER_BEAT_HEARTBEAT_SECONDS); 0: no beat runs.",
        )
        beats.add_metric([], len(live_beats(client=redis)))
        yield beats


# --- exposition -----------------------------------------------------------------------------------


class _FolderCollector(multiprocess.MultiProcessCollector):
    """prometheus_client's multiprocess collector, tolerant of processes starting and ending.

    A process creates its ``*.db`` file empty and sizes it a moment later; a scrape in between
    failed reading it (``struct.error``, seen in the test suite), and a file removed between the
    listing and the read failed it too. Empty files are skipped, and a vanished one retried once.
    """

    def collect(self) -> Any:
        for attempt in range(2):
            files = [str(path) for path in Path(self._path).glob("*.db") if _initialised(path)]
            try:
                return self.merge(files, accumulate=True)  # type: ignore[no-untyped-call]
            except FileNotFoundError:
                if attempt:
                    raise
        return []


def _initialised(path: Path) -> bool:
    try:
        return path.stat().st_size >= 8  # the header: how much of the file is in use
    except OSError:
        return False


def registry_for(role: Literal["web", "process"]) -> CollectorRegistry:
    """Everything in the multiprocess folder; plus the state metrics for the web's exposition."""
    registry = CollectorRegistry()
    _FolderCollector(registry, path=str(settings.METRICS_MULTIPROC_DIR))  # type: ignore[no-untyped-call]
    if role == "web":
        registry.register(StateCollector())
    return registry


def render(role: Literal["web", "process"] = "web") -> bytes:
    sync_event_log_failures()
    return generate_latest(registry_for(role))


def _authorized(request: HttpRequest) -> bool:
    """A ``Bearer`` token equal to ``METRICS_TOKEN`` (compared in constant time), or a staff session.

    The comparison is of bytes: ``hmac.compare_digest`` refuses ``str`` holding anything but ASCII
    (a ``TypeError``, a 500 for any anonymous client sending ``Bearer ²``), and the server hands
    header bytes over as Latin-1 text, so any byte may be there.
    """
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        given = header[7:].strip().encode("utf-8", "surrogatepass")
        if hmac.compare_digest(given, token.encode("utf-8", "surrogatepass")):
            return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics`` in the Prometheus text format (a ``Bearer`` token or a staff session)."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    if not _authorized(request):
        return HttpResponse(
            b'{"detail": "metrics need Authorization: Bearer <METRICS_TOKEN> or a staff session"}',
            status=401,
            content_type="application/json",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return HttpResponse(render("web"), content_type=CONTENT_TYPE_LATEST)


_exporter_lock = threading.Lock()
_exporter_started = False


def start_exporter(role: Literal["web", "process"]) -> bool:
    """Serve this host's metrics on ``METRICS_PORT`` (no-op when unset or already serving).

    A port that is taken (two processes of one host) is logged, never fatal: every exporter of a
    host serves the same folder, so one is enough.
    """
    global _exporter_started
    port = settings.METRICS_PORT
    if not port:
        return False
    with _exporter_lock:
        if _exporter_started:
            return True
        try:
            start_http_server(port, addr=settings.METRICS_ADDR, registry=registry_for(role))
        except OSError as exc:
            logger.warning("metrics exporter not started on %s:%s: %s", settings.METRICS_ADDR, port, exc)
            return False
        _exporter_started = True
    logger.info("metrics exporter serving on %s:%s", settings.METRICS_ADDR, port)
    return True


def mark_process_dead(pid: int) -> None:
    """Forget a dead process's live gauges (its counters stay: totals do not go down)."""
    multiprocess.mark_process_dead(pid, path=str(settings.METRICS_MULTIPROC_DIR))  # type: ignore[no-untyped-call]
