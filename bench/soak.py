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
This module starts, kills and stops the processes; the counting and the printed report are in
``bench/soak_figures.py``.
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
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import soak_figures  # noqa: E402
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
        return soak_figures.figures(self, start_at, end_at, drained)

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

        return soak_figures.run_ids_of(client().hvals("unacked"))

    def in_queue(self) -> set[str]:
        from orchestrator.connections import redis_client as client

        return soak_figures.run_ids_of(client().lrange("default", 0, -1))


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
    print(soak_figures.report(figures))
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
