from __future__ import annotations

from celery import signals
from django.apps import AppConfig


class WorkersConfig(AppConfig):
    name = "workers"
    verbose_name = "Workers"

    def ready(self) -> None:
        from orchestrator import hooks as run_hooks
        from scheduling import hooks as beat_hooks
        from workers.broker import patch_redis_channel

        patch_redis_channel()  # a worker survives Redis restarts under load (see workers.broker)
        beat_hooks.on_maintenance(_reap)
        run_hooks.on_run_ended(_release_cancelled)
        signals.task_postrun.connect(_recycle_db_connections, weak=False, dispatch_uid="ostinato-recycle-db")


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


def _reap(now: object) -> None:
    from datetime import datetime

    from workers.reaper import reap

    if isinstance(now, datetime):
        reap(now)


def _release_cancelled(ended: object) -> None:
    """A cancelled run's worker may have been terminated before releasing: free its slots now."""
    from orchestrator.hooks import RunEnded
    from orchestrator.models import RunStatus
    from workers.leases import Leases
    from workers.tasks import wake_waiters

    if isinstance(ended, RunEnded) and ended.status == RunStatus.CANCELLED:
        leases = Leases()
        wake_waiters(leases, leases.release_and_wake(ended.run_id))
