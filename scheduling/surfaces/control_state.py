"""A schedule's controls as every door shows them: paused (by whom, when, why, until when), the failure
streak, the runs left. One wording for the admin, the schedules page, the API and the command lines.

Functions of the schedule's fields only: no query, no clock.
"""

from __future__ import annotations

from collections.abc import Sized
from datetime import UTC, datetime
from typing import Any, Literal

from django.db.models import Q

from scheduling.models import Schedule

State = Literal["enabled", "paused", "disabled"]


def state(schedule: Schedule) -> State:
    """``paused`` (disabled with a note: someone, or the schedule itself, paused it), else enabled or disabled."""
    if schedule.enabled:
        return "enabled"
    return "paused" if schedule.paused else "disabled"


#: What ``Schedule.paused`` says, as a query condition.
PAUSED = Q(enabled=False) & (Q(paused_at__isnull=False) | ~Q(pause_note=""))
STATES: tuple[State, ...] = ("enabled", "paused", "disabled")


def having(state: str) -> Q:
    """The condition of the schedules in ``state`` (one of ``STATES``), for a list's filter."""
    if state == "enabled":
        return Q(enabled=True)
    if state == "paused":
        return PAUSED
    return Q(enabled=False) & ~PAUSED


def utc_text(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment is not None else ""


def pause_text(schedule: Schedule) -> str:
    """``paused by alice at 2026-12-07 02:00 UTC: deploy freeze; resumes at 2026-12-08 08:00 UTC``.

    ``""`` when the schedule is not paused.
    """
    if not schedule.paused:
        return ""
    text = "paused"
    if schedule.paused_by:
        text += f" by {schedule.paused_by}"
    if schedule.paused_at is not None:
        text += f" at {utc_text(schedule.paused_at)}"
    if schedule.pause_note:
        text += f": {schedule.pause_note}"
    text += f"; resumes at {utc_text(schedule.resume_at)}" if schedule.resume_at else "; until resumed"
    return text


def runs_left_text(schedule: Schedule) -> str:
    """``unlimited``, ``3 left``, or ``none left (no more occurrences)``."""
    if schedule.remaining_runs is None:
        return "unlimited"
    if schedule.remaining_runs == 0:
        return "none left (no more occurrences)"
    return f"{schedule.remaining_runs} left"


#: Why a schedule lists no upcoming fire times (``upcoming_note``).
NO_RUNS_LEFT_NOTE = "No runs left (remaining_runs is 0): no more occurrences."
ENDED_NOTE = "No more fire times: the schedule has ended."


def upcoming_note(schedule: Schedule, upcoming: Sized) -> str | None:
    """Why ``upcoming`` (the schedule's next fire times, as a door lists them) is empty; None when it is not.

    The one wording of the admin's overview, the schedule page, the API's ``upcoming_note`` and
    ``celery -A project schedules next``: no runs left (``remaining_runs`` 0, whatever the timing
    says), else the schedule has ended (past its ``end_at``, or a one-off whose time is past).
    """
    if schedule.remaining_runs == 0:
        return NO_RUNS_LEFT_NOTE
    return None if len(upcoming) else ENDED_NOTE


def failures_text(schedule: Schedule) -> str:
    """The consecutive failures so far, against the limit when there is one: ``2 of 3``, ``2``, ``0``."""
    if schedule.pause_after_failures is None:
        return str(schedule.failure_streak)
    return f"{schedule.failure_streak} of {schedule.pause_after_failures} (pauses at {schedule.pause_after_failures})"


def deadline_text(schedule: Schedule) -> str:
    """``none``, or ``300 s after its scheduled time (a run not finished by then is overdue)``."""
    if schedule.deadline_seconds is None:
        return "none"
    return f"{schedule.deadline_seconds} s after its scheduled time (a run not finished by then is overdue)"


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment is not None else None


def paused_json(schedule: Schedule) -> dict[str, Any] | None:
    """``{"by", "at", "note", "resume_at"}`` of a paused schedule (ISO UTC times), else None."""
    if not schedule.paused:
        return None
    return {
        "by": schedule.paused_by,
        "at": iso(schedule.paused_at),
        "note": schedule.pause_note,
        "resume_at": iso(schedule.resume_at),
    }
