"""The dispatch step against real PostgreSQL and Redis, in-process with a fixed clock."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orchestrator.errors import ValidationError
from orchestrator.models import Run
from scheduling.engine import dispatch
from scheduling.engine.loop import Dispatcher
from scheduling.engine.reports import Cycle, TickReport
from scheduling.models import Schedule, ScheduledRun
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def bulk_schedules(count: int, *, due: bool, prefix: str) -> None:
    """``count`` minutely schedules, all due at NOW or all due in an hour (rows written in bulk)."""
    job = factories.job("noop")
    at = NOW if due else NOW + timedelta(hours=1)
    Schedule.objects.bulk_create(
        [
            Schedule(name=f"{prefix}-{i}", job=job, kind="interval", interval_seconds=60, next_run_at=at, due_at=at)
            for i in range(count)
        ]
    )


def idle_dispatcher() -> Dispatcher:
    dispatcher = Dispatcher(clock=lambda: NOW)
    dispatcher._last_maintenance = float("inf")  # keep maintenance out of the pinned count
    return dispatcher


@pytest.mark.parametrize("due", [0, 1, 50])
def test_a_ticks_query_count_does_not_grow_with_what_exists_or_what_is_due(due, redis_db):
    bulk_schedules(1000, due=False, prefix="later")
    bulk_schedules(due, due=True, prefix="now")
    dispatcher = idle_dispatcher()
    with CaptureQueriesContext(connection) as queries:
        cycle = dispatcher.cycle()
    # nothing due: the peek. Something due: peek, BEGIN, claim, active runs, occurrences, runs, advance,
    # COMMIT, mark queued: the same 9 statements for 1 or 50 due schedules among 1,000.
    expected = 1 if due == 0 else 9
    assert len(queries) == expected, [q["sql"][:120] for q in queries]
    assert cycle.tick is None if due == 0 else cycle.tick.count("dispatch") == due
    if due == 0:
        assert cycle.sleep_seconds == pytest.approx(1.0)  # capped at SCHEDULER_TICK_SECONDS
    assert redis_db.llen("default") == due


def test_the_schedule_table_carries_no_index_that_dispatch_pays_for_and_nothing_reads():
    """Each dispatch writes a new entry into every index of the schedule table (``due_at`` moves)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'scheduling_schedule'")
        names = {row[0] for row in cursor.fetchall()}
    assert not {name for name in names if name.endswith("_like")}, names  # varchar_pattern_ops: no LIKE 'x%' here
    # pk, unique name, due (partial), tenant, job, directive, resume (partial: only rows with a resume time,
    # which dispatch never writes) and deadline (partial: only schedules with a deadline, read by each
    # maintenance pass)
    assert len(names) == 8, names


def test_an_existing_occurrence_is_a_normal_outcome_not_an_error(redis_db):
    schedule = factories.schedule("noop", interval_seconds=60)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=NOW, due_at=NOW)
    ScheduledRun.objects.create(schedule=schedule, scheduled_for=NOW, status="dispatched")  # another beat won
    report = dispatch.dispatch_due(NOW + timedelta(seconds=1))
    assert report.conflicts == 1 and report.handled == [] and report.errors == []
    assert not Run.objects.exists(), "no run for an occurrence this tick did not win"
    schedule.refresh_from_db()
    assert schedule.next_run_at == NOW + timedelta(seconds=60), "the cursor still moves on"
    assert redis_db.llen("default") == 0


def test_an_edit_recomputes_the_next_run_in_the_same_transaction():
    # 03:07 Berlin is never on the five-minute grid, so the new cursor cannot equal the old one
    # whatever the wall clock says when the test runs.
    schedule = factories.schedule("noop", kind="cron", cron="7 3 * * *", timezone="Europe/Berlin")
    before = schedule.next_run_at
    assert before.minute == 7
    schedule.cron = "*/5 * * * *"
    schedule.save()
    schedule.refresh_from_db()
    assert schedule.next_run_at != before and schedule.next_run_at.minute % 5 == 0
    Schedule.objects.filter(pk=schedule.pk).update_timing(kind="interval", interval_seconds=1)
    schedule.refresh_from_db()
    assert schedule.kind == "interval" and schedule.due_at == schedule.next_run_at


def test_an_unrelated_edit_never_rewinds_the_beats_cursor():
    schedule = factories.schedule("noop", interval_seconds=60)
    stale = Schedule.objects.get(pk=schedule.pk)  # an admin form loaded the row...
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=NOW, due_at=NOW, last_run_at=NOW)  # ...a beat moved on
    stale.description = "edited meanwhile"
    stale.save()
    schedule.refresh_from_db()
    assert schedule.description == "edited meanwhile"
    assert (schedule.next_run_at, schedule.last_run_at) == (NOW, NOW)


