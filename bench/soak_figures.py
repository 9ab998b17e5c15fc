"""The soak's figures and report: every occurrence due in the window accounted for, and the printed summary.

Read from the soak's own database, its broker and the workers' event log once the run has
drained (``bench/soak.py``, whose docstring lists what is counted); no process is started here.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.soak import Soak


FINAL = ("succeeded", "failed", "timed_out", "cancelled")


def figures(soak: Soak, start_at: datetime, end_at: datetime, drained: bool) -> dict[str, Any]:
    """Every figure of the run: occurrences due and what became of each, duplicates, peaks, lags, what is left."""
    from django.db.models import Count

    from orchestrator.models import Run
    from scheduling.core import timing
    from scheduling.models import Schedule, ScheduledRun
    from scheduling.ops.metrics import reason_code

    # Occurrences due well before the end: each one must be recorded, however late the beats ran.
    window_end = end_at - timedelta(seconds=min(15.0, soak.args.duration / 4))
    due_total = 0
    absent: list[tuple[str, datetime]] = []
    unexpected = 0
    outcome: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    lags: list[float] = []
    released_lags: list[float] = []  # occurrences held by their overlap policy (buffered), then released
    rows_by_schedule: dict[int, list[ScheduledRun]] = defaultdict(list)
    for row in ScheduledRun.objects.filter(scheduled_for__isnull=False):
        rows_by_schedule[row.schedule_id].append(row)
    for schedule in Schedule.objects.all():
        due: list[datetime] = []
        # due from its start, or from when it was saved if that was later (a slow machine)
        after = max(start_at - timedelta(microseconds=1), schedule.created_at)
        while True:
            batch = timing.next_fire_times(schedule, after, count=200)
            due.extend(t for t in batch if t <= window_end)
            if len(batch) < 200 or batch[-1] > window_end:
                break
            after = batch[-1]
        due_set = set(due)
        due_total += len(due_set)
        covered: set[datetime] = set()
        for row in rows_by_schedule.get(schedule.id, []):
            assert row.scheduled_for is not None
            if row.missed_count > 1 and row.missed_until is not None:
                span = {t for t in due_set if row.scheduled_for <= t <= row.missed_until}
            else:
                span = {row.scheduled_for} & due_set
                if row.scheduled_for <= window_end and not span:
                    unexpected += 1
            if not span:
                continue
            covered |= span
            outcome[row.status] += len(span)
            if row.status == "skipped":
                skipped[reason_code(row.reason)] += len(span)
            elif row.status == "missed":
                missed[reason_code(row.reason)] += len(span)
            elif row.status == "dispatched" and row.dispatched_at is not None:
                lag = (row.dispatched_at - row.scheduled_for).total_seconds()
                was_buffered = (row.dispatched_at - row.created_at).total_seconds() > 0.5
                (released_lags if was_buffered else lags).append(lag)
        absent.extend((schedule.name, t) for t in sorted(due_set - covered))

    duplicate_occurrences = (
        ScheduledRun.objects.filter(scheduled_for__isnull=False)
        .values("schedule_id", "scheduled_for")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    events = list(read_events(soak.events_path))
    started = Counter((e["run_id"], e.get("attempt")) for e in events if e.get("event") == "run_started")
    started_twice = sum(1 for n in started.values() if n > 1)
    finished = Counter(e["run_id"] for e in events if e.get("event") == "run_finished")
    finished_twice = sum(1 for n in finished.values() if n > 1)
    statuses = Counter(Run.objects.values_list("status", flat=True))
    held, waiting = soak.held_by_killed_workers(), soak.in_queue()
    queued = [str(i) for i in Run.objects.filter(status="queued").values_list("id", flat=True)]
    queued_held = sum(1 for run_id in queued if run_id in held)
    queued_gone = sum(1 for run_id in queued if run_id not in held and run_id not in waiting)
    stuck = Run.objects.filter(status__in=("pending", "running")).count() + len(queued) - queued_held - queued_gone
    lost = Run.objects.filter(error__startswith="worker lost").count()
    retried_runs = Run.objects.filter(attempt__gt=1).count()
    peaks = peak_concurrency(events, soak.worker_kills)
    lags.sort()
    released_lags.sort()
    left = [
        describe_active(row)
        for row in Run.objects.exclude(status__in=FINAL).values(
            "id", "status", "job__key", "attempt", "wait_reason", "created_at", "queued_at"
        )
        if str(row["id"]) not in held
    ][:20]
    return {
        "duration_s": soak.args.duration,
        "schedules": soak.args.schedules,
        "beats": soak.args.beats,
        "workers": soak.args.workers,
        "kills": dict(soak.kills),
        "due": due_total,
        "dispatched": outcome["dispatched"],
        "buffered": outcome["buffered"],
        "skipped": sum(skipped.values()),
        "skipped_by_reason": dict(skipped),
        "missed": sum(missed.values()),
        "missed_by_reason": dict(missed),
        "absent": len(absent),
        "absent_first": [f"{name} {t:%H:%M:%S}" for name, t in absent[:5]],
        "unexpected": unexpected,
        "duplicate_occurrences": duplicate_occurrences,
        "attempts_started_twice": started_twice,
        "runs_finished_twice": finished_twice,
        "duplicates": duplicate_occurrences + started_twice + finished_twice,
        "runs": sum(statuses.values()),
        "run_statuses": dict(statuses),
        "runs_worker_lost": lost,
        "runs_retried": retried_runs,
        "drained": drained,
        "queued_held_by_killed_workers": queued_held,
        "queued_message_gone": queued_gone,
        "stuck": stuck,
        "peaks": peaks,
        "peak_over_limit": [name for name, p in peaks.items() if p["peak"] > p["limit"]],
        "lag_p50_ms": round(percentile(lags, 0.50) * 1000, 1),
        "lag_p99_ms": round(percentile(lags, 0.99) * 1000, 1),
        "lag_max_ms": round((lags[-1] if lags else 0.0) * 1000, 1),
        "released_from_buffer": len(released_lags),
        "released_lag_p50_ms": round(percentile(released_lags, 0.50) * 1000, 1),
        "released_lag_p99_ms": round(percentile(released_lags, 0.99) * 1000, 1),
        "queue_depth_at_end": soak.queue_depth(),
        "left_active": left,
    }


def peak_concurrency(
    events: list[dict[str, Any]], worker_kills: list[tuple[str, datetime]]
) -> dict[str, dict[str, int]]:
    """Peak concurrency of each limited job and schedule, from run_started to the attempt's end."""
    from orchestrator.models import Job
    from scheduling.models import Schedule

    limits: dict[str, int] = {
        f"job:{key}": int(limit or 0)
        for key, limit in Job.objects.filter(max_concurrency__isnull=False).values_list("key", "max_concurrency")
    }
    for schedule_id, name, limit in Schedule.objects.filter(max_concurrency__isnull=False).values_list(
        "id", "name", "max_concurrency"
    ):
        limits[f"schedule:{schedule_id}:{name}"] = int(limit or 0)
    ends: dict[tuple[str, Any], datetime] = {}
    cancelled: dict[str, datetime] = {}
    for e in events:
        when = parse_ts(e["ts"])
        if e.get("event") in ("run_finished", "run_retried"):
            key = (e["run_id"], e.get("attempt"))
            ends[key] = min(ends.get(key, when), when)
        elif e.get("event") == "run_cancelled":
            cancelled[e["run_id"]] = when
    horizon = datetime.now(UTC)
    intervals: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for e in events:
        if e.get("event") != "run_started":
            continue
        begin = parse_ts(e["ts"])
        end = min(ends.get((e["run_id"], e.get("attempt")), horizon), cancelled.get(e["run_id"], horizon))
        for prefix, killed_at in worker_kills:
            if str(e.get("worker", "")).startswith(prefix) and killed_at >= begin:
                end = min(end, killed_at)
        scopes = [f"job:{e.get('job')}"]
        if e.get("schedule_id") is not None:
            scopes += [s for s in limits if s.startswith(f"schedule:{e['schedule_id']}:")]
        for scope in scopes:
            if scope in limits:
                intervals[scope].append((begin, end))
    result = {}
    for scope, limit in sorted(limits.items()):
        points = sorted([(b, 1) for b, _ in intervals[scope]] + [(x, -1) for _, x in intervals[scope]])
        current = peak = 0
        for _, step in points:  # at equal times an end (-1) sorts before a start (+1)
            current += step
            peak = max(peak, current)
        result[scope] = {"limit": limit, "peak": peak, "runs": len(intervals[scope])}
    return result


