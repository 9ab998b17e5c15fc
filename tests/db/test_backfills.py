"""Backfills against real PostgreSQL and Redis: request, fill in batches, exactly once, calendars, cancel."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections

from orchestrator import events
from orchestrator.errors import BackfillStateError, ValidationError
from orchestrator.models import Run, RunStatus
from scheduling.engine import backfills, buffered, maintenance
from scheduling.models import Backfill, Calendar, Schedule, ScheduledRun
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # a Monday
NOW = datetime(2026, 2, 1, tzinfo=UTC)


def hourly(**fields):
    return factories.schedule("noop", interval_seconds=3600, **fields)


def occurrences(backfill: Backfill) -> list[ScheduledRun]:
    return list(ScheduledRun.objects.filter(backfill=backfill).order_by("scheduled_for"))


def events_named(name: str, schedule_id: int) -> list[dict]:
    """This test's events (the event log is shared by the tests of a process)."""
    return [e for e in events.iter_events() if e["event"] == name and e.get("schedule_id") == schedule_id]


def end_runs(schedule_id: int) -> None:
    Run.objects.filter(directive_snapshot__schedule__id=schedule_id).exclude(status=RunStatus.CANCELLED).update(
        status=RunStatus.SUCCEEDED
    )


def test_a_request_counts_the_fire_times_of_the_half_open_range_and_records_who(redis_db):
    schedule = hourly()
    backfill = backfills.request(schedule, start=START, end=START + timedelta(hours=10), by="ada", now=NOW)
    assert (backfill.count, backfill.created, backfill.status) == (10, 0, "running")
    assert backfill.overlap_policy == "buffer_all" and backfill.requested_by == "ada"
    assert not ScheduledRun.objects.exists(), "a request creates nothing itself; the beats fill it"
    [started] = events_named("backfill_started", schedule.pk)
    assert started["backfill_id"] == backfill.pk and started["count"] == 10 and started["by"] == "ada"


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"start": START.replace(tzinfo=None)}, "start", "time zone"),
        ({"end": "yesterday"}, "end", "date and time"),
        ({"end": START}, "end", "after start"),
        ({"end": NOW + timedelta(hours=1)}, "end", "must not be after now"),
        ({"overlap_policy": "replace"}, "overlap_policy", "buffer_all, allow"),
        ({"start": START + timedelta(minutes=1), "end": START + timedelta(minutes=2)}, "start", "no fire time"),
    ],
)
def test_a_bad_request_names_the_field_and_writes_nothing(redis_db, changes, field, words):
    schedule = hourly()
    given = {"start": START, "end": START + timedelta(hours=3), "overlap_policy": "buffer_all", **changes}
    with pytest.raises(ValidationError) as raised:
        backfills.request(schedule, by="ada", now=NOW, **given)
    assert list(raised.value.errors) == [field]
    assert words in raised.value.errors[field][0]
    assert not Backfill.objects.exists()


def test_a_range_over_the_cap_is_refused(redis_db, settings):
    settings.SCHEDULER_BACKFILL_MAX = 5
    with pytest.raises(ValidationError) as raised:
        backfills.request(hourly(), start=START, end=START + timedelta(hours=6), by="ada", now=NOW)
    assert "more than 5 fire times" in raised.value.errors["end"][0]
    cron = factories.schedule("noop", kind="cron", cron="*/30 * * * *")
    assert backfills.request(cron, start=START, end=START + timedelta(hours=2, minutes=30), by="a", now=NOW).count == 5


def test_fill_makes_batches_leaves_existing_occurrences_alone_and_buffers_one_after_another(redis_db, settings):
    settings.SCHEDULER_BACKFILL_BATCH = 4
    schedule = hourly()
    mine = ScheduledRun.objects.create(schedule=schedule, scheduled_for=START + timedelta(hours=2), status="missed")
    backfill = backfills.request(schedule, start=START, end=START + timedelta(hours=10), by="ada", now=NOW)
    assert backfills.fill(NOW) == 3, "four fire times looked at, one already had an occurrence"
    backfill.refresh_from_db()
    assert backfill.created == 3 and backfill.cursor == START + timedelta(hours=4)
    assert backfills.fill(NOW) == 4 and backfills.fill(NOW) == 2 and backfills.fill(NOW) == 0
    backfill.refresh_from_db()
    assert backfill.created == 9 and backfill.cursor is None and backfill.status == "running"
    mine.refresh_from_db()
    assert mine.status == "missed" and mine.backfill is None and mine.trigger == "schedule"
    rows = occurrences(backfill)
    assert [row.scheduled_for.hour for row in rows] == [0, 1, 3, 4, 5, 6, 7, 8, 9]
    assert {(row.status, row.trigger) for row in rows} == {("buffered", "backfill")}
    remaining = schedule.remaining_runs
    for hour in (0, 1):
        released = buffered.release_buffered(NOW)
        assert len(released) == 1 and released[0].trigger == "backfill"
        assert buffered.release_buffered(NOW) == [], "one at a time: the next waits for this run to end"
        run = Run.objects.get(id=released[0].id)
        assert run.trigger == "backfill" and run.status == "queued"
        assert run.directive_snapshot["schedule"]["scheduled_for"].startswith(f"2026-01-05T0{hour}:00:00")
        end_runs(schedule.pk)
    while buffered.release_buffered(NOW):
        end_runs(schedule.pk)
    assert backfills.fill(NOW) == 0
    backfill.refresh_from_db()
    assert backfill.status == "finished" and backfill.finished_at == NOW
    schedule.refresh_from_db()
    assert schedule.remaining_runs == remaining, "backfill occurrences do not take remaining_runs"
    [finished] = events_named("backfill_finished", schedule.pk)
    assert finished["status"] == "finished" and finished["created"] == 9
    assert backfill.progress() == {"occurrences": {"dispatched": 9}, "runs": {"succeeded": 9}}


