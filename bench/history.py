"""``./scripts/bench --only history``: everything a user feels, with an empty history and with millions of runs.

The same child step measures three times in one run: on an empty history (a few thousand
schedules, no occurrences, no runs), with 2,000 rows (every list shows a full page), and after
``history-seed`` has written ``--history-rows`` occurrences (default 10,000,000) with their runs
in set-based SQL: 30 % of them belong to one busy
schedule, the rest spread over the fleet; 3 % skipped and 1 % missed (no run); runs mostly
succeeded, some failed with an error text, timed out or cancelled; every run with the directive
snapshot our own path writes for these schedules. Each item is printed with its ratios against both
smaller histories; the goal, 1.5x at most, is judged against the 2,000 rows.

Then retention at that size: ``manage.py prune`` (a subprocess) deletes the oldest tenth of the
history while a beat loop in this process dispatches 200 schedules every second, and the step
reports rows deleted per second (goal 20,000) and the dispatch lag before and during it (goal p99
under 1 s). A stand-in worker marks the dispatched runs finished so they do not pile up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

SCHEDULES = 4000
BURST = 1000  # bench-1 .. bench-1000: made due at once for the burst
LAG_SCHEDULES = 200  # bench-1 .. bench-200: every second during the prune
BUSY_SHARE_PERCENT = 30
SPAN_DAYS = 90  # the history covers the 90 days before yesterday
SMALL = 2000  # the second baseline: every list has a full first page, the busy schedule a middle page
PRUNE_OLDER_DAYS = 82  # the oldest ~10 % of it
CHUNK = 500_000
REPEATS = 7
GOAL_RATIO = 1.5
DEEPEST_LABEL = "(deepest numbered)"
GOAL_PRUNE_ROWS_S = 20_000
GOAL_LAG_P99_S = 1.0
PARAMS = {
    "report": "daily-revenue",
    "region": "eu-west-1",
    "recipients": ["finance@example.com", "ops@example.com", "ceo@example.com"],
    "options": {"format": "xlsx", "include_refunds": True, "currency": "EUR", "timezone": "Europe/Berlin"},
    "query": "SELECT day, sum(amount) FROM orders WHERE day >= :start AND day < :end GROUP BY day ORDER BY day",
}
ERROR_TEXT = (
    'Traceback (most recent call last):\n  File "/app/jobs/reports.py", line 88, in run\n'
    "    rows = warehouse.fetch(query, timeout=30)\nTimeoutError: warehouse did not answer within 30 s"
)


def _busy_id() -> int:
    from bench.child_io import sql

    return int(sql("SELECT id FROM scheduling_schedule WHERE name = %s", [f"bench-{SCHEDULES}"])[0][0])


def _seed_fleet() -> None:
    """Empty tables, then the fleet (hourly, due tomorrow) and a superuser for the pages."""
    from django.contrib.auth import get_user_model

    from bench.child_io import sql
    from bench.seeding import reset, seed_ours

    reset()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    seed_ours(SCHEDULES, start_at=start, due_at=start + timedelta(hours=24), interval=3600, params=PARAMS)
    get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password")
    sql("ANALYZE")


_HISTORY_SQL = """
WITH src AS (
    SELECT i, md5(%(salt)s || i)::uuid AS run_id,
           %(end)s - (%(n)s - i)::bigint * %(step_us)s * interval '1 microsecond' AS at,
           CASE WHEN i %% 100 < %(busy_pct)s THEN %(busy)s ELSE %(first)s + (i %% %(others)s) END AS schedule_id,
           CASE WHEN i %% 100 IN (97, 98, 99) THEN 'skipped' WHEN i %% 100 = 96 THEN 'missed'
                ELSE 'dispatched' END AS occurrence,
           CASE WHEN (i * 7) %% 100 < 88 THEN 'succeeded' WHEN (i * 7) %% 100 < 95 THEN 'failed'
                WHEN (i * 7) %% 100 < 97 THEN 'timed_out' ELSE 'cancelled' END AS run_status
    FROM generate_series(%(lo)s, %(hi)s) AS i
), runs AS (
    INSERT INTO orchestrator_run (id, directive_snapshot, trigger, status, created_at, queued_at, started_at,
        finished_at, error, worker, task_id, attempt, wait_reason, result, steps, job_id, traceparent)
    SELECT run_id, %(snapshot)s::jsonb, 'schedule', run_status, at, at + interval '4 ms', at + interval '21 ms',
           at + (i %% 900) * interval '1 s' + interval '30 ms',
           CASE WHEN run_status IN ('failed', 'timed_out') THEN %(error)s ELSE '' END,
           'celery@worker-' || (i %% 8), run_id::text, 1, '',
           CASE WHEN run_status = 'succeeded' THEN jsonb_build_object('rows', i %% 5000, 'file', 'report.xlsx') END,
           '[]'::jsonb, %(job)s, ''
    FROM src WHERE occurrence = 'dispatched'
    RETURNING 1
)
INSERT INTO scheduling_scheduledrun (scheduled_for, status, trigger, dispatched_at, reason, run_active, missed_count,
    created_at, run_id, schedule_id)
