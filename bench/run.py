"""The benchmark suite: ``./scripts/bench [--quick]`` (``python -m bench.run``).

Ours, django-celery-beat's DatabaseScheduler and celery-redbeat, side by side in one run on the
same PostgreSQL and Redis. Every figure comes from a fresh child process (``bench.child``); the
results go to ``bench/results/<stamp>.json`` and a Markdown summary next to it.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import redis

from bench import stats
from bench.env import ROOT, services
from bench.procfs import status_mb
from bench.yaml_sync import yaml_sync_step

RESULTS = ROOT / "bench" / "results"
SCHEDULERS = ("ours", "dcb", "redbeat")
#: Runs the two worker profiles take: enough samples; the profilers slow a run several times over.
PROFILE_RUNS = 500
#: How many schedules fall due at once in the burst (of N): the goal's 10,000. RedBeat's burst
#: cost is flat in N and per entry (one round trip per due entry), so 2,000 measure its rate.
BURST = {"ours": 10_000, "dcb": 10_000, "redbeat": 2_000}
LABEL = {"ours": "ours", "dcb": "django-celery-beat", "redbeat": "celery-redbeat"}


def child(env: dict[str, str], step: str, *options: Any, timeout: float = 1800) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.child", step, *[str(o) for o in options]]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"error: bench step {' '.join(argv[3:])} failed (exit {done.returncode})")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def say(line: str = "") -> None:
    print(line, flush=True)


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}x"


# --- per scheduler and N -------------------------------------------------------------------------


def measure_all(
    env: dict[str, str], sizes: list[int], *, budget: float, schedulers: tuple[str, ...] = SCHEDULERS
) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for n in sizes:
        for scheduler in schedulers:
            if scheduler != "ours" and n > 50_000:
                continue
            child(env, "seed", "--scheduler", scheduler, "-n", n)
            slow = scheduler == "dcb" and n > 10_000
            options: list[Any] = ["--scheduler", scheduler, "-n", n, "--pickup", 2 if slow else 3]
            options += ["--idle-ticks", 10 if slow else 30, "--burst", BURST[scheduler]]
            options += ["--budget", 900 if scheduler == "ours" else budget]
            result = child(env, "measure", *options)
            table[f"{scheduler}:{n}"] = result
            say(
                f"  {LABEL[scheduler]:<19} N={n:>6,}: startup {result['startup_s']:.3f} s, "
                f"RSS {result['rss_mb']:.0f} MB (peak {result['peak_rss_mb']:.0f}), "
                f"idle tick {result['idle_tick_ms']:.2f} ms, "
                f"change pickup {result['pickup_median_s']:.3f} s (max {result['pickup_max_s']:.3f}), "
                f"burst {result['burst_rate']:,.0f}/s ({result['burst_published']:,} in {result['burst_s']:.2f} s"
                f"{', time budget hit' if result['burst_timed_out'] else ''}), {result['exactly_once_summary']}"
            )
        ours = table.get(f"ours:{n}")
        for other in ("dcb", "redbeat") if ours else ():
            theirs = table.get(f"{other}:{n}")
            if theirs is None:
                continue
            say(
                f"    vs {LABEL[other]} at N={n:,}: idle tick "
                f"{fmt_ratio(stats.ratio(theirs['idle_tick_ms'], ours['idle_tick_ms']))} cheaper, "
                f"burst {fmt_ratio(stats.ratio(ours['burst_rate'], theirs['burst_rate']))} faster, "
                f"startup {fmt_ratio(stats.ratio(theirs['startup_s'], ours['startup_s']))} faster"
            )
    return table


def two_beats(env: dict[str, str], n: int, beats: int, kind: str = "interval") -> dict[str, Any]:
    """The burst with several beat processes at once (ours only: the others allow one active beat)."""
    child(env, "seed", "--scheduler", "ours", "-n", n, "--due", "--kind", kind)
    start = time.time() + 4.0  # every process imported and connected before the start
    argv = [sys.executable, "-m", "bench.child", "burst-worker", "--start", str(start)]
    processes = [
        subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(beats)
    ]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=900)
        if process.returncode != 0:
            sys.stderr.write(err)
            raise SystemExit("error: a burst beat process failed")
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    begun = min(o["begun"] for o in outputs)
    # the last beat to finish idles one extra tick before it sees nothing left; the burst ends at the last publish
    ended = max(o["ended"] for o in outputs)
    verdict = child(env, "verify", "-n", n)
    return {
        "n": n,
        "kind": kind,
        "beats": beats,
        "seconds": ended - begun,
        "rate": n / (ended - begun),
        "split": [o["published"] for o in outputs],
        **verdict,
    }


def steady(env: dict[str, str], n: int, firings: int, spread: float = 0.0) -> dict[str, Any]:
    """N schedules every 60 s, two beat processes: dispatch lag p50/p99.

    ``spread`` 0: all N at the same instant (the worst case: the last waits for the whole burst);
    60: due evenly over the minute, as a fleet of minutely schedules created at different times is.
    """
    lead = 30.0  # both beat processes are up (imports, connections) before the first firing, even on a loaded machine
    child(env, "seed", "--scheduler", "ours", "-n", n, "--due-in", lead, "--interval", 60, "--spread", spread)
    window = 60 * (firings - 1) + spread + 30
    until = time.time() + lead + window
    argv = [sys.executable, "-m", "bench.child", "steady", "--until", str(until)]
    processes = [
        subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    lags: list[float] = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        if process.returncode != 0:
            sys.stderr.write(err)
            raise SystemExit("error: a steady-load beat process failed")
        lags += json.loads(out.strip().splitlines()[-1])["lags"]
    return {
        "n": n,
        "firings": firings,
        "spread_s": spread,
        "window_s": window,
        "dispatched": len(lags),
        "expected": n * firings,
        "p50_s": stats.percentile(lags, 50),
        "p99_s": stats.percentile(lags, 99),
        "max_s": max(lags),
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
    client = redis.Redis.from_url(env["REDIS_URL"])
    worker = start_worker(env, settings, profile=profile)
    try:
        first = None
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            waiting = client.llen("default")
            if first is None and waiting < m:
                first = time.perf_counter()
            if drained(env, client, ours=ours, waiting=waiting):
                break
            time.sleep(0.01)
        else:
            raise SystemExit("error: the worker did not drain the queue within 900 s")
        done = time.perf_counter()
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    assert first is not None
    return {"m": m, "seconds": done - first, "rate": m / (done - first)}


def start_worker(env: dict[str, str], settings: WorkerSettings, *, profile: str = "") -> subprocess.Popen[bytes]:
    """A worker on the ``default`` queue with ``settings`` (the caller stops it); see ``drain`` for ``profile``."""
    env = {**env, "WORKER_ACKS_LATE": "true" if settings.acks_late else "false"}
    if profile:
        head = [sys.executable, "-m", "bench.profiled_worker", profile]
        pool = ["-P", "solo"]
    else:
        head = [str(ROOT / ".venv" / "bin" / "celery")]
        pool = ["-c", str(settings.concurrency), "-P", "prefork"]
    argv = [
        *head, "-A", "project", "worker", "-Q", "default", *pool,
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-I", "bench.tasks",
        "-l", "WARNING", "-n", f"bench-{time.time_ns()}@%h", *settings.options,
    ]  # fmt: skip
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


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


def end_to_end(env: dict[str, str], m: int, settings: WorkerSettings, *, ours_first: bool = False) -> dict[str, Any]:
    """One pair: raw no-op tasks then our runs (or the other way round), each drained by a fresh worker."""
    measured: dict[str, Any] = {}
    for side in ("ours", "raw") if ours_first else ("raw", "ours"):
        child(env, "e2e-prepare", "--scheduler", side, "-n", m)
        measured[side] = drain(env, m, settings, ours=side == "ours")
        if side == "ours":
            measured[side]["statuses"] = child(env, "e2e-check")["statuses"]
    ratio = measured["ours"]["rate"] / measured["raw"]["rate"]
    return {
        "raw": measured["raw"],
        "ours": measured["ours"],
        "ratio": ratio,
        "concurrency": settings.concurrency,
        "worker": asdict(settings),
    }


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
        choices=["e2e", "profiles", "worker-memory", "yaml-sync"],
        help="only this step: e2e = end to end (raw vs ours) and the worker profiles; profiles = the profiles; "
        "worker-memory = a worker's main-process memory over many messages (raw vs ours); "
        "yaml-sync = sync_schedules of 10,000 entries against 1,000",
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
    parser.add_argument("--repeat", type=int, default=1, help="with --only e2e: run the whole e2e step this many times")
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
    with services() as env:
        if args.only == "worker-memory":
            report["worker_memory"] = worker_memory_step(env, args.memory_batches, args.memory_runs)
        elif args.only == "yaml-sync":
            report["yaml_sync"] = yaml_sync_step(child, say, env)
        elif args.only:
            if args.only == "e2e":
                repeats = []
                for _ in range(args.repeat):
                    e2e_all(env, args, report)
                    repeats.append({key: value for key, value in report.items() if key.startswith("e2e_acks")})
                report["e2e_repeats"] = repeats
            report["worker_profile"] = worker_profile_step(env, PROFILE_RUNS, stamp)
            report["solo_profile"] = solo_profile_step(env, PROFILE_RUNS, stamp)
        else:
            run_all(env, args, report, sizes=sizes, schedulers=schedulers, stamp=stamp)
    report["seconds"] = time.monotonic() - began
    path = RESULTS / f"{stamp}-{report['mode']}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    say(f"== done in {report['seconds']:.0f} s; results in {path.relative_to(ROOT)}")


def active_runs(env: dict[str, str]) -> int:
    """Runs not yet ended in the bench database (one query; only asked once the queue looks drained)."""
    import psycopg

    with psycopg.connect(env["DATABASE_URL"]) as conn:
        row = conn.execute("SELECT count(*) FROM orchestrator_run WHERE status IN ('pending', 'queued', 'running')")
        return int(row.fetchone()[0])


def end_to_end_step(env: dict[str, str], m: int, pairs: int, settings: WorkerSettings) -> dict[str, Any]:
    """``pairs`` interleaved pairs, alternating which side goes first; the figure is the median ratio.

    One pair is a few seconds on a shared machine: a neighbour's burst can halve either side. The
    median of interleaved pairs, each printed, is what holds from run to run.
    """
    say(
        f"== end to end: {m:,} noop runs through the orchestrator vs {m:,} raw no-op tasks, one worker "
        f"{settings.describe()}, {pairs} interleaved pair(s)"
    )
    measured = []
    for index in range(pairs):
        pair = end_to_end(env, m, settings, ours_first=index % 2 == 1)
        measured.append(pair)
        say(
            f"  pair {index + 1}: raw Celery {pair['raw']['rate']:,.0f}/s, ours {pair['ours']['rate']:,.0f}/s: "
            f"ratio {pair['ratio']:.2f}; run statuses {pair['ours']['statuses']}"
        )
    ratio = stats.median([pair["ratio"] for pair in measured])
    say(f"  median ratio {ratio:.2f} (goal >= 0.5) over {pairs} pair(s)")
    return {
        "ratio": ratio,
        "raw": {"rate": stats.median([pair["raw"]["rate"] for pair in measured])},
        "ours": {"rate": stats.median([pair["ours"]["rate"] for pair in measured])},
        "pairs": measured,
        "m": m,
        "worker": asdict(settings),
    }


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


def e2e_all(env: dict[str, str], args: argparse.Namespace, report: dict[str, Any]) -> None:
    """The e2e step for each chosen acknowledgement mode; ``report["e2e"]`` is the default's (late) when measured."""
    m, pairs = e2e_size(args)
    for name, worker in e2e_workers(args).items():
        report[f"e2e_{name}"] = end_to_end_step(env, m, pairs, worker)
    report["e2e"] = report.get("e2e_acks_late") or report["e2e_acks_start"]


def e2e_size(args: argparse.Namespace) -> tuple[int, int]:
    """Messages per side and pairs: a quick run's one short pair, or a full run's three of 2,000."""
    return args.e2e_runs or (300 if args.quick else 2000), args.e2e_pairs or (1 if args.quick else 3)


if __name__ == "__main__":
    main()
