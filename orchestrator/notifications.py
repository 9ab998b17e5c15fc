"""Routing events to notification rules: one ``Notification`` row per (rule, event, subject), then a task.

Whoever sees an event (a worker at a run's end, a beat that recorded a missed occurrence, found a
run overdue or paused a schedule) calls ``route`` with frozen ``Alert`` values. ``route`` reads the
enabled rules (one query), inserts a row for each matching rule with ``INSERT … ON CONFLICT DO
NOTHING RETURNING``, so the same event seen twice (two beats, a repeated hook) makes one row, and
after commit sends the delivery task for the rows it inserted to the notifications queue
(``SCHEDULER_NOTIFY_QUEUE``). Nothing here waits for an endpoint: delivery is the task's
(``orchestrator.notification_delivery``), in a worker consuming that queue, so a slow or dead
endpoint delays neither the beat nor a run's end nor another rule's delivery.

``republish_stale`` (every beat's maintenance) sends the task again for rows whose task was lost:
a broker that refused it, a worker killed mid-delivery (its lease lapsed). The task's claim is a
compare-and-set, so a duplicate message does nothing.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from orchestrator import events
from orchestrator.connections import celery_app
from orchestrator.hooks import RunEnded
from orchestrator.models import Run, RunStatus
from orchestrator.notification_models import DeliveryStatus, Notification, NotificationEvent, NotificationRule

logger = logging.getLogger(__name__)

#: The delivery task's name (``workers.notify_tasks``): published by name, like the run task.
DELIVER_TASK_NAME = "workers.deliver_notification"
#: How much of an error a notification carries.
ERROR_SUMMARY_CHARS = 500

_INSERT = """
INSERT INTO orchestrator_notification
    (rule_id, event, subject, run_id, schedule, payload, status, attempts, last_error, created_at,
     next_attempt_at, published_at)
VALUES (%s, %s, %s, %s, %s, %s, 'pending', 0, '', %s, %s, %s)
ON CONFLICT (rule_id, event, subject) DO NOTHING
RETURNING id"""


@dataclass(frozen=True, kw_only=True)
class Alert:
    """One event a rule may subscribe to, with what its notification says and what scopes match.

    ``subject`` makes it unique per event: the run id, or ``<schedule id>@<time>`` for an
    occurrence or a pause. ``at`` is when it happened (aware UTC).
    """

    event: str
    subject: str
    at: datetime
    schedule: str = ""
    schedule_id: int | None = None
    job: str = ""
    tenant: str = ""
    run_id: uuid.UUID | None = None
    status: str = ""
    scheduled_for: datetime | None = None
    error: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


def run_link(run_id: uuid.UUID | str) -> str:
    """The run's page in the admin, absolute when ``SCHEDULER_PUBLIC_URL`` is set."""
    return f"{str(settings.SCHEDULER_PUBLIC_URL or '').rstrip('/')}/admin/orchestrator/run/{run_id}/change/"


def payload(alert: Alert, *, rule: str, test: bool = False) -> dict[str, Any]:
    """The JSON body of a webhook (and the facts of an email): the same bytes on every attempt."""
    body: dict[str, Any] = {
        "event": alert.event,
        "rule": rule,
        "at": events.utc_stamp(alert.at),
        "schedule": {"id": alert.schedule_id, "name": alert.schedule} if alert.schedule else None,
        "run_id": str(alert.run_id) if alert.run_id else None,
        "job": alert.job or None,
        "tenant": alert.tenant or None,
        "status": alert.status or None,
        "scheduled_for": events.utc_stamp(alert.scheduled_for) if alert.scheduled_for else None,
        "error": (alert.error.split("\n", 1)[0][:ERROR_SUMMARY_CHARS] or None) if alert.error else None,
        "link": run_link(alert.run_id) if alert.run_id else None,
        **{key: value for key, value in alert.details.items() if key not in {"event", "rule"}},
    }
    if test:
        body["test"] = True
    return body


