"""The pure time core: cron in IANA zones across DST (Vixie rules), seconds, intervals, one-offs, bounds."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduling.core import timing
from scheduling.core.cron import is_wildcard
from scheduling.core.jitter import jitter_offset
from scheduling.timing import Spec, ValidationError, next_fire_times, validate_spec


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def cron(expression: str, zone: str = "UTC", start_at: datetime | None = None, end_at: datetime | None = None) -> Spec:
    return Spec(kind="cron", cron=expression, timezone=zone, start_at=start_at, end_at=end_at)


# (zone, expression, after, expected fire times in UTC): both transitions in three zones.
DST_CASES = [
    # Europe/Berlin, clocks forward 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z)
    ("Europe/Berlin", "30 2 * * *", "2026-03-28T12:00Z", ["2026-03-29T01:00Z", "2026-03-30T00:30Z"]),
    (
        "Europe/Berlin",
        "30 * * * *",
        "2026-03-28T23:45Z",
        ["2026-03-29T00:30Z", "2026-03-29T01:30Z", "2026-03-29T02:30Z"],
    ),
    (
        "Europe/Berlin",
        "*/15 * * * *",
        "2026-03-29T00:40Z",
        ["2026-03-29T00:45Z", "2026-03-29T01:00Z", "2026-03-29T01:15Z"],
    ),
    # Europe/Berlin, clocks back 2026-10-25 03:00 CEST -> 02:00 CET (01:00Z)
    ("Europe/Berlin", "30 2 * * *", "2026-10-24T12:00Z", ["2026-10-25T00:30Z", "2026-10-26T01:30Z"]),
    ("Europe/Berlin", "30 2 * * *", "2026-10-25T01:10Z", ["2026-10-26T01:30Z"]),  # second pass: no rerun
    (
        "Europe/Berlin",
        "30 * * * *",
        "2026-10-24T23:45Z",
        ["2026-10-25T00:30Z", "2026-10-25T01:30Z", "2026-10-25T02:30Z"],
    ),
    (
        "Europe/Berlin",
        "*/15 * * * *",
        "2026-10-25T00:50Z",
        ["2026-10-25T01:00Z", "2026-10-25T01:15Z", "2026-10-25T01:30Z"],
    ),
    # America/New_York, forward 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z)
    ("America/New_York", "30 2 * * *", "2026-03-07T12:00Z", ["2026-03-08T07:00Z", "2026-03-09T06:30Z"]),
    ("America/New_York", "30 * * * *", "2026-03-08T06:00Z", ["2026-03-08T06:30Z", "2026-03-08T07:30Z"]),
    (
        "America/New_York",
        "*/15 * * * *",
        "2026-03-08T06:40Z",
        ["2026-03-08T06:45Z", "2026-03-08T07:00Z", "2026-03-08T07:15Z"],
    ),
    # America/New_York, back 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z)
    ("America/New_York", "30 1 * * *", "2026-10-31T12:00Z", ["2026-11-01T05:30Z", "2026-11-02T06:30Z"]),
    (
        "America/New_York",
        "0 * * * *",
        "2026-11-01T04:30Z",
        ["2026-11-01T05:00Z", "2026-11-01T06:00Z", "2026-11-01T07:00Z"],
    ),
    (
        "America/New_York",
        "*/15 * * * *",
        "2026-11-01T05:50Z",
        ["2026-11-01T06:00Z", "2026-11-01T06:15Z", "2026-11-01T06:30Z"],
    ),
    # Australia/Sydney, forward 2026-10-04 02:00 AEST -> 03:00 AEDT (2026-10-03T16:00Z)
    ("Australia/Sydney", "30 2 * * *", "2026-10-03T00:00Z", ["2026-10-03T16:00Z", "2026-10-04T15:30Z"]),
    (
        "Australia/Sydney",
        "0 * * * *",
        "2026-10-03T14:30Z",
        ["2026-10-03T15:00Z", "2026-10-03T16:00Z", "2026-10-03T17:00Z"],
    ),
    (
        "Australia/Sydney",
        "*/15 * * * *",
        "2026-10-03T15:40Z",
        ["2026-10-03T15:45Z", "2026-10-03T16:00Z", "2026-10-03T16:15Z"],
    ),
    # Australia/Sydney, back 2026-04-05 03:00 AEDT -> 02:00 AEST (2026-04-04T16:00Z)
    ("Australia/Sydney", "30 2 * * *", "2026-04-04T00:00Z", ["2026-04-04T15:30Z", "2026-04-05T16:30Z"]),
    (
        "Australia/Sydney",
        "0 * * * *",
        "2026-04-04T14:30Z",
        ["2026-04-04T15:00Z", "2026-04-04T16:00Z", "2026-04-04T17:00Z"],
    ),
    (
        "Australia/Sydney",
        "*/15 * * * *",
        "2026-04-04T15:50Z",
        ["2026-04-04T16:00Z", "2026-04-04T16:15Z", "2026-04-04T16:30Z"],
    ),
]


@pytest.mark.parametrize(("zone", "expression", "after", "expected"), DST_CASES)
def test_cron_across_dst_follows_vixie_cron(zone, expression, after, expected):
    assert next_fire_times(cron(expression, zone), utc(after), len(expected)) == [utc(t) for t in expected]


@pytest.mark.parametrize(
    ("zone", "start"),
    [
        ("Europe/Berlin", "2026-03-25T00:00Z"),
        ("Europe/Berlin", "2026-10-21T00:00Z"),
        ("America/New_York", "2026-03-05T00:00Z"),
        ("America/New_York", "2026-10-29T00:00Z"),
        ("Australia/Sydney", "2026-04-01T00:00Z"),
        ("Australia/Sydney", "2026-10-01T00:00Z"),
    ],
)
@pytest.mark.parametrize("expression", ["0 9 * * *", "30 2 * * *", "0 1 * * *", "59 23 * * *"])
def test_daily_job_runs_once_a_day_across_both_transitions(zone, start, expression):
    times = next_fire_times(cron(expression, zone), utc(start), 8)
    local_days = [t.astimezone(ZoneInfo(zone)).date() for t in times]
    assert len(local_days) == len(set(local_days)) == 8
    assert [b - a for a, b in itertools.pairwise(local_days)] == [timedelta(days=1)] * 7


def test_wildcard_every_fifteen_minutes_runs_both_passes_of_the_repeated_hour():
    times = next_fire_times(cron("*/15 * * * *", "Europe/Berlin"), utc("2026-10-24T23:59Z"), 12)
    # 02:00-02:45 CEST, then 02:00-02:45 CET again, then 03:00 CET...: elapsed 15 minutes between all
    assert [b - a for a, b in itertools.pairwise(times)] == [timedelta(minutes=15)] * 11


def test_six_fields_have_seconds_first():
    after = utc("2026-01-01T00:00:00Z")
    assert next_fire_times(cron("*/20 * * * * *"), after, 3) == [
        utc("2026-01-01T00:00:20Z"),
        utc("2026-01-01T00:00:40Z"),
        utc("2026-01-01T00:01:00Z"),
    ]
    assert next_fire_times(cron("30 0 12 * * *", "Asia/Tokyo"), after, 1) == [utc("2026-01-01T03:00:30Z")]


def test_macros_are_accepted():
    assert next_fire_times(cron("@hourly"), utc("2026-01-01T00:10Z"), 1) == [utc("2026-01-01T01:00Z")]
    assert next_fire_times(cron("@daily", "Asia/Kolkata"), utc("2026-01-01T00:00Z"), 1) == [utc("2026-01-01T18:30Z")]


def test_results_are_strictly_after_and_aware_utc():
    after = utc("2026-01-01T00:05:00Z")
    times = next_fire_times(cron("*/5 * * * *", "Europe/Berlin"), after, 2)
    assert times == [utc("2026-01-01T00:10Z"), utc("2026-01-01T00:15Z")]
    assert all(t.tzinfo is UTC for t in times)
    with pytest.raises(ValueError, match="aware"):
        next_fire_times(cron("* * * * *"), datetime(2026, 1, 1), 1)


def test_interval_follows_elapsed_time_anchored_at_the_epoch_or_start():
    every_five_minutes = Spec(kind="interval", interval_seconds=300)
    assert next_fire_times(every_five_minutes, utc("2026-01-01T00:03:10Z"), 2) == [
        utc("2026-01-01T00:05Z"),
        utc("2026-01-01T00:10Z"),
    ]
    anchored = Spec(kind="interval", interval_seconds=3600, start_at=utc("2026-03-29T00:20Z"))
    # elapsed hours, whatever the wall clock does in Berlin that night
    assert next_fire_times(anchored, utc("2026-03-28T00:00Z"), 3) == [
        utc("2026-03-29T00:20Z"),
        utc("2026-03-29T01:20Z"),
        utc("2026-03-29T02:20Z"),
    ]


def test_once_fires_once():
    spec = Spec(kind="once", run_at=utc("2026-05-01T10:00Z"))
    assert next_fire_times(spec, utc("2026-04-30T00:00Z"), 3) == [utc("2026-05-01T10:00Z")]
    assert next_fire_times(spec, utc("2026-05-01T10:00Z"), 1) == []


def test_start_and_end_bound_every_kind():
    start, end = utc("2026-01-01T00:10Z"), utc("2026-01-01T00:30Z")
    for spec in (
        cron("*/10 * * * *", start_at=start, end_at=end),
        Spec(kind="interval", interval_seconds=600, start_at=start, end_at=end),
    ):
        assert next_fire_times(spec, utc("2026-01-01T00:00Z"), 10) == [
            utc("2026-01-01T00:10Z"),
            utc("2026-01-01T00:20Z"),
            utc("2026-01-01T00:30Z"),
        ]
        assert next_fire_times(spec, end, 1) == []
    assert next_fire_times(Spec(kind="once", run_at=utc("2026-02-01T00:00Z"), end_at=end), start, 1) == []


def test_fire_times_between_is_bounded_and_says_when_more_remain():
    spec = Spec(kind="interval", interval_seconds=1)
    times, more = timing.fire_times_between(spec, utc("2026-01-01T00:00Z"), utc("2026-01-11T00:00Z"), 5)
    assert len(times) == 5 and more
    times, more = timing.fire_times_between(spec, utc("2026-01-01T00:00Z"), utc("2026-01-01T00:00:03Z"), 5)
    assert len(times) == 3 and not more


def test_count_fire_times_is_exact_for_intervals_without_enumerating():
    spec = Spec(kind="interval", interval_seconds=1)
    ten_days = timing.count_fire_times(spec, utc("2026-01-01T00:00Z"), utc("2026-01-11T00:00Z"))
    assert ten_days == 10 * 86400
    assert timing.count_fire_times(cron("* * * * *"), utc("2026-01-01T00:00Z"), utc("2026-01-02T00:00Z")) is None


@pytest.mark.parametrize(
    ("expression", "zone", "after", "until", "expected"),
    [
        ("* * * * *", "UTC", "2026-01-01T00:00Z", "2026-03-11T10:39Z", 100_000 - 1),  # (after, until]
        ("* * * * *", "Europe/Berlin", "2026-03-28T00:00Z", "2026-03-30T00:00Z", 2 * 1440),  # no gap in UTC
        ("30 2 * * *", "Europe/Berlin", "2026-03-28T00:00Z", "2026-03-31T00:00Z", 3),  # 02:30 in the gap: once
        ("30 1 * * *", "America/New_York", "2026-10-31T00:00Z", "2026-11-03T00:00Z", 3),  # in the fold: once
        ("*/30 1 * * *", "America/New_York", "2026-10-31T00:00Z", "2026-11-03T00:00Z", 3 * 2 + 2),  # both passes
        (
            "* 2 * * *",
            "Europe/Berlin",
            "2026-03-28T00:00Z",
            "2026-03-31T00:00Z",
            2 * 60 + 1,
        ),  # none in the gap; until counts
        ("0 0 L * *", "UTC", "2026-01-01T00:00Z", "2027-01-01T00:00Z", 12),
        ("0 12 * * 1-5", "UTC", "2026-01-01T00:00Z", "2026-01-31T00:00Z", 22),
        ("0 0 30 2 *", "UTC", "2026-01-01T00:00Z", "2030-01-01T00:00Z", 0),  # a date that never happens
    ],
)
def test_a_cron_is_counted_a_day_at_a_time_as_the_walk_counts(expression, zone, after, until, expected):
    spec = cron(expression, zone)
    counted = timing.count_cron_fire_times(spec, utc(after), utc(until))
    walked = len(timing.fire_times_between(spec, utc(after), utc(until), 200_000)[0])
    assert counted == walked == expected


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"kind": "cron", "cron": "61 * * * *"}, "cron", "out of range"),
        ({"kind": "cron", "cron": "* * *"}, "cron", "has 3 fields"),
        ({"kind": "cron", "cron": ""}, "cron", "is required"),
        ({"kind": "cron", "cron": "0 0 31 2 *"}, "cron", "can never happen"),
        ({"kind": "cron", "cron": "@reboot"}, "cron", "unknown macro"),
        ({"kind": "cron", "cron": "* * * * * * *"}, "cron", "has 7 fields"),
        ({"kind": "cron", "cron": "*/5 * * * *", "timezone": "Europe/Berln"}, "timezone", "Did you mean Europe/Berlin"),
        ({"kind": "cron", "cron": "*/5 * * * *", "timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({"kind": "cron", "cron": "*/5 * * * *", "timezone": ""}, "timezone", "is required"),
        ({"kind": "interval", "interval_seconds": 0}, "interval_seconds", "positive"),
        ({"kind": "interval", "interval_seconds": -5}, "interval_seconds", "positive"),
        ({"kind": "interval"}, "interval_seconds", "is required"),
        ({"kind": "once"}, "run_at", "is required"),
        ({"kind": "weekly"}, "kind", "must be one of"),
        (
            {
                "kind": "interval",
                "interval_seconds": 5,
                "start_at": utc("2026-01-02T00:00Z"),
                "end_at": utc("2026-01-01T00:00Z"),
            },
            "end_at",
            "after start_at",
        ),
        ({"kind": "once", "run_at": datetime(2026, 1, 1)}, "run_at", "time zone"),
    ],
)
def test_invalid_specs_are_rejected_with_the_field_named(fields, field, fragment):
    with pytest.raises(ValidationError) as caught:
        validate_spec(Spec(**fields))
    assert field in caught.value.errors
    assert fragment in " ".join(caught.value.errors[field])


def test_valid_specs_pass():
    for spec in (
        cron("*/5 * * * *", "Europe/Berlin"),
        cron("0 9 * * mon-fri", "America/New_York"),
        cron("0 */10 * * * *"),
        Spec(kind="interval", interval_seconds=1),
        Spec(kind="once", run_at=utc("2030-01-01T00:00Z")),
    ):
        validate_spec(spec)


def test_jitter_is_stable_bounded_and_never_reaches_the_next_occurrence():
    when = utc("2026-01-01T00:00Z")
    following = utc("2026-01-01T00:01Z")
    offsets = {jitter_offset(f"schedule:{n}", when, 30, following) for n in range(200)}
    assert all(timedelta(0) <= o < timedelta(seconds=30) for o in offsets)
    assert len(offsets) > 100, "jitter should spread schedules out"
    assert jitter_offset("schedule:1", when, 30, following) == jitter_offset("schedule:1", when, 30, following)
    capped = {jitter_offset(f"schedule:{n}", when, 3600, following) for n in range(200)}
    assert max(capped) < following - when
    assert jitter_offset("schedule:1", when, 0, following) == timedelta(0)


def test_wildcard_rule_matches_vixie_cron():
    assert is_wildcard("*/15 * * * *")
    assert is_wildcard("0 * * * *")
    assert is_wildcard("@hourly")
    assert not is_wildcard("30 2 * * *")
    assert not is_wildcard("@daily")
    assert is_wildcard("0 * 2 * * *")  # six fields: the minute is '*'


def test_schedules_sharing_a_cron_window_walk_it_once(monkeypatch):
    """A burst is many schedules with a few expressions due at the same minute: croniter steps once."""
    timing._cron_window.cache_clear()
    walks: list[tuple[object, ...]] = []
    walk = timing._window

    def counting(*args):
        walks.append(args)
        return walk(*args)

    monkeypatch.setattr(timing, "_window", counting)
    spec = timing.Spec(kind=timing.CRON, cron="0 * * * *", timezone="Europe/Berlin")
    now = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    results = [timing.fire_times_window(spec, now - timedelta(minutes=5), now, 100) for _ in range(1000)]
    assert len(walks) == 1
    assert results[0] == ([now], False, now + timedelta(hours=1))
    other = timing.Spec(kind=timing.CRON, cron="0 * * * *", timezone="America/New_York")
    timing.fire_times_window(other, now - timedelta(minutes=5), now, 100)
    assert len(walks) == 2, "another zone is another walk"
