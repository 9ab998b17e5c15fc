"""Factories for run records the admin and the schedules page show (rows as the orchestrator leaves them)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import Permission, User
from django.utils import timezone

from orchestrator.models import Run, RunStatus
from scheduling.engine.runs import planned_for
from scheduling.models import OccurrenceStatus, Schedule, ScheduledRun


def run_for(
    schedule: Schedule,
    *,
    status: str = RunStatus.SUCCEEDED,
    created_at: datetime | None = None,
    scheduled_for: datetime | None = None,
    trigger: str = "schedule",
    duration: timedelta = timedelta(seconds=2),
    **fields: Any,
) -> Run:
    """A run of ``schedule`` with its occurrence row, as a finished (or active) run looks in the database."""
    created_at = created_at or timezone.now()
    final = status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.CANCELLED)
    started = status == RunStatus.RUNNING or final
    run = Run.objects.create(
        id=uuid.uuid4(),
        job=schedule.job,
        directive_snapshot=planned_for(schedule, scheduled_for, trigger, now=created_at).directive_snapshot,
        trigger=trigger,
        status=status,
        created_at=created_at,
        queued_at=created_at,
        started_at=created_at if started else None,
        finished_at=created_at + duration if final else None,
        worker="worker-1@host" if started else "",
        **fields,
    )
    ScheduledRun.objects.create(
        schedule=schedule,
        scheduled_for=scheduled_for,
        status=OccurrenceStatus.DISPATCHED,
        run=run,
        trigger=trigger,
        dispatched_at=created_at,
        created_at=created_at,
        reason="" if scheduled_for else "run now",
    )
    return run


def staff_user(username: str, *perms: str) -> User:
    """A staff user (may use the admin) holding exactly ``perms`` (``app_label.codename``)."""
    user = User.objects.create_user(username=username, password="pw-" + username, is_staff=True)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return User.objects.get(pk=user.pk)  # fresh: no cached permissions
