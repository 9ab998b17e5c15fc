"""Retrying a failed run: exponential backoff with jitter, waiting in the database, not in a worker.

A retry turns the ``running`` run back into ``pending`` with ``publish_after`` at the end of its
backoff; the beats' recovery publishes it then (``orchestrator.recovery.publish_due``). A worker
that dies meanwhile cannot strand it. Each retry is a ``run_retried`` event on the same run.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from orchestrator import broker, events, hooks
from orchestrator.models import Run, RunStatus
from orchestrator.publishing import run_event_fields

logger = logging.getLogger(__name__)

RETRYING = "retrying"


def retry_delay_seconds(attempts_made: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter for the retry after ``attempts_made`` failed attempts (seconds)."""
    factor = (rng or random).uniform(0.5, 1.5)
    return min(cap, base * float(2 ** max(attempts_made - 1, 0)) * factor)


def schedule_retry(
    run: Run,
    *,
    error: str,
    now: datetime,
    base: Mapping[str, Any],
    delay: float | None = None,
    by_task: bool = False,
) -> float | None:
    """``running`` -> ``pending`` for the next attempt; returns the backoff, or None when the run changed meanwhile.

    ``delay``: the wait a host task asked for (``by_task``: its own ``retry()``, which its own
    ``max_retries`` allowed); None: exponential backoff.
    """
    if delay is None:
        delay = retry_delay_seconds(
            run.attempt,
            base=float(settings.SCHEDULER_RETRY_BACKOFF_SECONDS),
            cap=float(settings.SCHEDULER_RETRY_BACKOFF_MAX_SECONDS),
        )
    limit = "as the task asked" if by_task else f"of {run.job.max_retries}"
    moved = Run.objects.filter(id=run.id, status=RunStatus.RUNNING, attempt=run.attempt).update(
        status=RunStatus.PENDING,
        publish_after=now + timedelta(seconds=delay),
        error=error,
        task_id=broker.task_id_for(run.id, run.attempt),
        wait_reason=f"retry {run.attempt} {limit} after {delay:.1f}s",
    )
    if moved != 1:
        return None  # cancelled meanwhile: the caller records the end as usual
    events.emit(
        [
            {
                "event": events.RUN_RETRIED,
                **base,
                "attempt": run.attempt,
                "retry_in_seconds": round(delay, 3),
                "error": error.split("\n", 1)[0][:500],
            }
        ]
    )
    logger.info("run failed; retry %s in %.1fs", run.attempt, delay, extra={"event": events.RUN_RETRIED, **base})
    return delay


def retry_or_fail(run: Run, *, error: str, status: str, now: datetime) -> str:
    """End a run whose execution was lost (its worker died): retry it when its job allows, else end it.

    ``run`` is as loaded while ``running``. Returns the status it ended in, ``retrying``, or ``""``
    when the run changed meanwhile (nothing done).
    """
    base = run_event_fields(run)
    retryable = status == RunStatus.FAILED and run.attempt <= run.job.max_retries
    if retryable and schedule_retry(run, error=error, now=now, base=base) is not None:
        return RETRYING
    if not Run.objects.filter(id=run.id, status=RunStatus.RUNNING, attempt=run.attempt).update(
        status=status, finished_at=now, error=error
    ):
        return ""
    duration_ms = int((now - (run.started_at or now)).total_seconds() * 1000)
    events.emit(
        [
            {
                "event": events.RUN_FINISHED,
                **base,
                "status": status,
                "worker": run.worker,
                "attempt": run.attempt,
                "duration_ms": duration_ms,
                "error": error[:500],
            }
        ]
    )
    logger.warning("run ended: %s", error, extra={"event": events.RUN_FINISHED, **base, "status": status})
    hooks.run_ended.send(
        hooks.RunEnded(run_id=run.id, job_key=run.job.key, status=status, snapshot=run.directive_snapshot)
    )
    return status
