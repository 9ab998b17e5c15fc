"""The driver's worker steps: end to end (raw Celery tasks vs our runs), worker memory, the worker profiles.

The end-to-end step compares one of two jobs (``E2E_JOBS``) with its raw counterpart: our ``noop``
job with a raw no-op task (``--only e2e``), or a host Celery task run as a schedule's job with the
same task sent by ``apply_async`` (``--only task-e2e``). Both are measured the same way.

Each starts a real ``celery worker`` (or ``bench.profiled_worker``) on a queue a ``bench.child``
process filled, and times or measures it draining that queue.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import redis

from bench import stats
from bench.driver import RESULTS, child, say
from bench.env import ROOT
from bench.procfs import cpu_by_role, status_mb

#: Runs the two worker profiles take: enough samples; the profilers slow a run several times over.
PROFILE_RUNS = 500


@dataclass(frozen=True)
class E2EJob:
    """What an end-to-end pair compares: ``job`` is ``bench.child``'s ``--job``, ``prefix`` its report keys'."""

    job: str
    prefix: str
    ours: str
    raw: str


E2E_JOBS = {
    "noop": E2EJob("noop", "e2e", "noop runs through the orchestrator", "raw no-op tasks"),
    "task": E2EJob(
        "task",
        "task_e2e",
        "scheduled runs of the Celery task bench.tasks.host_noop as a job",
        "the same task sent by apply_async",
    ),
}


@dataclass(frozen=True)
class WorkerSettings:
    """How the end-to-end step's worker runs; raw and ours always get the same.

    ``options``: extra ``celery worker`` options (``--prefetch-multiplier=2``, ``--disable-prefetch``).
    ``acks_late``: the worker's ``WORKER_ACKS_LATE`` (README, "Scaling workers"), which applies to every
    task of the worker, the raw no-op's as well as the run task's.
    """

    concurrency: int = 2
    options: tuple[str, ...] = ()
    acks_late: bool = True

    def describe(self) -> str:
        extra = [*self.options, f"WORKER_ACKS_LATE={'true' if self.acks_late else 'false'}"]
        return f"-c {self.concurrency} ({', '.join(extra)})"


def drain(env: dict[str, str], m: int, settings: WorkerSettings, *, ours: bool, profile: str = "") -> dict[str, Any]:
    """Start a worker on a filled queue; seconds from its first take to an empty queue with nothing unacked.

    With ``ours`` (our runs, not raw tasks) the runs must also have ended: a message acknowledged at start leaves the
    unacknowledged set before its run is claimed, so an empty set alone would end the count early.
    ``profile``: run it as one ``-P solo`` process under pyinstrument instead (``bench.profiled_worker``),
    writing ``<profile>.txt``; the settings' concurrency does not apply then.
    """
    cpu: dict[str, float] = {}
    seconds = time_drain(env, start_worker(env, settings, profile=profile), m, ours=ours, cpu=cpu)
    return {"m": m, "seconds": seconds, "rate": m / seconds, "cpu_ms_per_message": cpu}


def time_drain(
    env: dict[str, str], worker: subprocess.Popen[bytes], m: int, *, ours: bool, cpu: dict[str, float] | None = None
) -> float:
    """Seconds from ``worker``'s first take of the ``m`` queued messages to their drain (``drained``); stops it.

    ``cpu`` receives the CPU each kind of process spent meanwhile, in ms per message (``procfs.cpu_by_role``).
    """
    client = redis.Redis.from_url(env["REDIS_URL"])
    try:
        first = None
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            waiting = client.llen("default")
            if first is None and waiting < m:
                first, before = time.perf_counter(), cpu_by_role(worker.pid)
            if drained(env, client, ours=ours, waiting=waiting):
                break
            time.sleep(0.01)
        else:
            raise SystemExit("error: the worker did not drain the queue within 900 s")
        done, after = time.perf_counter(), cpu_by_role(worker.pid)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    assert first is not None
    if cpu is not None:
        cpu.update({role: (after[role] - before[role]) * 1000 / m for role in after})
        cpu["all"] = sum(cpu.values())
    return done - first


def start_worker(env: dict[str, str], settings: WorkerSettings, *, profile: str = "") -> subprocess.Popen[bytes]:
    """A worker on the ``default`` queue with ``settings`` (the caller stops it); see ``drain`` for ``profile``."""
    argv = worker_argv(settings, f"bench-{time.time_ns()}", profile=profile)
    return subprocess.Popen(
        argv, cwd=ROOT, env=worker_env(env, settings), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def worker_env(env: dict[str, str], settings: WorkerSettings) -> dict[str, str]:
    """``env`` with the settings' acknowledgement mode."""
    return {**env, "WORKER_ACKS_LATE": "true" if settings.acks_late else "false"}


