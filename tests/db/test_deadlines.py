"""Deadlines on PostgreSQL: overdue runs flagged once (event, hook, metric), by a beat's pass or at a late end."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from prometheus_client.parser import text_string_to_metric_families

from orchestrator import events, execution
from orchestrator.models import Run
from scheduling.engine import deadlines, dispatch, maintenance
from scheduling.models import Schedule, ScheduledRun
from scheduling.ops import metrics
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _overdue_metric(schedule: str) -> float:
    for family in text_string_to_metric_families(metrics.render("process").decode()):
        for sample in family.samples:
            if sample.name == "ostinato_runs_overdue_total" and sample.labels == {"schedule": schedule}:
                return float(sample.value)
    return 0.0


def _dispatched(deadline_seconds: int | None = 60, **fields) -> tuple[Schedule, Run]:
    """A schedule whose occurrence at ``T`` the beat dispatched: its run pending, the occurrence flagged active."""
    schedule = factories.schedule("noop", interval_seconds=3600, deadline_seconds=deadline_seconds, **fields)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=T, due_at=T)
    dispatch.dispatch_due(T + timedelta(seconds=1))
    occurrence = ScheduledRun.objects.select_related("run").get(schedule=schedule, scheduled_for=T)
    assert occurrence.run_active and occurrence.run is not None
    return schedule, occurrence.run


def _overdue_events(run: Run) -> list[dict]:
    return [e for e in events.events_for_run(run.pk, settings.EVENTS_PATH) if e["event"] == events.RUN_OVERDUE]


def test_an_active_run_past_its_deadline_is_flagged_once_with_an_event_and_the_metric(redis_db):
    schedule, run = _dispatched(deadline_seconds=60)
    _other, untimed = _dispatched(deadline_seconds=None)
    before = _overdue_metric(schedule.name)
    assert deadlines.mark_overdue(T + timedelta(seconds=59)) == [], "not yet"
    flagged = deadlines.mark_overdue(T + timedelta(seconds=61))
    assert [(item.run_id, item.deadline_seconds, item.schedule) for item in flagged] == [(run.id, 60, schedule.name)]
    assert deadlines.mark_overdue(T + timedelta(minutes=5)) == [], "once, however many passes see it"
    occurrence = ScheduledRun.objects.get(run=run)
    assert occurrence.overdue_at == T + timedelta(seconds=61)
    assert ScheduledRun.objects.get(run=untimed).overdue_at is None, "no deadline, never overdue"
    Run.objects.filter(pk=run.pk).update(status="succeeded")  # still unchanged: a deadline is an alarm, not a stop
    (event,) = _overdue_events(run)
    assert event["schedule"] == schedule.name and event["schedule_id"] == schedule.pk
    assert event["scheduled_for"] == "2026-03-02T09:00:00.000Z" and event["deadline_seconds"] == 60
    assert event["job"] == "noop" and "status" not in event
    assert _overdue_metric(schedule.name) == before + 1


def test_a_beats_maintenance_pass_flags_overdue_runs(redis_db):
    _schedule, run = _dispatched(deadline_seconds=30)
    maintenance.maintain(T + timedelta(minutes=1))
    assert ScheduledRun.objects.get(run=run).overdue_at == T + timedelta(minutes=1)
    assert len(_overdue_events(run)) == 1


def test_finished_runs_and_backfills_are_never_flagged_by_a_pass(redis_db):
    _schedule, finished = _dispatched(deadline_seconds=10)
    Run.objects.filter(pk=finished.pk).update(status="succeeded", finished_at=T + timedelta(seconds=5))
    _schedule, backfilled = _dispatched(deadline_seconds=10)
    ScheduledRun.objects.filter(run=backfilled).update(trigger="backfill")
    assert deadlines.mark_overdue(T + timedelta(hours=1)) == []


def test_two_beats_flagging_at_once_flag_each_overdue_run_exactly_once(redis_db):
    job = factories.job("noop")
    for index in range(20):
        factories.schedule("noop", name=f"deadline-{index}", interval_seconds=3600, deadline_seconds=60)
    Schedule.objects.filter(job=job).update(next_run_at=T, due_at=T)
    dispatch.dispatch_due(T + timedelta(seconds=1))
    assert ScheduledRun.objects.filter(run_active=True).count() == 20
    barrier = threading.Barrier(2)
    found: list[list] = []

    def beat() -> None:
        barrier.wait()
        try:
            found.append(deadlines.mark_overdue(T + timedelta(minutes=2)))
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(found) == 2, "both beats ran"
    flagged = [item.run_id for batch in found for item in batch]
    assert len(flagged) == 20 and len(set(flagged)) == 20, "each run once across both beats"
    assert ScheduledRun.objects.filter(overdue_at__isnull=False).count() == 20
    ours = {str(run_id) for run_id in flagged}
    logged = [e["run_id"] for e in events.iter_events(settings.EVENTS_PATH) if e["event"] == events.RUN_OVERDUE]
    assert sorted(run_id for run_id in logged if run_id in ours) == sorted(ours), "one event each"


def test_a_run_that_ends_late_before_any_pass_is_flagged_at_its_end(redis_db):
    schedule, late = _dispatched(deadline_seconds=60)
    _other, in_time = _dispatched(deadline_seconds=60)
    before = _overdue_metric(schedule.name)
    outcome = execution.execute_run(late.id, attempt=0, worker="w1", clock=lambda: T + timedelta(seconds=90))
    assert outcome.status == "succeeded"
    execution.execute_run(in_time.id, attempt=0, worker="w1", clock=lambda: T + timedelta(seconds=30))
    occurrence = ScheduledRun.objects.get(run=late)
    assert occurrence.overdue_at == Run.objects.get(pk=late.pk).finished_at == T + timedelta(seconds=90)
    assert ScheduledRun.objects.get(run=in_time).overdue_at is None, "finished within its deadline"
    (event,) = _overdue_events(late)
    assert event["status"] == "succeeded" and event["deadline_seconds"] == 60
    assert _overdue_metric(schedule.name) == before + 1
    assert deadlines.mark_overdue(T + timedelta(hours=1)) == [], "ended: nothing more to flag"


def test_the_deadline_is_frozen_in_the_run_so_a_run_without_one_ends_without_a_read(redis_db):
    """Every run's end used to read its occurrence to look for a deadline: a third of a noop run's task time."""
    from django.test.utils import CaptureQueriesContext

    from orchestrator.hooks import RunEnded

    _schedule, free = _dispatched(deadline_seconds=None)
    assert free.directive_snapshot["schedule"]["deadline_seconds"] == 0
    _schedule, bound = _dispatched(deadline_seconds=60)
    assert bound.directive_snapshot["schedule"]["deadline_seconds"] == 60
    ended = RunEnded(run_id=free.pk, job_key="noop", status="succeeded", snapshot=free.directive_snapshot)
    with CaptureQueriesContext(connection) as queries:
        deadlines.flag_late_end(ended)
    assert queries.captured_queries == []


def test_a_run_frozen_before_deadlines_were_frozen_is_still_checked_at_its_end(redis_db):
    _schedule, late = _dispatched(deadline_seconds=60)
    older = {**late.directive_snapshot}
    older["schedule"] = {k: v for k, v in older["schedule"].items() if k != "deadline_seconds"}
    Run.objects.filter(pk=late.pk).update(directive_snapshot=older)
    execution.execute_run(late.id, attempt=0, worker="w1", clock=lambda: T + timedelta(seconds=90))
    assert ScheduledRun.objects.get(run=late).overdue_at == T + timedelta(seconds=90)


def test_a_run_ending_before_its_frozen_deadline_ends_without_a_read(redis_db):
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from orchestrator.hooks import RunEnded

    _schedule, bound = _dispatched(deadline_seconds=60)
    snapshot = {**bound.directive_snapshot}
    snapshot["schedule"] = {**snapshot["schedule"], "scheduled_for": events.utc_stamp(timezone.now())}
    with CaptureQueriesContext(connection) as queries:
        deadlines.flag_late_end(RunEnded(run_id=bound.pk, job_key="noop", status="succeeded", snapshot=snapshot))
    assert queries.captured_queries == [], "ended (at the latest now) before scheduled_for + 60 s"
    snapshot["schedule"]["scheduled_for"] = events.utc_stamp(timezone.now() - timedelta(seconds=61))
    with CaptureQueriesContext(connection) as queries:
        deadlines.flag_late_end(RunEnded(run_id=bound.pk, job_key="noop", status="succeeded", snapshot=snapshot))
    assert len(queries.captured_queries) == 1, "possibly late: the occurrence is read"


def test_the_overdue_check_reads_only_the_schedules_with_a_deadline_and_their_flagged_runs(redis_db):
    """Flags are cleared lazily, so thousands may stand for ended runs: the check never visits those of
    schedules without a deadline (it looked each one's run up in a primary key as large as the history)."""
    from django.test.utils import CaptureQueriesContext

    _dispatched(deadline_seconds=None)
    with CaptureQueriesContext(connection) as queries:
        assert deadlines.mark_overdue(T + timedelta(hours=1)) == []
    (only,) = [q["sql"] for q in queries.captured_queries]
    assert "scheduling_scheduledrun" not in only and "orchestrator_run" not in only, "no deadline: no flag read"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + only)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "schedule_deadline_idx" in plan, plan
    schedule, run = _dispatched(deadline_seconds=60)
    with CaptureQueriesContext(connection) as queries:
        assert [item.run_id for item in deadlines.mark_overdue(T + timedelta(minutes=2))] == [run.pk]
    flags = next(q["sql"] for q in queries.captured_queries if "run_active" in q["sql"])
    assert f'schedule_id" IN ({schedule.pk})' in flags, "only the flags of schedules with a deadline"
