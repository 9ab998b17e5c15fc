"""Jitter and the misfire grace as pure decisions: offsets spread over the gap, lateness from the due time."""

from __future__ import annotations

import itertools
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scheduling.core import planning, timing
from scheduling.core.jitter import due_time, jitter_offset
from scheduling.core.policies import Action

BOUNDS = planning.Bounds(late_after=timedelta(seconds=30), max_catchup=100, max_enumerate=1000)
START = datetime(2026, 3, 27, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def offsets(jitter: int, when: datetime, following: datetime | None, count: int = 400) -> list[timedelta]:
    return [jitter_offset(f"schedule:{n}", when, jitter, following) for n in range(count)]


# (what, jitter seconds, fire time, next fire time): the gap is the time to the next fire time.
SPREAD_CASES = [
    ("jitter equal to the gap", 60, "2026-01-01T00:00Z", "2026-01-01T00:01Z"),
    ("jitter a day, gap a minute", 86_400, "2026-01-01T00:00Z", "2026-01-01T00:01Z"),
    ("jitter a day, gap 90 minutes", 86_400, "2026-01-01T00:00Z", "2026-01-01T01:30Z"),
    # a daily 02:30 Berlin cron across the spring-forward night: that gap is 23 hours
    ("jitter two days, daily cron across spring forward", 172_800, "2026-03-28T01:30Z", "2026-03-29T01:00Z"),
    # ... and across the fall-back night: 25 hours
    ("jitter two days, daily cron across fall back", 172_800, "2026-10-24T00:30Z", "2026-10-25T00:30Z"),
]


@pytest.mark.parametrize(("what", "jitter", "when", "following"), SPREAD_CASES, ids=[c[0] for c in SPREAD_CASES])
def test_a_jitter_as_long_as_the_gap_spreads_over_the_whole_gap(what, jitter, when, following):
    at, after = utc(when), utc(following)
    gap = after - at
    found = offsets(jitter, at, after)
    assert all(timedelta(0) <= offset < gap for offset in found), "never reaches the next occurrence"
    # uniform over [0, gap): the mean near the middle, both ends reached, nothing piled at the end
    mean = statistics.mean(offset / gap for offset in found)
    assert 0.4 < mean < 0.6, mean
    assert min(found) < gap * 0.05 and max(found) > gap * 0.95
    last_millisecond = gap - timedelta(milliseconds=1)
    assert sum(1 for offset in found if offset >= last_millisecond) <= 2, "offsets are clamped to the end of the gap"


def test_a_jitter_shorter_than_the_gap_keeps_its_offsets():
    """Schedules whose jitter fits their gap dispatch at the same moments as before (stable per occurrence)."""
    at, after = utc("2026-01-01T00:00Z"), utc("2026-01-01T01:00Z")
    capped = offsets(30, at, after)
    assert capped == offsets(30, at, None), "a gap longer than the jitter does not change the offset"
    assert all(timedelta(0) <= offset < timedelta(seconds=30) for offset in capped)
    assert capped == offsets(30, at, after), "deterministic"


def test_jitter_follows_the_gap_of_each_occurrence_across_a_dst_change():
    """A daily 02:30 Berlin cron with a two-day jitter: each offset stays inside its own (23, 24 or 25 h) gap."""
    spec = timing.Spec(kind="cron", cron="30 2 * * *", timezone="Europe/Berlin")
    times = timing.next_fire_times(spec, START, 5)
    for n in range(50):
        for when, following in itertools.pairwise(times):
            offset = jitter_offset(f"schedule:{n}", when, 172_800, following)
            assert timedelta(0) <= offset < following - when
    gaps = {following - when for when, following in itertools.pairwise(times)}
    assert min(gaps) < timedelta(hours=24), "the table crosses the spring-forward night"


# (what, spec, start, until, expected): the last fire time in [start, until).
LAST_BEFORE_CASES = [
    ("interval", timing.Spec(kind="interval", interval_seconds=90 * 60), "2026-01-01T00:00Z", "2026-01-01T05:00Z",
     "2026-01-01T04:30Z"),
    ("until is excluded", timing.Spec(kind="interval", interval_seconds=3600), "2026-01-01T00:00Z",
     "2026-01-01T05:00Z", "2026-01-01T04:00Z"),
    ("start is included", timing.Spec(kind="interval", interval_seconds=3600), "2026-01-01T04:00Z",
     "2026-01-01T04:59Z", "2026-01-01T04:00Z"),
    ("none in the window", timing.Spec(kind="interval", interval_seconds=3600), "2026-01-01T04:01Z",
     "2026-01-01T04:59Z", None),
    ("many more than the limit", timing.Spec(kind="interval", interval_seconds=1), "2026-01-01T00:00Z",
     "2026-01-02T00:00Z", "2026-01-01T23:59:59Z"),
    # every second on Mondays only: the window's later half holds none, its earlier half thousands
    ("a dense run then a long gap", timing.Spec(kind="cron", cron="* * * * * 1"), "2026-01-05T00:00Z",
     "2026-01-08T00:00Z", "2026-01-05T23:59:59Z"),
    ("cron across fall back", timing.Spec(kind="cron", cron="30 2 * * *", timezone="Europe/Berlin"),
     "2026-10-24T00:00Z", "2026-10-26T00:00Z", "2026-10-25T00:30Z"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "spec", "start", "until", "expected"), LAST_BEFORE_CASES, ids=[c[0] for c in LAST_BEFORE_CASES]
)
def test_last_fire_time_before(what, spec, start, until, expected):
    found = timing.last_fire_time_before(spec, utc(start), utc(until), 100)
    assert found == (utc(expected) if expected else None)


def state(spec: timing.Spec, next_run_at: datetime, **changes: Any) -> planning.ScheduleState:
    fields: dict[str, Any] = {
        "schedule_id": 7,
        "spec": spec,
        "next_run_at": next_run_at,
        "jitter_seconds": 0,
        "misfire_policy": "run_once",
        "misfire_grace_seconds": 3600,
        "overlap_policy": "allow",
    }
    fields.update(changes)
    return planning.ScheduleState(**fields)


def on_time_beat(first: planning.ScheduleState, hours: int, latency: timedelta) -> list[tuple[str, datetime]]:
    """Every decision a beat makes when it ticks ``latency`` after each due time, for ``hours``."""
    current, decided = first, []
    due_at = due_time(first.spec, first.schedule_id, first.jitter_seconds, first.next_run_at, None)
    end = first.next_run_at + timedelta(hours=hours)
    while current.next_run_at < end:
        plan = planning.plan(current, now=due_at + latency, active_run_ids=[], buffered=0, bounds=BOUNDS)
        decided += [(str(d.action), d.scheduled_for) for d in plan.decisions]
        assert plan.next_run_at is not None and plan.due_at is not None
        current = state(current.spec, plan.next_run_at, **{
            k: getattr(current, k) for k in ("schedule_id", "jitter_seconds", "misfire_policy",
                                              "misfire_grace_seconds", "overlap_policy")
        })  # fmt: skip
        due_at = plan.due_at
    return decided


# (what, spec, jitter, grace, misfire policy): jitter longer than the grace, each way it can be.
ON_TIME_CASES = [
    ("interval 90 min, jitter a day (the report)", timing.Spec(kind="interval", interval_seconds=5400), 86_400, 3600,
     "run_once"),
    ("interval 90 min, jitter a day, policy skip", timing.Spec(kind="interval", interval_seconds=5400), 86_400, 3600,
     "skip"),
    ("minutely, jitter an hour, grace 10 s", timing.Spec(kind="interval", interval_seconds=60), 3600, 10, "run_all"),
    ("daily Berlin cron across spring forward, jitter two days", timing.Spec(kind="cron", cron="30 2 * * *",
     timezone="Europe/Berlin"), 172_800, 600, "run_once"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "spec", "jitter", "grace", "policy"), ON_TIME_CASES, ids=[c[0] for c in ON_TIME_CASES]
)
def test_a_beat_on_time_never_misses_because_of_jitter(what, spec, jitter, grace, policy):
    first = timing.next_fire_times(spec, START, 1)[0]
    decided = on_time_beat(
        state(spec, first, jitter_seconds=jitter, misfire_grace_seconds=grace, misfire_policy=policy),
        hours=28 if spec.kind == "interval" else 24 * 4,
        latency=timedelta(milliseconds=300),
    )
    assert decided, "the beat dispatched something"
    assert {action for action, _ in decided} == {"dispatch"}, [d for d in decided if d[0] != "dispatch"]
    expected = timing.fire_times_between(spec, first - planning.EPSILON, decided[-1][1], 10_000)[0]
    assert [when for _, when in decided] == expected, "every occurrence once, in order"


def test_lateness_beyond_the_grace_counts_from_the_due_time():
    """A beat down past an occurrence's due time plus the grace misses it; one within the grace runs it."""
    spec = timing.Spec(kind="interval", interval_seconds=5400)
    first = timing.next_fire_times(spec, START, 1)[0]
    # a schedule whose offset for this occurrence is longer than the grace
    schedule_id = next(n for n in range(1, 100) if due_time(spec, n, 86_400, first, None) - first > HOUR)
    jittered = state(spec, first, schedule_id=schedule_id, jitter_seconds=86_400, misfire_grace_seconds=3600)
    due_at = due_time(spec, schedule_id, 86_400, first, None)
    within = planning.plan(jittered, now=due_at + timedelta(minutes=59), active_run_ids=[], buffered=0, bounds=BOUNDS)
    assert [(d.action, d.scheduled_for) for d in within.decisions] == [(Action.DISPATCH, first)]
    beyond = planning.plan(jittered, now=due_at + timedelta(minutes=61), active_run_ids=[], buffered=0, bounds=BOUNDS)
    assert [(d.action, d.scheduled_for) for d in beyond.decisions] == [(Action.MISS, first)]
    assert "grace" in beyond.decisions[0].reason


def test_a_long_backlog_with_jitter_still_counts_every_occurrence():
    """Ten days of an every-second schedule with a day of jitter: bounded work, every occurrence accounted for."""
    spec = timing.Spec(kind="interval", interval_seconds=1)
    now = START + timedelta(days=10)
    plan = planning.plan(
        state(spec, START, jitter_seconds=86_400, misfire_grace_seconds=3600),
        now=now,
        active_run_ids=[],
        buffered=0,
        bounds=BOUNDS,
    )
    assert len(plan.decisions) <= 2 * BOUNDS.max_enumerate + 3
    due_by_now = timing.count_fire_times(spec, START - planning.EPSILON, now)
    waiting = (
        0
        if plan.next_run_at is None or plan.next_run_at > now
        else timing.count_fire_times(spec, plan.next_run_at - planning.EPSILON, now)
    )
    assert sum(d.missed_count for d in plan.decisions) + waiting == due_by_now
    times = [d.scheduled_for for d in plan.decisions]
    assert times == sorted(times)