def worker_argv(settings: WorkerSettings, name: str, *, profile: str = "") -> list[str]:
    """The command line of the step's worker named ``<name>@<host>`` (runs record that name), logging warnings."""
    if profile:
        head = [sys.executable, "-m", "bench.profiled_worker", profile]
        pool = ["-P", "solo"]
    else:
        head = [str(ROOT / ".venv" / "bin" / "celery")]
        pool = ["-c", str(settings.concurrency), "-P", "prefork"]
    return [
        *head, "-A", "project", "worker", "-Q", "default", *pool,
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-I", "bench.tasks",
        "-l", "WARNING", "-n", f"{name}@%h", *settings.options,
    ]  # fmt: skip


def drained(env: dict[str, str], client: redis.Redis, *, ours: bool, waiting: int | None = None) -> bool:
    """Nothing queued or unacknowledged and, for our runs, none still to end (see ``drain``)."""
    waiting = client.llen("default") if waiting is None else waiting
    return waiting == 0 and client.hlen("unacked") == 0 and (not ours or not active_runs(env))


def worker_memory(env: dict[str, str], batches: int, m: int, *, ours: bool) -> list[float]:
    """One worker drains ``batches`` queues of ``m`` messages; its main process's RSS (MB) before and after each.

    The pool processes are left out: they are recycled by ``WORKER_MAX_TASKS_PER_CHILD`` and
    ``WORKER_MAX_MEMORY_PER_CHILD_KB``; the main process lives as long as the worker.
    """
    client = redis.Redis.from_url(env["REDIS_URL"])
    worker = start_worker(env, WorkerSettings())
    try:
        time.sleep(3)  # the pool is up
        figures = [status_mb("VmRSS", worker.pid)]
        for _ in range(batches):
            child(env, "e2e-prepare", "--scheduler", "ours" if ours else "raw", "-n", m)
            deadline = time.monotonic() + 900
            while not drained(env, client, ours=ours):
                if time.monotonic() > deadline:
                    raise SystemExit("error: the worker did not drain the queue within 900 s")
                time.sleep(0.05)
            figures.append(status_mb("VmRSS", worker.pid))
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    return figures


def worker_memory_step(env: dict[str, str], batches: int, m: int) -> dict[str, Any]:
    """The worker's main-process memory over ``batches`` x ``m`` messages, raw no-op tasks then our runs.

    The growth is counted from the third batch on, past the first batches' warm-up and the time-limit
    timers still held (``WORKER_TIMER_PRUNE_SECONDS``): a leak shows as KB per 1,000 messages there.
    """
    say(f"== worker memory: one worker -c 2 drains {batches} x {m:,} messages (main process RSS after each)")
    measured: dict[str, Any] = {}
    for side in ("raw", "ours"):
        figures = worker_memory(env, batches, m, ours=side == "ours")
        later = figures[3:] if len(figures) > 4 else figures
        per_1000 = (later[-1] - later[0]) * 1024 / (m * (len(later) - 1) / 1000)
        measured[side] = {"rss_mb": figures, "growth_kb_per_1000": per_1000}
        say(
            f"  {side}: start {figures[0]:.1f} MB, after {batches * m:,} {figures[-1]:.1f} MB; "
            f"from batch 3 on {per_1000:+.1f} KB per 1,000 ({' '.join(f'{f:.1f}' for f in figures)})"
        )
    return {"batches": batches, "m": m, **measured}


def end_to_end(
    env: dict[str, str], m: int, settings: WorkerSettings, *, ours_first: bool = False, job: str = "noop"
) -> dict[str, Any]:
    """One pair: raw tasks then our runs of ``job`` (or the other way round), each drained by a fresh worker."""
    measured: dict[str, Any] = {}
    for side in ("ours", "raw") if ours_first else ("raw", "ours"):
        child(env, "e2e-prepare", "--scheduler", side, "-n", m, "--job", job)
        measured[side] = drain(env, m, settings, ours=side == "ours")
        if side == "ours":
            measured[side]["statuses"] = child(env, "e2e-check", "--job", job)["statuses"]
    ratio = measured["ours"]["rate"] / measured["raw"]["rate"]
    return {
        "raw": measured["raw"],
        "ours": measured["ours"],
        "ratio": ratio,
        "concurrency": settings.concurrency,
        "worker": asdict(settings),
    }


def active_runs(env: dict[str, str]) -> int:
    """Runs not yet ended in the bench database (one query; only asked once the queue looks drained)."""
    import psycopg

    with psycopg.connect(env["DATABASE_URL"]) as conn:
        row = conn.execute("SELECT count(*) FROM orchestrator_run WHERE status IN ('pending', 'queued', 'running')")
        return int(row.fetchone()[0])


