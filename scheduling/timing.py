"""The pure time core: when does a schedule fire?

Used by the beat, the admin preview, the API and the tests alike. Functions take the spec and
an aware ``after`` and return aware UTC datetimes; nothing here reads the clock or imports Django,
Celery, Redis or the rest of the project.

Kinds:

* ``cron``: 5 fields, or 6 with seconds first, or a macro (``@hourly``, ``@daily``, ...),
  matched in the schedule's IANA time zone. DST follows ISC/Vixie cron (``man 8 cron``): a job
  is *wildcard* when its minute or hour field starts with ``*``, otherwise *fixed-time*.
  - Clocks go back (a wall time happens twice): a fixed-time job runs in the first pass only;
    a wildcard job runs in both passes.
  - Clocks go forward (a wall time never happens): a fixed-time job whose time falls in the gap
    runs once, at the first instant after the gap; wildcard slots in the gap are not run.
* ``interval``: every ``interval_seconds`` of elapsed time (not wall time), anchored at
  ``start_at`` or, without one, at the Unix epoch, so every beat computes the same times.
* ``once``: ``run_at``.

``start_at`` and ``end_at`` bound every kind (both inclusive).
"""

from __future__ import annotations

import difflib
import hashlib
import heapq
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo, available_timezones

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

CRON = "cron"
INTERVAL = "interval"
ONCE = "once"
KINDS = (CRON, INTERVAL, ONCE)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_INTERVAL_SECONDS = 366 * 24 * 3600 * 10
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
#: Stop enumerating after this many cron candidates without a fire time (a spec that never fires).
_MAX_CANDIDATES = 100_000
_LAST_YEAR = 9000
_EPSILON = timedelta(microseconds=1)


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


def normalise_cron(expression: str) -> str:
    """Whitespace collapsed and macros expanded: the form the matcher uses."""
    text = " ".join(expression.split())
    return MACROS.get(text.lower(), text)


@lru_cache(maxsize=4096)
def validate_cron(expression: str) -> str | None:
    """None when ``expression`` is a valid 5- or 6-field (seconds first) cron, else what is wrong.

    Remembered per expression (it depends on nothing else): a YAML sync of thousands of entries
    validates the same few expressions over and over, at ~0.2 ms of parsing each.
    """
    if not expression or not expression.strip():
        return "is required for a cron schedule, e.g. '*/5 * * * *' (5 fields) or '0 */5 * * * *' (6, seconds first)"
    text = normalise_cron(expression)
    fields = text.split(" ")
    if text.startswith("@"):
        return f"unknown macro {expression.strip()!r}; use one of {', '.join(sorted(MACROS))}"
    if len(fields) not in (5, 6):
        return f"has {len(fields)} fields; expected 5 (minute hour day-of-month month day-of-week) or 6 (second first)"
    with_seconds = len(fields) == 6
    try:
        croniter(text, datetime(2000, 1, 1), second_at_beginning=with_seconds)  # noqa: DTZ001 (wall time)
    except (CroniterBadCronError, CroniterBadDateError, CroniterError, ValueError, KeyError) as exc:
        return f"is not a valid cron expression: {exc}"
    if not croniter.is_valid(text, strict=True, second_at_beginning=with_seconds):
        return "is not a valid cron expression: a field is out of range or the date can never happen"
    return None


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
        problem = validate_cron(spec.cron or "")
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
        source = _iter_cron(normalise_cron(spec.cron), ZoneInfo(spec.timezone or "UTC"), after)
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


_local = threading.local()
_CACHE_SIZE = 2048


def _matcher(expression: str) -> croniter:
    """A parsed croniter per expression and thread (parsing costs ~8x a match)."""
    cache: dict[str, croniter] | None = getattr(_local, "matchers", None)
    if cache is None:
        cache = _local.matchers = {}
    matcher = cache.get(expression)
    if matcher is None:
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        with_seconds = len(expression.split(" ")) == 6
        matcher = croniter(expression, datetime(2000, 1, 1), second_at_beginning=with_seconds)  # noqa: DTZ001
        cache[expression] = matcher
    return matcher


def is_wildcard(expression: str) -> bool:
    """Vixie cron's rule: a job is wildcard when its minute or hour field starts with ``*``."""
    fields = normalise_cron(expression).split(" ")
    minute, hour = (fields[1], fields[2]) if len(fields) == 6 else (fields[0], fields[1])
    return minute.startswith("*") or hour.startswith("*")


