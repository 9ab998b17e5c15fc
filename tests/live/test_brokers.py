"""The broker-dependent promises in one scenario, once on Redis and once on RabbitMQ (``broker``).

Real processes throughout; with RabbitMQ, Redis still holds leases, heartbeats and in-flight
notes. In order: queue depth read from the broker (status page and metrics), a message lost from
the broker and its note from Redis (republished), a run committed but not published (the beat's
publish refused; recovery publishes it), readiness and the status page (workers answer through the
broker), exactly once with two beats, a job's limit, ``celery inspect runs``, and cancelling a
running run.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta

from django.contrib.auth.models import User
from django.utils import timezone
from kombu import Connection

from orchestrator import events, keys
from orchestrator.cancelling import cancel_runs
from orchestrator.connections import celery_app
from orchestrator.models import Run
from scheduling.models import Schedule, ScheduledRun
from scheduling.ops import health, metrics, queues
from tests import factories
from tests.helpers import QUICK, wait_ready
from tests.live.test_limits import create_runs, peak_overlap, wait_all_final
from tests.processes import wait_until

FINAL = ("succeeded", "failed", "timed_out", "cancelled")
#: Where nothing listens: a publish there is refused at once.
REFUSING = {"redis": {"REDIS_URL": "redis://127.0.0.1:1/0"}, "rabbitmq": {"BROKER_URL": "amqp://guest@127.0.0.1:1//"}}


def _depth_metric(queue: str) -> float | None:
    for family in metrics.StateCollector().collect():
        for sample in family.samples:
            if sample.name == "ostinato_queue_depth" and sample.labels["queue"] == queue:
                return sample.value
    return None


def _lose_messages(queue: str, runs: list[Run], redis_db) -> None:
    """The broker loses the queue's messages and Redis the runs' in-flight notes."""
    with Connection(celery_app().conf.broker_url) as connection:
        connection.default_channel.queue_purge(queue)  # type: ignore[attr-defined]
    redis_db.zrem(keys.INFLIGHT, *(str(run.id) for run in runs))


def test_every_broker_dependent_promise_holds_on_each_broker(live, broker, redis_db, client):
    env = {**QUICK, "SCHEDULER_LOST_MESSAGE_SECONDS": "1"}
    # Queue depth from the broker: three runs wait, no worker yet.
    waiting = create_runs("noop", 3, {})
    assert queues.queue_depths(["default"]) == {"default": 3}  # what the status page shows
    assert _depth_metric("default") == 3
    _lose_messages("default", waiting, redis_db)
    assert queues.queue_depths(["default"]) == {"default": 0}

    # A beat's tick commits a run and cannot publish it (while the worker starts).
    worker = live.worker(concurrency=3, env=env)
    stranded = factories.schedule("noop", interval_seconds=3600)
    due = stranded.next_run_at - timedelta(seconds=3600)  # the fire time just past
    Schedule.objects.filter(pk=stranded.pk).update(next_run_at=due, due_at=due)
    output = live.run_manage("scheduler", "--once", env=REFUSING[broker])
    assert "1 dispatched" in output and "0 published" in output, output
    [pending] = Run.objects.filter(occurrence__schedule=stranded)
    assert pending.status == "pending"

    beats = [live.beat(f"beat{i}", env=env) for i in range(2)]
    for proc in (worker, *beats):
        wait_ready(proc)
    every_second = factories.schedule("noop", interval_seconds=1, overlap_policy="allow")
    recovered = wait_all_final([pending.id, *(run.id for run in waiting)], timeout=30)
    assert {run.status for run in recovered} == {"succeeded"}, "lost and stranded runs published again"
    ready = health.readiness()
    assert ready.ok, [check for check in ready.checks if not check.ok]
    User.objects.create_user("ops", password="pw-ops-1", is_staff=True)
    client.login(username="ops", password="pw-ops-1")
    page = client.get("/schedules/status/").content.decode()
    assert "<td>default</td><td>0</td>" in page and "data-error" not in page, "depth and workers, no source down"

    # A job's limit across the worker's processes.
    factories.job("probe", max_concurrency=1)
    key = f"probe-{uuid.uuid4().hex[:8]}"
    limited = wait_all_final([run.id for run in create_runs("probe", 4, {"key": key, "seconds": 0.3})], timeout=30)
    assert {run.status for run in limited} == {"succeeded"}
    assert int(redis_db.get(f"{key}:peak")) == 1 and peak_overlap(limited) == 1

    # inspect, then cancel, a running run.
    [long] = create_runs("probe", 1, {"key": key, "seconds": 60})
    wait_until(lambda: Run.objects.filter(id=long.id, status="running").exists(), timeout=20, message="running")
    assert f"run={long.id}" in live.run_celery("inspect", "runs", "--timeout", "5")
    assert [run.id for run in cancel_runs([long.id], reason="test", now=timezone.now())] == [long.id]
    wait_until(lambda: f"Terminating {long.id}" in worker.output(), timeout=20, message="the revoke")
    [after] = wait_all_final([run.id for run in create_runs("probe", 1, {"key": key, "seconds": 0})], timeout=20)
    assert after.status == "succeeded", "the cancelled run's slot is free"
    assert str(long.id).encode() not in redis_db.lrange(f"{key}:done", 0, -1), "terminated, not finished"

    # Exactly once with two beats, every second since the schedule began.
    Schedule.objects.filter(pk=every_second.pk).set_enabled(False)
    wait_until(lambda: not Run.objects.exclude(status__in=FINAL).exists(), timeout=30, message="all runs to end")
    occurrences = list(ScheduledRun.objects.filter(schedule=every_second).order_by("scheduled_for"))
    times = [row.scheduled_for for row in occurrences]
    assert len(times) >= 5 and times == [times[0] + timedelta(seconds=i) for i in range(len(times))]
    runs = Run.objects.filter(occurrence__schedule=every_second)
    started = Counter(e["run_id"] for e in events.iter_events() if e.get("event") == "run_started")
    assert {run.status for run in runs} == {"succeeded"} and len(runs) == len(times)
    assert all(started[str(run.id)] == 1 for run in runs), "every run executed exactly once"
    assert worker.alive() and all(beat.alive() for beat in beats)