def test_invalid_timing_is_rejected_at_the_model_and_nothing_is_written():
    good = factories.schedule("noop", kind="cron", cron="0 3 * * *")
    with pytest.raises(ValidationError) as caught:
        factories.schedule("noop", kind="cron", cron="61 * * * *", timezone="Mars/Base")
    assert set(caught.value.errors) == {"cron", "timezone"}
    good.interval_seconds = 0
    good.kind = "interval"
    with pytest.raises(ValidationError) as caught:
        good.save()
    assert set(caught.value.errors) == {"interval_seconds"}
    assert Schedule.objects.count() == 1
    assert Schedule.objects.get(pk=good.pk).kind == "cron"


def test_a_million_missed_occurrences_make_one_bounded_tick(redis_db):
    schedule = factories.schedule("noop", interval_seconds=1, misfire_policy="run_once")
    ten_days_ago = NOW - timedelta(days=10)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=ten_days_ago, due_at=ten_days_ago)
    with CaptureQueriesContext(connection) as queries:
        report = dispatch.dispatch_due(NOW)
    assert len(queries) <= 12  # a bounded number of statements, whatever the backlog
    rows = ScheduledRun.objects.filter(schedule=schedule)
    assert rows.count() <= 2 * 1000 + 2
    assert sum(rows.values_list("missed_count", flat=True)) == 10 * 86400 + 1
    assert rows.filter(status="dispatched").count() == 1 and report.published == 1
    assert rows.filter(missed_count__gt=1).count() >= 1
    schedule.refresh_from_db()
    assert schedule.next_run_at == NOW + timedelta(seconds=1)


def test_a_one_off_runs_once_and_disables_itself(redis_db):
    schedule = factories.schedule("noop", kind="once", run_at=NOW + timedelta(minutes=5))
    Schedule.objects.filter(pk=schedule.pk).update(due_at=NOW)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=NOW, run_at=NOW)
    report = dispatch.dispatch_due(NOW + timedelta(seconds=1))
    assert report.count("dispatch") == 1
    schedule.refresh_from_db()
    assert not schedule.enabled and schedule.next_run_at is None


def test_a_broken_schedule_does_not_stop_the_others(redis_db):
    broken = factories.schedule("noop", interval_seconds=60)
    healthy = factories.schedule("noop", interval_seconds=60)
    Schedule.objects.filter(pk__in=[broken.pk, healthy.pk]).update(next_run_at=NOW, due_at=NOW)
    Schedule.objects.filter(pk=broken.pk).update(kind="cron", cron="not a cron")  # bypassing validation
    report = dispatch.dispatch_due(NOW)
    assert [h.schedule for h in report.handled] == [healthy.name]
    assert report.errors and broken.name in report.errors[0]
    broken.refresh_from_db()
    assert broken.due_at == NOW + timedelta(minutes=1), "retried a minute later, not in a hot loop"


def test_a_burst_is_dispatched_two_batches_at_a_time_each_run_once_and_fully_reported(settings, redis_db, monkeypatch):
    settings.SCHEDULER_BATCH_SIZE = 7
    bulk_schedules(40, due=True, prefix="burst")
    threads: list[str] = []
    dispatch_due = dispatch.dispatch_due

    def recording(now: datetime) -> TickReport:
        threads.append(threading.current_thread().name)
        return dispatch_due(now)

    monkeypatch.setattr(dispatch, "dispatch_due", recording)
    dispatcher = idle_dispatcher()
    cycles: list[Cycle] = []
    try:
        while not cycles or cycles[-1].sleep_seconds == 0:
            cycles.append(dispatcher.cycle())
    finally:
        dispatcher.close()
    # a full first batch starts the burst: from then on each cycle dispatches two batches at once
    assert threads[0] == "MainThread" and "beat-helper_0" in threads[1:3]
    reports = [cycle.tick for cycle in cycles if cycle.tick is not None]
    assert len(reports) < 40 // 7 + 1, "fewer cycles than batches"
    assert sum(r.claimed for r in reports) == 40 and sum(r.published for r in reports) == 40
    assert sum(r.count("dispatch") for r in reports) == 40
    runs = {str(run.id) for run in Run.objects.filter(status="queued")}
    sent = [json.loads(raw)["headers"]["id"] for raw in redis_db.lrange("default", 0, -1)]
    assert len(runs) == 40 and sorted(sent) == sorted(runs), "every run published exactly once"
    assert dispatcher._helper is None
