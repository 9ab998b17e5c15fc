"""Planning with the schedule controls: exclusion calendars and limited runs (pure, fixed clock)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from scheduling.core import planning, timing
from scheduling.core.calendars import CalendarSpec
from tests.unit.test_planning import BOUNDS, actions, state

# A Saturday, 09:00 UTC.
SATURDAY = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
WEEKENDS = CalendarSpec(name="weekends", crons=("* * * * 6,0",))
HOURLY = timing.Spec(kind="interval", interval_seconds=3600)


def plan(st: planning.ScheduleState, now: datetime, **kwargs) -> planning.Plan:
    return planning.plan(st, now=now, active_run_ids=kwargs.get("active", []), buffered=0, bounds=BOUNDS)


def test_an_excluded_fire_time_is_skipped_with_the_calendars_name_and_the_cursor_moves_on():
    result = plan(state(HOURLY, SATURDAY, calendars=(WEEKENDS,)), SATURDAY + timedelta(seconds=1))
    assert actions(result) == ["skip"]
    assert result.decisions[0].reason == "excluded by calendar 'weekends'"
    assert result.next_run_at == SATURDAY + timedelta(hours=1)
    assert result.runs_taken == 0 and result.last_run_at is None


def test_an_excluded_fire_time_older_than_the_grace_is_skipped_not_missed():
    # The beat was down all weekend: Saturday's and Sunday's times are excluded (skipped), Monday's
    # fire times before the grace are missed, the latest one runs.
    monday_morning = datetime(2026, 1, 12, 3, 0, tzinfo=UTC)
    st = state(HOURLY, SATURDAY, calendars=(WEEKENDS,), misfire_grace_seconds=7200)
    result = plan(st, monday_morning + timedelta(seconds=1))
    by_action: dict[str, list[datetime]] = {}
    for decision in result.decisions:
        by_action.setdefault(str(decision.action), []).append(decision.scheduled_for)
    weekend = [d for d in result.decisions if d.scheduled_for < datetime(2026, 1, 12, tzinfo=UTC)]
    assert len(weekend) == 39 and {str(d.action) for d in weekend} == {"skip"}
    assert all(d.reason.startswith("excluded") for d in weekend)
    assert by_action["dispatch"] == [monday_morning]
    assert "miss" in by_action and all(t >= datetime(2026, 1, 12, tzinfo=UTC) for t in by_action["miss"])


def test_whole_dates_are_read_in_the_calendars_zone():
    holiday = CalendarSpec(name="holiday", timezone="America/New_York", dates=frozenset({date(2026, 12, 25)}))
    daily = timing.Spec(kind="cron", cron="0 3 * * *", timezone="UTC")  # 03:00 UTC is 22:00 the day before in NY
    christmas_utc = datetime(2026, 12, 25, 3, 0, tzinfo=UTC)
    boxing_utc = datetime(2026, 12, 26, 3, 0, tzinfo=UTC)
    assert actions(plan(state(daily, christmas_utc, calendars=(holiday,)), christmas_utc)) == ["dispatch"]
    assert actions(plan(state(daily, boxing_utc, calendars=(holiday,)), boxing_utc)) == ["skip"]


def test_remaining_runs_caps_a_catch_up_and_leaves_no_next_run():
    start = SATURDAY - timedelta(hours=5)
    st = state(
        HOURLY, start, remaining_runs=2, misfire_policy="run_all", overlap_policy="allow", misfire_grace_seconds=86400
    )
    result = plan(st, SATURDAY + timedelta(seconds=1))
    assert actions(result) == ["dispatch", "dispatch", "skip", "skip", "skip", "skip"]
    assert [d.reason for d in result.decisions[2:]] == [planning.NO_RUNS_LEFT] * 4
    assert result.runs_taken == 2
    assert result.next_run_at is None and result.due_at is None


def test_a_run_left_is_taken_and_the_cursor_stays_while_runs_remain():
    result = plan(state(HOURLY, SATURDAY, remaining_runs=3), SATURDAY + timedelta(seconds=1))
    assert actions(result) == ["dispatch"] and result.runs_taken == 1
    assert result.next_run_at == SATURDAY + timedelta(hours=1)
    last = plan(state(HOURLY, SATURDAY, remaining_runs=1), SATURDAY + timedelta(seconds=1))
    assert actions(last) == ["dispatch"] and last.next_run_at is None


def test_no_runs_left_dispatches_nothing():
    result = plan(state(HOURLY, SATURDAY, remaining_runs=0), SATURDAY + timedelta(seconds=1))
    assert actions(result) == ["skip"] and result.decisions[0].reason == planning.NO_RUNS_LEFT
    assert result.runs_taken == 0 and result.next_run_at is None


def test_an_occurrence_skipped_by_overlap_does_not_take_a_run():
    result = plan(state(HOURLY, SATURDAY, remaining_runs=1), SATURDAY + timedelta(seconds=1), active=["run-1"])
    assert actions(result) == ["skip"] and result.runs_taken == 0
    assert result.next_run_at == SATURDAY + timedelta(hours=1), "the run is still there for the next occurrence"


def test_an_excluded_time_does_not_take_a_run():
    result = plan(state(HOURLY, SATURDAY, calendars=(WEEKENDS,), remaining_runs=1), SATURDAY + timedelta(seconds=1))
    assert actions(result) == ["skip"] and result.runs_taken == 0 and result.next_run_at is not None
