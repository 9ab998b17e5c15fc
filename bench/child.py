"""One benchmark step in a fresh process: ``python -m bench.child STEP [options]``; prints one JSON line.

Driven by ``bench.run``. Every scheduler is measured the same way: seeded by a separate process,
then started, ticked with nothing due, edited while its loop runs, and made to dispatch a burst.
This module sets Django up first (its start time is ``STARTED``), then holds the steps themselves;
the seeding is in ``bench.seeding``, the schedulers under test in ``bench.beats``, and what they
all share (SQL, the queue) in ``bench.child_io``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

STARTED = time.perf_counter()

import django  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django.setup()

from bench import stats  # noqa: E402
from bench.backfill import step_backfill, step_backfill_request  # noqa: E402
from bench.beats import Ours, beat_for, change_pickup  # noqa: E402
from bench.child_io import BENCH_INTERVAL, QUEUE, job_id, queued_messages, redis_client, sql  # noqa: E402
from bench.history import step_history_measure, step_history_prune, step_history_seed  # noqa: E402
from bench.import_celery_beat import step_import_celery_beat  # noqa: E402
from bench.notify_hang import step_notify_hang  # noqa: E402
from bench.procfs import status_mb  # noqa: E402
from bench.restart_runs import step_restart_runs  # noqa: E402
from bench.seeding import reset, seed_ours, step_seed  # noqa: E402
from bench.tasks import HOST_ARGS, HOST_KWARGS, HOST_TASK, RAW_TASK, host_noop  # noqa: E402
from bench.yaml_sync import step_yaml_sync  # noqa: E402
from project.celery import app  # noqa: E402


def rss_mb() -> float:
    return status_mb("VmRSS")


def peak_rss_mb() -> float:
    return status_mb("VmHWM")


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


def step_verify_counts(args: argparse.Namespace) -> dict[str, Any]:
    """Runs left ``queued`` and messages waiting in the noop job's queue, asked of whichever broker is set."""
    from orchestrator.models import Job
    from scheduling.ops.queues import queue_depths

    queue = Job.objects.get(key="noop").queue
    queued = sql("SELECT count(*) FROM orchestrator_run WHERE job_id = %s AND status = 'queued'", [job_id("noop")])
    return {"queued": queued[0][0], "in_broker": queue_depths([queue])[queue]}


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
    """Fill the queue with M messages: our runs (dispatched by our beat from M due schedules), or raw tasks.

    ``--job noop``: our ``noop`` job against the raw no-op task. ``--job task``: the host task
    ``HOST_TASK`` as a schedule's job (kind ``celery_task``) against the same task sent by ``apply_async``.
    """
    reset()
    client = redis_client()
    dispatched = 0.0
    if args.scheduler == "ours":
        job, params = "noop", None
        if args.job == "task":
            from orchestrator import registry

            registry.task_job(HOST_TASK)  # its Job row, made on first use as for any door naming a host task
            job, params = HOST_TASK, {"args": HOST_ARGS, "kwargs": HOST_KWARGS}
        now = datetime.now(UTC)
        due = now - timedelta(seconds=1)
        seed_ours(args.n, start_at=due, due_at=due, job=job, params=params)
        sql("ANALYZE")
        from scheduling.engine import dispatch

        began = time.perf_counter()
        while dispatch.dispatch_due(now).claimed:
            pass
        dispatched = time.perf_counter() - began
    elif args.job == "task":
        with app.producer_or_acquire() as producer:
            for _ in range(args.n):
                host_noop.apply_async(tuple(HOST_ARGS), HOST_KWARGS, producer=producer)
    else:
        with app.producer_or_acquire() as producer:
            for i in range(args.n):
                app.send_task(RAW_TASK, args=[i], queue=QUEUE, producer=producer)
    return {"queued": client.llen(QUEUE), "dispatch_seconds": dispatched if args.scheduler == "ours" else 0.0}


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
    """How the runs of the e2e step's job (``--job``) ended, by status."""
    key = HOST_TASK if args.job == "task" else "noop"
    rows = sql("SELECT status, count(*) FROM orchestrator_run WHERE job_id = %s GROUP BY status", [job_id(key)])
    return {"statuses": {status: count for status, count in rows}}


STEPS = {
    "seed": step_seed,
    "measure": step_measure,
    "burst-worker": step_burst_worker,
    "verify": step_verify,
    "verify-counts": step_verify_counts,
    "steady": step_steady,
    "e2e-prepare": step_e2e_prepare,
    "e2e-check": step_e2e_check,
    "worker-profile": step_worker_profile,
    "yaml-sync": step_yaml_sync,
    "import-celery-beat": step_import_celery_beat,
    "backfill": step_backfill,
    "backfill-request": step_backfill_request,
    "notify-hang": step_notify_hang,
    "restart-runs": step_restart_runs,
    "history-seed": step_history_seed,
    "history-measure": step_history_measure,
    "history-prune": step_history_prune,
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
    parser.add_argument("--job", choices=["noop", "task"], default="noop", help="e2e: noop job, or a host Celery task")
    parser.add_argument("--policy", choices=["buffer_all", "allow"], default="buffer_all", help="backfill: its policy")
    parser.add_argument("--schedule-id", type=int, default=0, help="backfill-request: the schedule")
    parser.add_argument("--from", dest="from_", default="", help="backfill-request: the range's start (ISO)")
    parser.add_argument("--to", default="", help="backfill-request: the range's end (ISO)")
    parser.add_argument("--marks", default="", help="restart-runs: comma-separated wall-clock seconds")
    parser.add_argument("--prune-option", action="append", default=[], help="history-prune: a prune option")
    args = parser.parse_args()
    print(json.dumps(STEPS[args.step](args)), flush=True)


if __name__ == "__main__":
    main()
