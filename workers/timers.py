"""A worker's cancelled time-limit timers leave its event loop soon after their run ends.

Every run's message carries the job's timeout as Celery's soft time limit. The worker's main
process puts a timer for it on its event loop (kombu's ``Timer``, a heap) and cancels it when the
run ends, but a cancelled timer stays in the heap until its time would have come. A worker of
short runs with long timeouts therefore held one entry per run for the whole timeout: ~0.8 KB a
run measured here, so an hour of 500 runs a second kept over 1 GB in the main process, which no
``WORKER_MAX_MEMORY_PER_CHILD_KB`` bounds (it replaces pool processes only). Reported upstream as
celery/celery#1129 and #5200.

``PruneCancelledTimers`` drops them every ``WORKER_TIMER_PRUNE_SECONDS`` on the loop itself, so
nothing else touches the heap meanwhile. ``celery -A project inspect timers`` shows what each
worker's loop holds. No Django import at module level: ``project.celery`` registers the step.
"""

from __future__ import annotations

import heapq
import logging
from typing import Any

from celery import bootsteps
from celery.worker.control import inspect_command

logger = logging.getLogger(__name__)


def prune_cancelled(timer: Any) -> int:
    """Remove the cancelled entries of a kombu ``Timer``, in place; returns how many went.

    The heap is kombu's ``Timer._queue`` of ``(eta, priority, entry)``. It is rebuilt in the same
    list object, which the timer's own iterator holds.
    """
    queue: list[Any] = timer._queue
    kept = [item for item in queue if not item[2].canceled]
    removed = len(queue) - len(kept)
    if removed:
        heapq.heapify(kept)
        queue[:] = kept
    return removed


def census(timer: Any) -> dict[str, int]:
    """How many entries a timer holds, and how many of them are cancelled."""
    queue = list(timer._queue)
    return {"entries": len(queue), "cancelled": sum(1 for item in queue if item[2].canceled)}


class PruneCancelledTimers(bootsteps.StartStopStep):
    """Prunes the worker's event-loop timer periodically (prefork and other event-loop pools)."""

    requires = ("celery.worker.components:Hub",)

    def include_if(self, worker: Any) -> bool:
        return bool(worker.use_eventloop)

    def start(self, worker: Any) -> None:
        from django.conf import settings

        period = float(settings.WORKER_TIMER_PRUNE_SECONDS)
        worker.hub.call_repeatedly(period, self._prune, worker.hub.timer)

    @staticmethod
    def _prune(timer: Any) -> None:
        removed = prune_cancelled(timer)
        if removed:
            logger.debug("dropped %d cancelled timer(s) from the event loop; %d left", removed, len(timer))


@inspect_command()
def timers(state: Any, **kwargs: Any) -> dict[str, int]:
    """The worker's event-loop timers: entries held, and how many are cancelled (should stay few)."""
    hub = getattr(state.consumer.controller, "hub", None)
    if hub is None:
        return {"entries": 0, "cancelled": 0}
    return census(hub.timer)
