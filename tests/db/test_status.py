"""The status page's snapshot and the beat heartbeat hook, without live processes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.checks import run_checks
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orchestrator.models import Job
from scheduling.engine import heartbeat
from scheduling.engine.loop import Dispatcher
from scheduling.ops import status
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_heartbeat_hook_adds_no_query_and_one_redis_write_per_cycle(redis_db):
    factories.schedule("noop", name="later", kind="cron", cron="0 3 1 1 *")
    beat = heartbeat.BeatHeartbeat()
    with_hook, without = Dispatcher(on_cycle=beat.on_cycle), Dispatcher()
    for dispatcher in (with_hook, without):
        dispatcher.cycle()  # maintenance runs on the first cycle; the next ones are the hot path
    with CaptureQueriesContext(connection) as plain:
        without.cycle()
    with CaptureQueriesContext(connection) as hooked:
        with_hook.cycle()
    assert len(hooked) == len(plain) == 1
    written = redis_db.hgetall(beat.key)
    assert written[b"ticks"] == b"2" and int(written[b"pid"]) == beat.pid and b"last_tick_ms" in written
    assert 0 < redis_db.pttl(beat.key) <= 15_000
    beat.clear()
    assert not redis_db.exists(beat.key) and heartbeat.live_beats() == []


def test_snapshot_shows_slots_pending_overruns_and_due_occurrences(redis_db, settings):
    now = timezone.now()
    factories.job("sleep")
    Job.objects.filter(key="sleep").update(max_concurrency=2)
    factories.schedule("noop", name="every-20s", kind="interval", interval_seconds=20)
    factories.schedule("noop", name="yearly", kind="cron", cron="0 3 1 1 *")
    pending = factories.run_row("noop", created_at=now - timedelta(minutes=5))
    factories.run_row("noop")  # a newer pending run
    stuck = factories.run_row("sleep", status="running", started_at=now - timedelta(hours=2), worker="w1@host")
    factories.run_row("sleep", status="running", started_at=now - timedelta(seconds=5), worker="w1@host")
    redis_db.zadd("ostinato:limit:job:sleep", {str(stuck.id): (int(redis_db.time()[0]) + 60) * 1000})
    redis_db.zadd("ostinato:limit:job:sleep", {"expired-run": 1000})
    redis_db.rpush("default", b"message")

    snap = status.snapshot(now=now)

    assert snap.errors == {} and snap.workers == []
    assert snap.oldest_pending is not None and snap.oldest_pending.pk == pending.pk
    assert [o.run_id for o in snap.overruns] == [str(stuck.id)] and snap.overruns[0].worker == "w1@host"
    assert {"scope": "job:sleep", "in_use": 1, "capacity": 2} in snap.slots
    assert snap.queue_depths["default"] == 1
    # every-20s fires on multiples of 20s since the epoch: three in any minute; yearly: not due.
    assert snap.due_next_minute == 3 and snap.due_schedules == ["every-20s"]


def test_a_heartbeat_shorter_than_three_ticks_is_warned_about(settings):
    settings.SCHEDULER_TICK_SECONDS = 1.0
    settings.SCHEDULER_BEAT_HEARTBEAT_SECONDS = 2.0
    assert "scheduling.W002" in [message.id for message in run_checks()]
    settings.SCHEDULER_BEAT_HEARTBEAT_SECONDS = 15.0
    assert "scheduling.W002" not in [message.id for message in run_checks()]


def test_preparing_ahead_by_no_more_than_a_tick_is_warned_about(settings):
    settings.SCHEDULER_TICK_SECONDS = 1.0
    settings.SCHEDULER_PREPARE_AHEAD_SECONDS = 1.0
    assert "scheduling.W003" in [message.id for message in run_checks()]
    settings.SCHEDULER_PREPARE_MAX = 0  # never prepares: nothing to warn about
    assert "scheduling.W003" not in [message.id for message in run_checks()]
    settings.SCHEDULER_PREPARE_MAX = 5000
    settings.SCHEDULER_PREPARE_AHEAD_SECONDS = 2.0
    assert "scheduling.W003" not in [message.id for message in run_checks()]
