"""The run task: a Celery message names a run and the attempt it was published for.

A shared task, registered in whichever Celery app loads this module (the standalone project's or a
host project's) under ``RUN_TASK_NAME``. Routed by the publisher to the job's queue (``Job.queue``).
The task claims the run (a compare-and-set; a duplicate or stale message stops here), takes the
run's limit slots in Redis (when a limit applies to it), and executes it through the
orchestrator's execution path, the same for every trigger. With no free slot the claim is
undone: the run waits as ``pending`` in the database, not in this worker, until a slot frees.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Sequence
from functools import cache
from typing import Any

import redis
from celery import Task, shared_task
from celery.exceptions import Reject, SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from orchestrator import db, execution, publishing, tracing
from orchestrator.broker import RUN_TASK_NAME, note_expiry_ms
from orchestrator.models import Run
from orchestrator.snapshots import RunSnapshot
from workers.delivery import WAITING_PREFIX, limits_for
from workers.leases import Freed, Leases
from workers.renewer import Heartbeat, Renewer

logger = logging.getLogger(__name__)

WAITING = "waiting"
#: The claim failed for want of a database and the message was already acknowledged (see ``leave_for_recovery``).
LEFT_FOR_RECOVERY = "left for recovery"
#: How many stale waiters a freed slot may skip before giving up (the beat's recheck covers the rest).
WAKE_ATTEMPTS = 5


@cache
def leases() -> Leases:
    """One per process (its Redis client is per thread): the scripts are registered once."""
    return Leases()


@cache
def renewer() -> Renewer:
    """The process's one lease-renewer thread (started on first use, also in a forked pool process)."""
    return Renewer(leases(), period_seconds=float(settings.SCHEDULER_LEASE_TTL_SECONDS) / 3)


@shared_task(name=RUN_TASK_NAME, bind=True, ignore_result=True)
def run(self: Task[Any, Any], run_id: str, attempt: int = 0) -> str:
    """Execute attempt ``attempt`` of run ``run_id``; a duplicate or stale delivery does nothing."""
    if not tracing.enabled():
        return deliver(self, run_id, attempt)
    # the message's ``traceparent`` header (its publish span) is a request attribute, as every header
    with tracing.executing(getattr(self.request, "traceparent", None), run_id=run_id, attempt=attempt) as span:
        status = deliver(self, run_id, attempt)
        span.outcome(status)
        return status


def deliver(task: Task[Any, Any], run_id: str, attempt: int) -> str:
    """The delivery of attempt ``attempt`` of a run: claim, limits, execution. Returns how it ended."""
    worker = task.request.hostname or socket.gethostname()
    try:
        claimed = db.patiently(
            lambda: execution.claim_run(run_id, attempt=attempt, worker=worker, now=timezone.now()), what="claim a run"
        )
    except (OperationalError, InterfaceError) as exc:  # still no database
        if task.acks_late:  # the message goes back to the queue
            raise Reject(f"database unavailable: {exc}", requeue=True) from exc
        return leave_for_recovery(run_id, exc)
    if claimed is None:
        logger.debug("run %s attempt %s is not runnable any more; message dropped", run_id, attempt)
        return execution.DUPLICATE
    if tracing.enabled():
        tracing.annotate(claimed)
    snapshot = RunSnapshot.of(claimed.directive_snapshot)  # read once for the limits, the execution and the hooks
    limits = limits_for(claimed, snapshot)
    ttl = float(settings.SCHEDULER_LEASE_TTL_SECONDS)
    if not limits:
        return _run_unlimited(claimed, snapshot, ttl_seconds=ttl)
    recheck = float(settings.SCHEDULER_WAIT_RECHECK_SECONDS)
    try:
        acquired = leases().acquire(claimed.id, limits, ttl_seconds=ttl)
    except redis.RedisError as exc:
        execution.unclaim_run(
            claimed, reason=f"limits unavailable ({exc})", recheck_seconds=recheck, now=timezone.now(), newly=False
        )
        return WAITING
    if not acquired.granted:
        assert acquired.blocked_by is not None
        execution.unclaim_run(
            claimed,
            reason=f"{WAITING_PREFIX}: {acquired.blocked_by.label}, {acquired.in_use} in use",
            recheck_seconds=recheck,
            now=timezone.now(),
            newly=not claimed.wait_reason.startswith(WAITING_PREFIX),
        )
        return WAITING
    # The job starts now, not at the claim: recorded intervals then never overlap beyond the limits.
    claimed.started_at = timezone.now()
    heartbeat = Heartbeat(renewer(), claimed.id, limits, ttl_seconds=ttl)
    with heartbeat:
        outcome = execution.execute_claimed(claimed, snapshot=snapshot, timeout_exceptions=(SoftTimeLimitExceeded,))
    wake_waiters(leases(), heartbeat.freed)
    return outcome.status


def leave_for_recovery(run_id: str, exc: BaseException) -> str:
    """A message acknowledged at start (``WORKER_ACKS_LATE=false``) whose run could not be claimed.

    Rejecting it would requeue nothing: the broker already forgot it. The run is still ``queued``;
    forgetting its in-flight note makes the beats' recovery (``orchestrator.recovery.republish_lost``) publish it
    again once the database is back, ``SCHEDULER_LOST_MESSAGE_SECONDS`` after it was queued.
    """
    try:
        leases().forget_notes({str(run_id): note_expiry_ms(time.time())})
    except redis.RedisError as note_exc:  # the run is published again when its note expires instead
        logger.error("run %s: could not claim it (%s) nor forget its in-flight note (%s)", run_id, exc, note_exc)
        return LEFT_FOR_RECOVERY
    logger.warning("run %s: database unavailable to claim it (%s); recovery publishes it again", run_id, exc)
    return LEFT_FOR_RECOVERY


def _run_unlimited(claimed: Run, snapshot: RunSnapshot, *, ttl_seconds: float) -> str:
    """A run no limit applies to: no slot to take, so no Redis round trip before or after it.

    The process's renewer writes its heartbeat at its next round (see ``workers.leases``) and
    forgets the message's in-flight note then; only a run that outlived a round has a lease to
    release at its end.
    """
    taken_at = claimed.started_at or timezone.now()
    renewer().forget_note(claimed.id, newest_score_ms=note_expiry_ms(taken_at.timestamp()))
    claimed.started_at = timezone.now()
    heartbeat = Heartbeat(renewer(), claimed.id, [], ttl_seconds=ttl_seconds, leased=False)
    with heartbeat:
        outcome = execution.execute_claimed(claimed, snapshot=snapshot, timeout_exceptions=(SoftTimeLimitExceeded,))
    return outcome.status


def wake_waiters(pool: Leases, freed: Sequence[Freed]) -> None:
    """For each slot freed, publish the longest-waiting run that still waits.

    The release already took each scope's longest waiter (``Leases.release_and_wake``); only
    when that one no longer waits is the waiting room asked again.
    """
    now = timezone.now()
    for slot in freed:
        if slot.woken is None:
            continue  # nobody waited
        if publishing.publish_woken([slot.woken], now=now):
            continue
        for _ in range(WAKE_ATTEMPTS - 1):
            try:
                woken = pool.wake(slot.scope)
            except redis.RedisError as exc:
                logger.warning("could not wake waiters of %s: %s", slot.scope, exc)
                return
            if not woken or publishing.publish_woken(woken, now=now):
                break
