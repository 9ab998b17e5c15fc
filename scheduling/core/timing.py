"""When does a schedule fire? Fire times of cron, interval and one-off specs, as aware UTC datetimes.

Used by the beat, the previews, the API and the tests alike. Functions take the spec and an aware
``after`` and return aware UTC datetimes; nothing here reads the clock or imports Django, Celery,
Redis or the rest of the project.

Kinds:

* ``cron``: matched in the schedule's IANA time zone, DST per ISC/Vixie cron (see ``cron``).
* ``interval``: every ``interval_seconds`` of elapsed time (not wall time), anchored at
  ``start_at`` or, without one, at the Unix epoch, so every beat computes the same times.
* ``once``: ``run_at``.

``start_at`` and ``end_at`` bound every kind (both inclusive).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo, available_timezones

from scheduling.core import cron as crons


class Kind(StrEnum):
    """How a schedule's fire times are defined."""

    CRON = "cron"
    INTERVAL = "interval"
    ONCE = "once"

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        """``(value, label)`` pairs, for model and form fields."""
        return [(member.value, member.label) for member in cls]


_KIND_LABELS = {Kind.CRON: "cron", Kind.INTERVAL: "fixed interval", Kind.ONCE: "one-off"}


CRON = Kind.CRON
INTERVAL = Kind.INTERVAL
ONCE = Kind.ONCE
KINDS = tuple(Kind)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_INTERVAL_SECONDS = 366 * 24 * 3600 * 10
EPSILON = timedelta(microseconds=1)


class TimingSpec(Protocol):
    """Anything with a Schedule's timing fields: a ``Schedule`` row or a ``Spec`` value."""

    @property
    def kind(self) -> str: ...
    @property
    def cron(self) -> str: ...
    @property
    def interval_seconds(self) -> int | None: ...
    @property
    def run_at(self) -> datetime | None: ...
    @property
    def timezone(self) -> str: ...
    @property
    def start_at(self) -> datetime | None: ...
    @property
    def end_at(self) -> datetime | None: ...


@dataclass(frozen=True, kw_only=True)
class Spec:
    """A frozen timing spec (the fields ``TimingSpec`` names)."""

    kind: str
    cron: str = ""
    interval_seconds: int | None = None
    run_at: datetime | None = None
    timezone: str = "UTC"
    start_at: datetime | None = None
    end_at: datetime | None = None


class ValidationError(ValueError):
    """Invalid timing fields, keyed by field name: ``errors = {"cron": ["..."]}``."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()))


# --- validation ----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_timezone(name: str) -> str | None:
    """None when ``name`` is a known IANA zone, else a message with a hint."""
    if not name:
        return "is required: an IANA time zone name such as UTC or Europe/Berlin"
    if name in _zone_names():
        return None
    close = difflib.get_close_matches(name, sorted(_zone_names()), n=3, cutoff=0.6)
    lowered = {zone.lower(): zone for zone in _zone_names()}
    if name.lower() in lowered:
        close = [lowered[name.lower()]]
    hint = f" Did you mean {' or '.join(close)}?" if close else " Use an IANA name such as Europe/Berlin."
    return f"unknown time zone {name!r}.{hint}"


def _aware(value: datetime | None) -> bool:
    return value is None or (value.tzinfo is not None and value.utcoffset() is not None)


def validate_spec(spec: TimingSpec) -> None:
    """Raise ``ValidationError`` keyed by field for anything invalid; return None when valid."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if spec.kind not in KINDS:
        add("kind", f"must be one of {', '.join(KINDS)}, not {spec.kind!r}")
    problem = validate_timezone(spec.timezone or "")
    if problem:
        add("timezone", problem)
    if spec.kind == CRON:
        problem = crons.validate_cron(spec.cron or "")
        if problem:
            add("cron", problem)
    elif spec.kind == INTERVAL:
        seconds = spec.interval_seconds
        if seconds is None or isinstance(seconds, bool) or not isinstance(seconds, int):
            add("interval_seconds", "is required for an interval schedule: a whole number of seconds")
        elif seconds <= 0:
            add("interval_seconds", f"must be a positive number of seconds, not {seconds}")
        elif seconds > MAX_INTERVAL_SECONDS:
            add("interval_seconds", f"must be at most {MAX_INTERVAL_SECONDS} seconds (10 years)")
    elif spec.kind == ONCE and spec.run_at is None:
        add("run_at", "is required for a one-off schedule")
    for field in ("run_at", "start_at", "end_at"):
        if not _aware(getattr(spec, field)):
            add(field, "must include a time zone (an aware datetime)")
    bounded = spec.start_at and spec.end_at and _aware(spec.start_at) and _aware(spec.end_at)
    if bounded and spec.end_at <= spec.start_at:  # type: ignore[operator]
        add("end_at", "must be after start_at")
    if errors:
        raise ValidationError(errors)


# --- fire times ----------------------------------------------------------------------------------


def next_fire_times(spec: TimingSpec, after: datetime, count: int = 1) -> list[datetime]:
    """The next ``count`` fire times strictly after the aware ``after``, as aware UTC datetimes.

    Fewer (or none) when the schedule ends. The spec must be valid (see ``validate_spec``).
    """
    times: list[datetime] = []
    if count <= 0:
        return times
    for moment in iter_fire_times(spec, after):
        times.append(moment)
        if len(times) >= count:
            break
    return times


def fire_times_between(spec: TimingSpec, after: datetime, until: datetime, limit: int) -> tuple[list[datetime], bool]:
    """Fire times in ``(after, until]``, oldest first, at most ``limit``; and whether more remain."""
    times, more, _ = fire_times_window(spec, after, until, limit)
    return times, more


