from __future__ import annotations

from datetime import datetime

from celery import signals
from django.apps import AppConfig

from orchestrator import conf
from orchestrator.hooks import RunEnded

conf.apply_defaults()


class WorkersConfig(AppConfig):
    name = "workers"
    verbose_name = "Workers"

    def ready(self) -> None:
        from orchestrator import hooks as run_hooks
        from orchestrator.connections import celery_app
        from scheduling.engine import hooks as beat_hooks
        from workers import extensions, notify_tasks, tasks  # noqa: F401  (registers the run and delivery tasks)
        from workers.redis_channel import patch_redis_channel

        patch_redis_channel()  # a worker survives Redis restarts under load (see workers.redis_channel)
        beat_hooks.maintenance.connect(_reap)
        run_hooks.run_ended.connect(_release_cancelled)
        signals.task_postrun.connect(_recycle_db_connections, weak=False, dispatch_uid="ostinato-recycle-db")
        # tracing on: set up before the first task, so Celery's own instrumentation (its task_prerun span)
        # records into the same provider; the SDK's processors survive the pool's fork
        signals.worker_init.connect(_start_tracing, weak=False, dispatch_uid="ostinato-start-tracing")
        # a pool process may end (max tasks per child, shutdown) with spans still in its exporter's buffer
        signals.worker_process_shutdown.connect(_flush_traces, weak=False, dispatch_uid="ostinato-flush-traces")
        # Django is set up before a worker builds its blueprint (Celery's Django fix-up), so this
        # reaches the worker of whichever Celery app is in use: the standalone project's or a host's.
        extensions.install(celery_app())


def _recycle_db_connections(**kwargs: object) -> None:
    """After each task, what Django does after each request: close a broken or obsolete connection.

    Celery's own fix-up would close it after every task (see ``CELERY_DB_REUSE_MAX``). Unlike
    after a request, a connection kept for the next run is not health-checked first (a
    ``SELECT 1``, one more round trip per run): the run task's first statement, the claim, is
    retried on a fresh connection when the kept one turns out broken (``orchestrator.db.patiently``).
    """
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        # Django's attribute (4.1+), missing from django-stubs
        checked = conn.health_check_done  # type: ignore[attr-defined]
        conn.close_if_unusable_or_obsolete()
        if conn.connection is not None:
            conn.health_check_done = checked  # type: ignore[attr-defined]


def _start_tracing(**kwargs: object) -> None:
    from orchestrator import tracing

    if tracing.enabled():
        tracing.tracer()


def _flush_traces(**kwargs: object) -> None:
    from orchestrator import tracing

    tracing.flush()


def _reap(now: datetime) -> None:
    from workers.reaper import reap

    reap(now)


def _release_cancelled(ended: RunEnded) -> None:
    """A cancelled run's worker may have been terminated before releasing: free its slots now."""
    from orchestrator.models import RunStatus
    from workers.leases import Leases
    from workers.tasks import wake_waiters

    if ended.status == RunStatus.CANCELLED:
        leases = Leases()
        wake_waiters(leases, leases.release_and_wake(ended.run_id))
