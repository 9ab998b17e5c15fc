"""One benchmark step in a fresh process: ``python -m bench.child STEP [options]``; prints one JSON line.

Driven by ``bench.run``. Every scheduler is measured the same way: seeded by a separate process,
then started, ticked with nothing due, edited while its loop runs, and made to dispatch a burst.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

STARTED = time.perf_counter()

import django  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django.setup()

import redis  # noqa: E402
from django.db import connection  # noqa: E402

from bench import stats  # noqa: E402
from bench.procfs import status_mb  # noqa: E402
from bench.tasks import RAW_TASK  # noqa: E402
from bench.yaml_sync import step_yaml_sync  # noqa: E402
from project.celery import app  # noqa: E402

QUEUE = "default"
HISTORY = 2000  # runs and occurrences written before any measurement (see PERFORMANCE.md: empty tables mislead)
BENCH_INTERVAL = 3600  # every seeded schedule fires hourly: after its burst it is idle again
REDBEAT_PREFIX = "bench-redbeat:"


def rss_mb() -> float:
    return status_mb("VmRSS")


def peak_rss_mb() -> float:
    return status_mb("VmHWM")


def redis_client() -> redis.Redis:
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL)


def sql(statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        return list(cursor.fetchall()) if cursor.description else []


def queued_messages() -> list[dict[str, Any]]:
    raw = redis_client().lrange(QUEUE, 0, -1)
    return [json.loads(item) for item in raw]


def message_args(message: dict[str, Any]) -> str:
    body = json.loads(base64.b64decode(message["body"]))
    return json.dumps(body[0])


def job_id(key: str) -> int:
    return int(sql("SELECT id FROM orchestrator_job WHERE key = %s", [key])[0][0])


# --- seeding --------------------------------------------------------------------------------------


def reset() -> None:
    sql(
        "TRUNCATE scheduling_scheduledrun, orchestrator_run, scheduling_schedule, "
        "django_celery_beat_periodictask, django_celery_beat_intervalschedule, django_celery_beat_periodictasks "
        "RESTART IDENTITY CASCADE"
    )
    redis_client().flushdb()


def seed_ours(
    n: int,
    *,
    start_at: datetime,
    due_at: datetime,
    interval: int = BENCH_INTERVAL,
    job: str = "noop",
    spread: float = 0.0,
    cron: str = "",
) -> None:
    """Interval schedules anchored at ``start_at``; ``due_at`` must be ``start_at`` plus whole intervals.

    ``spread`` (seconds) shifts schedule i's anchor and due time by ``i * spread / n``: a fleet whose
    schedules fall due evenly over that span instead of all at one instant. With ``cron``, cron
    schedules (UTC) instead, starting at ``start_at``: ``start_at`` and ``due_at`` must be fire times.
    """
    sql(
        """
        INSERT INTO scheduling_schedule (name, description, job_id, params, kind, cron, interval_seconds, timezone,
            enabled, start_at, next_run_at, due_at, misfire_policy, misfire_grace_seconds, overlap_policy,
            jitter_seconds, tenant, source, source_path, created_at, updated_at)
        SELECT 'bench-' || i, '', %s, '{}'::jsonb, %s, %s, %s, 'UTC', true, %s + o.shift, %s + o.shift,
               %s + o.shift, 'run_once', 300, 'allow', 0, '', 'api', '', now(), now()
        FROM generate_series(1, %s) AS i, LATERAL (SELECT ((i - 1) * %s / %s) * interval '1 second' AS shift) AS o""",
        [
            job_id(job),
            "cron" if cron else "interval",
            cron,
            None if cron else interval,
            start_at,
            due_at,
            due_at,
            n,
            float(spread),
            n,
        ],
    )


def seed_history() -> None:
    """Real history rows written by our own dispatch path, then their schedules disabled."""
    from scheduling.engine import dispatch

    past = datetime.now(UTC) - timedelta(days=1)
    sql(
        """
        INSERT INTO scheduling_schedule (name, description, job_id, params, kind, cron, interval_seconds, timezone,
            enabled, start_at, next_run_at, due_at, misfire_policy, misfire_grace_seconds, overlap_policy,
            jitter_seconds, tenant, source, source_path, created_at, updated_at)
        SELECT 'history-' || i, '', %s, '{}'::jsonb, 'interval', '', 86400, 'UTC', true, %s, %s, %s, 'run_once', 300,
               'allow', 0, '', 'api', '', now(), now()
        FROM generate_series(1, %s) AS i""",
        [job_id("sleep"), past, past, past, HISTORY],
    )
    while dispatch.dispatch_due(past + timedelta(seconds=1)).claimed:
        pass
    # finished long ago: nothing for the recovery step to publish again once the queue is flushed
    sql("UPDATE orchestrator_run SET status = 'succeeded' WHERE job_id = %s", [job_id("sleep")])
    sql("UPDATE scheduling_schedule SET enabled = false WHERE name LIKE 'history-%%'")
    redis_client().flushdb()


def seed_dcb(n: int, *, last_run_at: datetime) -> None:
    sql("INSERT INTO django_celery_beat_intervalschedule (every, period) VALUES (%s, 'seconds')", [BENCH_INTERVAL])
    sql(
        """
        INSERT INTO django_celery_beat_periodictask (name, task, args, kwargs, queue, headers, description, enabled,
            last_run_at, total_run_count, date_changed, one_off, interval_id)
        SELECT 'bench-' || i, %s, '[' || i || ']', '{}', %s, '{}', '', true, %s, 0, now(), false,
               (SELECT min(id) FROM django_celery_beat_intervalschedule)
        FROM generate_series(1, %s) AS i""",
        [RAW_TASK, QUEUE, last_run_at, n],
    )
    from django_celery_beat.models import PeriodicTasks

    PeriodicTasks.update_changed()


def redbeat_configure() -> None:
    from django.conf import settings

    app.conf.redbeat_redis_url = settings.REDIS_URL
    app.conf.redbeat_key_prefix = REDBEAT_PREFIX
    app.conf.redbeat_redis_options = {}
    app.conf.redbeat_lock_key = None  # in-process: no beat_init signal takes the lock


def redbeat_set_last_run(names: list[str], last_run_at: datetime) -> None:
    """What ``RedBeatSchedulerEntry.reschedule`` writes, pipelined for many entries."""
    from redbeat.decoder import RedBeatJSONEncoder
    from redbeat.schedulers import RedBeatSchedulerEntry, get_redis

    redbeat_configure()
    client = get_redis(app)
    meta = json.dumps({"last_run_at": last_run_at}, cls=RedBeatJSONEncoder)
    score = (last_run_at + timedelta(seconds=BENCH_INTERVAL)).timestamp()
    key = app.redbeat_conf.schedule_key  # type: ignore[attr-defined]
    for start in range(0, len(names), 1000):
        with client.pipeline(transaction=False) as pipe:
            for name in names[start : start + 1000]:
                entry_key = RedBeatSchedulerEntry.generate_key(app, name)
                pipe.hset(entry_key, "meta", meta)
                pipe.zadd(key, {entry_key: max(0.0, score)})
            pipe.execute()


def seed_redbeat(n: int, *, last_run_at: datetime) -> None:
    from celery.schedules import schedule
    from redbeat.decoder import RedBeatJSONEncoder
    from redbeat.schedulers import RedBeatSchedulerEntry, get_redis

    redbeat_configure()
    client = get_redis(app)
    every = schedule(timedelta(seconds=BENCH_INTERVAL))
    names = [f"bench-{i}" for i in range(1, n + 1)]
    for start in range(0, n, 1000):
        with client.pipeline(transaction=False) as pipe:
            for i, name in enumerate(names[start : start + 1000], start=start + 1):
                entry = RedBeatSchedulerEntry(name, RAW_TASK, every, args=[i], options={"queue": QUEUE}, app=app)
                definition = {
                    "name": entry.name,
                    "task": entry.task,
                    "args": entry.args,
                    "kwargs": entry.kwargs,
                    "options": entry.options,
                    "schedule": entry.schedule,
                    "enabled": True,
                }
                pipe.hset(entry.key, "definition", json.dumps(definition, cls=RedBeatJSONEncoder))
            pipe.execute()
    redbeat_set_last_run(names, last_run_at)


def step_seed(args: argparse.Namespace) -> dict[str, Any]:
    reset()
    now = datetime.now(UTC)
    if args.scheduler == "ours":
        seed_history()
        cron = ""
        if args.kind == "cron":
            # one daily expression for all: a burst of schedules sharing a cron time, as at the top of an hour
            start = (now - timedelta(seconds=1)).replace(second=0, microsecond=0)
            due = start if args.due else start + timedelta(days=1)
            cron = f"{start.minute} {start.hour} * * *"
        elif args.due_in:
            start = due = now + timedelta(seconds=args.due_in)
        else:
            start = now - timedelta(seconds=1)
            due = start if args.due else start + timedelta(seconds=86400)
        seed_ours(args.n, start_at=start, due_at=due, interval=args.interval, spread=args.spread, cron=cron)
        sql("ANALYZE")
    elif args.scheduler == "dcb":
        seed_dcb(args.n, last_run_at=now - timedelta(seconds=BENCH_INTERVAL + 60) if args.due else now)
        sql("ANALYZE")
    else:
        seed_redbeat(args.n, last_run_at=now - timedelta(seconds=BENCH_INTERVAL + 60) if args.due else now)
    return {"seeded": args.n}


# --- the schedulers under test, behind one small interface -------------------------------------


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


def step_measure(args: argparse.Namespace) -> dict[str, Any]:
    """Startup and RSS, idle tick, change pickup, then a burst of all N with one scheduler (in-process)."""
    fixed = datetime.now(UTC)
    beat = beat_for(args.scheduler, clock=lambda: fixed)
    imported = time.perf_counter()
    beat.start()
    beat.tick()  # nothing due: a started scheduler has loaded what it needs
    startup = time.perf_counter() - imported
    result: dict[str, Any] = {
        "startup_s": startup,
        "process_start_s": time.perf_counter() - STARTED,
        "rss_mb": rss_mb(),
    }
    ticks = []
    for _ in range(args.idle_ticks):
        begun = time.perf_counter()
        beat.tick()
        ticks.append(time.perf_counter() - begun)
    result["idle_tick_ms"] = stats.median(ticks) * 1000
    result["idle_tick_p90_ms"] = stats.percentile(ticks, 90) * 1000

    if args.pickup:
        pickups = change_pickup(args.scheduler, args.pickup)
        result["pickup_s"] = pickups
        result["pickup_median_s"] = stats.median(pickups)
        result["pickup_max_s"] = max(pickups)
        # the edited schedule stays edited; it is not part of the burst's expectations
        beat.close()
        beat = beat_for(args.scheduler, clock=lambda: fixed)
        beat.start()
        if args.scheduler == "ours":
            edited = [f"bench-{i}" for i in range(1, args.pickup + 1)]
            sql("UPDATE scheduling_schedule SET enabled = false WHERE name = ANY(%s)", [edited])
            sql(
                "DELETE FROM scheduling_scheduledrun WHERE schedule_id IN (SELECT id FROM scheduling_schedule WHERE "
                "name = ANY(%s))",
                [edited],
            )
            sql(
                "DELETE FROM orchestrator_run r WHERE r.job_id = %s AND NOT EXISTS (SELECT 1 FROM "
                "scheduling_scheduledrun o WHERE o.run_id = r.id)",
                [job_id("noop")],
            )

    disabled = args.pickup if args.scheduler == "ours" else 0  # ours disables the schedules the pickup edited
    burst_n = min(args.n - disabled, args.burst) if args.burst else args.n - disabled
    beat.make_due(burst_n)
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    client = redis_client()
    begun = time.perf_counter()
    last_publish = begun
    timed_out = False
    while True:
        sleep = beat.tick()
        if sleep > 0:
            now_len = client.llen(QUEUE)
            if now_len >= burst_n or args.scheduler == "ours":
                last_publish = time.perf_counter()
                break
        if time.perf_counter() - begun > args.budget:
            timed_out = True
            last_publish = time.perf_counter()
            break
    elapsed = last_publish - begun
    if profiler is not None:
        profiler.stop()
        with open(args.profile + ".txt", "w") as out:
            out.write(profiler.output_text(unicode=False, color=False, show_all=False))
        with open(args.profile + ".html", "w") as out:
            out.write(profiler.output_html())
    published = client.llen(QUEUE)
    peak = peak_rss_mb()  # before the verification reads every message
    verdict = beat.verify(burst_n)
    result.update(
        {
            "burst_n": burst_n,
            "burst_published": published,
            "burst_s": elapsed,
            "burst_rate": published / elapsed if elapsed else 0.0,
            "burst_timed_out": timed_out,
            "exactly_once": verdict.ok,
            "exactly_once_summary": verdict.summary(),
            "peak_rss_mb": peak,
        }
    )
    beat.close()
    return result


def step_burst_worker(args: argparse.Namespace) -> dict[str, Any]:
    """One of several beat processes draining one burst (real clock), started together at ``--start``."""
    from scheduling.engine.loop import Dispatcher

    dispatcher = Dispatcher()
    delay = args.start - time.time()
    if delay > 0:
        time.sleep(delay)
    begun = time.time()
    cpu_begun = time.process_time()
    dispatched = 0
    while True:
        cycle = dispatcher.cycle()
        if cycle.tick is not None:
            dispatched += cycle.tick.published
        if cycle.sleep_seconds >= 0.5:  # nothing left due
            break
        time.sleep(cycle.sleep_seconds)
    dispatcher.close()
    ended = time.time()
    cpu = time.process_time() - cpu_begun
    return {"begun": begun, "ended": ended, "published": dispatched, "cpu_s": cpu}


def step_verify(args: argparse.Namespace) -> dict[str, Any]:
    verdict = Ours().verify(args.n)
    return {"exactly_once": verdict.ok, "exactly_once_summary": verdict.summary(), "published": verdict.published}


def step_steady(args: argparse.Namespace) -> dict[str, Any]:
    """A beat process under steady load until ``--until``: lag of every dispatch it made."""
    from scheduling.engine.loop import Dispatcher

    dispatcher = Dispatcher()
    lags = []
    while time.time() < args.until:
        cycle = dispatcher.cycle()
        if cycle.tick is not None and cycle.tick.handled:
            done = cycle.tick.finished_at or datetime.now(UTC)  # when its runs were published
            lags += [(done - h.scheduled_for).total_seconds() for h in cycle.tick.handled if h.action == "dispatch"]
        time.sleep(min(cycle.sleep_seconds, max(0.0, args.until - time.time())))
    dispatcher.close()
    return {"lags": lags}


def step_e2e_prepare(args: argparse.Namespace) -> dict[str, Any]:
    """Fill the queue with M messages: our runs of ``noop`` (dispatched by our beat), or raw no-op tasks."""
    reset()
    client = redis_client()
    if args.scheduler == "ours":
        now = datetime.now(UTC)
        seed_ours(args.n, start_at=now - timedelta(seconds=1), due_at=now - timedelta(seconds=1))
        sql("ANALYZE")
        from scheduling.engine import dispatch

        while dispatch.dispatch_due(now).claimed:
            pass
    else:
        with app.producer_or_acquire() as producer:
            for i in range(args.n):
                app.send_task(RAW_TASK, args=[i], queue=QUEUE, producer=producer)
    return {"queued": client.llen(QUEUE)}


def step_worker_profile(args: argparse.Namespace) -> dict[str, Any]:
    """The worker's run task body for every queued run, in this process, under pyinstrument (no Celery worker)."""
    from pyinstrument import Profiler

    from workers import tasks

    ids = [m["headers"]["id"] for m in queued_messages()]
    profiler = Profiler(interval=0.0005)
    profiler.start()
    wall, cpu = time.perf_counter(), time.process_time()
    for run_id in ids:
        tasks.run.run(run_id, 0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    profiler.stop()
    with open(args.profile + ".txt", "w") as out:
        out.write(profiler.output_text(unicode=False, color=False))
    return {"runs": len(ids), "wall_ms_per_run": wall / len(ids) * 1000, "cpu_ms_per_run": cpu / len(ids) * 1000}


def step_e2e_check(args: argparse.Namespace) -> dict[str, Any]:
    rows = sql("SELECT status, count(*) FROM orchestrator_run WHERE job_id = %s GROUP BY status", [job_id("noop")])
    return {"statuses": {status: count for status, count in rows}}


STEPS = {
    "seed": step_seed,
    "measure": step_measure,
    "burst-worker": step_burst_worker,
    "verify": step_verify,
    "steady": step_steady,
    "e2e-prepare": step_e2e_prepare,
    "e2e-check": step_e2e_check,
    "worker-profile": step_worker_profile,
    "yaml-sync": step_yaml_sync,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=sorted(STEPS))
    parser.add_argument("--scheduler", choices=["ours", "dcb", "redbeat", "raw"], default="ours")
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--due", action="store_true")
    parser.add_argument("--due-in", type=float, default=0)
    parser.add_argument("--interval", type=int, default=BENCH_INTERVAL)
    parser.add_argument("--spread", type=float, default=0.0, help="seconds over which the N fall due (ours)")
    parser.add_argument("--kind", choices=["interval", "cron"], default="interval", help="ours: the schedules' kind")
    parser.add_argument("--idle-ticks", type=int, default=30)
    parser.add_argument("--pickup", type=int, default=0)
    parser.add_argument("--budget", type=float, default=30.0)
    parser.add_argument("--burst", type=int, default=0, help="how many of the N fall due at once (default all)")
    parser.add_argument("--profile", default="")
    parser.add_argument("--start", type=float, default=0.0)
    parser.add_argument("--until", type=float, default=0.0)
    args = parser.parse_args()
    print(json.dumps(STEPS[args.step](args)), flush=True)


if __name__ == "__main__":
    main()
