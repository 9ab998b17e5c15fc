"""Property tests for the pure time core: random cron strings (garbage included), IANA zones,
intervals, ranges and instants around DST transitions.

Validation either accepts a spec or raises ``ValidationError`` keyed by known field names; for a
valid spec, the next fire times come back quickly (within ``DEADLINE`` per example),
strictly increasing, in UTC, after the given instant and inside start/end; resuming from any of
them gives the rest.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from scheduling.core import cron, timing
from scheduling.timing import Spec, ValidationError, next_fire_times, validate_spec

#: Far above the milliseconds an example takes, even on a loaded machine: catches a search that does not stop.
DEADLINE = timedelta(seconds=10)
FIELDS = {"kind", "cron", "interval_seconds", "run_at", "timezone", "start_at", "end_at"}
ZONES = sorted(available_timezones())
#: Zones with unusual transitions: 30-minute DST (Lord Howe), southern hemisphere, a skipped day
#: (Apia, 2011-12-30), no DST at all, and the usual northern ones.
DST_ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Australia/Sydney",
    "Pacific/Apia",
    "America/Santiago",
    "Asia/Kolkata",
    "UTC",
]

zone_names = st.one_of(
    st.sampled_from(DST_ZONES),
    st.sampled_from(ZONES),
    st.text(max_size=30),  # garbage
    st.sampled_from(["europe/berlin", "Europe/Berlln", "EST5EDT", "", " UTC", "../etc/passwd"]),
)


def _cron_field(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(min_value=low - 2, max_value=high + 2).map(str)  # a little out of range too
    return st.one_of(
        st.just("*"),
        number,
        st.tuples(number, number).map("-".join),
        st.tuples(st.sampled_from(["*", "0", str(low)]), st.integers(0, high + 3)).map(lambda t: f"{t[0]}/{t[1]}"),
        st.lists(number, min_size=1, max_size=4).map(",".join),
        st.sampled_from(["L", "?", "MON", "jan", "5L", "1#2", "W", "-", "//", ""]),
    )


structured_cron = st.tuples(
    _cron_field(0, 59), _cron_field(0, 23), _cron_field(1, 31), _cron_field(1, 12), _cron_field(0, 7)
).map(" ".join)
seconds_cron = st.tuples(_cron_field(0, 59), structured_cron).map(" ".join)
cron_strings = st.one_of(
    structured_cron,
    seconds_cron,
    st.sampled_from([*cron.MACROS, "@reboot", "@every 5m", "@HOURLY"]),
    st.text(max_size=40),
    st.text(alphabet="0123456789*/,-LW# ", max_size=30),
)
aware_datetimes = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, *map(ZoneInfo, DST_ZONES)]),
)
maybe_datetimes = st.one_of(st.none(), aware_datetimes, st.datetimes(min_value=datetime(1971, 1, 1)))  # naive too
intervals = st.one_of(
    st.none(),
    st.integers(min_value=-10, max_value=timing.MAX_INTERVAL_SECONDS + 10),
    st.sampled_from([1, 60, 3600, 86400, 7 * 86400]),
)
#: Instants within a few hours of real DST transitions, where the interesting cases are.
TRANSITIONS = [
    datetime(2026, 3, 29, 1, tzinfo=UTC),  # Berlin forward
    datetime(2026, 10, 25, 1, tzinfo=UTC),  # Berlin back
    datetime(2026, 3, 8, 7, tzinfo=UTC),  # New York forward
    datetime(2026, 11, 1, 6, tzinfo=UTC),  # New York back
    datetime(2026, 4, 4, 15, tzinfo=UTC),  # Lord Howe back 30 min
    datetime(2026, 10, 3, 15, 30, tzinfo=UTC),  # Lord Howe forward 30 min
    datetime(2011, 12, 30, 10, tzinfo=UTC),  # Apia skips a whole day
]
near_transitions = st.tuples(st.sampled_from(TRANSITIONS), st.integers(min_value=-4 * 3600, max_value=4 * 3600)).map(
    lambda pair: pair[0] + timedelta(seconds=pair[1])
)
afters = st.one_of(near_transitions, aware_datetimes)

specs = st.builds(
    Spec,
    kind=st.one_of(st.sampled_from(timing.KINDS), st.text(max_size=8)),
    cron=cron_strings,
    interval_seconds=intervals,
    run_at=maybe_datetimes,
    timezone=zone_names,
    start_at=maybe_datetimes,
    end_at=maybe_datetimes,
)
valid_cron_specs = st.builds(
    Spec,
    kind=st.just(timing.CRON),
    cron=st.one_of(structured_cron, seconds_cron, st.sampled_from(list(cron.MACROS))),
    timezone=st.sampled_from(DST_ZONES),
    start_at=st.one_of(st.none(), near_transitions),
    end_at=st.one_of(st.none(), near_transitions.map(lambda moment: moment + timedelta(days=2))),
)


@settings(deadline=DEADLINE)
@given(spec=specs)
@example(spec=Spec(kind="cron", cron="0 0 30 2 *"))  # a date that never happens
@example(spec=Spec(kind="cron", cron="\x00", timezone="\x00"))
@example(spec=Spec(kind="interval", interval_seconds=True))
def test_validation_accepts_or_names_the_fields(spec: Spec):
    try:
        validate_spec(spec)
    except ValidationError as exc:
        assert exc.errors, "an error without a field"
        assert set(exc.errors) <= FIELDS, exc.errors
        assert all(messages and all(isinstance(m, str) and m for m in messages) for messages in exc.errors.values())


def _check_fire_times(spec: Spec, after: datetime) -> list[datetime]:
    times = next_fire_times(spec, after, count=6)
    assert all(moment.tzinfo is UTC for moment in times), times
    assert all(moment > after for moment in times), (after, times)
    assert all(earlier < later for earlier, later in itertools.pairwise(times)), times
    if spec.start_at is not None:
        assert all(moment >= spec.start_at for moment in times)
    if spec.end_at is not None:
        assert all(moment <= spec.end_at for moment in times)
    return times


#: Mostly valid specs of every kind (random cron fields can still be out of range: those are skipped).
plausible_specs = st.builds(
    Spec,
    kind=st.sampled_from(timing.KINDS),
    cron=st.one_of(structured_cron, seconds_cron, st.sampled_from(list(cron.MACROS))),
    interval_seconds=st.integers(min_value=1, max_value=timing.MAX_INTERVAL_SECONDS),
    run_at=aware_datetimes,
    timezone=st.sampled_from(ZONES),
    start_at=st.one_of(st.none(), aware_datetimes),
    end_at=st.one_of(st.none(), aware_datetimes),
)


@settings(deadline=DEADLINE)
@given(spec=plausible_specs, after=afters)
def test_any_valid_spec_gives_increasing_utc_times_inside_its_range(spec: Spec, after: datetime):
    try:
        validate_spec(spec)
    except ValidationError:
        assume(False)
    _check_fire_times(spec, after)


@settings(deadline=DEADLINE)
@given(spec=valid_cron_specs, after=afters)
def test_cron_across_dst_resumes_from_any_fire_time(spec: Spec, after: datetime):
    try:
        validate_spec(spec)
    except ValidationError:
        assume(False)
    times = _check_fire_times(spec, after)
    for index, moment in enumerate(times[:-1]):
        assert next_fire_times(spec, moment, count=1) == [times[index + 1]], (moment, times)


@settings(deadline=DEADLINE)
@given(
    seconds=st.integers(min_value=1, max_value=timing.MAX_INTERVAL_SECONDS),
    start=st.one_of(st.none(), aware_datetimes),
    after=afters,
)
def test_intervals_are_whole_steps_from_their_anchor(seconds: int, start: datetime | None, after: datetime):
    spec = Spec(kind=timing.INTERVAL, interval_seconds=seconds, start_at=start)
    validate_spec(spec)
    times = _check_fire_times(spec, after)
    anchor = start or timing.EPOCH
    assert all((moment - anchor) % timedelta(seconds=seconds) == timedelta(0) for moment in times)
    assert len(times) == 6, "an interval without an end never runs out"
    assert times[0] - max(after, anchor - timedelta(microseconds=1)) <= timedelta(seconds=seconds)
    until = times[-1]
    assert timing.count_fire_times(spec, after, until) == 6


@settings(deadline=DEADLINE)
@given(spec=plausible_specs, after=afters, span=st.integers(min_value=0, max_value=3 * 86400), limit=st.integers(1, 5))
def test_a_window_walk_agrees_with_asking_separately(spec: Spec, after: datetime, span: int, limit: int):
    """``fire_times_window`` (the planner's one walk, remembered for cron) gives what the two separate
    questions give: the fire times in the window, and the first one after it."""
    try:
        validate_spec(spec)
    except ValidationError:
        assume(False)
    until = after + timedelta(seconds=span)
    for _ in range(2):  # the second time from the remembered walk, for cron
        times, more, beyond = timing.fire_times_window(spec, after, until, limit)
        assert (times, more) == timing.fire_times_between(spec, after, until, limit)
        if more:
            assert beyond is None and len(times) == limit
        else:
            following = next_fire_times(spec, until, count=1)
            assert beyond == (following[0] if following else None), (times, beyond, following)
        times.append(after)  # the caller owns the list it got: the remembered walk is unchanged


#: Examples whose walk would list more fire times than this are not compared (the walk is the slow side).
_COMPARED = 20_000
#: Valid crons that fire inside the hours DST moves: wildcard and fixed-time, minutes and seconds.
DST_CRONS = [
    "* * * * *", "*/7 1-3 * * *", "30 2 * * *", "0,30 1-3 * * *", "15 2 * * 0", "*/20 2 * * *", "* 2 * * *",
    "0 * * * *", "45 1 * * *", "0 0 * * *", "5 */2 1,15 * 1", "10,40 * 2 * * *", "0 30 2 * * *", "0 0 L * *",
    "*/15 2-3 * * 1-5", "30 3 * * *", "* 1 * * *", "@hourly",
]  # fmt: skip
counted_specs = st.builds(
    Spec,
    kind=st.just(timing.CRON),
    cron=st.one_of(st.sampled_from(DST_CRONS), structured_cron),
    timezone=st.sampled_from(DST_ZONES),
    start_at=st.one_of(st.none(), near_transitions),
    end_at=st.one_of(st.none(), near_transitions.map(lambda moment: moment + timedelta(days=1))),
)
#: From up to two days before a DST transition: most ranges cross it.
before_transitions = st.tuples(st.sampled_from(TRANSITIONS), st.integers(min_value=0, max_value=2 * 86400)).map(
    lambda pair: pair[0] - timedelta(seconds=pair[1])
)


@settings(deadline=DEADLINE, max_examples=300)
@given(spec=counted_specs, after=st.one_of(before_transitions, aware_datetimes), span=st.integers(0, 4 * 86400))
def test_a_cron_count_agrees_with_the_walk(spec: Spec, after: datetime, span: int):
    """``count_cron_fire_times`` counts a day at a time: the same number as walking every fire time,
    across DST gaps and folds, 30-minute shifts, a skipped day and start/end bounds."""
    try:
        validate_spec(spec)
    except ValidationError:
        assume(False)
    until = after + timedelta(seconds=span)
    walked, more = timing.fire_times_between(spec, after, until, _COMPARED)
    assume(not more)
    assert timing.count_cron_fire_times(spec, after, until) == len(walked)
