"""The driver's beat steps: the per-scheduler table, bursts with several beat processes, steady-load lag.

Ours, django-celery-beat and celery-redbeat at each N (``measure_all``), then ours alone with one
and two beat processes (``two_beats``) and under a minutely load (``steady``); each figure comes
from ``bench.child`` processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from bench import stats
from bench.driver import child, fmt_ratio, say
from bench.env import ROOT

SCHEDULERS = ("ours", "dcb", "redbeat")
#: How many schedules fall due at once in the burst (of N): the goal's 10,000. RedBeat's burst
#: cost is flat in N and per entry (one round trip per due entry), so 2,000 measure its rate.
BURST = {"ours": 10_000, "dcb": 10_000, "redbeat": 2_000}
LABEL = {"ours": "ours", "dcb": "django-celery-beat", "redbeat": "celery-redbeat"}


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


def two_beats(
    env: dict[str, str], n: int, beats: int, kind: str = "interval", verify: str = "verify"
) -> dict[str, Any]:
    """The burst with several beat processes at once (ours only: the others allow one active beat).

    ``verify``: the child step that checks the outcome (``verify-counts`` for a broker other than Redis).
    """
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
    verdict = child(env, verify, "-n", n)
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
