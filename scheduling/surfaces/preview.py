"""The fire-time preview of the schedule form (admin and ``/schedules/``): the schedule in words and
its next fire times in its zone and in UTC, each marked with the calendar that excludes it.

The live preview answers for the form as typed, through the same cleaning as the save
(``schedule_input``), without saving; the saved preview reads the stored fields and calendars.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scheduling.core import timing
from scheduling.core.calendars import CalendarSpec
from scheduling.models import Schedule
from scheduling.surfaces import describe, overview, schedule_input

PREVIEW_COUNT = 5
#: The fields whose errors a fire-time preview shows (the rest do not change when it fires).
TIMING_FORM_FIELDS = ("kind", "cron", "interval_seconds", "run_at", "timezone", "start_at", "end_at")


@dataclass(frozen=True, kw_only=True)
class Preview:
    """What the preview shows: the schedule in words and its next fire times, or why it cannot."""

    description: str = ""
    times: list[describe.FireTime] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "times": [
                {
                    "local": t.local,
                    "utc": t.utc_text,
                    "iso": t.utc.isoformat().replace("+00:00", "Z"),
                    "excluded": t.excluded,
                }
                for t in self.times
            ],
            "errors": self.errors,
            "note": self.note,
        }


def preview_spec(
    spec: timing.TimingSpec, *, now: datetime, enabled: bool = True, calendars: Sequence[CalendarSpec] = ()
) -> Preview:
    """The next ``PREVIEW_COUNT`` fire times of a valid spec after ``now``, in its zone and in UTC,
    each marked with the calendar that excludes it."""
    try:
        timing.validate_spec(spec)
    except timing.ValidationError as exc:
        return Preview(errors=exc.errors)
    times = describe.upcoming(spec, now, PREVIEW_COUNT, calendars)
    notes = [describe.excluded_note(times)] if any(time.excluded for time in times) else []
    if not times:
        notes.append("No more fire times: the schedule has ended (or its one run is in the past).")
    elif len(times) < PREVIEW_COUNT and spec.kind != timing.ONCE:
        notes.append(f"Only {len(times)} more fire time(s) before the schedule ends.")
    if not enabled:
        notes.append("The schedule is disabled: these are the times it would run once enabled.")
    return Preview(description=describe.describe(spec), times=times, note=" ".join(notes))


def preview_schedule(schedule: Schedule, *, now: datetime) -> Preview:
    """The preview of a saved schedule (its stored fields and calendars)."""
    return preview_spec(schedule, now=now, enabled=schedule.enabled, calendars=overview.calendar_specs(schedule))


def preview_form_data(
    data: Mapping[str, Any],
    *,
    now: datetime,
    instance: Schedule | None = None,
) -> Preview:
    """The preview of what a form would save, without saving: the live preview's answer.

    The timing fields are cleaned by the shared input and checked by the time core, so the errors
    are exactly those the save would show for them; the name or the job being wrong does not stop
    the preview.
    """
    raw = {name: data.get(name, "") for name in TIMING_FORM_FIELDS}
    values, errors = schedule_input.clean_partially(raw, instance=instance, now=now, unique_name=False)
    errors = {name: messages for name, messages in errors.items() if name in TIMING_FORM_FIELDS}
    if errors:
        return Preview(errors=errors)
    current = {name: getattr(instance, name) for name in TIMING_FORM_FIELDS} if instance is not None else {}
    spec = timing.Spec(**{**current, **{name: values[name] for name in TIMING_FORM_FIELDS if name in values}})
    enabled = str(data.get("enabled", "on")).lower() in ("on", "true", "1")
    chosen = data.getlist("calendars") if hasattr(data, "getlist") else data.get("calendars")
    if chosen is not None and "calendars" in data:  # the form's choice (ids or names) as typed
        calendars = overview.calendars_named(chosen if isinstance(chosen, list | tuple) else [chosen])
    else:
        calendars = overview.calendar_specs(instance) if instance is not None else []
    return preview_spec(spec, now=now, enabled=enabled, calendars=calendars)