def test_allow_dispatches_at_once_and_calendars_exclude(redis_db):
    weekends = Calendar.objects.create(name="weekends", crons=["* * * * 6,0"])
    schedule = factories.schedule("noop", kind="cron", cron="0 9 * * *")
    schedule.calendars.set([weekends])
    backfill = backfills.request(
        schedule, start=START, end=START + timedelta(days=7), overlap_policy="allow", by="ada", now=NOW
    )
    assert backfill.count == 7
    assert maintenance.maintain(NOW).backfilled == 7
    rows = occurrences(backfill)
    assert [row.status for row in rows] == ["dispatched"] * 5 + ["skipped"] * 2
    assert rows[-1].reason == "excluded by calendar 'weekends'" and rows[-1].run is None
    assert {row.run.trigger for row in rows[:5]} == {"backfill"}
    assert {row.run.status for row in rows[:5]} == {"queued"}, "published after commit"
    skipped = events_named("run_skipped", schedule.pk)
    assert len(skipped) == 2 and {event["trigger"] for event in skipped} == {"backfill"}
    assert backfill.progress() == {"occurrences": {"dispatched": 5, "skipped": 2}, "runs": {"queued": 5}}
    backfills.fill(NOW)
    backfill.refresh_from_db()
    assert backfill.status == "running", "its runs have not ended yet"
    end_runs(schedule.pk)
    backfills.fill(NOW)
    backfill.refresh_from_db()
    assert backfill.status == "finished"


def test_two_fills_racing_create_each_fire_time_exactly_once(redis_db, settings):
    settings.SCHEDULER_BACKFILL_BATCH = 50
    schedule = hourly()
    backfill = backfills.request(schedule, start=START, end=START + timedelta(hours=400), by="ada", now=NOW)
    counts: list[int] = []
    errors: list[BaseException] = []
    for _ in range(6):
        barrier = threading.Barrier(2)

        def race(barrier: threading.Barrier = barrier) -> None:
            try:
                barrier.wait(timeout=10)
                counts.append(backfills.fill(NOW))
            except BaseException as exc:  # reported by the test
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=race) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors
    while backfills.fill(NOW):
        pass
    backfill.refresh_from_db()
    assert sum(counts) <= 400 and backfill.created == 400
    rows = occurrences(backfill)
    assert len(rows) == 400 and len({row.scheduled_for for row in rows}) == 400


def test_a_dry_run_lists_new_fire_times_marks_excluded_ones_and_writes_nothing(redis_db):
    weekends = Calendar.objects.create(name="weekends", crons=["* * * * 6,0"])
    schedule = factories.schedule("noop", kind="cron", cron="0 9 * * *")
    schedule.calendars.set([weekends])
    ScheduledRun.objects.create(schedule=schedule, scheduled_for=START + timedelta(hours=9), status="dispatched")
    preview = backfills.preview(schedule, START, START + timedelta(days=7))
    assert preview.count == 7 and preview.existing == 1
    assert [item.at.day for item in preview.fire_times] == [6, 7, 8, 9, 10, 11]
    assert [item.excluded for item in preview.fire_times][-2:] == ["weekends", "weekends"]
    assert [item.excluded for item in preview.fire_times][:4] == [None] * 4
    assert len(backfills.preview(schedule, START, START + timedelta(days=7), limit=2).fire_times) == 2
    assert ScheduledRun.objects.count() == 1 and not Backfill.objects.exists()


