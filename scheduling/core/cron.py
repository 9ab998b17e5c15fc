"""Cron expressions matched in an IANA time zone, with ISC/Vixie cron's daylight-saving rules.

5 fields, or 6 with seconds first, or a macro (``@hourly``, ``@daily``, ...). A job is
*wildcard* when its minute or hour field starts with ``*``, otherwise *fixed-time* (``man 8 cron``):

* clocks go back (a wall time happens twice): a fixed-time job runs in the first pass only; a
  wildcard job runs in both passes;
* clocks go forward (a wall time never happens): a fixed-time job whose time falls in the gap
  runs once, at the first instant after the gap; wildcard slots in the gap are not run.

Matching is ``croniter``'s; the DST handling is ours, on UTC instants. Pure: no clock, no Django.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

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
#: Fire times stop at this year (near 9999 a zone's offset overflows Python's datetime range).
LAST_YEAR = 9000


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


def iter_cron(expression: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
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
        if candidate.year > LAST_YEAR:
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


# --- counting without enumerating ------------------------------------------------------------------

#: Around each change of the zone's offset by ``d``, fire times are walked one by one from ``d`` plus
#: this before it to as long after (``iter_cron``'s rules for the gap or the fold apply there); the
#: stretches between see each wall time once, none of the gap, so their wall times are counted.
_WALK_SLACK = timedelta(hours=1)
#: How far before and after a range its offset changes are looked for: more than any change (Samoa's of 2011: a day).
_LOOK_AROUND = timedelta(days=2)
_DAY = timedelta(days=1)


def _times_of_day(matcher: croniter) -> tuple[list[int], list[int], list[int]]:
    """The hours, minutes and seconds the expression fires at (the same on every matching day)."""
    expanded = matcher.expanded
    seconds: Sequence[object] = expanded[5] if len(expanded) > 5 else ["0"]

    def values(field: Sequence[object], top: int) -> list[int]:
        return list(range(top)) if field == ["*"] else sorted(int(str(v)) for v in field)

    return values(expanded[1], 24), values(expanded[0], 60), values(seconds, 60)


def _fired_by(times: tuple[list[int], list[int], list[int]], second_of_day: float) -> int:
    """How many of a day's fire times are at or before ``second_of_day`` (wall clock)."""
    hours, minutes, seconds = times
    found = 0
    for hour in hours:
        if hour * 3600 > second_of_day:
            break
        if hour * 3600 + 3599 <= second_of_day:
            found += len(minutes) * len(seconds)
            continue
        for minute in minutes:
            start = hour * 3600 + minute * 60
            if start > second_of_day:
                break
            found += sum(1 for second in seconds if start + second <= second_of_day)
    return found


def _wall_count(matcher: croniter, times: tuple[list[int], list[int], list[int]], low: datetime, high: datetime) -> int:
    """Matches with a naive wall time in ``(low, high]``: arithmetic when every day matches, else one
    matcher step per matching day."""
    per_day = len(times[0]) * len(times[1]) * len(times[2])
    if all(field == ["*"] for field in matcher.expanded[2:5]):  # every day of every month
        days = (high.date() - low.date()).days
        return days * per_day + _fired_by(times, _second_of_day(high)) - _fired_by(times, _second_of_day(low))
    count = 0
    day = datetime.combine(low.date(), datetime.min.time())
    while day <= high:
        matcher.set_current(day - timedelta(seconds=1), force=True)
        try:
            first: datetime = matcher.get_next(datetime)
        except (CroniterBadDateError, CroniterError, OverflowError):
            break
        day = datetime.combine(first.date(), datetime.min.time())
        if day > high or day.year > LAST_YEAR:
            break
        upper = per_day if day + _DAY <= high else _fired_by(times, _second_of_day(high))
        lower = _fired_by(times, _second_of_day(low)) if day <= low else 0
        count += upper - lower
        day += _DAY
    return count


def _second_of_day(moment: datetime) -> float:
    return moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(zone).utcoffset() or timedelta()


def _transitions(zone: ZoneInfo, low: datetime, high: datetime) -> list[datetime]:
    """The instants in ``(low, high]`` where ``zone``'s offset changes (at most one a day, as in every zone)."""
    found: list[datetime] = []
    before, offset = low, _offset(zone, low)
    while before < high:
        after = min(before + _DAY, high)
        changed = _offset(zone, after)
        if changed != offset:
            found.append(_transition_instant(before, after, zone))
            offset = changed
        before = after
    return found


def count_cron(expression: str, zone: ZoneInfo, after: datetime, until: datetime) -> int:
    """How many instants ``iter_cron`` yields in ``(after, until]``, with one matcher step a day, not one a fire time.

    Where the zone's offset is constant, instants and wall times correspond one to one, so the
    count is that of wall times (whole matching days at once); around an offset change the
    instants are walked with ``iter_cron`` itself (see ``_WALK_SLACK``). ``after`` and ``until`` are aware.
    """
    after, until = after.astimezone(UTC), until.astimezone(UTC)
    if until <= after:
        return 0
    walked: list[tuple[datetime, datetime]] = []
    for change in _transitions(zone, after - _LOOK_AROUND, until + _LOOK_AROUND):
        reach = abs(_offset(zone, change) - _offset(zone, change - timedelta(seconds=1))) + _WALK_SLACK
        low, high = max(after, change - reach), min(until, change + reach)
        if walked and low <= walked[-1][1]:
            walked[-1] = (walked[-1][0], max(walked[-1][1], high))
        elif low < high:
            walked.append((low, high))
    count, cursor = 0, after
    matcher = _matcher(expression)
    times = _times_of_day(matcher)
    for low, high in [*walked, (until, until)]:
        if cursor < low:  # a stretch of one offset: count its wall times
            offset = _offset(zone, cursor)
            wall_low, wall_high = ((moment + offset).replace(tzinfo=None) for moment in (cursor, low))
            count += _wall_count(matcher, times, wall_low, wall_high)
        for moment in iter_cron(expression, zone, max(low, cursor)):
            if moment > high:
                break
            count += 1
        cursor = max(cursor, high)
    return count
