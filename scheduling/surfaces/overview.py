"""A schedule described: its recent occurrences, its upcoming fire times, its occurrence counts.

What ``GET /api/schedules/{id}/`` adds and what the admin's schedule page shows (DESIGN.md,
"Shapes"). Each part costs one query whatever the schedule's history holds: ``recent`` reads
the newest rows through the ``(schedule, -created_at)`` index, ``counts`` is one aggregate over
the newest ``COUNTED_OVER`` occurrences (and every buffered one), ``upcoming`` reads the
attached calendars (none when they are prefetched) and asks the pure core
(``calendars.upcoming``) for the times. Nothing here reads the clock: callers pass ``now``.

Decisions: ``recent`` is newest first by when the occurrence was written (the admin's and the
history's order; a backfill's old fire times show as recent work). ``upcoming`` counts from
``now`` (a paused or disabled schedule shows the times it would fire at once resumed); with
``remaining_runs`` it stops after that many times no calendar excludes (the beat creates no
occurrence past them), and a schedule with none left lists nothing. ``counts`` covers the newest
``COUNTED_OVER`` occurrences in the history's order, not the whole history: at 3 million rows a
count over all of them took 0.8 s on every page view, and counters kept as occurrences are written
would add a write (and a hot row) to each dispatch. What is waiting now (``buffered``) is counted in
full; every door says when the others cover only the newest (``window`` and ``counted_over_text``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TypedDict

from django.db.models import Q

from scheduling.core import calendars as calendar_core
from scheduling.core import timing
from scheduling.core.calendars import MAX_NAME_LENGTH
from scheduling.models import Calendar, Schedule, ScheduledRun
from scheduling.surfaces import describe
from scheduling.surfaces.input_checks import unstorable

LIMIT = 10
#: ``counts`` counts missed, skipped, excluded and overdue among this many newest occurrences.
COUNTED_OVER = 1000


class RunBrief(TypedDict):
    id: str
    status: str


class RecentItem(TypedDict):
    scheduled_for: str | None
    status: str
    reason: str
    trigger: str
    missed_count: int
    overdue: bool
    run: RunBrief | None


class UpcomingItem(TypedDict):
    at: str
    local: str
    excluded: str | None


class Counts(TypedDict):
    missed: int
    skipped: int
    excluded: int
    buffered: int
    overdue: int
    #: None: the counts cover the whole history; else ``COUNTED_OVER``: the history is longer and
    #: all but ``buffered`` cover its newest ``COUNTED_OVER`` occurrences.
    window: int | None


def iso_utc(moment: datetime) -> str:
    """``2026-12-07T09:00:00Z``: the API's own form of an aware datetime (DRF's)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def recent(schedule: Schedule, limit: int = LIMIT) -> list[RecentItem]:
    """The schedule's newest ``limit`` occurrences (newest first) with their outcome and run; one query."""
    rows = (
        ScheduledRun.objects.filter(schedule_id=schedule.pk)
        .order_by("-created_at", "-pk")
        .values_list(
            "scheduled_for", "status", "reason", "trigger", "missed_count", "overdue_at", "run_id", "run__status"
        )[:limit]
    )
    return [
        RecentItem(
            scheduled_for=iso_utc(scheduled_for) if scheduled_for else None,
            status=status,
            reason=reason,
            trigger=trigger,
            missed_count=missed_count,
            overdue=overdue_at is not None,
            run=RunBrief(id=str(run_id), status=run_status) if run_id else None,
        )
        for scheduled_for, status, reason, trigger, missed_count, overdue_at, run_id, run_status in rows
    ]


def calendar_specs(schedule: Schedule) -> list[calendar_core.CalendarSpec]:
    """The schedule's calendars as core values, in name order (no query when they are prefetched)."""
    if not schedule.pk:  # unsaved: no calendars yet
        return []
    return [calendar.spec() for calendar in sorted(schedule.calendars.all(), key=lambda c: c.name)]


def calendars_named(values: Iterable[object]) -> list[calendar_core.CalendarSpec]:
    """Calendars given by id or by name (a form's choices, a typed list), as core values; unknown ones left out."""
    # as typed into a form: only what could be a stored id or name is looked up (no NUL, no 10 kB, no "²")
    wanted = [
        text
        for text in (str(value).strip() for value in values)
        if text and len(text) <= MAX_NAME_LENGTH and not unstorable(text)
    ]
    if not wanted:
        return []
    ids = [int(value) for value in wanted if value.isascii() and value.isdigit() and len(value) <= 18]
    found = Calendar.objects.filter(Q(pk__in=ids) | Q(name__in=wanted)).order_by("name")
    return [calendar.spec() for calendar in found]


def upcoming(
    schedule: Schedule,
    limit: int = LIMIT,
    *,
    now: datetime,
    calendars: Sequence[calendar_core.CalendarSpec] | None = None,
) -> list[UpcomingItem]:
    """The next ``limit`` fire times after ``now``, each marked with the calendar that excludes it (or None).

    Excluded times count among the ``limit``. A schedule whose timing is invalid lists nothing.
    """
    if schedule.remaining_runs == 0:
        return []
    try:
        timing.validate_spec(schedule)
    except timing.ValidationError:
        return []
    specs = calendar_specs(schedule) if calendars is None else calendars
    zone = describe.zone_or_utc(schedule.timezone)
    found: list[UpcomingItem] = []
    allowed = 0
    for moment, calendar in calendar_core.upcoming(schedule, specs, now, limit):
        found.append(
            UpcomingItem(
                at=iso_utc(moment),
                local=moment.astimezone(zone).isoformat(),
                excluded=calendar.name if calendar is not None else None,
            )
        )
        allowed += calendar is None
        if schedule.remaining_runs is not None and allowed >= schedule.remaining_runs:
            break
    return found


def counts(schedule: Schedule) -> Counts:
    """Missed occurrences (a ``missed`` row may stand for many: ``missed_count``), skipped ones (of
    which ``excluded`` by a calendar) and overdue ones among the newest ``COUNTED_OVER`` occurrences,
    and every buffered one waiting; one aggregate query, bounded whatever the history holds."""
    totals = ScheduledRun.objects.outcome_counts(schedule.pk, newest=COUNTED_OVER)
    return Counts(
        missed=totals["missed"],
        skipped=totals["skipped"],
        excluded=totals["excluded"],
        buffered=totals["buffered"],
        overdue=totals["overdue"],
        window=COUNTED_OVER if totals["seen"] > COUNTED_OVER else None,
    )


def counted_over_text(found: Counts) -> str:
    """``""`` when the counts cover the whole history, else what they cover:
    ``missed, skipped and overdue of the newest 1,000 occurrences; buffered: all waiting``.

    The one wording of the counts' scope, for the admin and the schedules page (the API has ``window``).
    """
    if found["window"] is None:
        return ""
    return f"missed, skipped and overdue of the newest {found['window']:,} occurrences; buffered: all waiting"
