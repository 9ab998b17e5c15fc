"""Misfire and overlap decisions, as tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scheduling.core.policies import Action, Decision, Due, misfire, overlap, runs_to_cancel

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LATE_AFTER = timedelta(seconds=30)


def due(*seconds_ago: int) -> list[Due]:
    """Occurrences that became due the given number of seconds before NOW (oldest first)."""
    return [Due(scheduled_for=NOW - timedelta(seconds=s), due_at=NOW - timedelta(seconds=s)) for s in seconds_ago]


def ago(occurrences: list[Due]) -> list[int]:
    return [int((NOW - o.scheduled_for).total_seconds()) for o in occurrences]


@pytest.mark.parametrize(
    ("policy", "seconds_ago", "runs", "missed"),
    [
        # nothing late: everything runs whatever the policy
        ("run_once", [2, 1], [2, 1], []),
        ("skip", [1], [1], []),
        ("run_all", [3, 2, 1], [3, 2, 1], []),
        # only late occurrences (the beat was down)
        ("run_once", [300, 200, 100], [100], [300, 200]),
        ("run_all", [300, 200, 100], [300, 200, 100], []),
        ("skip", [300, 200, 100], [], [300, 200, 100]),
        # late and on-time mixed
        ("run_once", [300, 200, 5], [5], [300, 200]),
        ("skip", [300, 5], [5], [300]),
        ("run_all", [300, 5], [300, 5], []),
    ],
)
def test_misfire(policy, seconds_ago, runs, missed):
    to_run, decisions = misfire(due(*seconds_ago), now=NOW, policy=policy, late_after=LATE_AFTER, max_catchup=100)
    assert ago(to_run) == runs
    assert [int((NOW - d.scheduled_for).total_seconds()) for d in decisions] == missed
    assert all(d.action == Action.MISS and policy in d.reason for d in decisions)


def test_run_all_is_bounded_oldest_first():
    to_run, missed = misfire(due(*range(500, 0, -10)), now=NOW, policy="run_all", late_after=LATE_AFTER, max_catchup=3)
    assert ago(to_run) == [500, 490, 480]
    assert len(missed) == 47 and all("more than 3" in d.reason for d in missed)


def test_jittered_occurrences_are_late_by_their_due_time_not_their_nominal_time():
    jittered = [Due(scheduled_for=NOW - timedelta(minutes=20), due_at=NOW - timedelta(seconds=1))]
    to_run, missed = misfire(jittered, now=NOW, policy="skip", late_after=LATE_AFTER, max_catchup=100)
    assert to_run == jittered and missed == []


def test_unknown_policies_are_refused():
    with pytest.raises(ValueError, match="misfire policy"):
        misfire([], now=NOW, policy="sometimes", late_after=LATE_AFTER, max_catchup=1)
    with pytest.raises(ValueError, match="overlap policy"):
        overlap([], policy="maybe", active_run_ids=[], buffered=0)


@pytest.mark.parametrize(
    ("policy", "active", "buffered", "count", "actions"),
    [
        ("skip", [], 0, 1, ["dispatch"]),
        ("skip", ["r1"], 0, 2, ["skip", "skip"]),
        ("skip", [], 0, 3, ["dispatch", "skip", "skip"]),
        ("allow", ["r1"], 0, 2, ["dispatch", "dispatch"]),
        ("buffer_one", ["r1"], 0, 3, ["buffer", "skip", "skip"]),
        ("buffer_one", ["r1"], 1, 1, ["skip"]),
        ("buffer_one", [], 1, 1, ["skip"]),
        ("buffer_all", ["r1"], 2, 3, ["buffer", "buffer", "buffer"]),
        ("buffer_all", [], 0, 2, ["dispatch", "buffer"]),
        ("replace", ["r1"], 0, 1, ["dispatch"]),
        ("replace", ["r1"], 0, 3, ["skip", "skip", "dispatch"]),
        ("replace", [], 0, 1, ["dispatch"]),
    ],
)
def test_overlap(policy, active, buffered, count, actions):
    decisions = overlap(due(*range(count, 0, -1)), policy=policy, active_run_ids=active, buffered=buffered)
    assert [str(d.action) for d in decisions] == actions
    for decision in decisions:
        if decision.action in (Action.SKIP, Action.BUFFER):
            assert decision.reason


def test_replace_cancels_the_active_runs():
    [decision] = overlap(due(1), policy="replace", active_run_ids=["r1", "r2"], buffered=0)
    assert decision.action == Action.DISPATCH and decision.cancel_run_ids == ("r1", "r2")
    [fresh] = overlap(due(1), policy="replace", active_run_ids=[], buffered=0)
    assert fresh.cancel_run_ids == ()


T1, T2 = NOW - timedelta(minutes=1), NOW


def replacing(schedule_id: int, at: datetime, *run_ids: str) -> tuple[int, Decision]:
    return schedule_id, Decision(scheduled_for=at, action=Action.DISPATCH, cancel_run_ids=run_ids)


@pytest.mark.parametrize(
    ("decisions", "inserted", "cancelled"),
    [
        # the tick inserted the occurrence: its replace cancels the runs it saw
        ([replacing(1, T2, "r1")], {(1, T2)}, ["r1"]),
        # another beat inserted it first: the active run may be that beat's run of it, untouched
        ([replacing(1, T2, "r1")], set(), []),
        # the same time of another schedule won does not make this one's decision count
        ([replacing(1, T2, "r1")], {(2, T2)}, []),
        # another time of the same schedule won does not either
        ([replacing(1, T2, "r1")], {(1, T1)}, []),
        # a batch: only the won decisions cancel, each its own runs, in order
        (
            [replacing(1, T2, "r1", "r2"), replacing(2, T2, "r3"), replacing(3, T1, "r4")],
            {(1, T2), (3, T1)},
            ["r1", "r2", "r4"],
        ),
        # won, with nothing active: nothing to cancel
        ([replacing(1, T2)], {(1, T2)}, []),
    ],
    ids=["won", "lost", "other-schedule-won", "other-time-won", "mixed-batch", "nothing-active"],
)
def test_only_a_replace_whose_occurrence_the_tick_inserted_cancels(decisions, inserted, cancelled):
    assert runs_to_cancel(decisions, inserted) == cancelled