def _transition_instant(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """The instant in ``(before, after]`` where ``zone``'s UTC offset changes (whole seconds)."""
    low, high = int(before.timestamp()), int(after.timestamp())
    target = after.astimezone(zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(zone).utcoffset() == target:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _instants(local: datetime, zone: ZoneInfo, wildcard: bool) -> tuple[list[datetime], datetime]:
    """UTC instants of the naive wall time ``local``, and a lower bound for every later wall time's."""
    first = local.replace(tzinfo=zone, fold=0)
    second = local.replace(tzinfo=zone, fold=1)
    first_utc = first.astimezone(UTC)
    if first.utcoffset() == second.utcoffset():
        return [first_utc], first_utc
    second_utc = second.astimezone(UTC)
    if first_utc < second_utc:  # the wall time happens twice (clocks went back)
        return ([first_utc, second_utc] if wildcard else [first_utc]), first_utc
    # the wall time never happens (clocks went forward): fixed-time jobs run right after the gap
    transition = _transition_instant(second_utc, first_utc, zone)
    return ([] if wildcard else [transition]), transition


def _iter_cron(expression: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    matcher = _matcher(expression)
    wildcard = is_wildcard(expression)
    local_after = after.astimezone(zone)
    naive_after = local_after.replace(tzinfo=None)
    start = naive_after
    if local_after.fold == 0:
        other = naive_after.replace(tzinfo=zone, fold=1)
        shift = (local_after.utcoffset() or timedelta()) - (other.utcoffset() or timedelta())
        if shift > timedelta(0):  # ``after`` is in the first pass: the second pass is still ahead
            start = naive_after - shift
    matcher.set_current(start, force=True)
    pending: list[datetime] = []
    last: datetime | None = None
    for _ in range(_MAX_CANDIDATES):
        try:
            candidate: datetime = matcher.get_next(datetime)
        except (CroniterBadDateError, CroniterError, OverflowError):
            break
        if candidate.year > _LAST_YEAR:
            break
        instants, bound = _instants(candidate, zone, wildcard)
        for moment in instants:
            if moment > after:
                heapq.heappush(pending, moment)
        while pending and pending[0] <= bound:
            moment = heapq.heappop(pending)
            if moment != last:
                last = moment
                yield moment
                matcher.set_current(candidate, force=True)  # the consumer may have used the matcher
    while pending:
        moment = heapq.heappop(pending)
        if moment != last:
            last = moment
            yield moment


# --- jitter --------------------------------------------------------------------------------------


def jitter_offset(seed: str, fire_time: datetime, jitter_seconds: int, next_fire_time: datetime | None) -> timedelta:
    """A deterministic delay for one occurrence: uniform in ``[0, min(jitter_seconds, gap))``.

    ``gap`` is the time to ``next_fire_time`` (None: no later occurrence, no cap), so the delay
    never reaches the next occurrence, and a jitter as long as the gap or longer spreads the
    occurrences over the whole gap instead of piling them up at its end. Derived from ``seed``
    (the schedule's identity) and the occurrence, so every beat computes the same value.
    Resolution: milliseconds.
    """
    if jitter_seconds <= 0:
        return timedelta(0)
    span_ms = jitter_seconds * 1000
    if next_fire_time is not None:
        gap_ms = (next_fire_time - fire_time) // timedelta(milliseconds=1)
        span_ms = max(0, min(span_ms, gap_ms))
    digest = hashlib.blake2b(f"{seed}|{fire_time.astimezone(UTC).isoformat()}".encode(), digest_size=8).digest()
    fraction = int.from_bytes(digest, "big") / 2**64
    return timedelta(milliseconds=int(fraction * span_ms))


def last_fire_time_before(spec: TimingSpec, start: datetime, until: datetime, limit: int) -> datetime | None:
    """The last fire time in ``[start, until)``, or None; found by enumerating at most ``limit`` at a time.

    A window holding more than ``limit`` fire times is split in two and its later half searched
    first, so the work stays bounded by ``limit`` times the number of halvings.
    """
    if until <= start:
        return None
    times, more = fire_times_between(spec, start - _EPSILON, until - _EPSILON, limit)
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
    lower = after.astimezone(UTC)
    upper = until.astimezone(UTC)
    if spec.start_at is not None:
        lower = max(lower, spec.start_at.astimezone(UTC) - timedelta(microseconds=1))
    if spec.end_at is not None:
        upper = min(upper, spec.end_at.astimezone(UTC))
    if upper <= lower:
        return 0
    anchor = spec.start_at.astimezone(UTC) if spec.start_at else EPOCH
    return max(0, (upper - anchor) // step - (lower - anchor) // step)
