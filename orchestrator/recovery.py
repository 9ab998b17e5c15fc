"""Recovery, run by every beat: publish what is committed but not (or no longer) in the broker.

Runs stay ``pending`` when their publisher died between commit and publish or found the broker
down; retries wait as ``pending`` until their backoff ends; runs waiting for a limit slot are
looked at again after ``SCHEDULER_WAIT_RECHECK_SECONDS``. ``publish_due`` publishes all of them.
A queued run whose message the broker lost (Redis restarted without its data) is found by its
missing in-flight note and published again by ``republish_lost``. A run published twice still
executes once: the worker's claim is a compare-and-set.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.db import transaction

from orchestrator import broker, events
from orchestrator.errors import SchedulerError
from orchestrator.models import Run, RunStatus
from orchestrator.publishing import publish_runs, run_event_fields
from orchestrator.queue_depths import queue_depths
from orchestrator.snapshots import RunSnapshot

logger = logging.getLogger(__name__)


def publish_due(*, now: datetime, limit: int = 500) -> list[Run]:
    """Publish ``pending`` runs whose ``publish_after`` has passed.

    Several beats run this at once: each takes the rows it can lock and moves their
    ``publish_after`` one grace period ahead (a lease) before publishing, so the others leave them
    alone. A run published twice anyway still executes once.
    """
    grace = timedelta(seconds=float(settings.SCHEDULER_RECOVERY_GRACE_SECONDS))
    with transaction.atomic():
        due = list(
            Run.objects.publishable(now=now, limit=limit).select_for_update(skip_locked=True).select_related("job")
        )
        if not due:
            return []
        Run.objects.filter(id__in=[run.id for run in due]).update(publish_after=now + grace)
    never_published = [run for run in due if announced_by_recovery(run)]
    again = [run for run in due if not announced_by_recovery(run)]
    published = publish_runs(never_published, now=now, recovered=True) + publish_runs(again, now=now, announce=False)
    for run in published:
        logger.info("published a pending run", extra={"event": events.RUN_RECOVERED, **run_event_fields(run)})
    return published


def announced_by_recovery(run: Run) -> bool:
    """Whether ``publish_due`` publishes ``run`` for the first time, and so announces it
    (``schedule_enqueued`` with ``recovered``): a run never queued, not a retry. Asked of the
    run as it was read before publishing (``publish_due`` returns those objects)."""
    return run.queued_at is None and run.attempt == 0


def republish_lost(*, now: datetime, limit: int = 500) -> list[Run]:
    """Publish again the queued runs whose message the broker lost.

    Only runs queued longer than ``SCHEDULER_LOST_MESSAGE_SECONDS`` are looked at. A run's message
    is lost when its in-flight note is gone (Redis restarted without its data), or when its queue
    holds no message at all: a message confirmed and then dropped (a queue gone, a failover that
    lost the broker's last writes but not our note) leaves the note in place. A run whose message
    still waits in a long queue keeps both. Publishing one that was not lost after all (a worker
    took it that instant) delivers it twice; the claim's compare-and-set runs it once.
    """
    threshold = now - timedelta(seconds=float(settings.SCHEDULER_LOST_MESSAGE_SECONDS))
    queued = list(Run.objects.filter(status=RunStatus.QUEUED, queued_at__lt=threshold).order_by("queued_at")[:limit])
    if not queued:
        return []
    try:
        lost = set(broker.lost_messages([run.id for run in queued]))
        lost |= _in_empty_queues([run for run in queued if str(run.id) not in lost])
    except (redis.RedisError, OSError, SchedulerError) as exc:  # no Redis now: nothing can be published anyway
        logger.warning("could not check for lost messages: %s", exc)
        return []
    except Exception as exc:  # the broker's own errors differ by transport
        logger.warning("could not check for lost messages: %s: %s", type(exc).__name__, exc)
        return []
    if not lost:
        return []
    stale = Run.objects.filter(id__in=list(lost), status=RunStatus.QUEUED)
    moved = stale.update(status=RunStatus.PENDING, publish_after=now)
    logger.warning("%d queued run(s) lost their message in the broker; publishing them again", moved)
    return publish_due(now=now, limit=limit)


def _in_empty_queues(runs: list[Run]) -> set[str]:
    """Of these queued runs (their notes still there), those whose queue holds no message."""
    if not runs:
        return set()
    queue_of = {str(run.id): RunSnapshot.of(run.directive_snapshot).job.queue for run in runs}
    depths = queue_depths(set(queue_of.values()))
    return {run_id for run_id, queue in queue_of.items() if depths.get(queue, 1) == 0}
