"""Celery's five crontab fields as one cron expression of ours that fires at the same times.

django-celery-beat's ``CrontabSchedule`` and ``celery.schedules.crontab`` give minute, hour, day
of month, month and day of week as Celery reads them (``crontab_parser``: names such as
``mon-fri`` and ``jan``, ranges that wrap such as ``fri-mon``, steps). Our cron (croniter, with
ISC/Vixie rules) reads most of that text alike, not all of it. So each field is parsed as Celery
parses it, and its text is kept (readable, and a ``*/2`` hour stays a wildcard for the DST rules)
only when our parser reads the whole expression to the same values; otherwise the values are
written out (``1-5``, ``0,15,30,45``). Two differences are more than spelling:

* **Day of week.** Celery counts 0 (Sunday) to 6 and refuses 7; django-celery-beat's form says
  "Sunday is 0 or 7". Both are read here, 7 as Sunday.
* **Day of month with day of week.** Celery runs when both match; cron when either matches
  (unless one is ``*``). An entry that restricts both cannot be one cron expression and is
  refused with that reason. A field covering every value is written ``*``, so a spelled-out
  "every day" (``1-31``) does not fall under cron's "either" rule.

The result passes our own cron validation (``scheduling.core.cron.validate_cron``) or is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from celery.schedules import ParseException, crontab_parser
from croniter import CroniterError, croniter

from scheduling.core.cron import validate_cron
from scheduling.surfaces.imports.report import Unmappable


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int

    @property
    def every(self) -> frozenset[int]:
        return frozenset(range(self.low, self.high + 1))


MINUTE = _Field("minute", 0, 59)
HOUR = _Field("hour", 0, 23)
DAY_OF_MONTH = _Field("day_of_month", 1, 31)
MONTH_OF_YEAR = _Field("month_of_year", 1, 12)
DAY_OF_WEEK = _Field("day_of_week", 0, 6)
FIELDS = (MINUTE, HOUR, DAY_OF_MONTH, MONTH_OF_YEAR, DAY_OF_WEEK)
#: Text both parsers read alike when they agree on its values: numbers, ``*``, lists, ranges, steps.
_PLAIN = re.compile(r"^[0-9*,/-]+$")


def _problem(field: _Field, spec: Any, why: object) -> Unmappable:
    return Unmappable(f"crontab {field.name} {spec!r} is not one Celery can read: {why}")


def values_of(field: _Field, spec: Any) -> frozenset[int]:
    """The values Celery reads in ``spec`` (text, a number, or numbers), Sunday as 0; ``Unmappable`` if none."""
    if isinstance(spec, bool):
        raise _problem(field, spec, "a number or text is expected")
    if isinstance(spec, int):
        found = {spec}
    elif isinstance(spec, str):
        text = "".join(spec.split()) or "*"
        count = 8 if field is DAY_OF_WEEK else field.high - field.low + 1  # 7 is Sunday to django-celery-beat
        try:
            found = set(crontab_parser(count, field.low).parse(text))
        except (ParseException, ValueError, KeyError, IndexError) as exc:
            raise _problem(field, spec, exc) from exc
    elif isinstance(spec, Iterable):
        found = set(spec)
        if not all(isinstance(value, int) and not isinstance(value, bool) for value in found):
            raise _problem(field, spec, "numbers are expected")
    else:
        raise _problem(field, spec, "a number or text is expected")
    if field is DAY_OF_WEEK:
        found = {0 if value == 7 else value for value in found}
    outside = sorted(value for value in found if not field.low <= value <= field.high)
    if outside or not found:
        raise _problem(field, spec, f"values must be {field.low} to {field.high}")
    return frozenset(found)


def render(values: Iterable[int]) -> str:
    """Values as cron writes them: ``1-5``, ``0,15,30,45``, ``0,6`` (runs of three or more as a range)."""
    ordered = sorted(set(values))
    parts: list[str] = []
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        if end - start >= 2:
            parts.append(f"{ordered[start]}-{ordered[end]}")
        else:
            parts.extend(str(value) for value in ordered[start : end + 1])
        start = end + 1
    return ",".join(parts)


def _read_by_us(expression: str) -> list[frozenset[int]] | None:
    """Each field's values as our cron reads ``expression``, or None when it cannot."""
    try:
        expanded, nth = croniter.expand(expression)
    except (CroniterError, ValueError, KeyError, IndexError):
        return None
    if nth:
        return None
    fields = []
    for field, values in zip(FIELDS, expanded, strict=True):
        if values == ["*"]:
            fields.append(field.every)
        else:
            fields.append(frozenset(int(value) % 7 if field is DAY_OF_WEEK else int(value) for value in values))
    return fields


def _hashable(spec: Any) -> Any:
    """``spec`` as a key of the cache: a set or list of numbers as a sorted tuple."""
    if isinstance(spec, str | int) or spec is None:
        return spec
    try:
        return tuple(sorted(spec))
    except TypeError:
        return repr(spec)  # not numbers: values_of refuses it, with the same words


def expression(minute: Any, hour: Any, day_of_month: Any, month_of_year: Any, day_of_week: Any) -> str:
    """The cron expression (``minute hour day-of-month month day-of-week``) for Celery's five fields.

    Raises ``Unmappable`` (the reason) for a field Celery cannot read, for day of month and day of
    week both restricted, and for anything our cron validation refuses. Remembered per fields: an
    import of thousands of rows has a few distinct crontabs (~0.7 ms each to work out).
    """
    found = _expression(*(_hashable(spec) for spec in (minute, hour, day_of_month, month_of_year, day_of_week)))
    if isinstance(found, Unmappable):
        raise Unmappable(str(found))
    return found


@lru_cache(maxsize=1024)
def _expression(minute: Any, hour: Any, day_of_month: Any, month_of_year: Any, day_of_week: Any) -> str | Unmappable:
    try:
        return _work_out(minute, hour, day_of_month, month_of_year, day_of_week)
    except Unmappable as refused:
        return refused


def _work_out(minute: Any, hour: Any, day_of_month: Any, month_of_year: Any, day_of_week: Any) -> str:
    specs = (minute, hour, day_of_month, month_of_year, day_of_week)
    values = [values_of(field, spec) for field, spec in zip(FIELDS, specs, strict=True)]
    if values[2] != DAY_OF_MONTH.every and values[4] != DAY_OF_WEEK.every:
        raise Unmappable(
            f"crontab restricts both day_of_month ({day_of_month}) and day_of_week ({day_of_week}): Celery runs "
            "it when both match, a cron expression when either matches, so it has no equivalent here"
        )
    rendered = ["*" if found == field.every else render(found) for field, found in zip(FIELDS, values, strict=True)]
    texts = list(rendered)
    for index, (field, spec, found) in enumerate(zip(FIELDS, specs, values, strict=True)):
        text = "".join(spec.split()) if isinstance(spec, str) else ""
        plain = _PLAIN.match(text) is not None and not (field is DAY_OF_WEEK and "7" in text)
        if found != field.every and plain:
            texts[index] = text
    kept = " ".join(texts)
    chosen = kept if _read_by_us(kept) == values else " ".join(rendered)
    problem = validate_cron(chosen)
    if problem:
        raise Unmappable(f"crontab as cron {chosen!r} {problem}")
    return chosen