def end_to_end_step(
    env: dict[str, str], m: int, pairs: int, settings: WorkerSettings, e2e: E2EJob = E2E_JOBS["noop"]
) -> dict[str, Any]:
    """``pairs`` interleaved pairs, alternating which side goes first; the figure is the median ratio.

    One pair is a few seconds on a shared machine: a neighbour's burst can halve either side. The
    median of interleaved pairs, each printed, is what holds from run to run.
    """
    say(
        f"== end to end: {m:,} {e2e.ours} vs {m:,} {e2e.raw}, one worker "
        f"{settings.describe()}, {pairs} interleaved pair(s)"
    )
    measured = []
    for index in range(pairs):
        pair = end_to_end(env, m, settings, ours_first=index % 2 == 1, job=e2e.job)
        measured.append(pair)
        say(
            f"  pair {index + 1}: raw Celery {pair['raw']['rate']:,.0f}/s, ours {pair['ours']['rate']:,.0f}/s: "
            f"ratio {pair['ratio']:.2f}; run statuses {pair['ours']['statuses']}"
        )
        say(f"    CPU ms a message: raw {cpu_text(pair['raw'])}; ours {cpu_text(pair['ours'])}")
    ratio = stats.median([pair["ratio"] for pair in measured])
    say(f"  median ratio {ratio:.2f} (goal >= 0.5) over {pairs} pair(s)")
    return {
        "ratio": ratio,
        "raw": {"rate": stats.median([pair["raw"]["rate"] for pair in measured])},
        "ours": {"rate": stats.median([pair["ours"]["rate"] for pair in measured])},
        "pairs": measured,
        "m": m,
        "job": e2e.job,
        "worker": asdict(settings),
    }


def cpu_text(side: dict[str, Any]) -> str:
    """``time_drain``'s CPU figures of one side, as printed."""
    cpu = side["cpu_ms_per_message"]
    return (
        f"{cpu['all']:.2f} (main {cpu['main']:.2f}, pool {cpu['pool']:.2f}, "
        f"PostgreSQL {cpu['postgres']:.2f}, Redis {cpu['redis']:.2f})"
    )


def solo_profile_step(env: dict[str, str], m: int, stamp: str) -> dict[str, Any]:
    say(f"== profile of a -P solo worker draining {m:,} noop runs (pyinstrument around the whole worker)")
    child(env, "e2e-prepare", "--scheduler", "ours", "-n", m)
    profile = RESULTS / f"{stamp}-profile-solo-worker-noop-{m}"
    result = drain(env, m, WorkerSettings(), ours=True, profile=str(profile))
    say(f"  {result['rate']:,.0f}/s under the profiler; profile in {profile.relative_to(ROOT)}.txt")
    return result


def worker_profile_step(env: dict[str, str], m: int, stamp: str) -> dict[str, Any]:
    say(f"== profile of the worker's run task body, {m:,} noop runs in one process (pyinstrument, no Celery)")
    child(env, "e2e-prepare", "--scheduler", "ours", "-n", m)
    worker_profile = RESULTS / f"{stamp}-profile-worker-noop-{m}"
    profiled = child(env, "worker-profile", "--profile", worker_profile)
    say(
        f"  {profiled['wall_ms_per_run']:.2f} ms wall, {profiled['cpu_ms_per_run']:.2f} ms CPU per run; "
        f"profile in {worker_profile.relative_to(ROOT)}.txt"
    )
    return profiled


def e2e_workers(args: argparse.Namespace) -> dict[str, WorkerSettings]:
    """The e2e step's worker settings by name: late acknowledgement (the default), at start, or both."""
    modes = {"late": True, "start": False}
    chosen = list(modes) if args.e2e_acks == "both" else [args.e2e_acks]
    return {
        f"acks_{name}": WorkerSettings(
            concurrency=args.e2e_concurrency, options=tuple(args.e2e_worker_option), acks_late=modes[name]
        )
        for name in chosen
    }


def e2e_all(env: dict[str, str], args: argparse.Namespace, report: dict[str, Any], job: str = "noop") -> None:
    """The e2e step of ``job`` (``E2E_JOBS``) for each chosen acknowledgement mode, in
    ``report["<prefix>_acks_<mode>"]``; ``report["<prefix>"]`` is the default mode's (late) when measured."""
    e2e = E2E_JOBS[job]
    m, pairs = e2e_size(args)
    for name, worker in e2e_workers(args).items():
        report[f"{e2e.prefix}_{name}"] = end_to_end_step(env, m, pairs, worker, e2e)
    report[e2e.prefix] = report.get(f"{e2e.prefix}_acks_late") or report[f"{e2e.prefix}_acks_start"]


def e2e_repeated(env: dict[str, str], args: argparse.Namespace, report: dict[str, Any], job: str = "noop") -> None:
    """``e2e_all`` ``args.repeat`` times; every repeat's figures in ``report["<prefix>_repeats"]``."""
    prefix = E2E_JOBS[job].prefix
    repeats = []
    for _ in range(args.repeat):
        e2e_all(env, args, report, job)
        repeats.append({key: value for key, value in report.items() if key.startswith(f"{prefix}_acks")})
    report[f"{prefix}_repeats"] = repeats


def e2e_size(args: argparse.Namespace) -> tuple[int, int]:
    """Messages per side and pairs: a quick run's one short pair, or a full run's three of 2,000."""
    return args.e2e_runs or (300 if args.quick else 2000), args.e2e_pairs or (1 if args.quick else 3)
