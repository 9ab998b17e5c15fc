"""Filling the bench database and Redis before a step: ours, django-celery-beat's and RedBeat's schedules.

``step_seed`` (``python -m bench.child seed``) empties both, then writes N schedules of the chosen
scheduler, due now or later, and for ours the history rows a real deployment would have.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.child_io import BENCH_INTERVAL, HISTORY, QUEUE, REDBEAT_PREFIX, job_id, redis_client, sql
from bench.tasks import RAW_TASK
from project.celery import app


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
    params: Mapping[str, Any] | None = None,
) -> None:
    """Interval schedules of the job ``job`` (its key) anchored at ``start_at``; ``due_at`` must be
    ``start_at`` plus whole intervals. ``params``: every schedule's params (default none).

    ``spread`` (seconds) shifts schedule i's anchor and due time by ``i * spread / n``: a fleet whose
    schedules fall due evenly over that span instead of all at one instant. With ``cron``, cron
    schedules (UTC) instead, starting at ``start_at``: ``start_at`` and ``due_at`` must be fire times.
    """
    sql(
        """
        INSERT INTO scheduling_schedule (name, description, job_id, params, kind, cron, interval_seconds, timezone,
            enabled, start_at, next_run_at, due_at, misfire_policy, misfire_grace_seconds, overlap_policy,
            jitter_seconds, tenant, source, source_path, created_at, updated_at, pause_note, paused_by, failure_streak)
        SELECT 'bench-' || i, '', %s, %s::jsonb, %s, %s, %s, 'UTC', true, %s + o.shift, %s + o.shift,
               %s + o.shift, 'run_once', 300, 'allow', 0, '', 'api', '', now(), now(), '', '', 0
        FROM generate_series(1, %s) AS i, LATERAL (SELECT ((i - 1) * %s / %s) * interval '1 second' AS shift) AS o""",
        [
            job_id(job),
            json.dumps(params or {}),
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
    from orchestrator import broker
    from orchestrator.connections import celery_app
    from scheduling.engine import dispatch

    past = datetime.now(UTC) - timedelta(days=1)
    sql(
        """
        INSERT INTO scheduling_schedule (name, description, job_id, params, kind, cron, interval_seconds, timezone,
            enabled, start_at, next_run_at, due_at, misfire_policy, misfire_grace_seconds, overlap_policy,
            jitter_seconds, tenant, source, source_path, created_at, updated_at, pause_note, paused_by, failure_streak)
        SELECT 'history-' || i, '', %s, '{}'::jsonb, 'interval', '', 86400, 'UTC', true, %s, %s, %s, 'run_once', 300,
               'allow', 0, '', 'api', '', now(), now(), '', '', 0
        FROM generate_series(1, %s) AS i""",
        [job_id("sleep"), past, past, past, HISTORY],
    )
    while dispatch.dispatch_due(past + timedelta(seconds=1)).claimed:
        pass
    # finished long ago: nothing for the recovery step to publish again once the queue is flushed
    sql("UPDATE orchestrator_run SET status = 'succeeded' WHERE job_id = %s", [job_id("sleep")])
    sql("UPDATE scheduling_schedule SET enabled = false WHERE name LIKE 'history-%%'")
    redis_client().flushdb()
    if not broker.broker_is_our_redis():  # RabbitMQ (--only burst-brokers): its queue kept the messages
        celery_app().control.purge()


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
