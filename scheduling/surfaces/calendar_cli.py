"""Exclusion calendars from the command line (``manage.py calendars list|set|delete``).

``set`` creates the calendar or changes the fields given (an option left out keeps its value;
``none`` empties the dates or the crons); validation is the model's (``Calendar.clean``), as in
the admin, the pages, the API and YAML, and an error names the option. Every write is the
``cli``'s in the audit trail (``orchestrator.audit``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from orchestrator import audit, constraints
from orchestrator.errors import ValidationError
from scheduling.models import Calendar
from scheduling.surfaces.input_checks import unstorable

#: Each field's option (``name`` is the command's argument).
OPTIONS = {
    "name": "NAME",
    "description": "--description",
    "timezone": "--timezone",
    "dates": "--date",
    "crons": "--cron",
}
FIELDS = ("description", "timezone", "dates", "crons")
NONE = "none"


def option_errors(error: ValidationError) -> str:
    """``--date: dates[0]: '2026-02-30' is not a date; use YYYY-MM-DD; --timezone: ...``."""
    return "; ".join(
        f"{OPTIONS.get(field, field)}: {message}" for field, messages in error.errors.items() for message in messages
    )


def calendars() -> list[Calendar]:
    """Every calendar by name, with its schedules (two queries)."""
    return list(Calendar.objects.prefetch_related("schedules").order_by("name"))


def as_json(rows: Sequence[Calendar]) -> str:
    return json.dumps(
        [
            {
                "name": row.name,
                "description": row.description,
                "timezone": row.timezone,
                "dates": list(row.dates or []),
                "crons": list(row.crons or []),
                "schedules": sorted(schedule.name for schedule in row.schedules.all()),
            }
            for row in rows
        ],
        indent=2,
    )


def table(rows: Sequence[Calendar]) -> list[str]:
    """Fixed-width lines with a header: name, time zone, dates, crons, the schedules attached."""
    lines = [("NAME", "TIMEZONE", "DATES", "CRONS", "SCHEDULES")]
    for row in rows:
        schedules = ",".join(sorted(schedule.name for schedule in row.schedules.all()))
        crons = "; ".join(row.crons or [])
        lines.append((row.name, row.timezone, ",".join(row.dates or []) or "-", crons or "-", schedules or "-"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines]


def given_fields(
    *, description: str | None, timezone: str | None, dates: list[str] | None, crons: list[str] | None
) -> dict[str, Any]:
    """The fields the options give (a list option given as ``none`` alone: empty)."""
    given: dict[str, Any] = {}
    if description is not None:
        given["description"] = description
    if timezone is not None:
        given["timezone"] = timezone.strip()
    for field, items in (("dates", dates), ("crons", crons)):
        if items is not None:
            given[field] = [] if [item.strip().lower() for item in items] == [NONE] else [i.strip() for i in items]
    return given


def set_calendar(name: str, given: Mapping[str, Any]) -> tuple[str, list[tuple[str, Any, Any]]]:
    """Create the calendar ``name`` or change the fields in ``given``: (``created``, ``changed`` or
    ``unchanged``, each field changed with its value before and after). Raises ``ValidationError``
    keyed by field; nothing is written then."""
    _refuse_unstorable({"name": name, **given})
    with transaction.atomic():
        row = Calendar.objects.select_for_update().filter(name=name.strip()).first()
        candidate = row if row is not None else Calendar(name=name.strip())
        before = {field: getattr(candidate, field) for field in FIELDS}
        for field, value in given.items():
            setattr(candidate, field, value)
        candidate.clean()
        changes = [(f, before[f], getattr(candidate, f)) for f in FIELDS if before[f] != getattr(candidate, f)]
        if row is not None and not changes:
            return "unchanged", []
        with audit.acting(audit.CLI, audit.CLI), constraints.enforced():
            candidate.save()
    return ("created" if row is None else "changed"), changes


def delete_calendar(name: str) -> list[str] | None:
    """Delete the calendar ``name`` (detached from its schedules): the schedules it was attached to,
    or None when there is no such calendar."""
    _refuse_unstorable({"name": name})
    with transaction.atomic():
        row = Calendar.objects.select_for_update().filter(name=name.strip()).first()
        if row is None:
            return None
        schedules = sorted(schedule.name for schedule in row.schedules.all())
        with audit.acting(audit.CLI, audit.CLI):
            row.delete()
    return schedules


def _refuse_unstorable(values: Mapping[str, Any]) -> None:
    """Text PostgreSQL cannot store (a command line may carry undecodable bytes as lone surrogates)."""
    errors: dict[str, list[str]] = {}
    for field, value in values.items():
        problem = unstorable(value)
        if problem:
            errors[field] = [problem]
    if errors:
        raise ValidationError(errors)
