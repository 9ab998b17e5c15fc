"""The schedulers under test behind one small interface (``Beat``), and the change-pickup measurement.

Ours, django-celery-beat's ``DatabaseScheduler`` and celery-redbeat are each started, ticked,
edited, made due and checked for exactly-once the same way by ``bench.child``'s steps.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.db import connection

from bench import stats
from bench.child_io import BENCH_INTERVAL, QUEUE, job_id, message_args, queued_messages, redis_client, sql
from bench.seeding import redbeat_configure, redbeat_set_last_run
from project.celery import app


class Beat:
    name = ""

    def start(self) -> None:
        raise NotImplementedError

    def tick(self) -> float:
        raise NotImplementedError

    def edit_one(self, index: int) -> None:
        raise NotImplementedError

    def make_due(self, count: int) -> None:
        """Make ``count`` schedules due at once (the first ones by number)."""
        raise NotImplementedError

    def verify(self, n: int) -> stats.ExactlyOnce:
        raise NotImplementedError

    def close(self) -> None:
        connection.close()


class Ours(Beat):
    name = "ours"

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock

    def start(self) -> None:
        from scheduling.engine.loop import Dispatcher

        self.dispatcher = Dispatcher(clock=self.clock) if self.clock else Dispatcher()

    def tick(self) -> float:
        return self.dispatcher.tick()

    def close(self) -> None:
        self.dispatcher.close()
        super().close()

    def edit_one(self, index: int) -> None:
        """An operator's edit through the model (validation, next-run computation): due right now."""
        from scheduling.models import Schedule

        now = datetime.now(UTC)
        Schedule.objects.filter(name=f"bench-{index}").update_timing(
            now=now - timedelta(seconds=1), kind="once", run_at=now, interval_seconds=None
        )

    def make_due(self, count: int) -> None:
        sql(
            "UPDATE scheduling_schedule SET next_run_at = start_at, due_at = start_at WHERE id IN "
            "(SELECT id FROM scheduling_schedule WHERE enabled ORDER BY id LIMIT %s)",
            [count],
        )

    def verify(self, n: int) -> stats.ExactlyOnce:
        noop = job_id("noop")
        occurrences, schedules = sql(
            "SELECT count(*), count(DISTINCT o.schedule_id) FROM scheduling_scheduledrun o "
            "JOIN scheduling_schedule s ON s.id = o.schedule_id WHERE s.job_id = %s",
            [noop],
        )[0]
        runs = [str(r[0]) for r in sql("SELECT id FROM orchestrator_run WHERE job_id = %s", [noop])]
        queued = sql("SELECT count(*) FROM orchestrator_run WHERE job_id = %s AND status = 'queued'", [noop])[0][0]
        ids = [m["headers"]["id"] for m in queued_messages()]
        result = stats.exactly_once(ids, runs)
        if occurrences != schedules or schedules != n or queued != n or len(runs) != n:
            result.missing.append(f"rows: {occurrences} occurrences of {schedules} schedules, {queued}/{n} runs queued")
        return result


class DjangoCeleryBeat(Beat):
    name = "dcb"

    def start(self) -> None:
        from django_celery_beat.schedulers import DatabaseScheduler

        self.scheduler = DatabaseScheduler(app=app)

    def tick(self) -> float:
        return float(self.scheduler.tick())

    def edit_one(self, index: int) -> None:
        from django_celery_beat.models import PeriodicTask

        task = PeriodicTask.objects.get(name=f"bench-{index}")
        task.last_run_at = datetime.now(UTC) - timedelta(seconds=BENCH_INTERVAL + 60)
        task.save()

    def make_due(self, count: int) -> None:
        from django_celery_beat.models import PeriodicTasks

        sql(
            "UPDATE django_celery_beat_periodictask SET last_run_at = %s WHERE id <= %s",
            [datetime.now(UTC) - timedelta(seconds=BENCH_INTERVAL + 60), count],
        )
        PeriodicTasks.update_changed()
        _ = self.scheduler.schedule  # the reload happens here, before the burst is timed

    def verify(self, n: int) -> stats.ExactlyOnce:
        published = [message_args(m) for m in queued_messages()]
        return stats.exactly_once(published, published)  # duplicates only: a timed-out burst sends a prefix


class RedBeat(Beat):
    name = "redbeat"

    def start(self) -> None:
        from redbeat.schedulers import RedBeatScheduler

        redbeat_configure()
        self.scheduler = RedBeatScheduler(app=app)
        self.scheduler.lock_key = None

    def tick(self) -> float:
        return float(self.scheduler.tick())

    def edit_one(self, index: int) -> None:
        from redbeat.schedulers import RedBeatSchedulerEntry

        entry = RedBeatSchedulerEntry.from_key(RedBeatSchedulerEntry.generate_key(app, f"bench-{index}"), app=app)
        entry.reschedule(last_run_at=datetime.now(UTC) - timedelta(seconds=BENCH_INTERVAL + 60))

    def make_due(self, count: int) -> None:
        names = [f"bench-{i}" for i in range(1, count + 1)]
        redbeat_set_last_run(names, datetime.now(UTC) - timedelta(seconds=BENCH_INTERVAL + 60))

    def verify(self, n: int) -> stats.ExactlyOnce:
        published = [message_args(m) for m in queued_messages()]
        return stats.exactly_once(published, [json.dumps([i]) for i in range(1, n + 1)])


def beat_for(name: str, clock: Callable[[], datetime] | None = None) -> Beat:
    if name == "ours":
        return Ours(clock)
    if name == "dcb":
        return DjangoCeleryBeat()
    return RedBeat()


def change_pickup(scheduler: str, repeats: int) -> list[float]:
    """Edit one schedule while the scheduler's own loop runs in a thread; seconds until its message is queued."""
    client = redis_client()
    beat = beat_for(scheduler)  # the real clock: the loop sleeps as the scheduler says
    beat.start()
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            stop.wait(beat.tick())
        beat.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    times = []
    for attempt in range(repeats):
        time.sleep(0.35 + 0.3 * attempt)  # land the edit at different points of the loop's sleep
        before = client.llen(QUEUE)
        edit = beat_for(scheduler)
        if scheduler == "redbeat":
            redbeat_configure()
        started = time.perf_counter()
        edit.edit_one(attempt + 1)
        while client.llen(QUEUE) == before:
            if time.perf_counter() - started > 60:
                raise RuntimeError(f"{scheduler}: an edited schedule was not dispatched within 60 s")
            time.sleep(0.002)
        times.append(time.perf_counter() - started)
    stop.set()
    thread.join(timeout=120)
    client.delete(QUEUE)
    return times
