"""Pausing and resuming, as every door (admin, schedules page, API, YAML sync, CLI) calls them.

The work is the engine's (``scheduling.engine.controls``: the compare-and-set, the event, the next
run on resume); this module adds what the doors share around it: who acted, as ``paused_by``
records them, and the admin history's wording.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from scheduling.engine import controls
from scheduling.models import Schedule
from scheduling.surfaces import control_state

#: ``paused_by`` of a pause made by ``manage.py pause``.
CLI = "cli"


def yaml_actor(source_path: str) -> str:
    """``paused_by`` of a pause a YAML file asks for: ``yaml:<file>`` (the file as ``source_path`` records it)."""
    return f"yaml:{source_path}"


def actor(user: Any) -> str:
    """The username ``paused_by`` records for a logged-in user (or an API token's user)."""
    name = user.get_username() if user is not None and hasattr(user, "get_username") else ""
    return str(name or "unknown")


def pause(
    schedule_ids: Sequence[int], *, note: str, by: str, until: datetime | None = None, now: datetime | None = None
) -> int:
    """Pause the enabled schedules among ``schedule_ids``; how many. ``ValidationError`` (``note``,
    ``resume_at``) when the note is blank or the resume time is not after now."""
    return controls.pause(schedule_ids, note=note, by=by, until=until, now=now)


def resume(schedule_ids: Sequence[int], *, by: str, now: datetime | None = None) -> int:
    """Resume the paused schedules among ``schedule_ids``; how many. What fell due while paused follows
    each schedule's misfire policy."""
    return controls.resume(schedule_ids, by=by, now=now)


def set_enabled(schedule_ids: Sequence[int], enabled: bool, *, by: str, now: datetime | None = None) -> int:
    """Enable or disable schedules, as the enable and disable actions of every door do; how many changed.

    Enabling a paused schedule resumes it (``resume``: the ``schedule_resumed`` event keeps its
    note and says who), so an "Enable" click is never a resume the event log misses.
    """
    if not enabled:
        return Schedule.objects.filter(pk__in=list(schedule_ids)).set_enabled(False, now=now)
    paused = list(
        Schedule.objects.filter(pk__in=list(schedule_ids)).filter(control_state.PAUSED).values_list("pk", flat=True)
    )
    resumed = resume(paused, by=by, now=now) if paused else 0
    others = Schedule.objects.filter(pk__in=list(schedule_ids)).exclude(pk__in=paused)
    return resumed + others.set_enabled(True, now=now)


def resume_before_enabling(schedule: Schedule, *, by: str, now: datetime | None = None) -> None:
    """An edit (a form, a PATCH) that switches a paused schedule on: resume it first, with its event.

    The edit then saves the rest; without this the model would clear the pause silently.
    """
    if (
        schedule.pk
        and schedule.enabled
        and Schedule.objects.filter(pk=schedule.pk).filter(control_state.PAUSED).exists()
    ):
        resume([schedule.pk], by=by, now=now)


def history_message(word: str, schedule: Schedule, *, where: str = "") -> str:
    """The admin history's entry for a pause or a resume, with the note (``Paused: deploy freeze``).

    ``where``: how it was done when not in the admin or on the pages (`` through the API``).
    """
    if word == "Paused":
        until = f" until {control_state.utc_text(schedule.resume_at)}" if schedule.resume_at else ""
        return f"Paused{where}{until}: {schedule.pause_note}"
    note = f" (the pause's note was: {schedule.pause_note})" if schedule.pause_note else ""
    return f"{word}{where}{note}."
