"""Calendars as pure decisions: which fire times a calendar excludes, in its own zone, across DST."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from scheduling.core import timing
from scheduling.core.calendars import CalendarSpec, excluded_by, next_allowed, reason, upcoming, validate


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


WEEKENDS_BERLIN = CalendarSpec(name="weekends", timezone="Europe/Berlin", crons=("* * * * 6,0",))
CHRISTMAS_NY = CalendarSpec(name="christmas", timezone="America/New_York", dates=frozenset({date(2026, 12, 25)}))
MAINTENANCE = CalendarSpec(name="maintenance", crons=("* 2-3 * * *",))
TWO_AM_BERLIN = CalendarSpec(name="two-am", timezone="Europe/Berlin", crons=("* 2 * * *",))
SPRING_DAY_BERLIN = CalendarSpec(name="spring", timezone="Europe/Berlin", dates=frozenset({date(2026, 3, 29)}))
HALF_MINUTES = CalendarSpec(name="half-minutes", crons=("*/30 * * * * *",))
NOON = CalendarSpec(name="noon", crons=("0 12 * * *",))

# (what, calendar, instant, excluded?)
CASES = [
    # weekends in Berlin: 2026-12-05 is a Saturday
    ("Friday evening in Berlin", WEEKENDS_BERLIN, "2026-12-04T22:59Z", False),
    ("Saturday 00:00 in Berlin, still Friday in UTC", WEEKENDS_BERLIN, "2026-12-04T23:00Z", True),
    ("Saturday 00:30 in Berlin, Friday 23:30 UTC", WEEKENDS_BERLIN, "2026-12-04T23:30Z", True),
    ("Sunday 23:59 in Berlin", WEEKENDS_BERLIN, "2026-12-06T22:59Z", True),
    ("Monday 00:00 in Berlin, still Sunday in UTC", WEEKENDS_BERLIN, "2026-12-06T23:00Z", False),
    ("Saturday in summer time (UTC+2)", WEEKENDS_BERLIN, "2026-07-03T22:00Z", True),
    # whole local days in New York: 2026-12-25 runs 05:00Z to 05:00Z the next day
    ("Christmas Day in UTC, Christmas Eve in New York", CHRISTMAS_NY, "2026-12-25T02:00Z", False),
    ("the first instant of Christmas in New York", CHRISTMAS_NY, "2026-12-25T05:00Z", True),
    ("Christmas evening in New York, Boxing Day in UTC", CHRISTMAS_NY, "2026-12-26T03:00Z", True),
    ("the last minute of Christmas in New York", CHRISTMAS_NY, "2026-12-26T04:59Z", True),
    ("Boxing Day in New York", CHRISTMAS_NY, "2026-12-26T05:00Z", False),
    ("the same date a year later", CHRISTMAS_NY, "2027-12-25T12:00Z", False),
    # a 02:00-03:59 maintenance window
    ("a minute before the window", MAINTENANCE, "2026-06-01T01:59Z", False),
    ("the window opens", MAINTENANCE, "2026-06-01T02:00Z", True),
    ("the window's last second", MAINTENANCE, "2026-06-01T03:59:59.999Z", True),
    ("the window has closed", MAINTENANCE, "2026-06-01T04:00Z", False),
    # spring forward in Berlin, 2026-03-29: 02:00-02:59 never happens
    ("01:59 CET before the gap", TWO_AM_BERLIN, "2026-03-29T00:59Z", False),
    ("03:00 CEST right after the gap", TWO_AM_BERLIN, "2026-03-29T01:00Z", False),
    ("the first instant of the spring-forward day", SPRING_DAY_BERLIN, "2026-03-28T23:00Z", True),
    ("the evening before it", SPRING_DAY_BERLIN, "2026-03-28T22:59Z", False),
    ("its last minute (23:59 CEST)", SPRING_DAY_BERLIN, "2026-03-29T21:59Z", True),
    ("the next day (a 23-hour day ends at 22:00Z)", SPRING_DAY_BERLIN, "2026-03-29T22:00Z", False),
    # fall back in Berlin, 2026-10-25: 02:00-02:59 happens twice
    ("01:59 CEST before the repeat", TWO_AM_BERLIN, "2026-10-24T23:59Z", False),
    ("02:00 first pass (CEST)", TWO_AM_BERLIN, "2026-10-25T00:00Z", True),
    ("02:59 first pass (CEST)", TWO_AM_BERLIN, "2026-10-25T00:59Z", True),
    ("02:00 second pass (CET)", TWO_AM_BERLIN, "2026-10-25T01:00Z", True),
    ("02:59 second pass (CET)", TWO_AM_BERLIN, "2026-10-25T01:59Z", True),
    ("03:00 CET after the repeat", TWO_AM_BERLIN, "2026-10-25T02:00Z", False),
    # 6-field crons match to the second; 5-field ones to the minute
    ("second 30 of a 6-field cron", HALF_MINUTES, "2026-06-01T12:00:30Z", True),
    ("second 30 with microseconds", HALF_MINUTES, "2026-06-01T12:00:30.500Z", True),
    ("second 15 of a 6-field cron", HALF_MINUTES, "2026-06-01T12:00:15Z", False),
    ("second 45 of a 5-field 12:00", NOON, "2026-06-01T12:00:45Z", True),
    ("12:01 against a 5-field 12:00", NOON, "2026-06-01T12:01:00Z", False),
]


@pytest.mark.parametrize(("what", "calendar", "when", "expected"), CASES, ids=[c[0] for c in CASES])
def test_a_calendar_excludes_by_local_date_and_wall_time(what, calendar, when, expected):
    instant = utc(when)
    assert (excluded_by([calendar], instant) is calendar) is expected
    # the same instant given in another zone is the same decision
    assert (excluded_by([calendar], instant.astimezone(ZoneInfo("Asia/Tokyo"))) is calendar) is expected


XMAS_UTC = CalendarSpec(name="xmas", dates=frozenset({date(2026, 12, 25), date(2026, 12, 26)}))
WEEKENDS_UTC = CalendarSpec(name="weekends-utc", crons=("@weekly", "* * * * 6"))  # Sunday 00:00 and Saturdays

# (what, calendars in order, instant, name of the calendar that wins or None)
ORDER_CASES = [
    ("only the first matches", [XMAS_UTC, WEEKENDS_UTC], "2026-12-25T10:00Z", "xmas"),
    ("only the second matches", [XMAS_UTC, WEEKENDS_UTC], "2026-12-05T10:00Z", "weekends-utc"),
    ("both match: the first wins", [XMAS_UTC, WEEKENDS_UTC], "2026-12-26T10:00Z", "xmas"),
    ("both match, other order: the first wins", [WEEKENDS_UTC, XMAS_UTC], "2026-12-26T10:00Z", "weekends-utc"),
    ("a macro cron: Sunday 00:00", [XMAS_UTC, WEEKENDS_UTC], "2026-12-06T00:00Z", "weekends-utc"),
    ("Sunday 00:01 is not '@weekly'", [XMAS_UTC, WEEKENDS_UTC], "2026-12-06T00:01Z", None),
    ("none matches", [XMAS_UTC, WEEKENDS_UTC, MAINTENANCE], "2026-12-07T10:00Z", None),
    ("no calendars", [], "2026-12-26T10:00Z", None),
]


@pytest.mark.parametrize(("what", "calendars", "when", "winner"), ORDER_CASES, ids=[c[0] for c in ORDER_CASES])
def test_the_first_calendar_in_order_that_excludes_wins(what, calendars, when, winner):
    found = excluded_by(calendars, utc(when))
    assert (found.name if found else None) == winner


def test_the_reason_names_the_calendar_and_starts_with_excluded():
    assert reason(WEEKENDS_BERLIN) == "excluded by calendar 'weekends'"


def test_a_naive_instant_is_refused():
    with pytest.raises(ValueError, match="aware"):
        excluded_by([MAINTENANCE], datetime(2026, 6, 1, 2, 0))


EXPRESSIONS = [
    "* * * * 6,0",
    "*/7 2-5 * * *",
    "0 0 1,15 * 1",  # day of month and day of week both restricted: either (croniter's rule)
    "0 0 */2 * 1-5",
    "15 10 * JAN-MAR SUN",
    "* * L * *",  # last day of the month (croniter fallback)
    "* * * * 5#2",  # second Friday (croniter fallback)
    "*/30 * * * * *",
    "5-10 */15 3 * * *",
]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_the_compiled_matcher_agrees_with_croniter(expression):
    calendar = CalendarSpec(name="c", crons=(expression,))
    with_seconds = len(expression.split()) == 6
    rng = random.Random(expression)
    start = datetime(2026, 1, 1)
    for _ in range(3000):
        wall = start + timedelta(seconds=rng.randrange(366 * 86400))
        wall = wall.replace(second=rng.choice([0, 30, wall.second])) if with_seconds else wall.replace(second=0)
        expected = croniter.match(expression, wall, second_at_beginning=with_seconds)
        assert (excluded_by([calendar], wall.replace(tzinfo=UTC)) is calendar) == expected, wall


# (what, keyword overrides, {field: expected message fragments})
INVALID = [
    ("an impossible date", {"dates": ["2026-12-25", date(2026, 1, 1), "2026-02-30"]},
     {"dates": ["dates[2]: '2026-02-30' is not a date; use YYYY-MM-DD"]}),
    ("a date in another format", {"dates": ["25/12/2026"]}, {"dates": ["dates[0]: '25/12/2026' is not a date"]}),
    ("a compact ISO date", {"dates": ["20261225"]}, {"dates": ["dates[0]: '20261225' is not a date"]}),
    ("a datetime is not a whole day", {"dates": [datetime(2026, 12, 25, tzinfo=UTC)]}, {"dates": ["dates[0]: "]}),
    ("a number", {"dates": [20261225]}, {"dates": ["dates[0]: 20261225 is not a date"]}),
    ("a lone string for dates", {"dates": "2026-12-25"}, {"dates": ["must be a list, not str"]}),
    ("too few cron fields", {"crons": ["* * * * 6,0", "* * *"]}, {"crons": ["crons[1]: '* * *' has 3 fields"]}),
    ("a cron value out of range", {"crons": ["61 * * * *"]}, {"crons": ["crons[0]: '61 * * * *' is not a valid"]}),
    ("an unknown macro", {"crons": ["@often"]}, {"crons": ["crons[0]: '@often' unknown macro"]}),
    ("a blank cron", {"crons": ["  "]}, {"crons": ["crons[0]: '  ' is not a cron expression"]}),
    ("a cron that is not a string", {"crons": [5]}, {"crons": ["crons[0]: 5 is not a cron expression"]}),
    ("a misspelt zone", {"timezone": "Europe/Berln"}, {"timezone": ["unknown time zone 'Europe/Berln'", "Berlin"]}),
    ("no zone", {"timezone": ""}, {"timezone": ["is required"]}),
    ("an empty name", {"name": ""}, {"name": ["is required"]}),
    ("a blank name", {"name": "   "}, {"name": ["is required"]}),
    ("a long name", {"name": "x" * 101}, {"name": ["at most 100 characters, not 101"]}),
    ("everything at once", {"name": "", "timezone": "Mars/Base", "dates": ["x"], "crons": ["y"]},
     {"name": ["required"], "timezone": ["Mars/Base"], "dates": ["dates[0]: 'x'"], "crons": ["crons[0]: 'y'"]}),
]  # fmt: skip


@pytest.mark.parametrize(("what", "overrides", "expected"), INVALID, ids=[c[0] for c in INVALID])
def test_validate_names_the_field_and_the_index(what, overrides, expected):
    fields = {"name": "holidays", "timezone": "Europe/Berlin", "dates": [], "crons": []} | overrides
    with pytest.raises(timing.ValidationError) as caught:
        validate(**fields)
    assert set(caught.value.errors) == set(expected)
    for field, fragments in expected.items():
        text = " ".join(caught.value.errors[field])
        assert all(fragment in text for fragment in fragments), (field, text)


def test_validate_returns_normalised_dates_and_crons():
    dates, crons = validate(
        name="x" * 100,
        timezone="America/New_York",
        dates=[" 2026-12-25 ", date(2026, 12, 25), "2026-07-04"],
        crons=("@weekly", "*  2-3 * * *", "* 2-3 * * *", "0 */5 * * * *"),
    )
    assert dates == frozenset({date(2026, 12, 25), date(2026, 7, 4)})
    assert crons == ("0 0 * * 0", "* 2-3 * * *", "0 */5 * * * *")
    assert validate(name="empty", timezone="UTC", dates=[], crons=[]) == (frozenset(), ())


WEEKENDS_BERLIN_EXTRA = CalendarSpec(name="extra", timezone="Europe/Berlin", dates=frozenset({date(2026, 12, 8)}))
DAILY_NINE_BERLIN = timing.Spec(kind=timing.CRON, cron="0 9 * * *", timezone="Europe/Berlin")


def test_upcoming_marks_excluded_times_and_counts_them():
    # from Thursday 2026-12-03 10:00 Berlin: Fri, Sat, Sun, Mon, Tue (a holiday) at 09:00 (08:00Z)
    found = upcoming(DAILY_NINE_BERLIN, [WEEKENDS_BERLIN, WEEKENDS_BERLIN_EXTRA], utc("2026-12-03T09:00Z"), 5)
    assert [(at, calendar.name if calendar else None) for at, calendar in found] == [
        (utc("2026-12-04T08:00Z"), None),
        (utc("2026-12-05T08:00Z"), "weekends"),
        (utc("2026-12-06T08:00Z"), "weekends"),
        (utc("2026-12-07T08:00Z"), None),
        (utc("2026-12-08T08:00Z"), "extra"),
    ]
    assert upcoming(DAILY_NINE_BERLIN, [WEEKENDS_BERLIN], utc("2026-12-03T09:00Z"), 0) == []


def test_upcoming_is_short_when_the_schedule_ends():
    once = timing.Spec(kind=timing.ONCE, run_at=utc("2026-12-05T12:00Z"))
    found = upcoming(once, [WEEKENDS_BERLIN], utc("2026-12-01T00:00Z"), 10)
    assert found == [(utc("2026-12-05T12:00Z"), WEEKENDS_BERLIN)]


def test_a_time_moved_out_of_the_spring_gap_is_judged_where_it_happens():
    # "30 2 * * *" in Berlin fires at 03:00 CEST on 2026-03-29: a 02:xx calendar does not exclude it, a 03:xx one does
    spec = timing.Spec(kind=timing.CRON, cron="30 2 * * *", timezone="Europe/Berlin")
    three = CalendarSpec(name="three", timezone="Europe/Berlin", crons=("* 3 * * *",))
    assert upcoming(spec, [TWO_AM_BERLIN, three], utc("2026-03-28T12:00Z"), 2) == [
        (utc("2026-03-29T01:00Z"), three),
        (utc("2026-03-30T00:30Z"), TWO_AM_BERLIN),  # the next day 02:30 happens
    ]


# (what, spec, calendars, after, expected)
NEXT_ALLOWED = [
    ("a weekday is allowed", DAILY_NINE_BERLIN, [WEEKENDS_BERLIN], "2026-12-03T09:00Z", "2026-12-04T08:00Z"),
    ("Friday after nine skips the weekend", DAILY_NINE_BERLIN, [WEEKENDS_BERLIN], "2026-12-04T08:00Z",
     "2026-12-07T08:00Z"),
    ("the weekend and a holiday Monday", DAILY_NINE_BERLIN,
     [WEEKENDS_BERLIN, CalendarSpec(name="h", timezone="Europe/Berlin", dates=frozenset({date(2026, 12, 7)}))],
     "2026-12-04T08:00Z", "2026-12-08T08:00Z"),
    ("no calendars", DAILY_NINE_BERLIN, [], "2026-12-04T08:00Z", "2026-12-05T08:00Z"),
    ("a one-off whose only time is excluded", timing.Spec(kind=timing.ONCE, run_at=utc("2026-12-05T12:00Z")),
     [WEEKENDS_BERLIN], "2026-12-01T00:00Z", None),
    ("a one-off that is allowed", timing.Spec(kind=timing.ONCE, run_at=utc("2026-12-04T12:00Z")),
     [WEEKENDS_BERLIN], "2026-12-01T00:00Z", "2026-12-04T12:00Z"),
    ("an interval behind a 02:00-03:59 window", timing.Spec(kind=timing.INTERVAL, interval_seconds=1800),
     [MAINTENANCE], "2026-06-01T01:45Z", "2026-06-01T04:00Z"),
    ("a schedule that ends inside the weekend", timing.Spec(kind=timing.CRON, cron="0 9 * * *",
     timezone="Europe/Berlin", end_at=utc("2026-12-06T12:00Z")), [WEEKENDS_BERLIN], "2026-12-04T08:00Z", None),
    ("everything excluded: bounded by the limit", timing.Spec(kind=timing.INTERVAL, interval_seconds=60),
     [CalendarSpec(name="always", crons=("* * * * *",))], "2026-06-01T00:00Z", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "spec", "calendars", "after", "expected"), NEXT_ALLOWED, ids=[c[0] for c in NEXT_ALLOWED]
)
def test_next_allowed_skips_excluded_fire_times(what, spec, calendars, after, expected):
    assert next_allowed(spec, calendars, utc(after)) == (utc(expected) if expected else None)


def test_next_allowed_gives_up_after_limit_candidates():
    every_minute = timing.Spec(kind=timing.CRON, cron="* * * * *")
    assert next_allowed(every_minute, [MAINTENANCE], utc("2026-06-01T01:59Z"), limit=120) is None
    assert next_allowed(every_minute, [MAINTENANCE], utc("2026-06-01T01:59Z"), limit=121) == utc("2026-06-01T04:00Z")
