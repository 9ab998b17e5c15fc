"""Exactly once with many beats, a beat killed between commit and publish, and Redis going away.

Real processes throughout. Executions are counted on the worker side (``run_started`` events
written by the worker as it claims a run), not only as rows.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from orchestrator import events
from orchestrator.models import Run
from scheduling.models import Schedule, ScheduledRun
from tests import factories
from tests.helpers import QUICK, start_private_redis, wait_ready
from tests.processes import free_port, wait_until

FINAL = ("succeeded", "failed", "timed_out", "cancelled")


def executions_by_run() -> Counter[str]:
    return Counter(e["run_id"] for e in events.iter_events() if e.get("event") == "run_started")


def assert_consecutive(schedule: Schedule, first, last) -> list[ScheduledRun]:
    """Every second from ``first`` to ``last`` is an occurrence of ``schedule`` (run, skipped or missed)."""
    rows = list(
        ScheduledRun.objects.filter(schedule=schedule, scheduled_for__gte=first, scheduled_for__lte=last).order_by(
            "scheduled_for"
        )
    )
    times = [row.scheduled_for for row in rows]
    expected = int((last - first).total_seconds()) + 1
    missing = sorted({first + timedelta(seconds=i) for i in range(expected)} - set(times))
    assert not missing, f"{schedule.name}: {len(missing)} occurrences absent, first {missing[:3]}"
    assert len(times) == len(set(times)) == expected
    return rows


def test_a_beat_killed_between_commit_and_publish_loses_nothing(live, redis_db):
    worker = live.worker(env=QUICK)
    wait_ready(worker)
    crashing = live.beat("beat-crashing", env={**QUICK, "SCHEDULER_FAULT_CRASH_AFTER_COMMIT": "1"})
    wait_ready(crashing)
    schedule = factories.schedule("noop", interval_seconds=1)
    crashing.popen.wait(timeout=30)
    assert crashing.popen.returncode == 17, crashing.tail()
    [orphan] = Run.objects.filter(occurrence__schedule=schedule)
    assert orphan.status == "pending" and redis_db.llen("default") == 0, "committed, never published"

    wait_ready(live.beat(env=QUICK))
    done = wait_until(
        lambda: Run.objects.filter(id=orphan.id, status="succeeded").first(), timeout=30, message="recovery"
    )
    enqueued = [e for e in events.events_for_run(done.id) if e["event"] == "schedule_enqueued"]
    assert len(enqueued) == 1 and enqueued[0]["recovered"] is True
    assert executions_by_run()[str(done.id)] == 1
    wait_until(lambda: Run.objects.filter(occurrence__schedule=schedule, status="succeeded").count() >= 3, timeout=30)


def test_redis_down_for_ten_seconds_then_back_everything_is_published_exactly_once(live, settings):
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    env = {**QUICK, "REDIS_URL": url}
    settings.SCHEDULER_REDIS_URL = url
    server = start_private_redis(live, port)
    worker = live.worker(env=env, concurrency=2)
    beat = live.beat(env=env)
    wait_ready(worker)
    wait_ready(beat)
    # allow: every occurrence during the outage becomes a run (skip would keep one pending run and skip the rest)
    schedule = factories.schedule("noop", interval_seconds=1, overlap_policy="allow")
    wait_until(lambda: Run.objects.filter(status="succeeded").count() >= 3, timeout=30, message="a few runs")

    server.stop()
    down_at = timezone.now()
    time.sleep(10)
    up_at = timezone.now()
    server = start_private_redis(live, port)

    def outage_runs_done() -> bool:
        during = Run.objects.filter(created_at__gte=down_at, created_at__lte=up_at)
        return during.count() >= 8 and not during.exclude(status="succeeded").exists()

    wait_until(outage_runs_done, timeout=60, message="the runs created during the outage to run")
    Schedule.objects.filter(pk=schedule.pk).set_enabled(False)
    wait_until(lambda: not Run.objects.exclude(status__in=FINAL).exists(), timeout=60, message="all runs to end")

    first = ScheduledRun.objects.filter(schedule=schedule).order_by("scheduled_for").first().scheduled_for
    last = ScheduledRun.objects.filter(schedule=schedule).order_by("scheduled_for").last().scheduled_for
    rows = assert_consecutive(schedule, first, last)
    runs = list(Run.objects.filter(occurrence__schedule=schedule))
    executions = executions_by_run()
    during = [r for r in runs if down_at <= r.created_at <= up_at]
    print(f"\nRedis down 10s: {len(rows)} occurrences, {len(runs)} runs, {len(during)} created during the outage")
    assert len(during) >= 8
    assert worker.alive() and beat.alive(), "the same worker and beat went on, reconnected on their own"
    assert {r.status for r in runs} == {"succeeded"}
    assert all(executions[str(r.id)] == 1 for r in runs), "every run executed exactly once"


@pytest.mark.timeout(600)
def test_three_beats_two_hundred_schedules_every_second_with_beats_killed(live):
    start_at = timezone.now().replace(microsecond=0) + timedelta(seconds=8)
    job = factories.job("noop")
    for index in range(200):
        Schedule(
            name=f"every-second-{index:03d}", job=job, kind="interval", interval_seconds=1, start_at=start_at
        ).save()
    workers = [live.worker(f"worker{i}", concurrency=3, env=QUICK) for i in range(2)]
    beats = [live.beat(f"beat{i}", env=QUICK) for i in range(3)]
    for proc in workers + beats:
        wait_ready(proc)

    rng = random.Random(7)
    kills = 0
    wait_until(lambda: timezone.now() >= start_at, timeout=30)
    deadline = time.monotonic() + 36
    while time.monotonic() < deadline:
        time.sleep(rng.uniform(5, 7))
        victim = beats.pop(rng.randrange(len(beats)))
        victim.kill()  # SIGKILL: mid-transaction, mid-publish, wherever it is
        kills += 1
        replacement = live.beat(f"beat-r{kills}", env=QUICK)
        beats.append(replacement)
    end_at = timezone.now()
    # No new occurrences, and the beats stay up while the runs drain: a run left by the last kill
    # (committed, not yet published) needs a live beat's recovery, as it would in production.
    Schedule.objects.all().set_enabled(False)
    wait_until(lambda: not Run.objects.exclude(status__in=FINAL).exists(), timeout=180, message="workers to drain")
    for beat in beats:
        beat.stop()

    window_end = end_at - timedelta(seconds=3)  # occurrences certainly due while beats ran
    counts: Counter[str] = Counter()
    for schedule in Schedule.objects.all():
        for row in assert_consecutive(schedule, start_at, window_end):
            counts[row.status] += 1
    duplicates = (
        ScheduledRun.objects.values("schedule_id", "scheduled_for").annotate(n=Count("id")).filter(n__gt=1).count()
    )
    runs = list(Run.objects.all())
    executions = executions_by_run()
    executed_twice = [r.id for r in runs if executions[str(r.id)] > 1]
    never_executed = [r.id for r in runs if executions[str(r.id)] == 0]
    print(
        f"\n3 beats, 200 schedules x 1s, {(end_at - start_at).total_seconds():.0f}s, {kills} beats SIGKILLed: "
        f"{sum(counts.values())} occurrences in the window ({dict(counts)}), {len(runs)} runs, "
        f"duplicate occurrences {duplicates}, executed twice {len(executed_twice)}, never executed "
        f"{len(never_executed)}"
    )
    assert kills >= 5
    assert duplicates == 0
    assert executed_twice == []
    assert never_executed == []
    assert {r.status for r in runs} == {"succeeded"}
    assert all(r.attempt == 1 for r in runs)
