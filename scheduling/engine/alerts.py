"""The engine's events as notifications: missed occurrences, overdue runs, paused schedules.

Each subscriber turns one hook's frozen value into ``orchestrator.notifications.Alert``s and routes
them (rows inserted once per rule, event and subject; delivered by a task on the notifications
queue). The hooks are sent by the beat that won the occurrence, flagged the run or committed the
pause, so each event is routed once; the unique delivery row makes a repeat harmless anyway.
Routing writes rows and publishes tasks; it never waits for an endpoint.
"""

from __future__ import annotations

import logging
from datetime import datetime

from orchestrator import events
from orchestrator.notification_models import NotificationEvent
from orchestrator.notifications import Alert, republish_stale, route
from scheduling.engine import hooks
from scheduling.engine.reports import OccurrencesMissed, RunOverdue, SchedulePaused
from scheduling.models import Schedule

logger = logging.getLogger(__name__)


def on_missed(missed: OccurrencesMissed) -> None:
    alerts = [
        Alert(
            event=NotificationEvent.RUN_MISSED,
            subject=f"{item.schedule_id}@{events.utc_stamp(item.scheduled_for)}",
            at=missed.now,
            schedule=item.schedule,
            schedule_id=item.schedule_id,
            job=item.job,
            tenant=item.tenant,
            status="missed",
            scheduled_for=item.scheduled_for,
            details={"reason": item.reason, "missed_count": item.missed_count},
        )
        for item in missed.items
    ]
    route(alerts, now=missed.now)


def on_overdue(item: RunOverdue) -> None:
    tenant = Schedule.objects.filter(pk=item.schedule_id).values_list("tenant", flat=True).first() or ""
    alert = Alert(
        event=NotificationEvent.RUN_OVERDUE,
        subject=str(item.run_id),
        at=item.overdue_at,
        schedule=item.schedule,
        schedule_id=item.schedule_id,
        job=item.job,
        tenant=tenant,
        run_id=item.run_id,
        status=item.ended_status or "running",
        scheduled_for=item.scheduled_for,
        details={"deadline_seconds": item.deadline_seconds, "overdue_at": events.utc_stamp(item.overdue_at)},
    )
    route([alert], now=item.overdue_at)


def on_paused(item: SchedulePaused) -> None:
    alert = Alert(
        event=NotificationEvent.SCHEDULE_PAUSED,
        subject=f"{item.schedule_id}@{events.utc_stamp(item.paused_at)}",
        at=item.paused_at,
        schedule=item.schedule,
        schedule_id=item.schedule_id,
        job=item.job,
        tenant=item.tenant,
        status="paused",
        details={
            "by": item.by,
            "note": item.note,
            "reason": item.reason or None,
            "resume_at": events.utc_stamp(item.resume_at) if item.resume_at else None,
        },
    )
    route([alert], now=item.paused_at)


def install() -> None:
    """Subscribe to the engine's hooks; the beats' maintenance republishes lost deliveries."""
    hooks.occurrences_missed.connect(on_missed)
    hooks.run_overdue.connect(on_overdue)
    hooks.schedule_paused.connect(on_paused)
    hooks.maintenance.connect(_republish)


def _republish(now: datetime) -> None:
    republish_stale(now)