def fire_times_window(
    spec: TimingSpec, after: datetime, until: datetime, limit: int
) -> tuple[list[datetime], bool, datetime | None]:
    """``fire_times_between``, plus the first fire time after ``until``: found by the same walk.

    The third value is None when the schedule has no later fire time, and when more than
    ``limit`` remained (the walk stopped before ``until``). Cron results are remembered per
    expression, zone, bounds and window: a burst is typically many schedules sharing a few
    expressions, all due at the same minute, and one croniter step costs ~65 µs.
    """
    if spec.kind == CRON:
        times, more, following = _cron_window(
            spec.cron, spec.timezone or "UTC", spec.start_at, spec.end_at, after, until, limit
        )
        return list(times), more, following
    return _window(spec, after, until, limit)


def _window(
    spec: TimingSpec, after: datetime, until: datetime, limit: int
) -> tuple[list[datetime], bool, datetime | None]:
    times: list[datetime] = []
    for moment in iter_fire_times(spec, after):
        if moment > until:
            return times, False, moment
        if len(times) >= limit:
            return times, True, None
        times.append(moment)
    return times, False, None


@lru_cache(maxsize=4096)
def _cron_window(
    cron: str,
    zone: str,
    start_at: datetime | None,
    end_at: datetime | None,
    after: datetime,
    until: datetime,
    limit: int,
) -> tuple[tuple[datetime, ...], bool, datetime | None]:
    spec = Spec(kind=CRON, cron=cron, timezone=zone, start_at=start_at, end_at=end_at)
    times, more, following = _window(spec, after, until, limit)
    return tuple(times), more, following


def iter_fire_times(spec: TimingSpec, after: datetime) -> Iterator[datetime]:
    """Every fire time strictly after ``after`` in order, lazily (infinite for cron and interval)."""
    if after.tzinfo is None:
        raise ValueError("after must be an aware datetime")
    after = after.astimezone(UTC)
    start = spec.start_at.astimezone(UTC) if spec.start_at else None
    end = spec.end_at.astimezone(UTC) if spec.end_at else None
    if start is not None and after < start:
        after = start - timedelta(microseconds=1)
    if spec.kind == INTERVAL:
        source = _iter_interval(int(spec.interval_seconds or 0), start or EPOCH, after)
    elif spec.kind == ONCE:
        source = iter([spec.run_at.astimezone(UTC)] if spec.run_at and spec.run_at > after else [])
    elif spec.kind == CRON:
        source = crons.iter_cron(crons.normalise_cron(spec.cron), ZoneInfo(spec.timezone or "UTC"), after)
    else:
        raise ValueError(f"unknown kind {spec.kind!r}")
    for moment in source:
        if end is not None and moment > end:
            return
        yield moment


def _iter_interval(seconds: int, anchor: datetime, after: datetime) -> Iterator[datetime]:
    if seconds <= 0:
        return
    step = timedelta(seconds=seconds)
    moment = anchor + ((after - anchor) // step + 1) * step
    while True:
        yield moment
        moment += step


def last_fire_time_before(spec: TimingSpec, start: datetime, until: datetime, limit: int) -> datetime | None:
    """The last fire time in ``[start, until)``, or None; found by enumerating at most ``limit`` at a time.

    A window holding more than ``limit`` fire times is split in two and its later half searched
    first, so the work stays bounded by ``limit`` times the number of halvings.
    """
    if until <= start:
        return None
    times, more = fire_times_between(spec, start - EPSILON, until - EPSILON, limit)
    if not more:
        return times[-1] if times else None
    middle = until - (until - start) / 2
    if middle <= start or middle >= until:
        return times[-1]  # a window too short to split: the best found so far
    return last_fire_time_before(spec, middle, until, limit) or last_fire_time_before(spec, start, middle, limit)


def count_fire_times(spec: TimingSpec, after: datetime, until: datetime) -> int | None:
    """How many fire times fall in ``(after, until]``, computed without enumerating them.

    Exact for interval and one-off schedules; None for cron (whose count needs enumeration).
    """
    if until <= after:
        return 0
    if spec.kind == ONCE:
        return len(fire_times_between(spec, after, until, 1)[0])
    if spec.kind != INTERVAL or not spec.interval_seconds:
        return None
    step = timedelta(seconds=spec.interval_seconds)
    lower, upper = _within_start_and_end(spec, after, until)
    if upper <= lower:
        return 0
    anchor = spec.start_at.astimezone(UTC) if spec.start_at else EPOCH
    return max(0, (upper - anchor) // step - (lower - anchor) // step)


def _within_start_and_end(spec: TimingSpec, after: datetime, until: datetime) -> tuple[datetime, datetime]:
    """``(after, until]`` in UTC, narrowed to the schedule's ``[start_at, end_at]``."""
    lower, upper = after.astimezone(UTC), until.astimezone(UTC)
    if spec.start_at is not None:
        lower = max(lower, spec.start_at.astimezone(UTC) - timedelta(microseconds=1))
    if spec.end_at is not None:
        upper = min(upper, spec.end_at.astimezone(UTC))
    return lower, upper


def count_cron_fire_times(spec: TimingSpec, after: datetime, until: datetime) -> int:
    """A cron schedule's fire times in ``(after, until]``, within its start and end: ``cron.count_cron``.

    Exact, a day at a time (not a fire time at a time); its cost grows with the range's length in
    days, so a caller counting an unbounded range does it in stretches (``backfill_times``).
    """
    lower, upper = _within_start_and_end(spec, after, until)
    if upper <= lower:
        return 0
    return crons.count_cron(crons.normalise_cron(spec.cron), ZoneInfo(spec.timezone or "UTC"), lower, upper)