SELECT at, occurrence, 'schedule', CASE WHEN occurrence = 'dispatched' THEN at END,
       CASE occurrence WHEN 'skipped' THEN 'overlap: the previous run was still running'
                       WHEN 'missed' THEN 'missed: later than the misfire grace (300 s)' ELSE '' END,
       false, 1, at, CASE WHEN occurrence = 'dispatched' THEN run_id END, schedule_id
FROM src
"""


def step_history_seed(args: argparse.Namespace) -> dict[str, Any]:
    """``-n 0``: the fleet only (the empty history). Otherwise add ``-n`` occurrences with their runs."""
    from django.db import connection

    from bench.child_io import job_id, sql
    from scheduling.engine.runs import planned_for
    from scheduling.models import Schedule

    if args.n == 0:
        _seed_fleet()
        return {"seeded": 0}
    busy = Schedule.objects.select_related("job", "directive").get(pk=_busy_id())
    snapshot = json.dumps(planned_for(busy, busy.next_run_at, "schedule", now=datetime.now(UTC)).directive_snapshot)
    first = int(sql("SELECT min(id) FROM scheduling_schedule")[0][0])
    end = datetime.now(UTC) - timedelta(days=1)
    params = {"end": end, "n": args.n, "step_us": SPAN_DAYS * 86_400_000_000 // args.n, "busy": busy.pk,
              "busy_pct": BUSY_SHARE_PERCENT, "first": first, "others": SCHEDULES - 1, "snapshot": snapshot,
              "error": ERROR_TEXT, "job": job_id("noop"), "salt": f"run-{args.n}-"}  # fmt: skip
    began = time.monotonic()
    for lo in range(1, args.n + 1, CHUNK):
        with connection.cursor() as cursor:
            cursor.execute(_HISTORY_SQL, {**params, "lo": lo, "hi": min(args.n, lo + CHUNK - 1)})
        done = min(args.n, lo + CHUNK - 1)
        print(f"  seeded {done:,} in {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
    inserted = time.monotonic() - began
    connection.ensure_connection()
    with connection.cursor() as cursor:  # what autovacuum gives a long-lived table: statistics, visibility map
        cursor.execute("VACUUM (ANALYZE) orchestrator_run, scheduling_scheduledrun")
    sizes = sql("SELECT pg_total_relation_size('orchestrator_run'), pg_total_relation_size('scheduling_scheduledrun'), "
                "(SELECT count(*) FROM scheduling_scheduledrun WHERE schedule_id = %s), (SELECT avg(pg_column_size("
                "directive_snapshot)) FROM (SELECT directive_snapshot FROM orchestrator_run LIMIT 1000) AS s)",
                [busy.pk])[0]  # fmt: skip
    return {"seeded": args.n, "insert_s": inserted, "vacuum_s": time.monotonic() - began - inserted,
            "run_table_bytes": sizes[0], "occurrence_table_bytes": sizes[1], "busy_rows": sizes[2],
            "snapshot_bytes": float(sizes[3])}  # fmt: skip


def _median_ms(action: Callable[[], Any], repeats: int = REPEATS) -> float:
    from bench import stats

    action()  # warm: plans, caches, the first connection
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return stats.median(times) * 1000


def _burst_rate(dispatcher: Any, round_: int) -> float:
    """1,000 schedules due at once; occurrences dispatched per second by one beat's cycles.

    Each round's time is a different minute back (within the misfire grace), so no round's
    occurrences collide with an earlier round's (a collision is "already handled", not a dispatch).
    """
    from bench.child_io import QUEUE, redis_client, sql

    due = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=round_ + 1)
    names = [f"bench-{i}" for i in range(1, BURST + 1)]
    sql("UPDATE scheduling_schedule SET start_at = %s, next_run_at = %s, due_at = %s WHERE name = ANY(%s)",
        [due, due, due, names])  # fmt: skip
    dispatched = 0
    began = time.perf_counter()
    while dispatched < BURST and time.perf_counter() - began < 120:
        cycle = dispatcher.cycle()
        if cycle.tick is None and cycle.sleep_seconds > 0:
            break  # nothing due any more: never spin on a burst that cannot complete
        if cycle.tick is not None:
            dispatched += sum(1 for h in cycle.tick.handled if h.action == "dispatch")
    seconds = time.perf_counter() - began
    redis_client().delete(QUEUE)
    sql("UPDATE orchestrator_run SET status = 'succeeded', finished_at = now() WHERE status IN ('queued', 'pending')")
    return dispatched / seconds


def _pages(busy: int) -> dict[str, str]:
    """The pages measured: the deepest numbered page of the busy schedule's history, and its middle by cursor."""
    from bench.child_io import sql
    from scheduling.surfaces.api import keyset
    from scheduling.surfaces.api.pagination import DEEPEST_ROW

    rows = int(sql("SELECT count(*) FROM scheduling_scheduledrun WHERE schedule_id = %s", [busy])[0][0])
    deep = DEEPEST_ROW // 50  # numbered pages end at row 10,000 (a 400 past it): the deepest one
    middle = sql(
        "SELECT COALESCE(scheduled_for, created_at), id FROM scheduling_scheduledrun WHERE schedule_id = %s "
        "ORDER BY COALESCE(scheduled_for, created_at) DESC, id DESC OFFSET %s LIMIT 1",
        [busy, rows // 2],
    )
    cursor = keyset.encode(keyset.Position(at=middle[0][0], pk=middle[0][1])) if middle else ""
    return {
        "admin: schedule list": "/admin/scheduling/schedule/",
        "admin: run list": "/admin/orchestrator/run/",
        "admin: occurrence list": "/admin/scheduling/scheduledrun/",
        "admin: busy schedule's page": f"/admin/scheduling/schedule/{busy}/change/",
        "/schedules/": "/schedules/",
        "/schedules/<busy>/": f"/schedules/{busy}/",
        "API: run list": "/api/runs/",
        "API: busy history, first page": f"/api/schedules/{busy}/history/",
        f"API: busy history, page {deep:,} {DEEPEST_LABEL}": f"/api/schedules/{busy}/history/?page={deep}",
        "API: busy history by cursor, first page": f"/api/schedules/{busy}/history/?cursor=",
        "API: busy history by cursor, middle": f"/api/schedules/{busy}/history/?cursor={cursor}",
        "/metrics": "/metrics",
        "/readyz": "/readyz",
    }


def step_history_measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every item once warm, then the median of ``REPEATS`` (ms), and the burst rate (median of 3)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from bench import stats
    from bench.child_io import QUEUE, redis_client
    from orchestrator import execution, store
    from scheduling.engine.loop import Dispatcher
    from scheduling.engine.maintenance import maintain
    from scheduling.models import Schedule
    from scheduling.surfaces import actions

    busy = _busy_id()
    schedule = Schedule.objects.select_related("job", "directive").get(pk=busy)
    dispatcher = Dispatcher(prepare=False)
    dispatcher.cycle(force_maintenance=True)
    ticks: list[float] = []
    while len(ticks) < 50:
        began = time.perf_counter()
        cycle = dispatcher.cycle()
        if cycle.maintenance is None:  # a maintenance pass is measured on its own below
            ticks.append(time.perf_counter() - began)
    items: dict[str, float] = {"idle tick (Dispatcher.cycle, nothing due)": stats.median(ticks) * 1000}
    items["maintenance pass"] = _median_ms(lambda: maintain(datetime.now(UTC)))
    runs: list[Any] = []
    items["run now (busy schedule)"] = _median_ms(lambda: runs.append(actions.run_now(schedule)))
    redis_client().delete(QUEUE)

    def claim_and_finish() -> None:
        run = runs.pop()
        now = datetime.now(UTC)
        claimed = execution.claim_run(run.id, attempt=run.attempt, worker="bench", now=now)
        assert claimed is not None, "the run-now run could not be claimed"
        store.finish_run(run.id, attempt=run.attempt, status="succeeded", started=now, now=now, error="", result=None)

    items["claim + finish one run"] = _median_ms(claim_and_finish)
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench"))
    codes: dict[str, int] = {}
    for name, path in _pages(busy).items():
        codes[name] = client.get(path, secure=True).status_code
        items[name] = _median_ms(partial(client.get, path, secure=True))
    rates = [_burst_rate(dispatcher, round_) for round_ in range(3)]
    dispatcher.close()
    return {"items_ms": items, "codes": codes, "burst_per_s": stats.median(rates), "burst_rates": rates}


def _lag_schedules_every_second() -> datetime:
    from bench.child_io import sql

    first = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    sql("""UPDATE scheduling_schedule SET interval_seconds = 1, start_at = %s + o.shift, next_run_at = %s + o.shift,
               due_at = %s + o.shift
           FROM (SELECT i, ((i - 1) / %s::float) * interval '1 second' AS shift FROM generate_series(1, %s) AS i) AS o
           WHERE name = 'bench-' || o.i""", [first, first, first, LAG_SCHEDULES, LAG_SCHEDULES])  # fmt: skip
    return first


def step_history_prune(args: argparse.Namespace) -> dict[str, Any]:
    """``manage.py prune --older-than 82d`` in a subprocess while this process is a beat (and a stand-in worker)."""
    from bench import stats
    from bench.child_io import QUEUE, redis_client, sql
    from bench.env import ROOT
    from scheduling.engine.loop import Dispatcher

    cutoff = datetime.now(UTC) - timedelta(days=PRUNE_OLDER_DAYS)
    count = ("SELECT (SELECT count(*) FROM orchestrator_run WHERE created_at < %s), "
             "(SELECT count(*) FROM scheduling_scheduledrun WHERE created_at < %s)")  # fmt: skip
    before = sql(count, [cutoff, cutoff])[0]
    _lag_schedules_every_second()
    dispatcher = Dispatcher()
    lags: dict[str, list[float]] = {"before": [], "during": []}
    prune: subprocess.Popen[str] | None = None
    began = time.monotonic()
    last_drain = prune_began = prune_s = 0.0
    while True:
        if prune is None and time.monotonic() - began >= 10:
            argv = [sys.executable, "manage.py", "prune", "--older-than", f"{PRUNE_OLDER_DAYS}d", *args.prune_option]
            prune = subprocess.Popen(argv, cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, text=True)
            prune_began = time.monotonic()
        cycle = dispatcher.cycle()
        if cycle.tick is not None and cycle.tick.handled:
            published = cycle.tick.finished_at or datetime.now(UTC)
            lags["before" if prune is None else "during"] += [
                (published - h.scheduled_for).total_seconds() for h in cycle.tick.handled if h.action == "dispatch"
            ]
        if time.monotonic() - last_drain >= 1.0:  # the stand-in worker: nothing piles up in Redis or as queued
            redis_client().delete(QUEUE)
            sql("UPDATE orchestrator_run SET status = 'succeeded', finished_at = now() WHERE status = 'queued'")
            last_drain = time.monotonic()
        if prune is not None and prune.poll() is not None:
            prune_s = time.monotonic() - prune_began
            break
        if prune is not None and time.monotonic() - prune_began > args.budget:
            prune.terminate()  # stopped for time: a prune resumes where it stopped; the rate is what it did
            prune.wait()
            prune_s = time.monotonic() - prune_began
            break
        time.sleep(max(0.0, min(cycle.sleep_seconds, 0.05)))
    dispatcher.close()
    sql("UPDATE scheduling_schedule SET enabled = false WHERE name = ANY(%s)",
        [[f"bench-{i}" for i in range(1, LAG_SCHEDULES + 1)]])  # fmt: skip
    after = sql(count, [cutoff, cutoff])[0]
    runs, occurrences = before[0] - after[0], before[1] - after[1]
    output = prune.stdout.read() if prune is not None and prune.stdout is not None else ""

    def pct(found: list[float]) -> dict[str, float]:
        if not found:
            return {"n": 0, "p50_s": float("nan"), "p99_s": float("nan"), "max_s": float("nan")}
        return {"n": len(found), "p50_s": stats.percentile(found, 50), "p99_s": stats.percentile(found, 99),
                "max_s": max(found)}  # fmt: skip

    return {"older_than_rows": before[0] + before[1], "runs_deleted": runs, "occurrences_deleted": occurrences,
            "seconds": prune_s, "finished": prune is not None and prune.returncode == 0,
            "rows_per_s": (runs + occurrences) / prune_s if prune_s else 0.0,
            "runs_per_s": runs / prune_s if prune_s else 0.0, "output": output,
            "lag_before": pct(lags["before"]), "lag_during": pct(lags["during"])}  # fmt: skip


Child = Callable[..., dict[str, Any]]


def history_step(
    child: Child, say: Callable[[str], None], env: dict[str, str], rows: int, prune_options: list[str]
) -> dict[str, Any]:
    # No worker runs here: /readyz's worker ping would wait its whole timeout (1 s) and hide the rest.
    env = {**env, "DJANGO_ALLOWED_HOSTS": "testserver", "HEALTH_CELERY_TIMEOUT_SECONDS": "0.05"}
    say(f"== history: every item with an empty history, {SMALL:,} rows, then {rows:,} occurrences and runs")
    child(env, "history-seed", "-n", 0)
    empty = child(env, "history-measure")
    child(env, "history-seed", "-n", SMALL)
    small = child(env, "history-measure")
    began = time.monotonic()
    seeded = child(env, "history-seed", "-n", rows, timeout=6 * 3600, stderr=True)
    say(
        f"  seeded {rows:,} in {time.monotonic() - began:.0f} s (insert {seeded['insert_s']:.0f} s, vacuum + analyze "
        f"{seeded['vacuum_s']:.0f} s): runs {seeded['run_table_bytes'] / 2**30:.1f} GiB, occurrences "
        f"{seeded['occurrence_table_bytes'] / 2**30:.1f} GiB, busy schedule {seeded['busy_rows']:,} rows, "
        f"snapshot {seeded['snapshot_bytes']:.0f} B"
    )
    full = child(env, "history-measure")
    say_table(say, rows, empty, small, full)
    say(f"== prune of the history older than {PRUNE_OLDER_DAYS} days while a beat dispatches {LAG_SCHEDULES}/s")
    prune = child(env, "history-prune", "--budget", 900, *[f"--prune-option={o}" for o in prune_options], timeout=3600)
    say(
        f"  deleted {prune['runs_deleted']:,} runs and {prune['occurrences_deleted']:,} occurrences of "
        f"{prune['older_than_rows']:,} rows in {prune['seconds']:.1f} s ("
        f"{'finished' if prune['finished'] else 'STOPPED'}): {prune['rows_per_s']:,.0f} rows/s "
        f"({prune['runs_per_s']:,.0f} runs/s); goal >= {GOAL_PRUNE_ROWS_S:,}: "
        f"{'met' if prune['rows_per_s'] >= GOAL_PRUNE_ROWS_S else 'NOT met'}"
    )
    for phase in ("before", "during"):
        lag = prune[f"lag_{phase}"]
        say(f"  dispatch lag {phase}: p50 {lag['p50_s']:.3f} s, p99 {lag['p99_s']:.3f} s, max {lag['max_s']:.3f} s "
            f"({lag['n']:,} dispatches)")  # fmt: skip
    say(f"  goal p99 < {GOAL_LAG_P99_S:.0f} s: {'met' if prune['lag_during']['p99_s'] < GOAL_LAG_P99_S else 'NOT met'}")
    return {"rows": rows, "seed": seeded, "empty": empty, "small": small, "full": full, "prune": prune}


def say_table(
    say: Callable[[str], None], rows: int, empty: dict[str, Any], small: dict[str, Any], full: dict[str, Any]
) -> None:
    """Each item against the empty history and against ``SMALL`` rows, where the goal is judged.

    An empty list renders no rows, so a list's ratio against it is mostly the cost of showing a
    page; with ``SMALL`` rows the pages are as full as at N. A page a smaller history does not have
    (its 404) is compared with that history's first page. The deepest numbered page is printed and
    not judged: it reads ``DEEPEST_ROW`` rows by design, a bound (beyond it the API answers 400).
    """
    first = "API: busy history, first page"

    def baseline(history: dict[str, Any], name: str) -> float:
        missing = history["codes"].get(name, 200) == 404 or name not in history["items_ms"]
        return float(history["items_ms"][first if missing else name])

    say(f"| item | empty | {SMALL:,} rows | {rows:,} rows | vs empty | vs {SMALL:,} | goal <= {GOAL_RATIO}x |")
    say("|---|---|---|---|---|---|---|")
    for name, value in full["items_ms"].items():
        base, mid = baseline(empty, name), baseline(small, name)
        code = f" (HTTP {full['codes'][name]})" if full["codes"].get(name, 200) != 200 else ""
        verdict = "a bound, not judged" if DEEPEST_LABEL in name else "met" if value / mid <= GOAL_RATIO else "NOT met"
        figures = f"{base:.1f} ms | {mid:.1f} ms | {value:.1f} ms | {value / base:.2f}x | {value / mid:.2f}x"
        say(f"| {name}{code} | {figures} | {verdict} |")
    rates = [empty["burst_per_s"], small["burst_per_s"], full["burst_per_s"]]
    verdict = "met" if rates[1] / rates[2] <= GOAL_RATIO else "NOT met"
    say(
        f"| burst of {BURST:,} (one beat) | {rates[0]:,.0f}/s | {rates[1]:,.0f}/s | {rates[2]:,.0f}/s | "
        f"{rates[0] / rates[2]:.2f}x | {rates[1] / rates[2]:.2f}x | {verdict} |"
    )
