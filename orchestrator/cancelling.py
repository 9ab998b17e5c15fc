"""Cancelling runs that are still pending, queued or running: the admin and the API call ``cancel_runs``."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime

from django.db import transaction

from orchestrator import broker, connections, events, hooks
from orchestrator.models import ACTIVE_STATUSES, Run, RunStatus
from orchestrator.publishing import run_event_fields

logger = logging.getLogger(__name__)


def cancel_runs(run_ids: Sequence[uuid.UUID | str], *, reason: str, now: datetime) -> list[Run]:
    """Cancel runs that are still pending, queued or running; returns the ones this call cancelled.

    Each run changes status with a compare-and-set, so a run that finished meanwhile keeps its
    outcome. After the surrounding transaction commits, the cancelled runs' Celery tasks are
    revoked (a running one is terminated), ``run_cancelled`` is recorded and the ``run_ended`` hook
    is sent; limit slots are released by the worker as its task ends, or expire with their lease.
    """
    cancelled: list[Run] = []
    candidates = Run.objects.filter(id__in=list(run_ids), status__in=ACTIVE_STATUSES).select_related("job")
    for run in candidates:
        changed = Run.objects.filter(id=run.id, status=run.status, attempt=run.attempt).update(
            status=RunStatus.CANCELLED, finished_at=now, error=reason, wait_reason=""
        )
        if changed:
            run.status, run.finished_at, run.error = RunStatus.CANCELLED, now, reason
            cancelled.append(run)
    if cancelled:
        transaction.on_commit(lambda: _after_cancel(cancelled, reason))
    return cancelled


def _after_cancel(cancelled: Sequence[Run], reason: str) -> None:
    revoke_runs(cancelled)
    events.emit(
        [
            {"event": events.RUN_CANCELLED, **run_event_fields(run), "status": RunStatus.CANCELLED, "reason": reason}
            for run in cancelled
        ]
    )
    for run in cancelled:
        logger.info("run cancelled: %s", reason, extra={"event": events.RUN_CANCELLED, **run_event_fields(run)})
        hooks.run_ended.send(
            hooks.RunEnded(
                run_id=run.id, job_key=run.job.key, status=RunStatus.CANCELLED, snapshot=run.directive_snapshot
            )
        )


def revoke_runs(runs: Sequence[Run]) -> None:
    """Revoke the runs' Celery tasks everywhere, terminating one already executing."""
    task_ids = [run.task_id or broker.task_id_for(run.id, run.attempt) for run in runs]
    if not task_ids:
        return
    try:
        connections.celery_app().control.revoke(task_ids, terminate=True, signal="SIGTERM")
    except Exception as exc:  # the broker may be down (its errors differ by transport): the database says cancelled
        logger.warning("could not revoke %d task(s): %s", len(task_ids), exc)
