"""Celery's crontab fields as our cron (``scheduling.surfaces.imports.cron_fields``): the same times, or a reason."""

from __future__ import annotations

import pytest

from scheduling.surfaces.imports.cron_fields import expression, render
from scheduling.surfaces.imports.report import Unmappable


@pytest.mark.parametrize(
    ("fields", "cron"),
    [
        (("*", "*", "*", "*", "*"), "* * * * *"),
        (("*/15", "9-17", "*", "*", "mon-fri"), "*/15 9-17 * * 1-5"),  # names written as numbers
        (("0", "0", "*", "*", "7"), "0 0 * * 0"),  # django-celery-beat's Sunday as 7
        (("0", "0", "*", "*", "5-7"), "0 0 * * 0,5,6"),
        (("0", "0", "*", "*", "0-7"), "0 0 * * *"),  # every day is *, not a restricted day of week
        (("0", "0", "*", "*", "fri-mon"), "0 0 * * 0,1,5,6"),  # Celery's ranges wrap
        (("0", "0", "1-31", "*", "1"), "0 0 * * 1"),  # every day of the month: cron's "either" rule must not apply
        (("0", "*/2", "*", "jan-mar", "*"), "0 */2 * 1-3 *"),
        ((" 0, 30 ", "2", "1,15", "*", "*"), "0,30 2 1,15 * *"),
        ((0, {1, 2}, "*", "*", "*"), "0 1,2 * * *"),  # a crontab given numbers and sets
        (("*/7", "*", "*", "*", "*/2"), "*/7 * * * */2"),
    ],
)
def test_fields_become_the_cron_expression_that_fires_at_the_same_times(fields: tuple, cron: str) -> None:
    assert expression(*fields) == cron


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (("0", "0", "1-7", "*", "1"), "crontab restricts both day_of_month (1-7) and day_of_week (1)"),
        (("60", "*", "*", "*", "*"), "crontab minute '60' is not one Celery can read: Invalid end range: 60 > 59."),
        (("0", "0", "32", "*", "*"), "crontab day_of_month '32' is not one Celery can read"),
        (("0", "0", "L", "*", "*"), "crontab day_of_month 'L' is not one Celery can read"),
        (("0", "0", "31", "2", "*"), "crontab as cron '0 0 31 2 *' is not a valid cron expression"),
        ((True, "*", "*", "*", "*"), "crontab minute True is not one Celery can read: a number or text is expected"),
    ],
)
def test_fields_that_have_no_cron_equivalent_say_why(fields: tuple, reason: str) -> None:
    with pytest.raises(Unmappable) as refused:
        expression(*fields)
    assert str(refused.value).startswith(reason)
    with pytest.raises(Unmappable):  # remembered, and refused again the same way
        expression(*fields)


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ([5], "5"),
        ([1, 2], "1,2"),
        ([1, 2, 3], "1-3"),
        ([0, 15, 30, 45], "0,15,30,45"),
        ([0, 1, 2, 5, 6, 9], "0-2,5,6,9"),
    ],
)
def test_values_are_written_with_ranges_of_three_or_more(values: list[int], text: str) -> None:
    assert render(values) == text
