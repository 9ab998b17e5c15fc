"""Schedules in words and times in two zones, for people (the admin, the schedules page).

Pure like ``scheduling.timing``: functions of the spec and the datetimes they are given; nothing
here reads the clock or the database. Cron expressions are put into words by ``cron-descriptor``
(one parser for the words, ``croniter`` for the times: the words never decide when a job runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import ExpressionDescriptor, Options

from scheduling.core import calendars, cron, timing

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def zone_or_utc(name: str) -> tzinfo:
    """The IANA zone ``name``, or UTC when it is empty or unknown (display must never fail)."""
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def describe_interval(seconds: int) -> str:
    """``every 5 minutes``, ``every hour``, ``every 1 hour 30 minutes``, ``every 45 seconds``."""
    if seconds <= 0:
        return f"every {seconds} seconds (invalid)"
    parts: list[tuple[int, str]] = []
    remaining = seconds
    for unit, size in _UNITS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append((count, unit))
    if len(parts) == 1:
        count, unit = parts[0]
        return f"every {unit}" if count == 1 else f"every {count} {unit}s"
    return "every " + " ".join(f"{count} {unit}{'' if count == 1 else 's'}" for count, unit in parts)


def describe_cron(expression: str) -> str:
    """``Every 5 minutes``, ``At 02:30, Monday through Friday``; the expression itself when it cannot."""
    text = cron.normalise_cron(expression)
    options = Options()
    options.use_24hour_time_format = True
    options.verbose = False
    try:
        return str(ExpressionDescriptor(text, options).get_description())
    except Exception:  # cron-descriptor raises bare Exception subclasses for what it cannot word
        return f"cron {expression.strip()}"


def managed_note(source: str, source_path: str) -> str:
    """What the admin and the schedules page say of a schedule another tool writes (``""`` for none).

    ``source`` is ``Schedule.source``: YAML sync, the Celery app's ``beat_schedule`` (code) and the
    django-celery-beat import each write back what they own the next time they run.
    """
    if source == "yaml":
        return (
            f"This schedule is managed by YAML sync ({source_path or 'unknown file'}): edits made here are "
            "overwritten by the next sync. Change the YAML file instead."
        )
    if source == "code":
        return (
            "This schedule is defined in code, in the Celery app's beat_schedule: edits to its task, arguments "
            "and timing made here are overwritten by the next sync (when a beat starts, or by manage.py "
            "sync_beat_schedule). Change the code instead."
        )
    if source == "celery_beat":
        return (
            "This schedule was imported from django-celery-beat: running manage.py import_celery_beat again "
            "overwrites edits to its task, arguments, timing and description made here."
        )
    return ""


def format_local(moment: datetime, zone: tzinfo) -> str:
    """``2026-11-23 10:00:00 CET``: the wall time in ``zone`` with its abbreviation."""
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname() or ''}".strip()


def format_utc(moment: datetime) -> str:
    """``2026-11-23 09:00:00 UTC``."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def describe(spec: timing.TimingSpec) -> str:
    """The schedule in words, with its time zone where the zone matters (cron and one-off).

    ``Every 5 minutes (Europe/Berlin)``, ``every 5 minutes``, ``once at 2026-12-01 09:00:00 CET
    (Europe/Berlin)``. Bounds are appended: ``…, from 2026-01-01 00:00:00 UTC until …``.
    """
    zone = zone_or_utc(spec.timezone)
    if spec.kind == timing.CRON:
        words = f"{describe_cron(spec.cron or '')} ({spec.timezone or 'UTC'})"
    elif spec.kind == timing.INTERVAL:
        words = describe_interval(int(spec.interval_seconds or 0))
    elif spec.kind == timing.ONCE:
        words = f"once at {format_local(spec.run_at, zone)}" if spec.run_at else "once (no time set)"
        if spec.timezone and spec.timezone != "UTC":
            words += f" ({spec.timezone})"
    else:
        return f"unknown kind {spec.kind!r}"
    if spec.kind != timing.ONCE:
        if spec.start_at:
            words += f", from {format_local(spec.start_at, zone)}"
        if spec.end_at:
            words += f", until {format_local(spec.end_at, zone)}"
    return words


@dataclass(frozen=True, kw_only=True)
class FireTime:
    """One upcoming fire time, as the schedule's zone and UTC show it."""

    utc: datetime
    local: str
    utc_text: str
    zone: str
    #: The name of the calendar that excludes this time (the beat records it skipped), or None.
    excluded: str | None = None


def upcoming(
    spec: timing.TimingSpec,
    after: datetime,
    count: int = 5,
    exclusions: Sequence[calendars.CalendarSpec] = (),
) -> list[FireTime]:
    """The next ``count`` fire times strictly after ``after`` (fewer when the schedule ends), each
    marked with the first of ``exclusions`` that excludes it; excluded times count among ``count``.

    The spec must be valid (``timing.validate_spec``).
    """
    zone = zone_or_utc(spec.timezone)
    return [
        FireTime(
            utc=moment,
            local=format_local(moment, zone),
            utc_text=format_utc(moment),
            zone=spec.timezone,
            excluded=calendar.name if calendar is not None else None,
        )
        for moment, calendar in calendars.upcoming(spec, exclusions, after, count)
    ]


def excluded_note(times: Sequence[FireTime]) -> str:
    """``2 of these times are excluded by a calendar: …`` (empty when none is)."""
    excluded = [time for time in times if time.excluded]
    if not excluded:
        return ""
    names = ", ".join(sorted({str(time.excluded) for time in excluded}))
    return (
        f"{len(excluded)} of these times {'is' if len(excluded) == 1 else 'are'} excluded by a calendar ({names}): "
        "recorded skipped, never run."
    )
