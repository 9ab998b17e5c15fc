"""The benchmark suite: ``./scripts/bench [--quick]`` (``python -m bench.run``).

Ours, django-celery-beat's DatabaseScheduler and celery-redbeat, side by side in one run on the
same PostgreSQL and Redis. Every figure comes from a fresh child process (``bench.child``); the
results go to ``bench/results/<stamp>.json`` and a Markdown summary next to it.
"""

# This module reads the options and runs the steps in order (its docstring is the --help text): the
# beat steps are in bench.beat_steps, the worker steps in bench.worker_steps, what they share in
# bench.driver, the YAML sync in bench.yaml_sync, the django-celery-beat import in bench.import_celery_beat,
# the backfill under load in bench.backfill.

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import redis

from bench import stats
from bench.backfill import backfill_step
from bench.beat_steps import SCHEDULERS, measure_all, steady, two_beats
from bench.broker_burst import burst_brokers_step
from bench.driver import RESULTS, child, fmt_ratio, say
from bench.env import ROOT, services
from bench.history import history_step
from bench.import_celery_beat import import_celery_beat_step
from bench.notify_hang import notify_hang_step
from bench.redis_restarts import RestartPlan, redis_restarts_step
from bench.trace_cost import trace_cost_step
from bench.worker_steps import (
    PROFILE_RUNS,
    e2e_all,
    e2e_repeated,
    e2e_size,
    e2e_workers,
    solo_profile_step,
    worker_memory_step,
    worker_profile_step,
)
from bench.yaml_sync import yaml_sync_step


