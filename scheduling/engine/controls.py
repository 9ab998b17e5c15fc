"""Pause and resume: by someone (every door calls these), by a beat at ``resume_at``, by itself after failures.

Pausing is disabling with a note, who, when and until when; the beat's claim reads enabled rows
only, so a paused schedule makes no occurrence. Resuming enables it again with its cursor where
it was: the occurrences that fell due meanwhile follow its misfire policy, as for any schedule
switched back on. Each change is one transaction over the locked rows, so two beats (or a beat
and a person) never resume or pause the same schedule twice; its event is written after commit.

The failure streak counts consecutive ``failed`` or ``timed_out`` runs of the schedule's own
occurrences (trigger ``schedule``): manual, API and backfill runs neither count nor reset it, so
someone trying a fix by hand does not hide that the scheduled runs keep failing. A success resets
it; a cancelled run leaves it as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from orchestrator import audit, events
from orchestrator.errors import ValidationError
from orchestrator.hooks import RunEnded
from orchestrator.models import Job, Run, RunStatus, RunTrigger
from orchestrator.snapshots import RunSnapshot
from orchestrator.store import EndRead
from scheduling.engine import hooks
from scheduling.engine.reports import SchedulePaused
from scheduling.models import PAUSE_FIELDS, Schedule

logger = logging.getLogger(__name__)

#: Who resumed a schedule whose ``resume_at`` came; who paused one after repeated failures.
BEAT = "beat"
SYSTEM = "system"
FAILURES = frozenset({RunStatus.FAILED, RunStatus.TIMED_OUT})

#: One statement per ended run, and no write (no row lock) for a success on a streak already at 0, the
#: common case: only the schedule's own occurrences count (trigger ``schedule``, not manual or backfill).
_COUNT_END = """
UPDATE scheduling_schedule SET failure_streak = CASE WHEN %(failed)s THEN failure_streak + 1 ELSE 0 END
WHERE id = %(schedule)s AND (%(failed)s OR failure_streak <> 0)
  AND EXISTS (SELECT 1 FROM orchestrator_run r WHERE r.id = %(run)s AND r."trigger" = 'schedule')
