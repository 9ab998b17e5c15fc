"""A schedule's controls set from the command line (``manage.py schedules set NAME ...``).

The options become the raw input every door gives (``none`` is empty; a comma list names the
calendars), pass through the one validation path (``schedule_input.validate``: the model's rules,
the calendars looked up by name) and are saved like the API saves them (``calendar_input.save``),
as ``cli`` (``orchestrator.audit``: the audit trail's entry). An error names the option.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orchestrator import audit, constraints
from orchestrator.errors import ValidationError
from scheduling.models import Schedule
from scheduling.surfaces import calendar_input, schedule_input

#: Each control field's option.
OPTIONS = {
    "remaining_runs": "--remaining-runs",
    "pause_after_failures": "--pause-after-failures",
    "deadline_seconds": "--deadline-seconds",
    "calendars": "--calendars",
}
#: What an option says for "empty" (unlimited, never, no deadline, no calendars).
NONE = "none"


def raw_input(given: Mapping[str, str | None]) -> dict[str, Any]:
    """The fields given (an option left out is not in the result), as raw input for ``schedule_input``.

    ``none`` is empty for every option; ``--pause-after-failures 0`` is "never" too (the field's
    empty), and ``--calendars a,b`` names calendars by name.
    """
    raw: dict[str, Any] = {}
    for field, text in given.items():
        if text is None:
            continue
        value = text.strip()
        if value.lower() == NONE or (field == "pause_after_failures" and value == "0"):
            raw[field] = [] if field == "calendars" else None
        elif field == "calendars":
            raw[field] = [name.strip() for name in value.split(",") if name.strip()]
        else:
            raw[field] = value
    return raw


def option_errors(error: ValidationError) -> str:
    """``--remaining-runs: must be a whole number, not 'x'; --calendars: unknown calendar ...``."""
    return "; ".join(
        f"{OPTIONS.get(field, field)}: {message}" for field, messages in error.errors.items() for message in messages
    )


def shown(field: str, value: Any) -> str:
    if field == "calendars":
        return ",".join(value) or NONE
    return NONE if value is None else str(value)


def set_controls(schedule: Schedule, raw: Mapping[str, Any], *, now: datetime) -> list[tuple[str, str, str]]:
    """Validate and save the controls in ``raw`` on ``schedule``; the fields changed, each before and after.

    Raises ``ValidationError`` keyed by field (nothing saved) and ``ConstraintError`` when the row
    changed meanwhile in a way the database refuses. Nothing is written when nothing changes.
    """
    before = {field: _value(schedule, field) for field in raw}
    candidate = schedule_input.validate(raw, instance=schedule, now=now)
    after = {field: _value(candidate, field) for field in raw}
    changed = [(field, shown(field, before[field]), shown(field, after[field])) for field in raw]
    changed = [change for change in changed if change[1] != change[2]]
    if changed:
        with audit.acting(audit.CLI, audit.CLI), constraints.enforced():
            calendar_input.save(candidate)
    return changed


def _value(schedule: Schedule, field: str) -> Any:
    if field == "calendars":
        given = calendar_input.given(schedule)
        return sorted(row.name for row in given) if given is not None else calendar_input.names(schedule)
    return getattr(schedule, field)
