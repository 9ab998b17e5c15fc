"""Runs whose worker died: found by their expired heartbeat, ended or retried. Runs in every beat.

A ``running`` run keeps a heartbeat lease in Redis while its worker lives (``workers.leases``).
When it is gone, the worker was killed (SIGKILL, out of memory, a lost host) or Celery's hard time
limit stopped the job: the run ends ``timed_out`` when it outlived its timeout, otherwise it is
retried when its job allows retries, or ends ``failed`` with the reason "worker lost". No run
stays ``running`` forever.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import redis
from django.conf import settings

from orchestrator.models import Run, RunStatus
from orchestrator.retries import retry_or_fail
from workers.leases import Leases

logger = logging.getLogger(__name__)

BATCH = 1000


def reap(now: datetime) -> list[tuple[str, str]]:
    """End or retry lost runs; returns ``(run id, what happened)`` for each."""
    ttl = timedelta(seconds=float(settings.SCHEDULER_LEASE_TTL_SECONDS))
    candidates = list(
        Run.objects.filter(status=RunStatus.RUNNING, started_at__lt=now - ttl)
        .select_related("job")
        .order_by("started_at")[:BATCH]
    )
    if not candidates:
        return []
    try:
        alive = Leases().alive(run.id for run in candidates)
    except redis.RedisError as exc:
        logger.warning("reaper skipped: Redis unavailable (%s)", exc)
        return []
    done = []
    for run in candidates:
        if str(run.id) in alive or run.started_at is None:
            continue
        limit = timedelta(seconds=run.job.timeout_seconds)
        if now - run.started_at > limit:
            status, error = (
                RunStatus.TIMED_OUT,
                (f"timed out after {run.job.timeout_seconds}s: its worker was stopped at the hard time limit"),
            )
        else:
            status, error = (
                RunStatus.FAILED,
                (
                    f"worker lost: {run.worker or 'its worker'} stopped renewing the run's heartbeat "
                    f"(no sign of life for {ttl.total_seconds():.0f}s)"
                ),
            )
        result = retry_or_fail(run, error=error, status=status, now=now)
        if result:
            done.append((str(run.id), result))
    return done