def test_cancel_skips_what_is_buffered_cancels_what_waits_and_keeps_what_ran(redis_db):
    schedule = hourly()
    backfill = backfills.request(schedule, start=START, end=START + timedelta(hours=6), by="ada", now=NOW)
    backfills.fill(NOW)
    [first] = buffered.release_buffered(NOW)
    Run.objects.filter(id=first.id).update(status=RunStatus.SUCCEEDED)
    [second] = buffered.release_buffered(NOW)  # queued, not started: cancelled
    cancelled = backfills.cancel(backfill, by="grace", now=NOW)
    assert cancelled.status == "cancelled" and cancelled.finished_at == NOW
    assert Run.objects.get(id=first.id).status == "succeeded"
    assert Run.objects.get(id=second.id).status == "cancelled"
    rows = occurrences(backfill)
    assert [row.status for row in rows] == ["dispatched", "dispatched"] + ["skipped"] * 4
    assert {row.reason for row in rows[2:]} == {"backfill cancelled"}
    assert buffered.release_buffered(NOW) == []
    [finished] = events_named("backfill_finished", schedule.pk)
    assert finished["status"] == "cancelled" and finished["by"] == "grace" and finished["skipped"] == 4
    with pytest.raises(BackfillStateError):
        backfills.cancel(backfill, by="grace", now=NOW)
    assert backfills.fill(NOW) == 0


def test_a_pass_makes_no_batch_while_normal_dispatch_is_behind(redis_db):
    schedule = hourly()
    backfill = backfills.request(schedule, start=START, end=START + timedelta(hours=3), by="ada", now=NOW)
    late = factories.schedule("noop", interval_seconds=60)
    Schedule.objects.filter(pk=late.pk).update(
        due_at=NOW - timedelta(seconds=5), next_run_at=NOW - timedelta(seconds=5)
    )
    assert backfills.fill(NOW) == 0, "a schedule due 5 s ago goes first"
    Schedule.objects.filter(pk=late.pk).update(due_at=NOW - timedelta(milliseconds=500))
    assert backfills.fill(NOW) == 3, "half a second late is on time: the batch is made"
    backfill.refresh_from_db()
    assert backfill.created == 3


def test_allow_dispatches_every_fire_time_at_once_and_the_jobs_max_concurrency_still_holds(redis_db):
    """``allow`` queues the whole range at once; the workers still run at most the job's max_concurrency."""
    from workers import tasks
    from workers.delivery import WAITING_PREFIX, limits_for

    factories.job("noop", max_concurrency=2)
    schedule = hourly()
    backfill = backfills.request(
        schedule, start=START, end=START + timedelta(hours=5), overlap_policy="allow", by="ada", now=NOW
    )
    assert maintenance.maintain(NOW).backfilled == 5
    runs = [row.run for row in occurrences(backfill)]
    assert {run.status for run in runs} == {"queued"} and {run.trigger for run in runs} == {"backfill"}
    limits = limits_for(runs[0])
    assert [limit.label for limit in limits][:1] == ["job noop max_concurrency=2"]
    for run in runs[:2]:  # two of them started on workers: each holds a slot, as a worker's delivery takes it
        assert tasks.leases().acquire(run.id, limits_for(run), ttl_seconds=60).granted
    for run in runs[2:]:
        assert tasks.run.apply(args=(str(run.id), run.attempt)).get() == tasks.WAITING
    for run in Run.objects.filter(pk__in=[run.pk for run in runs[2:]]):
        assert run.status == RunStatus.PENDING and run.started_at is None, "held back, not dropped"
        assert run.wait_reason.startswith(f"{WAITING_PREFIX}: job noop max_concurrency=2, 2 in use")
    tasks.leases().release(runs[0].id)  # one of the two ended: its slot is free for one more
    third = Run.objects.get(pk=runs[2].pk)
    assert tasks.run.apply(args=(str(third.id), third.attempt)).get() == RunStatus.SUCCEEDED


def test_a_pass_takes_fewer_fire_times_that_become_runs_at_once(redis_db, settings):
    """An ``allow`` fire time also writes and publishes its run: it weighs RUN_WEIGHT against the
    pass's budget, so one pass holds the other schedules' dispatch no longer than a buffered batch."""
    settings.SCHEDULER_BACKFILL_BATCH = 10
    buffered_one = backfills.request(hourly(), start=START, end=START + timedelta(days=1), by="ada", now=NOW)
    assert backfills.fill(NOW) == 10
    Backfill.objects.filter(pk=buffered_one.pk).update(status="cancelled")
    allowed = backfills.request(
        hourly(), start=START, end=START + timedelta(days=1), overlap_policy="allow", by="ada", now=NOW
    )
    assert backfills.fill(NOW) == int(10 / backfills.RUN_WEIGHT) == 4
    assert Run.objects.filter(trigger="backfill").count() == 4
    allowed.refresh_from_db()
    assert allowed.cursor == START + timedelta(hours=4)
