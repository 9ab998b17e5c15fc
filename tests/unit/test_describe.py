"""Schedules in words and fire times in two zones (pure: no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from scheduling.core.calendars import CalendarSpec
from scheduling.surfaces import describe
from scheduling.timing import Spec


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "every second"),
        (45, "every 45 seconds"),
        (60, "every minute"),
        (90, "every 1 minute 30 seconds"),
        (300, "every 5 minutes"),
        (3600, "every hour"),
        (5400, "every 1 hour 30 minutes"),
        (7200, "every 2 hours"),
        (86400, "every day"),
        (172800, "every 2 days"),
        (90061, "every 1 day 1 hour 1 minute 1 second"),
    ],
)
def test_intervals_read_as_words(seconds: int, words: str) -> None:
    assert describe.describe_interval(seconds) == words


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("*/5 * * * *", "Every 5 minutes"),
        ("0 2 * * *", "At 02:00"),
        ("30 2 * * 1-5", "At 02:30, Monday through Friday"),
        ("*/10 * * * * *", "Every 10 seconds"),  # 6 fields: seconds first, like the matcher
        ("15 30 2 * * *", "At 02:30:15"),
        ("@daily", "At 00:00"),
        ("@hourly", "Every hour"),
    ],
)
def test_cron_reads_as_words(expression: str, words: str) -> None:
    assert describe.describe_cron(expression) == words


def test_cron_words_carry_the_zone_and_bounds() -> None:
    spec = Spec(
        kind="cron",
        cron="0 9 * * *",
        timezone="Europe/Berlin",
        start_at=datetime(2030, 1, 1, tzinfo=UTC),
        end_at=datetime(2030, 7, 1, tzinfo=UTC),
    )
    assert describe.describe(spec) == (
        "At 09:00 (Europe/Berlin), from 2030-01-01 01:00:00 CET, until 2030-07-01 02:00:00 CEST"
    )


def test_interval_and_one_off_words() -> None:
    assert describe.describe(Spec(kind="interval", interval_seconds=300)) == "every 5 minutes"
    once = Spec(kind="once", run_at=datetime(2030, 12, 1, 8, tzinfo=UTC), timezone="Europe/Berlin")
    assert describe.describe(once) == "once at 2030-12-01 09:00:00 CET (Europe/Berlin)"
    assert describe.describe(Spec(kind="once", run_at=datetime(2030, 12, 1, 8, tzinfo=UTC))) == (
        "once at 2030-12-01 08:00:00 UTC"
    )


def test_words_never_fail_on_what_they_cannot_word() -> None:
    assert describe.describe_cron("not a cron") == "cron not a cron"
    assert describe.describe(Spec(kind="cron", cron="*/5 * * * *", timezone="Mars/Olympus")).endswith("(Mars/Olympus)")


def test_upcoming_fire_times_are_shown_in_the_zone_and_in_utc_across_dst() -> None:
    spec = Spec(kind="cron", cron="0 9 * * *", timezone="Europe/Berlin")
    times = describe.upcoming(spec, datetime(2026, 3, 27, tzinfo=UTC), 3)
    assert [(t.local, t.utc_text) for t in times] == [
        ("2026-03-27 09:00:00 CET", "2026-03-27 08:00:00 UTC"),
        ("2026-03-28 09:00:00 CET", "2026-03-28 08:00:00 UTC"),
        ("2026-03-29 09:00:00 CEST", "2026-03-29 07:00:00 UTC"),  # clocks went forward that night
    ]
    assert all(t.utc.tzinfo is UTC for t in times)


def test_upcoming_stops_when_the_schedule_ends() -> None:
    spec = Spec(
        kind="interval",
        interval_seconds=3600,
        start_at=datetime(2030, 1, 1, tzinfo=UTC),
        end_at=datetime(2030, 1, 1, 2, tzinfo=UTC),
    )
    times = describe.upcoming(spec, datetime(2029, 1, 1, tzinfo=UTC), 5)
    assert [t.utc_text for t in times] == [
        "2030-01-01 00:00:00 UTC",
        "2030-01-01 01:00:00 UTC",
        "2030-01-01 02:00:00 UTC",
    ]


@pytest.mark.parametrize(
    ("zone", "after", "marks"),
    [
        # Berlin weekends, read in Berlin: Sat 28 and Sun 29 March 2026 (clocks go forward on the 29th)
        ("Europe/Berlin", datetime(2026, 3, 27, tzinfo=UTC), [None, "weekends", "weekends", None]),
        # the same calendar read in Tokyo: 09:00 Berlin Friday is 17:00 Friday in Tokyo, not a weekend
        ("Asia/Tokyo", datetime(2026, 3, 27, tzinfo=UTC), [None, "weekends", "weekends", None]),
        # autumn: Berlin leaves summer time on Sunday 25 October 2026
        ("Europe/Berlin", datetime(2026, 10, 23, tzinfo=UTC), [None, "weekends", "weekends", None]),
    ],
)
def test_upcoming_marks_the_calendar_that_excludes_each_time(zone: str, after: datetime, marks: list) -> None:
    weekends = CalendarSpec(name="weekends", timezone=zone, crons=("* * * * 6,0",))
    holiday = CalendarSpec(name="holiday", timezone="Europe/Berlin", dates=frozenset({date(2026, 12, 24)}))
    spec = Spec(kind="cron", cron="0 9 * * *", timezone="Europe/Berlin")
    times = describe.upcoming(spec, after, 4, (holiday, weekends))
    assert [t.excluded for t in times] == marks, "excluded times count among the four"
    note = describe.excluded_note(times)
    assert note.startswith("2 of these times are excluded by a calendar (weekends)")
    assert describe.excluded_note(times[:1]) == ""


def test_a_whole_date_excludes_the_local_day() -> None:
    holiday = CalendarSpec(name="christmas-eve", timezone="Europe/Berlin", dates=frozenset({date(2026, 12, 24)}))
    spec = Spec(kind="cron", cron="30 23 * * *", timezone="UTC")  # 00:30 the next day in Berlin
    times = describe.upcoming(spec, datetime(2026, 12, 22, tzinfo=UTC), 3, (holiday,))
    assert [(t.utc_text, t.excluded) for t in times] == [
        ("2026-12-22 23:30:00 UTC", None),
        ("2026-12-23 23:30:00 UTC", "christmas-eve"),
        ("2026-12-24 23:30:00 UTC", None),
    ]
    assert (
        describe.excluded_note(times) == "1 of these times is excluded by a calendar (christmas-eve): "
        "recorded skipped, never run."
    )
