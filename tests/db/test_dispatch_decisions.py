"""The dispatch decisions through the beat's real tick on PostgreSQL and Redis, with a fixed clock.

Replace when another beat won the occurrence, jitter longer than the misfire grace, and jitter as
long as the gap: the scenarios another scheduler's test suite runs, through ``Dispatcher.cycle``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator import events
from orchestrator.models import ACTIVE_STATUSES, Run, RunStatus
from scheduling.core import jitter
from scheduling.engine.loop import Dispatcher
from scheduling.models import OccurrenceStatus, Schedule, ScheduledRun
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def beat(clock) -> Dispatcher:
    """A beat whose clock the test moves; maintenance kept out (the tick is what is tested)."""
    dispatcher = Dispatcher(clock=clock, prepare=False)
    dispatcher._last_maintenance = float("inf")
    return dispatcher


def test_replace_never_cancels_the_run_of_an_occurrence_another_beat_won(settings, tmp_path, redis_db):
    settings.EVENTS_PATH = tmp_path / "events.jsonl"
    schedule = factories.schedule("noop", interval_seconds=60, overlap_policy="replace")
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=NOW, due_at=NOW)
    # Another beat won NOW: its occurrence and its run are committed; this beat's view of the cursor is stale.
    theirs = factories.run_row("noop", trigger="schedule", now=NOW, status=RunStatus.QUEUED, queued_at=NOW)
    ScheduledRun.objects.create(
        schedule=schedule, scheduled_for=NOW, status=OccurrenceStatus.DISPATCHED, run=theirs, run_active=True
    )
    cycle = beat(lambda: NOW + timedelta(seconds=1)).cycle()
    assert cycle.tick is not None and cycle.tick.conflicts == 1 and cycle.tick.handled == []
    theirs.refresh_from_db()
    assert theirs.status == RunStatus.QUEUED, f"the winner's run was {theirs.status}: {theirs.error}"
    occurrence_runs = Run.objects.filter(occurrence__schedule=schedule, occurrence__scheduled_for=NOW)
    assert list(occurrence_runs.values_list("id", flat=True)) == [theirs.id]
    assert Run.objects.filter(status__in=ACTIVE_STATUSES).count() == 1
    assert not events.filter_events(events.iter_events(settings.EVENTS_PATH), event="run_cancelled")


def test_replace_still_cancels_an_earlier_occurrences_run_when_it_wins(settings, tmp_path, redis_db):
    settings.EVENTS_PATH = tmp_path / "events.jsonl"
    schedule = factories.schedule("noop", interval_seconds=60, overlap_policy="replace")
    earlier = NOW - timedelta(seconds=60)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=NOW, due_at=NOW)
    old = factories.run_row("noop", trigger="schedule", now=earlier, status=RunStatus.QUEUED, queued_at=earlier)
    ScheduledRun.objects.create(
        schedule=schedule, scheduled_for=earlier, status=OccurrenceStatus.DISPATCHED, run=old, run_active=True
    )
    cycle = beat(lambda: NOW + timedelta(seconds=1)).cycle()
    assert cycle.tick is not None and cycle.tick.count("dispatch") == 1
    old.refresh_from_db()
    assert old.status == RunStatus.CANCELLED and "replaced" in old.error
    cancelled = events.filter_events(events.iter_events(settings.EVENTS_PATH), event="run_cancelled")
    assert [e["run_id"] for e in cancelled] == [str(old.id)]


def test_a_jitter_longer_than_the_grace_loses_nothing_on_a_beat_that_is_on_time(redis_db):
    """The report's case: every 90 minutes, jitter one day, default grace: 19 occurrences in 28 hours, all run."""
    schedule = factories.schedule(
        "noop",
        interval_seconds=90 * 60,
        jitter_seconds=86_400,
        misfire_grace_seconds=3600,
        start_at=NOW,
        overlap_policy="allow",  # no worker runs them here: each run stays queued
    )
    first_due = jitter.due_time(schedule, schedule.pk, 86_400, NOW, None)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=NOW, due_at=first_due)  # as if created at NOW
    schedule.refresh_from_db()
    clock = {"now": NOW}
    dispatcher = beat(lambda: clock["now"])
    end = NOW + timedelta(hours=28)
    offsets = []
    while schedule.next_run_at is not None and schedule.next_run_at < end:
        offsets.append(schedule.due_at - schedule.next_run_at)
        clock["now"] = schedule.due_at + timedelta(milliseconds=200)  # a beat on time: a moment after the due time
        cycle = dispatcher.cycle()
        assert cycle.tick is not None and cycle.tick.errors == []
        schedule.refresh_from_db()
    rows = list(ScheduledRun.objects.filter(schedule=schedule).order_by("scheduled_for"))
    assert len(rows) == 19
    assert [row.status for row in rows] == [OccurrenceStatus.DISPATCHED] * 19, [r.reason for r in rows]
    assert [row.scheduled_for for row in rows] == [NOW + timedelta(minutes=90 * n) for n in range(19)]
    assert any(offset > timedelta(hours=1) for offset in offsets), "some offsets are longer than the grace"
    assert redis_db.llen("default") == 19


def test_a_jitter_as_long_as_the_gap_spreads_the_dispatches_over_it(redis_db):
    """Fifty minutely schedules with an hour of jitter: their next dispatches (of NOW) spread over the minute."""
    job = factories.job("noop")
    Schedule.objects.bulk_create(
        [
            Schedule(
                name=f"spread-{n}",
                job=job,
                kind="interval",
                interval_seconds=60,
                jitter_seconds=3600,
                next_run_at=NOW - timedelta(seconds=60),
                due_at=NOW - timedelta(seconds=60),
            )
            for n in range(50)
        ]
    )
    cycle = beat(lambda: NOW + timedelta(milliseconds=100)).cycle()
    assert cycle.tick is not None and cycle.tick.count("dispatch") == 50
    offsets = [
        (due_at - next_run_at).total_seconds()
        for next_run_at, due_at in Schedule.objects.values_list("next_run_at", "due_at")
    ]
    assert all(0 <= offset < 60 for offset in offsets)
    assert min(offsets) < 10 and max(offsets) > 50, offsets
    assert 20 < sum(offsets) / len(offsets) < 40, "uniform over the minute, not piled at its end"


def test_a_grace_of_zero_is_refused_with_the_field_named():
    from orchestrator.errors import ValidationError

    with pytest.raises(ValidationError) as caught:
        factories.schedule("noop", interval_seconds=60, misfire_grace_seconds=0)
    assert set(caught.value.errors) == {"misfire_grace_seconds"}
    assert "at least 1 second" in caught.value.errors["misfire_grace_seconds"][0]
    assert not Schedule.objects.exists()
