"""A schedule's exclusion calendars as every door gives them: by name, checked once, saved with the schedule.

Calendars are a many-to-many relation, so a schedule that ``schedule_input.validate`` returns
(unsaved, or a copy of the stored one) cannot hold them yet: it carries the calendars it was
given (``given``), and ``save`` writes the schedule and then its calendars, in one transaction.
A door that did not receive ``calendars`` leaves them as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction

from scheduling.models import Calendar, Schedule
from scheduling.surfaces.input_checks import Errors, blank, shown

FIELD = "calendars"
_GIVEN = "_given_calendars"


def clean(value: Any, errors: Errors, known: Mapping[str, Calendar] | None = None) -> list[Calendar]:
    """The calendars named in ``value`` (a list of names, or of ``Calendar`` rows from a form).

    ``known``: the calendars by name, read once for many inputs (None: read here). An unknown name
    is refused naming it and the calendars there are; empty or null means none.
    """
    if blank(value):
        return []
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        errors.add(FIELD, f'must be a list of calendar names, e.g. ["holidays"], not {shown(value)}')
        return []
    items = list(value)
    names = [item for item in items if isinstance(item, str)]
    rows = dict(known) if known is not None else {row.name: row for row in Calendar.objects.filter(name__in=names)}
    found: dict[int, Calendar] = {}
    for item in items:
        if isinstance(item, Calendar):
            found.setdefault(item.pk, item)
        elif not isinstance(item, str) or not item.strip():
            errors.add(FIELD, f"must name calendars by their names (text), not {shown(item)}")
        elif item.strip() in rows:
            row = rows[item.strip()]
            found.setdefault(row.pk, row)
        else:
            errors.add(FIELD, f"unknown calendar {shown(item)}; calendars: {known_names()}")
    return list(found.values())


def known_names() -> str:
    return ", ".join(Calendar.objects.order_by("name").values_list("name", flat=True)) or "(none yet)"


def by_name(names: Iterable[Any]) -> dict[str, Calendar]:
    """The calendars among ``names`` (many inputs' names: one query)."""
    wanted = {name.strip() for name in names if isinstance(name, str)}
    return {row.name: row for row in Calendar.objects.filter(name__in=wanted)}


def remember(schedule: Schedule, calendars: list[Calendar]) -> None:
    """Note on an unsaved (or copied) schedule the calendars ``save`` gives it."""
    setattr(schedule, _GIVEN, list(calendars))


def given(schedule: Schedule) -> list[Calendar] | None:
    """The calendars the input gave the schedule (None: the input did not say)."""
    found: list[Calendar] | None = getattr(schedule, _GIVEN, None)
    return found


def names(schedule: Schedule) -> list[str]:
    """The schedule's calendar names, sorted (a prefetched relation costs no query)."""
    if not schedule.pk:
        return sorted(row.name for row in given(schedule) or ())
    return sorted(row.name for row in schedule.calendars.all())


def save(schedule: Schedule, **kwargs: Any) -> None:
    """Save the schedule, then set the calendars it was given (if any), in one transaction."""
    with transaction.atomic():
        schedule.save(**kwargs)
        attach(schedule)


def attach(schedule: Schedule) -> None:
    """Set a saved schedule's calendars to those it was given; nothing when it was given none."""
    calendars = given(schedule)
    if calendars is not None:
        schedule.calendars.set(calendars)
        delattr(schedule, _GIVEN)
