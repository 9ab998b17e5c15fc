"""``./scripts/bench --only redis-restarts``: workers drain a queue at the end-to-end rate while Redis restarts.

The requirement (RELIABILITY.md, "Redis restarted under load"): a worker survives Redis restarts
with runs flowing at the bench's end-to-end rate, resumes consuming by itself, and no run is lost or
executed twice. ``tests/live/test_redis_restarts.py`` shows it at 50 runs a second; this step at the
rate of the e2e step (``bench.worker_steps``), with its worker settings and its way of making runs:
``e2e-prepare`` seeds M due schedules of the ``noop`` job and our dispatch publishes their runs.

A private ``redis-server`` (its own port, no persistence: ``tests.helpers.start_private_redis``) is
the broker and ``REDIS_URL`` of a ``celery beat`` (whose maintenance is the recovery path) and of
the workers. Two phases, each on a freshly filled queue, with fresh processes:

* **without restarts**: the workers drain the queue; the rate from the first take to the drain is
  the e2e rate of this setup;
* **with restarts**: after a few seconds of flow, Redis is shut down (``SHUTDOWN NOSAVE``) while the
  workers hold unacknowledged messages and more wait in the queue, kept down ~1 s and until each
  worker has given up its connection, and started again empty (``tests.redis_restarts``); the next
  restart waits until every worker has started a run after this one, then a few seconds of flow.
  Redis comes back without the queue and without the runs' in-flight notes: the beat's
  ``republish_lost`` must publish those runs again, and the claim must run each once.

Printed and returned: the rate before, between and after the restarts next to the rate without
them (and their ratios), how long each worker took to consume again, each worker's PID and whether
it is alive, the runs, their statuses, executed twice and never (``bench.restart_runs``), and how
many runs the beat published again.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench.driver import RESULTS, child, say
from bench.worker_steps import WorkerSettings, drained, worker_argv, worker_env
from tests.helpers import start_private_redis
from tests.processes import Proc, Processes, free_port
from tests.redis_restarts import RETRYING, Restart, held_under_load, restart_under_load

#: The recovery's settings in both phases, as in the live test: maintenance twice a second, a queued run
#: looked at after 3 s (the default 30 s would leave the queue empty that long after each restart).
RECOVERY = {"SCHEDULER_MAINTENANCE_SECONDS": "0.5", "SCHEDULER_LOST_MESSAGE_SECONDS": "3"}
#: What the beat logs (a warning) when it moves queued runs whose message is gone back to pending, to publish
#: them again in the same pass (``orchestrator.recovery.republish_lost``).
LOST = re.compile(r"(\d+) queued run\(s\) lost their message in the broker")


@dataclass(frozen=True, kw_only=True)
class RestartPlan:
    """The step's sizes: runs per phase, restarts, workers (each with the e2e step's ``settings``), and waits."""

    runs: int = 20_000
    baseline_runs: int = 20_000
    restarts: int = 4
    workers: int = 2
    settings: WorkerSettings = field(default_factory=WorkerSettings)
    before_seconds: float = 15.0
    between_seconds: float = 4.0
    resume_timeout: float = 120.0
    drain_timeout: float = 900.0


def redis_restarts_step(env: dict[str, str], plan: RestartPlan, stamp: str) -> dict[str, Any]:
    """Both phases on one private Redis; the figures, also as one line in ``<stamp>-redis-restarts.txt``."""
    logs = Path(tempfile.mkdtemp(prefix="ostinato-restarts-"))
    port = free_port()
    penv = {**worker_env(env, plan.settings), **RECOVERY, "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    live = Processes(env=penv, logs=logs)
    say(
        f"== Redis restarts under load: {plan.runs:,} noop runs, {plan.workers} workers {plan.settings.describe()}, "
        f"a private redis-server on :{port}, {plan.restarts} restarts (SHUTDOWN NOSAVE, ~1 s down); "
        f"recovery {RECOVERY}"
    )
    try:
        server = start_private_redis(live, port)
        baseline = _phase(live, penv, plan, server, port, runs=plan.baseline_runs, restarts=0)
        say(
            f"  without restarts: {baseline['runs']['runs']:,} runs in {baseline['seconds']:.1f} s: "
            f"{baseline['rate']:,.0f} runs/s; {_verdict(baseline)}"
        )
        restarted = _phase(live, penv, plan, baseline["server"], port, runs=plan.runs, restarts=plan.restarts)
    except BaseException:
        say(f"  (failed: the processes' logs are kept in {logs})")
        live.stop_all()
        raise
    live.stop_all()
    shutil.rmtree(logs, ignore_errors=True)
    for phase in (baseline, restarted):
        del phase["server"]
    result = {"plan": _plan_fields(plan), "recovery": RECOVERY, "baseline": baseline, "restarted": restarted}
    result["ratios"] = {
        name: (rate / baseline["rate"] if rate is not None else None) for name, rate in restarted["rates"].items()
    }
    line = _summary(result)
    say(f"  {line}")
    (RESULTS / f"{stamp}-redis-restarts.txt").write_text(line + "\n")
    return result


def _phase(
    live: Processes, env: dict[str, str], plan: RestartPlan, server: Proc, port: int, *, runs: int, restarts: int
) -> dict[str, Any]:
    """Fill the queue, start a beat and the workers, restart Redis ``restarts`` times, drain; stop them."""
    prepared = child(env, "e2e-prepare", "--scheduler", "ours", "-n", runs)
    tag = f"{'restarts' if restarts else 'steady'}-{time.time_ns()}"
    beat_argv = [sys.executable, "-m", "celery", "-A", "project", "beat", "-l", "WARNING", "--pidfile="]
    beat = live.start(f"beat-{tag}", beat_argv)
    names = [f"w{index}-{tag}" for index in range(plan.workers)]
    workers = [live.start(name, worker_argv(plan.settings, name)) for name in names]
    pids = [w.pid for w in workers]
    client = redis.Redis.from_url(env["REDIS_URL"])
    began = _first_take(client, runs, [*workers, beat])
    marks, done = [began], []
    try:
        time.sleep(plan.before_seconds)
        for index in range(restarts):
            restart = restart_under_load(live, server, port, workers, when=held_under_load, wait_seconds=60)
            server = restart.server
            marks += [restart.down_at, restart.up_at]
            alive_names = [name for name, w in zip(names, workers, strict=True) if w.alive()]
            came_back = _resumed(env, alive_names, restart, plan)
            resumed = [came_back.get(name) for name in names]
            done.append(_restart_fields(restart, resumed, [w.alive() for w in workers]))
            say(f"  restart {index + 1}: {_describe(done[-1])}")
            if index + 1 < restarts:
                time.sleep(plan.between_seconds)
        left = _drain(env, client, plan.drain_timeout)
        ended = time.time()
    finally:
        client.close()
    alive = [w.alive() for w in workers]
    codes = [w.popen.returncode for w in workers]
    beat_alive = beat.alive()
    for proc in [*workers, beat]:
        proc.stop()
    checked = child(env, "restart-runs", "--marks", ",".join(f"{mark:.6f}" for mark in [*marks, ended]))
    windows = _windows([*marks, ended], checked.pop("windows"))
    outputs = [w.output() for w in workers]
    beat_log = beat.output()
    return {
        "server": server,
        "prepared": prepared,
        "seconds": ended - began,
        "rate": checked["runs"] / (ended - began),
        "rates": _rates(windows),
        "windows": windows,
        "restarts": done,
        "left_active": left,
        "runs": checked,
        "worker_pids": pids,
        "workers_alive": alive,
        "worker_exit_codes": codes,
        "worker_names": names,
        "beat_alive": beat_alive,
        "republished": sum(int(found) for found in LOST.findall(beat_log)),
        "couldnt_ack": sum(out.count("Couldn't ack") for out in outputs),
        "unrecoverable": sum(out.count("Unrecoverable error") for out in outputs),
        "reconnect_attempts": sum(out.count(RETRYING) for out in outputs),
    }


def _first_take(client: redis.Redis, runs: int, procs: list[Proc]) -> float:
    """Wall-clock seconds of the workers' first take from the queue of ``runs`` messages."""
    deadline = time.monotonic() + 120
    while client.llen("default") >= runs:
        if time.monotonic() > deadline or not all(proc.alive() for proc in procs):
            raise SystemExit("error: the workers took nothing within 120 s (or a process exited)")
        time.sleep(0.01)
    return time.time()


