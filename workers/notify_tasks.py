"""The notification delivery task, on its own queue (``SCHEDULER_NOTIFY_QUEUE``, default ``notifications``).

Start a worker for it: ``celery -A project worker -Q notifications -c 4``. A task makes one
attempt (``orchestrator.notification_delivery.deliver``); a failed attempt that is due again
publishes the task once more with the backoff as its countdown. A lost task (a worker killed, a
broker that refused it) is republished by the beats' maintenance, so nothing here retries in a loop.
"""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from orchestrator.notification_delivery import deliver
from orchestrator.notifications import DELIVER_TASK_NAME, publish


@shared_task(name=DELIVER_TASK_NAME, ignore_result=True)
def deliver_notification(notification_id: int) -> str:
    """One delivery attempt of notification ``notification_id``; a duplicate message does nothing."""
    attempt = deliver(int(notification_id), now=timezone.now())
    if attempt.retry_in_seconds is not None:
        publish([int(notification_id)], countdown=attempt.retry_in_seconds)
    return attempt.status or "not claimed"