RETURNING failure_streak, pause_after_failures, enabled"""


def pause(
    schedule_ids: Sequence[int],
    *,
    note: str,
    by: str,
    until: datetime | None = None,
    now: datetime | None = None,
    reason: str = "",
) -> int:
    """Pause the enabled schedules among ``schedule_ids``; return how many were paused.

    ``note`` is required (say why, for whoever finds it paused); ``until`` must lie ahead.
    """
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    if not (note or "").strip():
        errors["note"] = ["is required: say why it is paused, for whoever finds it so"]
    if until is not None:
        if until.tzinfo is None:
            errors["resume_at"] = ["must include a time zone offset, e.g. 2026-12-24T08:00:00Z"]
        elif until <= now:
            errors["resume_at"] = [f"must be in the future (now is {events.utc_stamp(now)})"]
    if errors:
        raise ValidationError(errors)
    written: list[dict[str, Any]] = []
    paused: list[Schedule] = []
    with transaction.atomic(), audit.fallback(by, audit.BEAT):
        rows = list(Schedule.objects.select_for_update().filter(pk__in=list(schedule_ids), enabled=True))
        for schedule in rows:
            changes = {
                "enabled": False,
                "pause_note": note.strip(),
                "paused_by": by,
                "paused_at": now,
                "resume_at": until,
            }
            Schedule.objects.filter(pk=schedule.pk).update(**changes, updated_at=now)
            for name, value in changes.items():
                setattr(schedule, name, value)
            event: dict[str, Any] = {
                "event": events.SCHEDULE_PAUSED,
                "schedule": schedule.name,
                "schedule_id": schedule.pk,
                "by": by,
                "note": note.strip(),
                "resume_at": events.utc_stamp(until) if until else None,
            }
            if reason:
                event["reason"] = reason
            written.append(event)
            paused.append(schedule)
        audit.record_saved(rows)  # one statement for all: a bulk pause of many schedules
    events.emit(written)
    _announce_paused(paused, note=note.strip(), by=by, until=until, now=now, reason=reason)
    return len(written)


def _announce_paused(
    paused: Sequence[Schedule], *, note: str, by: str, until: datetime | None, now: datetime, reason: str
) -> None:
    """After commit: the ``schedule_paused`` hook, once per schedule this call paused."""
    if not paused:
        return
    keys = dict(Job.objects.filter(pk__in={s.job_id for s in paused}).values_list("pk", "key"))
    for schedule in paused:
        hooks.schedule_paused.send(
            SchedulePaused(
                schedule_id=schedule.pk,
                schedule=schedule.name,
                job=keys.get(schedule.job_id, ""),
                tenant=schedule.tenant,
                by=by,
                note=note,
                reason=reason,
                paused_at=now,
                resume_at=until,
            )
        )


def resume(schedule_ids: Sequence[int], *, by: str, now: datetime | None = None, due_only: bool = False) -> int:
    """Resume the paused (disabled) schedules among ``schedule_ids``; return how many were resumed.

    ``due_only``: only those whose ``resume_at`` has come (a beat's maintenance), skipping rows
    another beat holds. The pause's note goes into the ``schedule_resumed`` event: the history keeps it.
    """
    now = now or timezone.now()
    written: list[dict[str, Any]] = []
    with transaction.atomic(), audit.fallback(by, audit.BEAT):
        found = Schedule.objects.filter(pk__in=list(schedule_ids), enabled=False)
        if due_only:
            found = found.filter(resume_at__lte=now).select_for_update(skip_locked=True)
        else:
            found = found.select_for_update()
        for schedule in found:
            event = {
                "event": events.SCHEDULE_RESUMED,
                "schedule": schedule.name,
                "schedule_id": schedule.pk,
                "by": by,
                "note": schedule.pause_note,
                "paused_by": schedule.paused_by,
            }
            schedule.enabled = True
            try:
                with transaction.atomic():
                    schedule.save(
                        now=now,
                        update_fields=[
                            "enabled",
                            "next_run_at",
                            "due_at",
                            "updated_at",
                            "failure_streak",
                            *PAUSE_FIELDS,
                        ],
                    )
            except ValidationError as exc:
                if not due_only:
                    raise
                _resume_failed(schedule, exc, now=now)
                continue
            written.append(event)
    events.emit(written)
    return len(written)


def _resume_failed(schedule: Schedule, error: ValidationError, *, now: datetime) -> None:
    """A schedule whose stored settings no longer validate stays paused, its ``resume_at`` cleared (no retry loop)."""
    Schedule.objects.filter(pk=schedule.pk).update(resume_at=None, updated_at=now)
    loaded = getattr(schedule, "_audit_loaded", {})
    audit.record(
        schedule, "changed", {"resume_at": {"before": audit.json_value(loaded.get("resume_at")), "after": None}}
    )
    logger.error(
        "could not resume schedule %s at its resume time: %s; it stays paused",
        schedule.name,
        error,
        extra={"event": events.SCHEDULE_ERROR, "schedule_id": schedule.pk},
    )
    events.emit(
        [
            {
                "event": events.SCHEDULE_ERROR,
                "schedule": schedule.name,
                "schedule_id": schedule.pk,
                "error": f"could not resume at its resume time: {error}",
            }
        ]
    )


def resume_due(now: datetime) -> int:
    """Resume every paused schedule whose ``resume_at`` has come: each by exactly one beat."""
    ids = list(
        Schedule.objects.filter(enabled=False, resume_at__lte=now)
        .order_by("resume_at")
        .values_list("pk", flat=True)[:500]
    )
    return resume(ids, by=BEAT, now=now, due_only=True) if ids else 0


def _streak_of(snapshot: RunSnapshot, status: str) -> int | None:
    """The schedule whose failure streak a run ending in ``status`` counts into, or None (the predicate of both
    ``STREAK_READ``'s parameter and ``count_run_end``)."""
    ref = snapshot.schedule
    if ref is None or not ref.id or ref.scheduled_for is None:
        return None  # a manual or API run: not the schedule's own
    if status not in FAILURES and status != RunStatus.SUCCEEDED:
        return None  # cancelled: says nothing about the job
    return ref.id


#: The streak read in the statement that records a run's end (see ``orchestrator.store.EndRead``): a success
#: that finds it at 0 has nothing to reset, and ``count_run_end`` then sends nothing. Read, not written: a
#: write there would lock the schedule's row while holding the run's, the reverse of a beat's dispatch
#: (schedule, then the runs a ``replace`` cancels). A success that read 0 is the no-op ``_COUNT_END`` would
#: have been, only made at the finish's snapshot instead of just after its commit: a concurrent run's
#: failure counted in between (overlap ``allow``) counts after this success, as it could before.
STREAK_READ = EndRead(
    name="failure_streak",
    sql="SELECT failure_streak FROM scheduling_schedule WHERE id = %s",
    param=_streak_of,
)


def count_run_end(ended: RunEnded) -> None:
    """Count a scheduled run's end into its schedule's failure streak; pause the schedule at its threshold."""
    schedule_id = _streak_of(ended.frozen, ended.status)
    if schedule_id is None:
        return
    if ended.status == RunStatus.SUCCEEDED and ended.read.get(STREAK_READ.name) == 0:
        return  # read with the end: nothing to reset
    with connection.cursor() as cursor:
        run = ended.run_id if connection.vendor == "postgresql" else ended.run_id.hex  # SQLite keeps UUIDs as hex
        cursor.execute(_COUNT_END, {"failed": ended.status in FAILURES, "schedule": schedule_id, "run": run})
        row = cursor.fetchone()
    if row is None:
        return
    streak, threshold, enabled = row
    if threshold and enabled and streak >= threshold:
        _pause_after_failures(schedule_id, streak)


def _pause_after_failures(schedule_id: int, streak: int) -> None:
    last = list(
        Run.objects.filter(occurrence__schedule_id=schedule_id, trigger=RunTrigger.SCHEDULE, status__in=list(FAILURES))
        .order_by(F("finished_at").desc(nulls_last=True), "-created_at")
        .values_list("id", flat=True)[:3]
    )
    named = ", ".join(str(run_id) for run_id in last)
    note = f"paused by itself after {streak} consecutive failed or timed-out runs (last: {named})"
    pause([schedule_id], note=note, by=SYSTEM, reason=f"{streak} consecutive failures")