def _resumed(env: dict[str, str], names: list[str], restart: Restart, plan: RestartPlan) -> dict[str, float]:
    """Seconds from Redis answering again to each worker's first run started after it (absent: none within
    ``plan.resume_timeout``)."""
    deadline = time.monotonic() + plan.resume_timeout
    found: dict[str, float] = {}
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        while len(found) < len(names) and time.monotonic() < deadline:
            for name in names:
                if name in found:
                    continue
                row = conn.execute(
                    "SELECT extract(epoch FROM min(started_at))::float8 FROM orchestrator_run "
                    "WHERE started_at >= to_timestamp(%s) AND worker LIKE %s",
                    [restart.up_at, f"{name}@%"],
                ).fetchone()
                if row is not None and row[0] is not None:
                    found[name] = float(row[0]) - restart.up_at
            time.sleep(0.1)
    return found


def _drain(env: dict[str, str], client: redis.Redis, timeout: float) -> int:
    """Wait for the drain (queue, unacknowledged set and active runs empty) up to ``timeout``; runs still active."""
    from bench.worker_steps import active_runs

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if drained(env, client, ours=True):
                return 0
        except redis.RedisError:
            pass
        time.sleep(0.05)
    left = active_runs(env)
    say(f"  not drained within {timeout:.0f} s: {left:,} runs still pending, queued or running")
    return left


