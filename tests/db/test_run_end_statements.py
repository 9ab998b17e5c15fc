"""A scheduled run's statements on PostgreSQL: a success on a failure streak at 0 is the claim and the finish.

The schedule's failure streak is read in the finish's own statement (``controls.STREAK_READ``); only
a failure, or a success that has a streak to reset, sends the streak's update after it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orchestrator import execution
from orchestrator.models import Run, RunStatus
from scheduling.engine import dispatch
from scheduling.models import Schedule, ScheduledRun
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _dispatched(schedule: Schedule, at: datetime) -> Run:
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=at, due_at=at)
    dispatch.dispatch_due(at + timedelta(seconds=1))
    run = ScheduledRun.objects.select_related("run").get(schedule=schedule, scheduled_for=at).run
    assert run is not None
    return run


def _executed(run: Run) -> tuple[str, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        outcome = execution.execute_run(run.pk, attempt=run.attempt, worker="w1@test")
    return outcome.status, [" ".join(query["sql"].split()[:2]) for query in queries.captured_queries]


def test_a_success_on_a_streak_at_0_is_two_statements(redis_db):
    schedule = factories.schedule("noop", interval_seconds=3600, pause_after_failures=2)
    status, statements = _executed(_dispatched(schedule, T))
    assert status == RunStatus.SUCCEEDED
    assert statements == ["UPDATE orchestrator_run"] * 2, "the claim and the finish (the streak read in it)"
    assert Schedule.objects.get(pk=schedule.pk).failure_streak == 0


def test_failures_count_pause_and_a_success_resets_the_streak_it_read(redis_db):
    schedule = factories.schedule("crash", interval_seconds=3600, params={"how": "c_error"}, pause_after_failures=3)
    status, statements = _executed(_dispatched(schedule, T))
    assert status == RunStatus.FAILED and len(statements) > 2, "a failure counts after its finish"
    assert Schedule.objects.get(pk=schedule.pk).failure_streak == 1
    Schedule.objects.filter(pk=schedule.pk).update(params={})  # the job succeeds from now on
    status, statements = _executed(_dispatched(schedule, T + timedelta(hours=1)))
    assert status == RunStatus.SUCCEEDED and len(statements) == 3, "the streak it read was 1: reset after the finish"
    assert Schedule.objects.get(pk=schedule.pk).failure_streak == 0
    Schedule.objects.filter(pk=schedule.pk).update(params={"how": "c_error"})
    for hour in (2, 3, 4):
        assert _executed(_dispatched(schedule, T + timedelta(hours=hour)))[0] == RunStatus.FAILED
    row = Schedule.objects.get(pk=schedule.pk)
    assert row.failure_streak == 3 and not row.enabled and row.paused_by == "system", "paused by itself at 3"


def test_a_manual_run_of_a_schedule_neither_counts_nor_resets(redis_db):
    schedule = factories.schedule("noop", interval_seconds=3600)
    Schedule.objects.filter(pk=schedule.pk).update(failure_streak=2)
    manual = factories.run_row("noop", trigger="manual")
    status, statements = _executed(manual)
    assert status == RunStatus.SUCCEEDED and len(statements) == 2
    assert Schedule.objects.get(pk=schedule.pk).failure_streak == 2


def test_a_delivery_reads_the_run_snapshot_once(redis_db, monkeypatch):
    """The limits, the execution and every ``run_ended`` subscriber share one reading of the snapshot.

    Each of them used to read it again (five readings a run, ~25 µs each, on the worker's hot path).
    """
    from orchestrator import snapshots
    from workers import tasks

    schedule = factories.schedule("noop", interval_seconds=3600, pause_after_failures=2, max_concurrency=1)
    run = _dispatched(schedule, T)
    original = snapshots.RunSnapshot.of.__func__  # type: ignore[attr-defined]
    readings: list[object] = []

    def counted(cls: type[snapshots.RunSnapshot], data: object) -> snapshots.RunSnapshot:
        readings.append(data)
        return original(cls, data)

    monkeypatch.setattr(snapshots.RunSnapshot, "of", classmethod(counted))
    assert tasks.run.apply(args=(str(run.pk), 0)).get() == RunStatus.SUCCEEDED
    assert len(readings) == 1
    assert Run.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED
