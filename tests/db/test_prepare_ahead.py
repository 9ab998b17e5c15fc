"""A burst announced ahead is prepared before its moment and committed and published at it, never before."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from orchestrator.models import Run, RunStatus
from scheduling.engine.loop import Dispatcher
from scheduling.engine.reports import Handled
from scheduling.models import OccurrenceStatus, Schedule, ScheduledRun
from tests import factories
from tests.processes import wait_until
from tests.records import run_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def burst_settings(settings):
    settings.SCHEDULER_BATCH_SIZE = 5
    settings.SCHEDULER_PREPARE_AHEAD_SECONDS = 6.0  # room for a slow machine to set the scene before the moment
    settings.SCHEDULER_PREPARE_MAX = 50
    settings.SCHEDULER_MAINTENANCE_SECONDS = 3600.0  # recovery plays no part here
    return settings


def _due_together(count: int, at, **fields) -> list[Schedule]:
    job = factories.job("noop")
    return Schedule.objects.bulk_create(
        [
            Schedule(
                name=f"burst-{i}", job=job, kind="interval", interval_seconds=3600, start_at=at,
                next_run_at=at, due_at=at, overlap_policy="allow", **fields,
            )
            for i in range(count)
        ]
    )  # fmt: skip


def test_a_burst_is_written_ahead_and_committed_and_published_at_its_moment(burst_settings, redis_db):
    moment = timezone.now() + timedelta(seconds=4)
    _due_together(12, moment)
    busy = factories.schedule(
        "noop", name="busy", kind="interval", interval_seconds=3600, start_at=moment, overlap_policy="skip"
    )
    Schedule.objects.filter(pk=busy.pk).update(next_run_at=moment, due_at=moment)
    active = run_for(busy, status=RunStatus.RUNNING, scheduled_for=moment - timedelta(hours=1))

    dispatcher = Dispatcher()
    try:
        first = dispatcher.cycle()
        assert first.tick is None and 0 < first.sleep_seconds <= 1.0  # the loop goes on as usual
        # the preparation holds the due rows (another beat's claim skips them) and nothing is visible yet
        preparing = dispatcher._preparing
        assert preparing is not None  # started by the first cycle
        # (looked at only once it holds: the probe's own SKIP LOCKED must not take rows from its claim)
        wait_until(lambda: _holding() or preparing.done(), timeout=10, message="the burst to be written ahead")
        assert not preparing.done(), preparing.result()  # a preparation that ended early says why
        assert _held() == 13
        assert timezone.now() < moment
        assert ScheduledRun.objects.filter(scheduled_for=moment).count() == 0
        assert Run.objects.exclude(pk=active.pk).count() == 0 and redis_db.llen("default") == 0

        # the ending run frees "busy": its decision was left for the tick at the moment
        Run.objects.filter(pk=active.pk).update(status=RunStatus.SUCCEEDED, finished_at=timezone.now())

        visible_at = None
        while visible_at is None:
            if ScheduledRun.objects.filter(scheduled_for=moment).exists():
                visible_at = timezone.now()
            time.sleep(0.005)
        assert visible_at >= moment - timedelta(milliseconds=10)  # committed at the moment, not before

        handled: list[Handled] = []
        published: list[datetime | None] = []
        deadline = time.monotonic() + 15
        while len(handled) < 13 and time.monotonic() < deadline:
            cycle = dispatcher.cycle()
            if cycle.tick is not None and cycle.tick.handled:
                handled += cycle.tick.handled
                published.append(cycle.tick.published_at)
            time.sleep(min(cycle.sleep_seconds, 0.05))
    finally:
        dispatcher.close()
    # the lag the metric shows counts from the moment to the publish after the commit, not 0
    assert published and all(when is not None and moment < when <= timezone.now() for when in published)

    assert sorted(h.schedule for h in handled) == sorted([f"burst-{i}" for i in range(12)] + ["busy"])
    assert all(h.action == "dispatch" and h.scheduled_for == moment for h in handled)
    # exactly once: one occurrence and one message each, and "busy" was judged with its run ended
    occurrences = ScheduledRun.objects.filter(scheduled_for=moment)
    assert occurrences.count() == 13 and set(occurrences.values_list("status", flat=True)) == {
        OccurrenceStatus.DISPATCHED
    }
    assert redis_db.llen("default") == 13
    assert all(when == moment for when in occurrences.values_list("dispatched_at", flat=True))
    assert not Schedule.objects.filter(due_at__lte=moment).exists()  # every schedule advanced


def test_a_small_or_disabled_burst_is_not_prepared(burst_settings, redis_db):
    moment = timezone.now() + timedelta(seconds=4)
    _due_together(4, moment)  # fewer than SCHEDULER_BATCH_SIZE
    dispatcher = Dispatcher()
    try:
        dispatcher.cycle()
        assert not _preparing(dispatcher)
        job = factories.job("noop")
        Schedule.objects.bulk_create(
            [Schedule(name=f"more-{i}", job=job, kind="interval", interval_seconds=60, start_at=moment,
                      next_run_at=moment, due_at=moment) for i in range(10)]
        )  # fmt: skip
        burst_settings.SCHEDULER_PREPARE_MAX = 0  # off: every occurrence is claimed when due
        dispatcher._prepared_for = None  # as if this moment had not been looked at
        dispatcher.cycle()
        assert not _preparing(dispatcher) and _held() == 0
        burst_settings.SCHEDULER_PREPARE_MAX = 50  # on again: the same burst is prepared
        dispatcher._prepared_for = None
        dispatcher.cycle()
        assert _preparing(dispatcher)
    finally:
        dispatcher.close()  # commits and publishes the prepared burst first
    assert redis_db.llen("default") == 14


def _preparing(dispatcher: Dispatcher) -> bool:
    return dispatcher._preparing is not None


def _holding() -> bool:
    """A transaction is written and waiting for its moment (its last statement ran the deferred checks)."""
    return bool(
        _count(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'idle in transaction' AND query LIKE 'SET CONSTRAINTS ALL IMMEDIATE%%'"
        )
    )


def _held() -> int:
    """Due schedules a claim from this connection would skip (rows locked by another transaction)."""
    return _count(
        "SELECT count(*) FROM scheduling_schedule WHERE enabled AND id NOT IN "
        "(SELECT id FROM scheduling_schedule WHERE enabled FOR UPDATE SKIP LOCKED)"
    )


def _count(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        (count,) = cursor.fetchone()
    return int(count)
