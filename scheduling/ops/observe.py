"""Subscribers to the after-hooks: metrics, and one structured log line per handled occurrence.

Installed by ``SchedulingConfig.ready`` in every process (web, beat, worker); each subscriber
fires only where its hook does. The log lines carry the event log's keys (``event``,
``schedule_id``, ``run_id``, ``scheduled_for``), so logs and the JSONL log read alike.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from typing import Any

from orchestrator import hooks as run_hooks
from orchestrator.models import RunTrigger
from scheduling.core.policies import Action
from scheduling.engine import hooks as tick_hooks
from scheduling.engine.outcomes import OUTCOMES
from scheduling.engine.reports import MaintenanceReport, RunOverdue, TickReport

logger = logging.getLogger(__name__)


def observe_tick(report: TickReport) -> None:
    """Dispatch lag (``published_at - scheduled_for``) of each dispatched occurrence; skipped and missed counts.

    An occurrence whose run the broker refused is left to recovery (``observe_recovered``): it
    is counted once, when its run is published, with the lag it really had.
    """
    from scheduling.ops import metrics

    published = report.published_at or report.started_at
    lags_by_queue: dict[str, list[float]] = {}  # a burst has thousands of items and few queues
    for item in report.handled:
        if item.action == Action.DISPATCH and published is not None and item.run_id not in report.unpublished:
            lag = max(0.0, (published - item.scheduled_for).total_seconds())
            lags_by_queue.setdefault(item.queue, []).append(lag)
        elif item.action == Action.SKIP:
            metrics.OCCURRENCES_SKIPPED.labels(item.schedule, metrics.reason_code(item.reason)).inc()
        elif item.action == Action.MISS:
            metrics.OCCURRENCES_MISSED.labels(item.schedule, metrics.reason_code(item.reason)).inc(item.missed_count)
    for queue, lags in lags_by_queue.items():
        metrics.observe_all(metrics.DISPATCH_LAG.labels(queue), lags)
    metrics.sync_event_log_failures()


def observe_recovered(report: MaintenanceReport) -> None:
    """Dispatch lag of the scheduled occurrences whose runs recovery published for the first time.

    Their tick's publish failed (``TickReport.unpublished``, not counted there) or their beat died
    before publishing: each is counted here, once, to when recovery published it.
    """
    from orchestrator.recovery import announced_by_recovery
    from orchestrator.snapshots import RunSnapshot
    from scheduling.ops import metrics

    if report.published_at is None:
        return
    lags_by_queue: dict[str, list[float]] = {}
    for run in report.recovered:
        snapshot = RunSnapshot.of(run.directive_snapshot)
        stamp = snapshot.schedule.scheduled_for if snapshot.schedule is not None else None
        if run.trigger != RunTrigger.SCHEDULE or not stamp or not announced_by_recovery(run):
            continue
        lag = max(0.0, (report.published_at - datetime.fromisoformat(stamp)).total_seconds())
        lags_by_queue.setdefault(snapshot.job.queue, []).append(lag)
    for queue, lags in lags_by_queue.items():
        metrics.observe_all(metrics.DISPATCH_LAG.labels(queue), lags)


def log_tick(report: TickReport) -> None:
    """One log line per occurrence the tick handled."""
    for item in report.handled:
        event = OUTCOMES[item.action].event
        extra: dict[str, Any] = {
            "event": event,
            "schedule": item.schedule,
            "schedule_id": item.schedule_id,
            "scheduled_for": item.scheduled_for,
            "run_id": str(item.run_id) if item.run_id else None,
            "queue": item.queue or None,
            "reason": item.reason or None,
        }
        if item.missed_count > 1:
            logger.info("%s: %s x%d", event, item.schedule, item.missed_count, extra=extra)
        else:
            logger.info("%s: %s", event, item.schedule, extra=extra)


def observe_run_ended(ended: run_hooks.RunEnded) -> None:
    from scheduling.ops import metrics

    metrics.RUNS_FINISHED.labels(ended.job_key, ended.status).inc()
    metrics.sync_event_log_failures()


def observe_overdue(overdue: RunOverdue) -> None:
    """One more overdue run, in the process that flagged it (a beat, or the worker where it ended late)."""
    from scheduling.ops import metrics

    metrics.RUNS_OVERDUE.labels(overdue.schedule).inc()


def _start_process_exporter(**kwargs: Any) -> None:
    from scheduling.ops import metrics

    metrics.start_exporter("process")


def _process_exited(**kwargs: Any) -> None:
    from scheduling.ops import metrics

    metrics.mark_process_dead(int(kwargs.get("pid") or os.getpid()))


def install() -> None:
    """Subscribe to the hooks and to Celery's process signals (idempotent)."""
    from celery import signals

    tick_hooks.tick_completed.connect(observe_tick)
    tick_hooks.maintenance_completed.connect(observe_recovered)
    tick_hooks.tick_completed.connect(log_tick)
    run_hooks.run_ended.connect(observe_run_ended)
    tick_hooks.run_overdue.connect(observe_overdue)
    # The worker's main process and the beat serve their host's metrics on METRICS_PORT.
    signals.worker_init.connect(_start_process_exporter, weak=False, dispatch_uid="ostinato-metrics-worker")
    signals.beat_init.connect(_start_process_exporter, weak=False, dispatch_uid="ostinato-metrics-beat")
    signals.worker_process_shutdown.connect(_process_exited, weak=False, dispatch_uid="ostinato-metrics-child")
