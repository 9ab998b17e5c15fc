"""Planning one claimed schedule: expired and live regions, bounded work, jitter, one-offs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from scheduling.core import planning, timing
from scheduling.core.jitter import due_time
from scheduling.core.policies import Action

NOW = datetime(2026, 1, 11, 0, 0, tzinfo=UTC)
BOUNDS = planning.Bounds(late_after=timedelta(seconds=30), max_catchup=100, max_enumerate=1000)


def state(spec: timing.Spec, next_run_at: datetime, **changes: Any) -> planning.ScheduleState:
    fields: dict[str, Any] = {
        "schedule_id": 1,
        "spec": spec,
        "next_run_at": next_run_at,
        "jitter_seconds": 0,
        "misfire_policy": "run_once",
        "misfire_grace_seconds": 3600,
        "overlap_policy": "skip",
    }
    fields.update(changes)
    return planning.ScheduleState(**fields)


def actions(plan: planning.Plan) -> list[str]:
    return [str(d.action) for d in plan.decisions]


def test_one_due_occurrence_is_dispatched_and_the_cursor_moves_on():
    spec = timing.Spec(kind="interval", interval_seconds=60)
    plan = planning.plan(state(spec, NOW), now=NOW + timedelta(seconds=1), active_run_ids=[], buffered=0, bounds=BOUNDS)
    assert actions(plan) == ["dispatch"]
    assert plan.next_run_at == NOW + timedelta(seconds=60) == plan.due_at
    assert plan.last_run_at == NOW and not plan.disable


def test_a_million_missed_occurrences_cost_a_bounded_tick():
    every_second = timing.Spec(kind="interval", interval_seconds=1)
    ten_days_ago = NOW - timedelta(days=10)
    plan = planning.plan(state(every_second, ten_days_ago), now=NOW, active_run_ids=[], buffered=0, bounds=BOUNDS)
    assert len(plan.decisions) <= 2 * BOUNDS.max_enumerate + 2
    collapsed = [d for d in plan.decisions if d.missed_count > 1]
    assert collapsed, "the old part of the backlog is one counted row"
    accounted = sum(d.missed_count for d in plan.decisions)
    assert accounted == 10 * 86400 + 1, (
        "every occurrence (both ends included)  is accounted for, as a row or in a counted range"
    )
    assert actions(plan).count("dispatch") == 1  # run_once: only the latest
    assert plan.next_run_at == NOW + timedelta(seconds=1)


def test_expired_occurrences_are_missed_under_every_policy():
    hourly = timing.Spec(kind="interval", interval_seconds=3600)
    for policy in ("run_once", "run_all", "skip"):
        plan = planning.plan(
            state(hourly, NOW - timedelta(hours=5), misfire_policy=policy, misfire_grace_seconds=1800),
            now=NOW + timedelta(seconds=1),
            active_run_ids=[],
            buffered=0,
            bounds=BOUNDS,
        )
        missed = [d for d in plan.decisions if d.action == Action.MISS]
        assert len(missed) == 5 and all("grace" in d.reason for d in missed), policy
        assert actions(plan).count("dispatch") == 1, policy  # NOW itself is on time


def test_jitter_delays_dispatch_but_keeps_the_nominal_time():
    minutely = timing.Spec(kind="interval", interval_seconds=60)
    jittery = state(minutely, NOW, jitter_seconds=50, schedule_id=42)
    due_at = due_time(minutely, 42, 50, NOW, NOW + timedelta(seconds=60))
    assert NOW < due_at < NOW + timedelta(seconds=50)
    early = planning.plan(jittery, now=due_at - timedelta(milliseconds=1), active_run_ids=[], buffered=0, bounds=BOUNDS)
    assert early.decisions == [] and early.next_run_at == NOW and early.due_at == due_at
    on_time = planning.plan(jittery, now=due_at, active_run_ids=[], buffered=0, bounds=BOUNDS)
    assert [d.scheduled_for for d in on_time.decisions] == [NOW]


def test_a_one_off_disables_itself_once_handled():
    once = timing.Spec(kind="once", run_at=NOW)
    plan = planning.plan(state(once, NOW), now=NOW + timedelta(seconds=1), active_run_ids=[], buffered=0, bounds=BOUNDS)
    assert actions(plan) == ["dispatch"]
    assert plan.next_run_at is None and plan.disable


def test_overlap_applies_to_what_the_misfire_policy_lets_run():
    every_second = timing.Spec(kind="interval", interval_seconds=1)
    plan = planning.plan(
        state(every_second, NOW - timedelta(seconds=3), overlap_policy="buffer_one"),
        now=NOW,
        active_run_ids=["r1"],
        buffered=0,
        bounds=BOUNDS,
    )
    assert actions(plan) == ["buffer", "skip", "skip", "skip"]