def run_ids_of(payloads: list[Any]) -> set[str]:
    """The run ids named by raw kombu messages (``argsrepr`` is ``(run=<id>, job=...)``)."""
    found = set()
    for payload in payloads:
        try:
            message = json.loads(payload)
            if isinstance(message, list):  # the unacked hash keeps [message, exchange, routing key]
                message = message[0]
            found.add(str(message["headers"]["argsrepr"]).split("run=", 1)[1].split(",", 1)[0])
        except (ValueError, KeyError, IndexError, TypeError):
            continue
    return found


def describe_active(row: Mapping[str, Any]) -> str:
    queued = row["queued_at"].strftime("%H:%M:%S") if row["queued_at"] else "-"
    return (
        f"{row['id']} {row['status']} {row['job__key']} attempt {row['attempt']} "
        f"created {row['created_at']:%H:%M:%S} queued {queued} wait {row['wait_reason']!r}"
    )


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with open(path, "rb") as handle:
        for line in handle:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and "ts" in event:
                yield event


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(q * len(values)))]


def report(figures: dict[str, Any]) -> str:
    f = figures
    limited = [p for p in f["peaks"].values() if p["runs"]]
    lines = [
        f"soak {f['duration_s']:.0f}s: {f['schedules']} schedules, {f['beats']} beats, {f['workers']} workers, "
        f"SIGKILLs {f['kills']}",
        f"occurrences due {f['due']}: dispatched {f['dispatched']}, buffered {f['buffered']}, "
        f"skipped {f['skipped']} {f['skipped_by_reason']}, missed {f['missed']} {f['missed_by_reason']}",
        f"absent {f['absent']} {f['absent_first']}, unexpected {f['unexpected']}",
        f"duplicates {f['duplicates']} (occurrences {f['duplicate_occurrences']}, attempts started twice "
        f"{f['attempts_started_twice']}, runs finished twice {f['runs_finished_twice']})",
        f"runs {f['runs']} {f['run_statuses']}; worker lost {f['runs_worker_lost']}, retried {f['runs_retried']}, "
        f"drained {f['drained']}",
        f"left active: {f['stuck']}; queued, message reserved by a killed worker: "
        f"{f['queued_held_by_killed_workers']}, message gone with a killed worker: {f['queued_message_gone']} "
        "(docs/RELIABILITY.md, 'Known limits')",
        f"limited scopes {len(f['peaks'])} ({len(limited)} with runs); "
        f"peak over limit: {f['peak_over_limit'] or 'none'}",
    ]
    for scope, p in f["peaks"].items():
        if scope.startswith("job:") or p["peak"] > p["limit"]:
            lines.append(f"  {scope}: peak {p['peak']} / limit {p['limit']} over {p['runs']} attempts")
    schedule_peaks = Counter(
        (p["peak"], p["limit"]) for s, p in f["peaks"].items() if s.startswith("schedule:") and p["runs"]
    )
    lines.append(f"  schedule limits, (peak, limit): count = {dict(sorted(schedule_peaks.items()))}")
    lines.append(
        f"dispatch lag p50 {f['lag_p50_ms']} ms, p99 {f['lag_p99_ms']} ms, max {f['lag_max_ms']} ms; "
        f"{f['released_from_buffer']} occurrences held by their overlap policy, released after "
        f"p50 {f['released_lag_p50_ms']} ms, p99 {f['released_lag_p99_ms']} ms"
    )
    lines.append(f"queue depth at the end {f['queue_depth_at_end']}; left active: {f['left_active'] or 'none'}")
    return "\n".join(lines)