def _windows(marks: list[float], counts: list[int]) -> list[dict[str, Any]]:
    """The phase's windows between its marks: before, down 1, between 1, …, down K, after (or ``all``)."""
    restarts = (len(marks) - 2) // 2
    kinds = ["all"] if restarts == 0 else ["before"]
    for index in range(restarts):
        kinds += [f"down {index + 1}", f"between {index + 1}" if index + 1 < restarts else "after"]
    return [
        {"window": kind, "from": start, "seconds": end - start, "ended": count}
        for kind, start, end, count in zip(kinds, marks[:-1], marks[1:], counts, strict=True)
    ]


def _rates(windows: list[dict[str, Any]]) -> dict[str, float | None]:
    """Runs ended a second in the windows of each kind (the ``between`` ones summed); None where none lasted."""
    rates: dict[str, float | None] = {}
    for kind in ("all", "before", "down", "between", "after"):
        chosen = [w for w in windows if w["window"].split(" ")[0] == kind]
        seconds = sum(w["seconds"] for w in chosen)
        if chosen:
            rates[kind] = sum(w["ended"] for w in chosen) / seconds if seconds > 0 else None
    return rates


def _restart_fields(restart: Restart, resumed: list[float | None], alive: list[bool]) -> dict[str, Any]:
    return {
        "queued": restart.queued,
        "unacked": restart.unacked,
        "down_seconds": restart.down_seconds,
        "down_at": restart.down_at,
        "up_at": restart.up_at,
        "resumed_seconds": resumed,
        "workers_alive": alive,
    }


def _describe(restart: dict[str, Any]) -> str:
    resumed = ", ".join("never" if s is None else f"{s:.1f}" for s in restart["resumed_seconds"])
    return (
        f"{restart['queued']:,} queued, {restart['unacked']} unacknowledged at the shutdown, down "
        f"{restart['down_seconds']:.1f} s; each worker started a run again {resumed} s after Redis was back; "
        f"alive {restart['workers_alive']}"
    )


def _verdict(phase: dict[str, Any]) -> str:
    runs = phase["runs"]
    return (
        f"{runs['runs']:,} runs {runs['statuses']}, executed twice {runs['executed_twice']}, never executed "
        f"{runs['never_executed']}; worker PIDs {phase['worker_pids']} alive {phase['workers_alive']} "
        f"(exit codes {phase['worker_exit_codes']}), beat alive {phase['beat_alive']}"
    )


def _summary(result: dict[str, Any]) -> str:
    base, phase, ratios = result["baseline"], result["restarted"], result["ratios"]

    def rate(kind: str) -> str:
        value, ratio = phase["rates"].get(kind), ratios.get(kind)
        return "n/a" if value is None or ratio is None else f"{value:,.0f} ({ratio:.2f})"

    downs = ", ".join(f"{r['down_seconds']:.1f}" for r in phase["restarts"])
    resumed = [[None if s is None else round(s, 1) for s in r["resumed_seconds"]] for r in phase["restarts"]]
    return (
        f"{len(phase['restarts'])} Redis restarts while {result['plan']['workers']} workers "
        f"{result['plan']['worker']} drained {phase['runs']['runs']:,} noop runs: runs/s (ratio to "
        f"{base['rate']:,.0f} without restarts) before {rate('before')}, between {rate('between')}, after "
        f"{rate('after')}, overall {phase['rate']:,.0f} ({phase['rate'] / base['rate']:.2f}); down {downs} s, "
        f"queued/unacked at each shutdown {[(r['queued'], r['unacked']) for r in phase['restarts']]}, "
        f"each worker consuming again after {resumed} s; {phase['republished']:,} runs found lost and "
        f"published again; {_verdict(phase)}; 'Couldn't ack' "
        f"{phase['couldnt_ack']}, 'Unrecoverable' {phase['unrecoverable']}; still active {phase['left_active']}"
    )


def _plan_fields(plan: RestartPlan) -> dict[str, Any]:
    return {
        "runs": plan.runs,
        "baseline_runs": plan.baseline_runs,
        "restarts": plan.restarts,
        "workers": plan.workers,
        "worker": plan.settings.describe(),
        "before_seconds": plan.before_seconds,
        "between_seconds": plan.between_seconds,
    }