def versions() -> dict[str, str]:
    import psycopg

    names = ["celery", "kombu", "Django", "django-celery-beat", "celery-redbeat", "redis", "psycopg", "pyinstrument"]
    found = {}
    for name in names:  # the bench extra's packages are missing when a step that needs none is run by hand
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres") as conn:
        found["PostgreSQL"] = str(conn.execute("SHOW server_version").fetchone()[0])
    found["Redis server"] = str(redis.Redis(host="127.0.0.1").info("server")["redis_version"])
    found["Python"] = platform.python_version()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="N=1,000 only, short steady load")
    parser.add_argument("--with-100k", action="store_true", help="also ours at N=100,000")
    parser.add_argument("--sizes", help="comma-separated N to measure instead of the mode's (e.g. 50000)")
    parser.add_argument("--schedulers", default=",".join(SCHEDULERS), help="comma-separated: ours,dcb,redbeat")
    parser.add_argument("--table-only", action="store_true", help="only the per-scheduler table (no beats/lag/e2e)")
    parser.add_argument(
        "--only",
        choices=[
            "e2e",
            "task-e2e",
            "trace-cost",
            "profiles",
            "worker-memory",
            "yaml-sync",
            "import-celery-beat",
            "backfill",
            "notify-hang",
            "burst-brokers",
            "history",
            "redis-restarts",
        ],
        help="only this step: e2e = end to end (raw vs ours) and the worker profiles; "
        "task-e2e = end to end of a host Celery task, sent by apply_async vs run as a schedule's job "
        "(the e2e options apply, no profiles); trace-cost = end to end with tracing off and on "
        "(SCHEDULER_TRACING=otel; the e2e options apply); profiles = the profiles; "
        "worker-memory = a worker's main-process memory over many messages (raw vs ours); "
        "yaml-sync = sync_schedules of 10,000 entries against 1,000; "
        "import-celery-beat = import_celery_beat of 10,000 PeriodicTasks, then again unchanged; "
        "backfill = a backfill of 100,000 occurrences while 200 schedules fire every second; "
        "notify-hang = dispatch rate and lag without and with a notification endpoint that hangs; "
        "burst-brokers = the burst of each N (--sizes, default 1,000) to Redis, then to RabbitMQ, and the ratio; "
        "history = every item with an empty history and with --history-rows of it, then a prune under a beat; "
        "redis-restarts = workers draining --restarts-runs noop runs while a private Redis restarts --restarts times, "
        "beside the same drain without restarts (the e2e worker options apply)",
    )
    parser.add_argument(
        "--history-rows", type=int, default=10_000_000, help="with --only history: occurrences seeded (default 10M)"
    )
    parser.add_argument(
        "--history-prune-option",
        action="append",
        default=[],
        metavar="OPTION",
        help="with --only history: an extra manage.py prune option (repeatable), e.g. "
        "--history-prune-option=--batch-size=2000",
    )
    parser.add_argument(
        "--memory-batches", type=int, default=12, help="with --only worker-memory: batches per side (default 12)"
    )
    parser.add_argument(
        "--memory-runs", type=int, default=4000, help="with --only worker-memory: messages per batch (default 4,000)"
    )
    parser.add_argument(
        "--e2e-runs", type=int, default=0, help="messages per side in the e2e step (default 300 quick, 2,000 full)"
    )
    parser.add_argument(
        "--e2e-pairs", type=int, default=0, help="interleaved raw/ours pairs in the e2e step (default 1 quick, 3 full)"
    )
    parser.add_argument(
        "--e2e-concurrency", type=int, default=2, help="pool processes of the e2e step's worker, both sides (default 2)"
    )
    parser.add_argument(
        "--e2e-worker-option",
        action="append",
        default=[],
        metavar="OPTION",
        help="an extra celery worker option for the e2e step, both sides (repeatable): "
        "--e2e-worker-option=--disable-prefetch",
    )
    parser.add_argument(
        "--e2e-acks",
        choices=["late", "start", "both"],
        default="both",
        help="e2e step: the worker's acknowledgement, both sides: late (WORKER_ACKS_LATE=true, the default), "
        "start (WORKER_ACKS_LATE=false), or each in turn (default)",
    )
    parser.add_argument(
        "--restarts-runs", type=int, default=20_000, help="with --only redis-restarts: runs per phase (default 20,000)"
    )
    parser.add_argument("--restarts", type=int, default=4, help="with --only redis-restarts: restarts (default 4)")
    parser.add_argument(
        "--restarts-workers", type=int, default=2, help="with --only redis-restarts: worker processes (default 2)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="with --only e2e or task-e2e: run the whole step this many times"
    )
    args = parser.parse_args()
    sizes = [1000] if args.quick else [1000, 10_000, 50_000] + ([100_000] if args.with_100k else [])
    if args.sizes:
        sizes = [int(size) for size in args.sizes.split(",")]
    schedulers = tuple(name for name in args.schedulers.split(",") if name)
    unknown = set(schedulers) - set(SCHEDULERS)
    if unknown:
        parser.error(f"--schedulers: unknown {', '.join(sorted(unknown))} (choose from {', '.join(SCHEDULERS)})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    mode = "custom" if args.sizes or args.table_only or len(schedulers) < len(SCHEDULERS) else "full"
    if args.only:
        mode = args.only
    report: dict[str, Any] = {"mode": "quick" if args.quick else mode, "stamp": stamp, "versions": versions()}
    report["machine"] = {"cpus": __import__("os").cpu_count(), "platform": platform.platform()}
    say(f"versions: {report['versions']}")
    began = time.monotonic()
    with services(prefix="ostinato_history" if args.only == "history" else "ostinato_bench") as env:
        if args.only == "history":
            report["history"] = history_step(child, say, env, args.history_rows, args.history_prune_option)
        elif args.only == "worker-memory":
            report["worker_memory"] = worker_memory_step(env, args.memory_batches, args.memory_runs)
        elif args.only == "yaml-sync":
            report["yaml_sync"] = yaml_sync_step(child, say, env)
        elif args.only == "import-celery-beat":
            report["import_celery_beat"] = import_celery_beat_step(child, say, env)
        elif args.only == "backfill":
            report["backfill"] = backfill_step(child, say, env)
        elif args.only == "notify-hang":
            report["notify_hang"] = notify_hang_step(child, say, env)
        elif args.only == "burst-brokers":
            burst_sizes = [int(size) for size in (args.sizes or "1000").split(",")]
            report["burst_brokers"] = {n: burst_brokers_step(say, env, n) for n in burst_sizes}
        elif args.only == "redis-restarts":
            plan = RestartPlan(
                runs=args.restarts_runs,
                baseline_runs=args.restarts_runs,
                restarts=args.restarts,
                workers=args.restarts_workers,
                settings=next(iter(e2e_workers(args).values())),
            )
            report["redis_restarts"] = redis_restarts_step(env, plan, stamp)
        elif args.only == "task-e2e":
            e2e_repeated(env, args, report, job="task")
        elif args.only == "trace-cost":
            m, pairs = e2e_size(args)
            report["trace_cost"] = trace_cost_step(env, m, pairs, next(iter(e2e_workers(args).values())))
        elif args.only:
            if args.only == "e2e":
                e2e_repeated(env, args, report)
            report["worker_profile"] = worker_profile_step(env, PROFILE_RUNS, stamp)
            report["solo_profile"] = solo_profile_step(env, PROFILE_RUNS, stamp)
        else:
            run_all(env, args, report, sizes=sizes, schedulers=schedulers, stamp=stamp)
    report["seconds"] = time.monotonic() - began
    path = RESULTS / f"{stamp}-{report['mode']}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    say(f"== done in {report['seconds']:.0f} s; results in {path.relative_to(ROOT)}")


def run_all(
    env: dict[str, str],
    args: argparse.Namespace,
    report: dict[str, Any],
    *,
    sizes: list[int],
    schedulers: tuple[str, ...],
    stamp: str,
) -> None:
    say("== startup, RSS, idle tick, change pickup, burst (one beat, in-process, fixed clock where possible)")
    report["schedulers"] = measure_all(env, sizes, budget=20.0, schedulers=schedulers)
    if args.table_only:
        return
    profile_n = 1000 if args.quick else 10_000
    say(f"== profile of our burst of {profile_n:,} (pyinstrument; a separate pass, not in the figures above)")
    child(env, "seed", "--scheduler", "ours", "-n", profile_n)
    profile = RESULTS / f"{stamp}-profile-burst-ours-{profile_n}"
    profiled = child(env, "measure", "--scheduler", "ours", "-n", profile_n, "--profile", profile)
    say(f"  {profiled['exactly_once_summary']}; profile in {profile.relative_to(ROOT)}.txt/.html")

    burst_n = 1000 if args.quick else 10_000
    say(f"== burst of {burst_n:,} with one and two beat processes (ours)")
    report["beats"] = {}
    for beats in (1, 2):
        result = two_beats(env, burst_n, beats)
        report["beats"][beats] = result
        say(
            f"  {beats} beat(s): {result['rate']:,.0f}/s ({result['seconds']:.2f} s, split {result['split']}), "
            f"{result['exactly_once_summary']}"
        )
    say(f"== the same burst of {burst_n:,} as cron schedules sharing one expression (ours)")
    report["beats_cron"] = {}
    for beats in (1, 2):
        result = two_beats(env, burst_n, beats, kind="cron")
        report["beats_cron"][beats] = result
        say(
            f"  {beats} beat(s): {result['rate']:,.0f}/s ({result['seconds']:.2f} s, split {result['split']}), "
            f"{result['exactly_once_summary']}"
        )
    redbeat = report["schedulers"].get(f"redbeat:{burst_n}")
    if redbeat:
        for beats in (1, 2):
            say(
                f"    {beats} beat(s) vs celery-redbeat at N={burst_n:,}: "
                f"{fmt_ratio(stats.ratio(report['beats'][beats]['rate'], redbeat['burst_rate']))}"
            )

    lag_n, firings = (1000, 1) if args.quick else (10_000, 1)
    report["lag"] = {}
    for spread, how in ((60.0, "due evenly over the minute"), (0.0, "all at one instant")):
        say(f"== dispatch lag: {lag_n:,} schedules every 60 s, {how}, two beats, {firings} firing(s)")
        lag = steady(env, lag_n, firings, spread=spread)
        report["lag"]["spread" if spread else "instant"] = lag
        say(
            f"  p50 {lag['p50_s']:.3f} s, p99 {lag['p99_s']:.3f} s, max {lag['max_s']:.3f} s "
            f"({lag['dispatched']:,} dispatches of {lag_n:,} schedules in {lag['window_s']:.0f} s)"
        )

    e2e_all(env, args, report)
    report["worker_profile"] = worker_profile_step(env, PROFILE_RUNS, stamp)
    report["solo_profile"] = solo_profile_step(env, PROFILE_RUNS, stamp)


if __name__ == "__main__":
    main()
