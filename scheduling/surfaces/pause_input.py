"""What the doors that are not the schedule form take for a pause: the note and the resume time as text.

``manage.py pause --until``, the API's ``resume_at`` and YAML's ``paused: {until: ...}`` all read the
resume time here: ISO 8601, and a time without an offset is a wall time in the schedule's own zone,
as at every door that takes a schedule's dates. The rules a pause must satisfy (a note is required,
the resume time must be ahead) are the engine's (``scheduling.engine.controls``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orchestrator.errors import ValidationError
from scheduling.surfaces import describe
from scheduling.surfaces.input_checks import shown, unstorable, year_problem

_NOT_A_TIME = (
    "is not a date and time: use ISO 8601, e.g. 2026-12-24T08:00:00Z (without an offset: in the schedule's zone)"
)


def until(value: Any, zone: str, *, field: str = "resume_at") -> datetime | None:
    """The aware resume time ``value`` gives (None for none); ``ValidationError`` naming ``field``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    moment = value
    if isinstance(value, str):
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            raise ValidationError({field: [f"{shown(value)} {_NOT_A_TIME}"]}) from None
    if not isinstance(moment, datetime):
        raise ValidationError({field: [f"{shown(value)} {_NOT_A_TIME}"]})
    problem = year_problem(moment.year)
    if problem:
        raise ValidationError({field: [problem]})
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=describe.zone_or_utc(zone))
    return moment.astimezone(UTC)


def note(value: Any, *, field: str = "note") -> str:
    """The note as text (the engine refuses a blank one); ``ValidationError`` naming ``field`` otherwise."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError({field: [f"must be text, not {shown(value)}"]})
    problem = unstorable(value)
    if problem:
        raise ValidationError({field: [problem]})
    return value.strip()
