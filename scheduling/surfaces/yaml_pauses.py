"""An entry's ``paused: {note: ..., until: ...}``: what a sync does about a schedule's pause.

* An entry with ``paused`` pauses its schedule (``paused_by`` is ``yaml:<file>``), whatever its
  ``enabled`` says; a changed note or ``until`` updates a pause the same file made. An ``until``
  that has passed means that pause is over: the schedule is not paused again by the next sync.
* An entry without ``paused`` resumes its schedule only if the same file paused it (the pause was
  taken out of the file). A pause made anywhere else (the admin, the API, the CLI, or the schedule
  itself after failures) is left alone: a sync never undoes a person's pause, and while a schedule
  is paused the sync leaves its ``enabled`` alone.

``plan`` decides per entry, before the writes; ``carry_out`` acts after them, through the service
every door calls (events, the next run on resume). A dry run plans and reports but does not act.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from orchestrator import audit
from orchestrator.errors import ValidationError
from scheduling.models import Schedule
from scheduling.surfaces import control_state, pause_input, pausing
from scheduling.surfaces.yaml_read import Entry

Act = Literal["pause", "resume", "renote"]


@dataclass(frozen=True, kw_only=True)
class Intent:
    name: str
    act: Act
    by: str
    note: str = ""
    until: datetime | None = None
    #: The entry says ``enabled: false``: resumed (the pause is over), then disabled.
    then_disable: bool = False


def plan(
    entry: Entry, row: Schedule | None, wanted: dict[str, Any], *, now: datetime, fail: Callable[[str, str], None]
) -> tuple[Intent | None, tuple[str, Any, Any] | None]:
    """What the sync does about the entry's pause, and the change to report; adjusts ``wanted["enabled"]``."""
    ours = pausing.yaml_actor(entry.path)
    paused = row is not None and row.paused
    before = control_state.pause_text(row) if row is not None and paused else ""
    if entry.paused is None:
        if not paused or row is None:
            return None, None
        enabled = wanted.pop("enabled", True)  # a pause owns enabled
        if row.paused_by != ours:
            return None, None  # someone else's pause: never undone by a sync
        return Intent(name=entry.name, act="resume", by=ours, then_disable=not enabled), ("paused", before, "")
    try:
        note = pause_input.note(entry.paused.get("note"), field="paused.note")
        until = pause_input.until(entry.paused.get("until"), str(wanted.get("timezone") or "UTC"), field="paused.until")
    except ValidationError as exc:
        for key, messages in exc.errors.items():
            for message in messages:
                fail(key, message)
        return None, None
    if paused and row is not None:
        wanted.pop("enabled", None)
        if row.paused_by != ours or (row.pause_note == note and row.resume_at == until):
            return None, None
        intent = Intent(name=entry.name, act="renote", by=ours, note=note, until=until)
        return intent, ("paused", before, _text(note, until))
    if until is not None and until <= now:
        return None, None  # that pause is over (it resumed at until): not paused again
    wanted["enabled"] = True  # paused wins over enabled: false
    return Intent(name=entry.name, act="pause", by=ours, note=note, until=until), ("paused", "", _text(note, until))


def _text(note: str, until: datetime | None) -> str:
    return note + (f" (until {control_state.utc_text(until)})" if until else "")


def carry_out(intents: Sequence[Intent], ids: Mapping[str, int], *, now: datetime, act: bool = True) -> None:
    """Pause, resume or re-note each schedule as planned (inside the sync's transaction); ``act=False``
    (a dry run): nothing, so no event tells of a pause that is rolled back."""
    if not act:
        return
    for intent in intents:
        pk = ids[intent.name]
        if intent.act == "pause":
            pausing.pause([pk], note=intent.note, by=intent.by, until=intent.until, now=now)
        elif intent.act == "resume":
            pausing.resume([pk], by=intent.by, now=now)
            if intent.then_disable:
                Schedule.objects.filter(pk=pk).set_enabled(False, now=now)
        else:
            audit.update(
                Schedule.objects.filter(pk=pk, enabled=False, paused_by=intent.by),
                pause_note=intent.note,
                resume_at=intent.until,
            )
