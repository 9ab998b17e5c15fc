"""Soak: beats and workers killed at random under a thousand schedules, then every occurrence accounted for.

    .venv/bin/python bench/soak.py                      # 3 beats, 4 workers, 1,000 schedules, 10 minutes
    .venv/bin/python bench/soak.py --duration 120 --schedules 300
    .venv/bin/python bench/soak.py --smoke              # 20 s, 40 schedules: what the smoke test runs

It creates its own PostgreSQL database (on ``--pg``, default the local server) and starts its own
Redis server on a free port, runs real ``celery beat`` and ``celery worker`` processes, SIGKILLs a
random beat or worker (its whole process group) every ``--kill-every`` seconds on average and
starts a replacement, then disables the schedules, lets the workers drain and counts:

- occurrences due in the window (from ``scheduling.timing``, the beat's own time core) and what
  became of each: dispatched, buffered, skipped and missed (each with its reason), absent (due but
  never recorded, must be 0), unexpected (recorded but not due);
- duplicates (must be 0): an occurrence recorded twice, or an attempt of a run started twice
  (``run_started`` events of the workers);
- peak concurrency of each limited job and schedule, from the runs' started/finished events (an
  attempt whose worker was killed ends at the kill), against its limit;
- dispatch lag (``dispatched_at - scheduled_for``), p50 and p99.

Everything it started is stopped and everything it created is removed at the end, also on failure
or Ctrl-C. The last line printed is ``SOAK-JSON {...}`` with every figure (for the smoke test).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.processes import Proc, Processes, wait_until  # noqa: E402

OVERLAP = ("skip", "allow", "buffer_one", "buffer_all", "replace")
MISFIRE = ("run_once", "run_all", "skip")
INTERVALS = (10, 15, 20, 30, 60)
CRONS = ("*/10 * * * * *", "*/15 * * * * *", "*/30 * * * * *", "0 * * * * *", "* * * * *", "*/2 * * * *")
#: --smoke: short periods, so a few seconds hold several occurrences of every schedule.
FAST_INTERVALS = (1, 2, 3, 5)
FAST_CRONS = ("* * * * * *", "*/2 * * * * *", "*/5 * * * * *")
ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe")
SLEEP_JOB_LIMIT = 4
FINAL = ("succeeded", "failed", "timed_out", "cancelled")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (default 600)")
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--beats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=3, help="processes per worker")
    parser.add_argument("--kill-every", type=float, default=20.0, help="mean seconds between two kills (0: none)")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="server for the soak's database")
    parser.add_argument("--drain", type=float, default=180.0, help="at most this long for the last runs to end")
    parser.add_argument("--smoke", action="store_true", help="20 s, 40 schedules, a kill every 5 s")
    args = parser.parse_args(argv)
    if args.smoke:
        args.duration, args.schedules, args.kill_every, args.drain = 12.0, 30, 3.0, 60.0
        args.workers, args.concurrency = 2, 2
    return args


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ready(proc: Proc, timeout: float = 60.0) -> None:
    marker = "beat: Starting" if proc.name.startswith("beat") else " ready."

    def started() -> bool:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited early:\n{proc.tail()}")
        return marker in proc.output()

    wait_until(started, timeout=timeout, message=f"{proc.name} to start")


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.workdir = Path(tempfile.mkdtemp(prefix="ostinato-soak-"))
        self.database = f"ostinato_soak_{os.getpid()}"
        self.redis_port = free_port()
        self.events_path = self.workdir / "events.jsonl"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_SETTINGS_MODULE"))}
        env.update(
            {
                "DATABASE_URL": f"{args.pg}/{self.database}",
                "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                "DJANGO_SECRET_KEY": "soak-only-secret-key-not-for-production-0123456789abcdef",
                "DJANGO_DEBUG": "false",
                "SCHEDULER_VAR_DIR": str(self.workdir / "var"),
                "EVENTS_PATH": str(self.events_path),
                "ARTIFACTS_DIR": str(self.workdir / "artifacts"),
                "LOG_LEVEL": "WARNING",
                "SCHEDULER_TICK_SECONDS": "0.5",
                "SCHEDULER_MAINTENANCE_SECONDS": "1",
                "SCHEDULER_RECOVERY_GRACE_SECONDS": "5",
                "SCHEDULER_LOST_MESSAGE_SECONDS": "10",
                "SCHEDULER_LEASE_TTL_SECONDS": "5",
                "SCHEDULER_WAIT_RECHECK_SECONDS": "2",
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": str(ROOT),
            }
        )
        env.pop("SCHEDULER_JOB_MODULES", None)
        self.procs = Processes(env=env, logs=self.workdir / "logs")
        os.environ.update({k: env[k] for k in env if k.startswith(("DATABASE_", "REDIS_", "DJANGO_", "SCHEDULER_"))})
        os.environ["EVENTS_PATH"] = env["EVENTS_PATH"]
        os.environ["ARTIFACTS_DIR"] = env["ARTIFACTS_DIR"]
        os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
        self.beats: list[Proc] = []
        self.workers: list[Proc] = []
        self.worker_kills: list[tuple[str, datetime]] = []  # (hostname prefix, when)
        self.kills: Counter[str] = Counter()
        self.db_created = False

    # --- set-up and tear-down --------------------------------------------------------------------

    def setup(self) -> None:
        import psycopg

        redis = shutil.which("redis-server") or str(Path(sys.executable).parent / "redis-server")
        self.procs.start(
            "redis", [redis, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        )
        with psycopg.connect(f"{self.args.pg}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        self.db_created = True
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)

    def teardown(self) -> None:
        self.procs.stop_all()
        if self.db_created:
            import psycopg
            from django.db import connections

            connections.close_all()
            with psycopg.connect(f"{self.args.pg}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        shutil.rmtree(self.workdir, ignore_errors=True)

    # --- processes -------------------------------------------------------------------------------

    def start_beat(self) -> Proc:
        proc = self.procs.beat(f"beat{len(self.procs.started)}")
        self.beats.append(proc)
        return proc

    def start_worker(self) -> Proc:
        proc = self.procs.worker(f"worker{len(self.procs.started)}", concurrency=self.args.concurrency)
        self.workers.append(proc)
        return proc

    def hostname_prefix(self, proc: Proc) -> str:
        index = self.procs.started.index(proc)
        return f"{proc.name}-{os.getpid()}-{index}@"

    def kill_one(self) -> None:
        from django.utils import timezone

        kind = self.rng.choice(("beat", "worker"))
        pool = self.beats if kind == "beat" else self.workers
        victim = pool.pop(self.rng.randrange(len(pool)))
        victim.kill()  # SIGKILL to the whole group: a worker's pool children die with it
        self.kills[kind] += 1
        if kind == "worker":
            self.worker_kills.append((self.hostname_prefix(victim), timezone.now()))
            self.start_worker()
        else:
            self.start_beat()

    # --- schedules -------------------------------------------------------------------------------

    def create_schedules(self, start_at: datetime) -> None:
        from orchestrator.models import Job
        from scheduling.models import Schedule

        noop = Job.objects.get(key="noop")
        sleep = Job.objects.get(key="sleep")
        sleep.max_concurrency = SLEEP_JOB_LIMIT
        sleep.save()
        rng = self.rng
        intervals, crons = (FAST_INTERVALS, FAST_CRONS) if self.args.smoke else (INTERVALS, CRONS)
        rows = []
        for index in range(self.args.schedules):
            kind = index % 20
            fields: dict[str, Any] = {"name": f"soak-{index:04d}", "start_at": start_at}
            if kind == 0:  # limited: the sleep job (job limit) and some with a schedule limit
                fields.update(
                    job=sleep,
                    kind="interval",
                    interval_seconds=rng.choice((1, 2) if self.args.smoke else (5, 10, 20)),
                    params={"seconds": round(rng.uniform(0.1, 1.0), 2)},
                    overlap_policy=rng.choice(OVERLAP),
                    max_concurrency=rng.choice((None, 1, 2)),
                )
            elif kind < 10:
                fields.update(job=noop, kind="interval", interval_seconds=rng.choice(intervals))
            else:
                fields.update(job=noop, kind="cron", cron=rng.choice(crons), timezone=rng.choice(ZONES))
            if kind % 3 == 1:
                fields["overlap_policy"] = rng.choice(OVERLAP)
            if kind % 4 == 2:
                fields["misfire_policy"] = rng.choice(MISFIRE)
            rows.append(Schedule(**fields))
        for row in rows:
            row.full_clean()
            row.save()

    # --- the run ---------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        from django.utils import timezone

        from scheduling.models import Schedule

        args = self.args
        for _ in range(args.beats):
            self.start_beat()
        for _ in range(args.workers):
            self.start_worker()
        for proc in self.beats + self.workers:
            ready(proc)
        start_at = timezone.now().replace(microsecond=0) + timedelta(seconds=3 + args.schedules * 0.04)
        self.create_schedules(start_at)
        if timezone.now() >= start_at:
            print("warning: creating the schedules took past their start", file=sys.stderr)
        print(
            f"soak: {args.schedules} schedules from {start_at:%H:%M:%S}Z for {args.duration:.0f}s, "
            f"{args.beats} beats, {args.workers} workers x {args.concurrency}",
            flush=True,
        )
        wait_until(lambda: timezone.now() >= start_at, timeout=120)
        end_at = start_at + timedelta(seconds=args.duration)
        next_kill = time.monotonic() + self._kill_gap()
        while timezone.now() < end_at:
            time.sleep(0.2)
            if args.kill_every > 0 and time.monotonic() >= next_kill:
                self.kill_one()
                next_kill = time.monotonic() + self._kill_gap()
        Schedule.objects.all().set_enabled(False)
        drained = self.drain()
        for proc in self.beats + self.workers:
            proc.stop()
        return self.figures(start_at, end_at, drained)

    def _kill_gap(self) -> float:
        return self.args.kill_every * self.rng.uniform(0.5, 1.5) if self.args.kill_every > 0 else 1e9

    def drain(self) -> bool:
        """Wait until no run is pending or running and the queue is empty.

        Queued runs may remain: those a killed worker had reserved come back only after the
        broker's visibility timeout (README, "Known limit"), found by their message in Redis's
        ``unacked`` hash; those whose message is nowhere were lost inside a killed worker (see
        docs/RELIABILITY.md, "Known limits"). Both are counted apart.
        """
        from orchestrator.models import Run

        deadline = time.monotonic() + self.args.drain
        while time.monotonic() < deadline:
            if not Run.objects.filter(status__in=("pending", "running")).exists() and self.queue_depth() == 0:
                return True
            time.sleep(0.5)
        return False

    def queue_depth(self) -> int:
        from orchestrator.connections import redis_client as client

        return int(client().llen("default"))

    def held_by_killed_workers(self) -> set[str]:
        """Run ids whose message sits unacknowledged in the broker (reserved by a worker now dead)."""
        from orchestrator.connections import redis_client as client

        return run_ids_of(client().hvals("unacked"))

    def in_queue(self) -> set[str]:
        from orchestrator.connections import redis_client as client

        return run_ids_of(client().lrange("default", 0, -1))

    # --- the figures -----------------------------------------------------------------------------

    def figures(self, start_at: datetime, end_at: datetime, drained: bool) -> dict[str, Any]:
        from django.db.models import Count

        from orchestrator.models import Run
        from scheduling.core import timing
        from scheduling.models import Schedule, ScheduledRun
        from scheduling.ops.metrics import reason_code

        # Occurrences due well before the end: each one must be recorded, however late the beats ran.
        window_end = end_at - timedelta(seconds=min(15.0, self.args.duration / 4))
        due_total = 0
        absent: list[tuple[str, datetime]] = []
        unexpected = 0
        outcome: Counter[str] = Counter()
        skipped: Counter[str] = Counter()
        missed: Counter[str] = Counter()
        lags: list[float] = []
        released_lags: list[float] = []  # occurrences held by their overlap policy (buffered), then released
        occurrence_runs: list[str] = []
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
                if row.run_id is not None:
                    occurrence_runs.append(str(row.run_id))
            absent.extend((schedule.name, t) for t in sorted(due_set - covered))

        duplicate_occurrences = (
            ScheduledRun.objects.filter(scheduled_for__isnull=False)
            .values("schedule_id", "scheduled_for")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .count()
        )
        events = list(read_events(self.events_path))
        started = Counter((e["run_id"], e.get("attempt")) for e in events if e.get("event") == "run_started")
        started_twice = sum(1 for n in started.values() if n > 1)
        finished = Counter(e["run_id"] for e in events if e.get("event") == "run_finished")
        finished_twice = sum(1 for n in finished.values() if n > 1)
        statuses = Counter(Run.objects.values_list("status", flat=True))
        held, waiting = self.held_by_killed_workers(), self.in_queue()
        queued = [str(i) for i in Run.objects.filter(status="queued").values_list("id", flat=True)]
        queued_held = sum(1 for run_id in queued if run_id in held)
        queued_gone = sum(1 for run_id in queued if run_id not in held and run_id not in waiting)
        stuck = Run.objects.filter(status__in=("pending", "running")).count() + len(queued) - queued_held - queued_gone
        lost = Run.objects.filter(error__startswith="worker lost").count()
        retried_runs = Run.objects.filter(attempt__gt=1).count()
        peaks = self.peaks(events, end_at)
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
            "duration_s": self.args.duration,
            "schedules": self.args.schedules,
            "beats": self.args.beats,
            "workers": self.args.workers,
            "kills": dict(self.kills),
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
            "queue_depth_at_end": self.queue_depth(),
            "left_active": left,
        }

    def peaks(self, events: list[dict[str, Any]], end_at: datetime) -> dict[str, dict[str, int]]:
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
            for prefix, killed_at in self.worker_kills:
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


def _interrupted(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    soak = Soak(args)
    signal.signal(signal.SIGTERM, _interrupted)  # stopped by kill: still clean up (the finally below)
    started = time.monotonic()
    try:
        soak.setup()
        figures = soak.run()
    finally:
        soak.teardown()
    figures["wall_s"] = round(time.monotonic() - started, 1)
    print(report(figures))
    print("SOAK-JSON " + json.dumps(figures, default=str), flush=True)
    ok = (
        figures["duplicates"] == 0
        and figures["absent"] == 0
        and not figures["peak_over_limit"]
        and figures["stuck"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