def route(alerts: Sequence[Alert], *, now: datetime) -> list[int]:
    """Record a delivery for every enabled rule each alert matches; publish them after commit.

    Idempotent: an alert routed again (another beat, a repeated hook) inserts nothing. Returns the
    ids of the rows this call inserted. Costs one query when no rule subscribes to these events.
    """
    if not alerts:
        return []
    wanted = {alert.event for alert in alerts}
    rules = [rule for rule in NotificationRule.objects.filter(enabled=True) if wanted & set(rule.events or [])]
    if not rules:
        return []
    stamp = connection.ops.adapt_datetimefield_value(now)
    inserted: list[int] = []
    with transaction.atomic(), connection.cursor() as cursor:
        for alert in alerts:
            for rule in rules:
                if not rule.matches(event=alert.event, schedule=alert.schedule, job=alert.job, tenant=alert.tenant):
                    continue
                body = json.dumps(payload(alert, rule=rule.name), separators=(",", ":"), sort_keys=True)
                run_id = alert.run_id.hex if alert.run_id and connection.vendor == "sqlite" else alert.run_id
                cursor.execute(
                    _INSERT,
                    [
                        rule.pk,
                        alert.event,
                        alert.subject[:200],
                        run_id,
                        alert.schedule[:200],
                        body,
                        stamp,
                        stamp,
                        stamp,
                    ],
                )
                row = cursor.fetchone()
                if row is not None:
                    inserted.append(int(row[0]))
        if inserted:
            ids = list(inserted)
            transaction.on_commit(lambda: publish(ids))
    return inserted


def publish(ids: Iterable[int], *, countdown: float = 0.0) -> None:
    """Send the delivery task of each row to the notifications queue; a refusal leaves it to the sweep."""
    app = celery_app()
    queue = str(settings.SCHEDULER_NOTIFY_QUEUE)
    for notification_id in ids:
        try:
            app.send_task(
                DELIVER_TASK_NAME, args=[notification_id], queue=queue, countdown=countdown or None, ignore_result=True
            )
        except Exception as exc:  # the broker is down: the row is pending, republish_stale sends it later
            logger.warning(
                "could not publish notification %s: %s; a beat will republish it",
                notification_id,
                exc,
                extra={"event": events.NOTIFICATION_FAILED},
            )


def republish_stale(now: datetime, *, limit: int = 500) -> int:
    """Publish again the deliveries whose task was lost (every beat's maintenance calls this).

    A pending row due since ``SCHEDULER_NOTIFY_REPUBLISH_SECONDS`` whose task was last published
    that long ago, or a ``sending`` row whose lease lapsed (its worker died mid-delivery). The
    conditional update stamps ``published_at``, so of several beats one republishes a row.
    """
    stale = now - timedelta(seconds=float(settings.SCHEDULER_NOTIFY_REPUBLISH_SECONDS))
    lost = Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now) | Q(
        status=DeliveryStatus.SENDING, lease_until__lt=now
    )
    candidates = list(
        Notification.objects.filter(lost, Q(published_at__isnull=True) | Q(published_at__lt=stale))
        .order_by("next_attempt_at")
        .values_list("pk", "published_at")[:limit]
    )
    won = [
        pk
        for pk, published_at in candidates
        if Notification.objects.filter(pk=pk, published_at=published_at).update(published_at=now)
    ]
    if won:
        logger.info("republishing %d notification(s) whose delivery was lost", len(won))
        publish(won)
    return len(won)


def on_run_ended(ended: RunEnded) -> None:
    """``run_ended`` subscriber: a failed or timed-out run is routed (manual runs too: scope them away)."""
    if ended.status not in (RunStatus.FAILED, RunStatus.TIMED_OUT):
        return
    row = Run.objects.filter(pk=ended.run_id).values("error", "started_at", "finished_at", "trigger", "attempt").first()
    if row is None:
        return
    snapshot = ended.frozen
    ref = snapshot.schedule
    finished = row["finished_at"]
    at = finished or timezone.now()
    details = {
        "trigger": row["trigger"],
        "attempt": row["attempt"],
        "started_at": events.utc_stamp(row["started_at"]) if row["started_at"] else None,
        "finished_at": events.utc_stamp(finished) if finished else None,
    }
    alert = Alert(
        event=NotificationEvent.RUN_FAILED if ended.status == RunStatus.FAILED else NotificationEvent.RUN_TIMED_OUT,
        subject=str(ended.run_id),
        at=at,
        schedule=ref.name if ref else "",
        schedule_id=ref.id if ref else None,
        tenant=ref.tenant if ref else "",
        job=ended.job_key,
        run_id=ended.run_id,
        status=ended.status,
        scheduled_for=_parse(ref.scheduled_for) if ref and ref.scheduled_for else None,
        error=row["error"] or "",
        details=details,
    )
    route([alert], now=at)


def _parse(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
