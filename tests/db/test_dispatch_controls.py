"""The beat's tick with the schedule controls, against real PostgreSQL: calendars and limited runs."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orchestrator.models import Run
from scheduling.engine import dispatch
from scheduling.models import Calendar, Schedule, ScheduledRun
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

SATURDAY = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


def due_now(schedule: Schedule, at: datetime) -> None:
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=at, due_at=at)


def test_a_fire_time_a_calendar_excludes_is_recorded_skipped_and_never_runs(redis_db):
    weekends = Calendar.objects.create(name="weekends", crons=["* * * * 6,0"])
    window = Calendar.objects.create(name="window", timezone="Europe/Berlin", crons=["* 10 * * *"])
    excluded = factories.schedule("noop", interval_seconds=3600)
    excluded.calendars.set([weekends, window])
    plain = factories.schedule("noop", interval_seconds=3600)
    for row in (excluded, plain):
        due_now(row, SATURDAY)
    with CaptureQueriesContext(connection) as queries:
        report = dispatch.dispatch_due(SATURDAY + timedelta(seconds=1))
    calendar_reads = [q for q in queries if "scheduling_calendar" in q["sql"] and "JOIN" in q["sql"]]
    assert len(calendar_reads) == 1, "one statement reads the claimed schedules' calendars"
    assert report.count("skip") == 1 and report.count("dispatch") == 1
    occurrence = ScheduledRun.objects.get(schedule=excluded)
    # 09:00 UTC on a Saturday is 10:00 in Berlin: both exclude it; the first by name reports it
    assert occurrence.status == "skipped" and occurrence.run is None
    assert occurrence.reason == "excluded by calendar 'weekends'"
    assert not Run.objects.filter(directive_snapshot__schedule__id=excluded.pk).exists()
    excluded.refresh_from_db()
    assert excluded.next_run_at == SATURDAY + timedelta(hours=1) and excluded.enabled


def test_schedules_without_calendars_pay_no_extra_statement(redis_db):
    factories.schedule("noop", interval_seconds=60)
    due_now(Schedule.objects.get(), SATURDAY)
    with CaptureQueriesContext(connection) as queries:
        dispatch.dispatch_due(SATURDAY + timedelta(seconds=1))
    assert not [q for q in queries if "scheduling_calendar" in q["sql"] and "JOIN" in q["sql"]]


def test_remaining_runs_are_taken_in_the_dispatch_transaction_and_stop_at_zero(redis_db):
    schedule = factories.schedule("noop", interval_seconds=60, remaining_runs=2, overlap_policy="allow")
    due_now(schedule, SATURDAY)
    for minute in range(4):
        dispatch.dispatch_due(SATURDAY + timedelta(minutes=minute, seconds=1))
    schedule.refresh_from_db()
    assert schedule.remaining_runs == 0
    assert schedule.next_run_at is None and schedule.due_at is None, "no more occurrences: none is due"
    assert ScheduledRun.objects.filter(schedule=schedule, status="dispatched").count() == 2
    unlimited = factories.schedule("noop", interval_seconds=60)
    due_now(unlimited, SATURDAY)
    dispatch.dispatch_due(SATURDAY + timedelta(seconds=1))
    unlimited.refresh_from_db()
    assert unlimited.remaining_runs is None, "empty stays empty (unlimited)"


def test_a_run_now_takes_none_of_the_remaining_runs(redis_db):
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    from scheduling.surfaces import actions

    schedule = factories.schedule("noop", interval_seconds=60, remaining_runs=1, overlap_policy="allow")
    run = actions.run_now(schedule)
    api = APIClient()
    api.force_login(User.objects.create_superuser("root", password="root-password-1"))
    assert api.post(f"/api/schedules/{schedule.pk}/run-now/").status_code in (200, 201, 202)
    schedule.refresh_from_db()
    assert run.trigger == "manual" and Run.objects.filter(occurrence__schedule=schedule).count() == 2
    assert schedule.remaining_runs == 1 and schedule.next_run_at is not None, "two manual runs took none"
    due_now(schedule, SATURDAY)
    dispatch.dispatch_due(SATURDAY + timedelta(seconds=1))
    schedule.refresh_from_db()
    assert schedule.remaining_runs == 0, "the scheduled occurrence took the one left"
    scheduled = ScheduledRun.objects.filter(schedule=schedule, scheduled_for__isnull=False, status="dispatched")
    assert scheduled.count() == 1


def test_two_beats_racing_take_each_run_once(redis_db, settings):
    """Twenty schedules with one run left each, two beats ticking at once: twenty runs, no more."""
    job = factories.job("noop")
    Schedule.objects.bulk_create(
        [
            Schedule(
                name=f"once-more-{i}", job=job, kind="interval", interval_seconds=60, remaining_runs=1,
                next_run_at=SATURDAY, due_at=SATURDAY,
            )
            for i in range(20)
        ]
    )  # fmt: skip
    settings.SCHEDULER_BATCH_SIZE = 5
    barrier = threading.Barrier(2)

    def beat() -> None:
        barrier.wait()
        try:
            for step in range(8):
                dispatch.dispatch_due(SATURDAY + timedelta(seconds=1, minutes=step))
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert Run.objects.count() == 20
    assert ScheduledRun.objects.filter(status="dispatched").count() == 20
    assert set(Schedule.objects.values_list("remaining_runs", flat=True)) == {0}
    assert not Schedule.objects.filter(next_run_at__isnull=False).exists()


def test_an_edit_never_gives_back_a_run_the_beat_took(redis_db):
    schedule = factories.schedule("noop", interval_seconds=60, remaining_runs=5)
    stale = Schedule.objects.get(pk=schedule.pk)  # an admin form loaded before the tick
    due_now(schedule, SATURDAY)
    dispatch.dispatch_due(SATURDAY + timedelta(seconds=1))
    stale.description = "edited while the beat dispatched"
    stale.save()
    stale.refresh_from_db()
    assert stale.remaining_runs == 4 and stale.description.startswith("edited")


def test_giving_runs_back_to_a_finished_schedule_resumes_it():
    schedule = factories.schedule("noop", interval_seconds=60, remaining_runs=0)
    cursors = [schedule.next_run_at]
    for runs in (3, 0):
        schedule.remaining_runs = runs
        schedule.save()
        cursors.append(Schedule.objects.get(pk=schedule.pk).next_run_at)
    assert cursors[0] is None and cursors[1] is not None and cursors[2] is None


def test_re_enabling_a_paused_schedule_clears_its_pause_and_failure_streak():
    schedule = factories.schedule("noop", interval_seconds=60)
    Schedule.objects.filter(pk=schedule.pk).update(
        enabled=False, pause_note="db migration", paused_by="alice", paused_at=SATURDAY, failure_streak=3
    )
    row = Schedule.objects.get(pk=schedule.pk)
    assert row.paused
    row.enabled = True
    row.save()
    row.refresh_from_db()
    assert (row.pause_note, row.paused_by, row.paused_at, row.resume_at, row.failure_streak) == ("", "", None, None, 0)
    assert not row.paused and row.next_run_at is not None


def test_resume_at_is_refused_on_a_schedule_that_is_not_paused():
    from orchestrator.errors import ValidationError

    schedule = factories.schedule("noop", interval_seconds=60)
    schedule.resume_at = SATURDAY
    with pytest.raises(ValidationError) as caught:
        schedule.save()
    assert "resume_at" in caught.value.errors
