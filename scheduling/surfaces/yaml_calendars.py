"""Exclusion calendars defined in schedules files: read, then created or updated before the schedules.

A file that defines calendars is a mapping instead of a list::

    calendars:
      - name: berlin-holidays
        timezone: Europe/Berlin
        dates: [2026-12-25, 2026-12-26]
        crons: ["* * * * 6,0"]        # weekends
    schedules:
      - id: nightly-report
        job: noop
        cron: "0 2 * * *"
        calendars: [berlin-holidays]

The calendars are synced first, in the sync's transaction, so the schedules can name them. A
calendar entry is the whole truth about that calendar (a field left out takes its default); a
calendar no file defines any more is left as it is (other schedules, made elsewhere, may use it:
delete it in the admin or the API). Validation is the model's (``Calendar.clean``), each error
naming the file, line, entry and field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from orchestrator import audit
from orchestrator.errors import ValidationError
from scheduling.models import Calendar
from scheduling.surfaces import yaml_sections
from scheduling.surfaces.yaml_report import Change, Problem

FIELDS = ("description", "timezone", "dates", "crons")
KEYS = ("name", *FIELDS)
#: The keys of a file written as a mapping.
FILE_KEYS = ("calendars", "schedules", "notifications")


SECTION = yaml_sections.Section(
    key="calendars", noun="calendar", plural="calendars", example="name: ..., dates: ...", keys=KEYS, kept=FIELDS
)
CalendarEntry = yaml_sections.NamedEntry


def read(data: Any, node: yaml.Node, shown: str) -> tuple[list[CalendarEntry], list[Problem]]:
    """The calendar entries of a file's ``calendars:`` list, or the problems found in them."""
    return yaml_sections.read(SECTION, data, node, shown)


def duplicate_names(entries: Sequence[CalendarEntry]) -> list[Problem]:
    return yaml_sections.duplicate_names(SECTION, entries)


def apply(entries: Sequence[CalendarEntry]) -> tuple[list[Change], list[Problem]]:
    """Create or update each calendar (inside the caller's transaction); nothing is written on a problem."""
    existing = {
        row.name: row for row in Calendar.objects.select_for_update().filter(name__in=[e.name for e in entries])
    }
    changes: list[Change] = []
    problems: list[Problem] = []
    writes: list[tuple[CalendarEntry, Calendar]] = []
    for entry in entries:
        row = existing.get(entry.name)
        before = {name: getattr(row, name) for name in FIELDS} if row is not None else {}
        candidate = row if row is not None else Calendar(name=entry.name)
        candidate.description = entry.values.get("description") or ""
        candidate.timezone = entry.values.get("timezone", "UTC")
        candidate.dates = _dates(entry.values.get("dates", []))
        candidate.crons = entry.values.get("crons", [])
        try:
            candidate.clean()
        except ValidationError as exc:
            for key, messages in exc.errors.items():
                problems += [
                    Problem(path=entry.path, line=entry.line, entry=entry.index, name=entry.name, field=key, message=m)
                    for m in messages
                ]
            continue
        label = f"calendar {entry.name}"
        if row is None:
            changes.append(Change(action="create", name=label, path=entry.path))
            writes.append((entry, candidate))
            continue
        changed = tuple(
            (name, before[name], getattr(candidate, name))
            for name in FIELDS
            if before[name] != getattr(candidate, name)
        )
        if changed:
            changes.append(Change(action="update", name=label, path=entry.path, fields=changed))
            writes.append((entry, candidate))
        else:
            changes.append(Change(action="unchanged", name=label, path=entry.path))
    if not problems:
        for entry, candidate in writes:
            with audit.acting(f"yaml:{entry.path}", audit.YAML):
                problems += yaml_sections.save_each([(entry, candidate)])
    return changes, problems


def _dates(value: Any) -> Any:
    """YAML reads ``2026-12-25`` as a date: as text again, the model checks the rest."""
    if isinstance(value, list):
        return [
            item.isoformat() if hasattr(item, "isoformat") and not isinstance(item, str) else item for item in value
        ]
    return value
