"""``./scripts/bench --only backfill``: a backfill of 100,000 occurrences while 200 schedules fire every second.

One child process (``bench.child backfill``) is the beat: the same ``Dispatcher`` loop ``celery beat``
runs (ticks, and every ``SCHEDULER_MAINTENANCE_SECONDS`` the maintenance pass that fills
backfills), against the bench database and Redis. It seeds 200 interval schedules due every
second (spread evenly over the second) and one minutely schedule, runs the loop for a baseline
window, then requests a backfill of 100,000 past minutes of the minutely schedule and keeps
running until every occurrence of it exists, then a few seconds more.

Printed: the backfill's own rate (occurrences created per second, request to last batch), and
the other schedules' dispatch lag (publish time minus scheduled time) p50/p99 before and during
the backfill. The goal: p99 under 1 s during the backfill. Both overlap policies are measured:
``buffer_all`` (the default: occurrences buffered, started one at a time) and ``allow`` (every
occurrence dispatched with its run, published to Redis: the heavier write).

The request is made by another process, as a web process (the API, the admin) makes it: it counts
the range's fire times first (about 30 µs a minute here, seconds for 100,000), and done in the beat's
own loop that pause would stall every schedule for its length, which no deployment does.

The baseline is a control run of the same loop, seeds and length with no backfill (``-n 0``):
nobody consumes the runs in this bench, so queued runs pile up and recovery's checks grow, and
on a shared machine other processes take the CPUs; the control shows what the lag is without
the backfill under the same conditions, so the difference is the backfill's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

N_BACKFILL = 100_000
N_SCHEDULES = 200
BASELINE_S = 10.0
AFTER_S = 5.0
GOAL_P99_S = 1.0
POLICIES = ("buffer_all", "allow")
#: How often the loop does what autovacuum's analyze would (its default naptime is a minute).
ANALYZE_EVERY_S = 10.0


def _percentiles(lags: list[float]) -> dict[str, float]:
    from bench import stats

    if not lags:
        return {"n": 0, "p50_s": float("nan"), "p99_s": float("nan"), "max_s": float("nan")}
    return {"n": len(lags), "p50_s": stats.percentile(lags, 50), "p99_s": stats.percentile(lags, 99),
            "max_s": max(lags)}  # fmt: skip


def step_backfill(args: argparse.Namespace) -> dict[str, Any]:
    """In a child process (Django set up): seed, run the beat loop, backfill ``args.n`` minutes in the middle."""
    from bench.child_io import Autovacuum, sql
    from bench.seeding import reset, seed_ours
    from orchestrator.models import Job
    from scheduling.engine.loop import Dispatcher
    from scheduling.models import Backfill, Schedule, ScheduledRun

    reset()
    now = datetime.now(UTC).replace(microsecond=0)
    first = now + timedelta(seconds=3)
    seed_ours(N_SCHEDULES, start_at=first, due_at=first, interval=1, spread=1.0)
    minutely = Schedule(name="bench-backfilled", job=Job.objects.get(key="noop"), kind="cron", cron="* * * * *")
    minutely.save()
    sql("ANALYZE")
    start = (now - timedelta(days=90)).replace(second=0)
    end = start + timedelta(minutes=args.n)

    dispatcher = Dispatcher()
    phases: dict[str, list[float]] = {"before": [], "during": [], "after": []}
    phase = "before"
    began = time.monotonic()
    requested_at = done_at = 0.0
    batches: list[tuple[float, int, float]] = []  # (monotonic, created, maintenance seconds)
    backfill: Backfill | None = None
    finish_by = float("inf")
    autovacuum = Autovacuum(every_s=ANALYZE_EVERY_S)  # this machine's PostgreSQL runs without it
    requester: subprocess.Popen[str] | None = None
    request_s = 0.0
    while time.monotonic() < finish_by:
        if phase == "before" and time.monotonic() - began >= BASELINE_S:
            requested_at = time.monotonic()
            if args.n:
                requester = _request_elsewhere(minutely.pk, start, end, args.policy)
            phase = "during"
        if requester is not None and requester.poll() is not None:
            answer = _answer(requester)
            requester, request_s = None, answer["seconds"]
            backfill = Backfill.objects.get(pk=answer["backfill_id"])
        cycle_began = time.monotonic()
        cycle = dispatcher.cycle()
        if cycle.tick is not None and cycle.tick.handled:
            published = cycle.tick.finished_at or datetime.now(UTC)
            phases[phase] += [
                (published - h.scheduled_for).total_seconds()
                for h in cycle.tick.handled
                if h.action == "dispatch" and h.schedule_id != minutely.pk
            ]
        if cycle.maintenance is not None and cycle.maintenance.backfilled:
            batches.append((time.monotonic(), cycle.maintenance.backfilled, time.monotonic() - cycle_began))
        created_all = phase == "during" and backfill is not None and cycle.maintenance is not None
        if created_all and Backfill.objects.filter(pk=backfill.pk, cursor__isnull=True).exists():
            done_at = time.monotonic()
            phase = "after"
            finish_by = done_at + AFTER_S
        if phase == "during" and time.monotonic() - requested_at > args.budget:
            break  # reported as unfinished (the control run: its whole length)
        time.sleep(max(0.0, min(cycle.sleep_seconds, finish_by - time.monotonic())))
    dispatcher.close()
    autovacuum.stop()
    if requester is not None:  # still counting when the budget ran out
        requester.kill()
        requester.wait()
    lags = {name: _percentiles(found) for name, found in phases.items()}
    if not args.n:  # the control run
        return {"n": 0, "seconds": time.monotonic() - requested_at, **{f"lag_{k}": v for k, v in lags.items()}}
    if backfill is None:
        raise SystemExit("the backfill request did not finish within the budget")
    backfill.refresh_from_db()
    rows = ScheduledRun.objects.filter(backfill=backfill)
    distinct = rows.values("scheduled_for").distinct().count()
    seconds = (done_at or time.monotonic()) - requested_at
    return {
        "policy": args.policy,
        "n": args.n,
        "count": backfill.count,
        "created": backfill.created,
        "finished_creating": bool(done_at),
        "exactly_once": rows.count() == distinct == backfill.created,
        "seconds": seconds,
        "request_s": request_s,
        "rate_per_s": backfill.created / seconds if seconds else 0.0,
        "batches": len(batches),
        "batch_cycle_s_max": max((b[2] for b in batches), default=0.0),
        **{f"lag_{name}": value for name, value in lags.items()},
    }


def _request_elsewhere(schedule_id: int, start: datetime, end: datetime, policy: str) -> subprocess.Popen[str]:
    """``bench.child backfill-request`` in its own process: the web process of a deployment."""
    command = [sys.executable, "-m", "bench.child", "backfill-request", "--schedule-id", str(schedule_id),
               "--from", start.isoformat(), "--to", end.isoformat(), "--policy", policy]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def _answer(requester: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = requester.communicate()
    if requester.returncode != 0:
        raise SystemExit(f"the backfill request failed (exit {requester.returncode})")
    answer: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return answer


def step_backfill_request(args: argparse.Namespace) -> dict[str, Any]:
    """In a child process: request the backfill as the API would (counting its fire times first)."""
    from scheduling.engine import backfills
    from scheduling.models import Schedule

    began = time.monotonic()
    backfill = backfills.request(
        Schedule.objects.get(pk=args.schedule_id),
        start=datetime.fromisoformat(args.from_),
        end=datetime.fromisoformat(args.to),
        overlap_policy=args.policy,
        by="bench",
        now=datetime.now(UTC),
    )
    return {"backfill_id": backfill.pk, "seconds": time.monotonic() - began}


Child = Callable[..., dict[str, Any]]


def backfill_step(child: Child, say: Callable[[str], None], env: dict[str, str]) -> dict[str, Any]:
    """Both overlap policies, one fresh child each; printed with the goal's verdict."""
    say(
        f"== backfill of {N_BACKFILL:,} past minutes while {N_SCHEDULES} schedules fire every second "
        f"(one beat loop; SCHEDULER_BACKFILL_BATCH per maintenance pass); goal: their dispatch lag p99 < "
        f"{GOAL_P99_S:.0f} s during it"
    )
    results: dict[str, Any] = {}
    seconds = 0.0
    for policy in POLICIES:
        result = child(env, "backfill", "--policy", policy, "-n", N_BACKFILL, "--budget", 600, timeout=1800)
        results[policy] = result
        seconds = max(seconds, result["seconds"])
        before, during = result["lag_before"], result["lag_during"]
        verdict = "met" if during["p99_s"] < GOAL_P99_S else "NOT met"
        say(
            f"  {policy}: the request (another process) counted its fire times in {result['request_s']:.1f} s; "
            f"{result['created']:,} of {result['count']:,} created in {result['seconds']:.1f} s = "
            f"{result['rate_per_s']:,.0f} occurrences/s ({result['batches']} batches, slowest cycle with a batch "
            f"{result['batch_cycle_s_max'] * 1000:.0f} ms), exactly once: {result['exactly_once']}"
        )
        say(
            f"    other schedules' lag before: p50 {before['p50_s']:.3f} s, p99 {before['p99_s']:.3f} s "
            f"({before['n']:,} dispatches); during: p50 {during['p50_s']:.3f} s, p99 {during['p99_s']:.3f} s, "
            f"max {during['max_s']:.3f} s ({during['n']:,} dispatches); goal p99 < {GOAL_P99_S:.0f} s: {verdict}"
        )
    control = child(env, "backfill", "-n", 0, "--budget", round(seconds), timeout=1800)
    results["control"] = control
    during = control["lag_during"]
    say(
        f"  control, no backfill, {control['seconds']:.0f} s of the same load: lag p50 {during['p50_s']:.3f} s, "
        f"p99 {during['p99_s']:.3f} s, max {during['max_s']:.3f} s ({during['n']:,} dispatches)"
    )
    results["goal_met"] = all(results[p]["lag_during"]["p99_s"] < GOAL_P99_S for p in POLICIES)
    return results
