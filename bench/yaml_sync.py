"""``./scripts/bench --only yaml-sync``: ``manage.py sync_schedules`` of 10,000 entries, against 1,000 in the same run.

For each size a fresh child process (``bench.child yaml-sync -n N``) writes one file of N entries
of every kind (cron in a zone, interval, jittered interval, one-off, a job with params and
policies), then times the command as an operator runs it: a dry run, the first sync (every entry
created), the same sync again (every entry unchanged) and a sync of the file with every entry
changed (timing, params, jitter: every row updated, most next runs recomputed). Each figure is wall
time and this process's CPU time (PostgreSQL's work is in the wall time only).

The baseline is the time per entry of the 1,000-entry run measured just before: a ratio near 1
at 10,000 means the cost grows with the entries and nothing else (before issue 20 every entry
cost ~17 statements; a 10,000-entry dry run took 109 s). The goal is every step under 10 s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

SIZES = (1000, 10_000)
GOAL_SECONDS = 10.0
STEPS = ("dry_run", "first", "unchanged", "changed")
LABELS = {"dry_run": "dry run", "first": "first sync", "unchanged": "unchanged", "changed": "all changed"}


def entries(count: int, *, variant: int = 0) -> str:
    """``count`` schedule entries in the full format; ``variant`` changes every one of them."""
    zones = ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC")
    parts = []
    for index in range(count):
        name = f"- id: bench-{index}\n"
        kind = index % 5
        if kind == 0:
            parts.append(
                f'{name}  job: noop\n  cron: "{index % 60} {(index + variant) % 24} * * *"\n'
                f"  timezone: {zones[index % 4]}\n  tenant: team-{index % 7}\n"
            )
        elif kind == 1:
            parts.append(f"{name}  job: noop\n  interval_seconds: {60 + index % 600 + variant}\n")
        elif kind == 2:
            parts.append(
                f"{name}  job: noop\n  interval_seconds: 3600\n  jitter_seconds: {30 + variant}\n"
                "  start_at: 2026-01-01T00:00:00Z\n"
            )
        elif kind == 3:
            parts.append(f"{name}  job: noop\n  run_at: 2030-06-{1 + index % 28:02d}T0{variant}:00:00+02:00\n")
        else:
            parts.append(
                f'{name}  job: sleep\n  params: {{seconds: {1 + variant}}}\n  cron: "*/5 * * * *"\n'
                f"  overlap_policy: buffer_one\n  max_concurrency: 2\n  description: entry {index}, take {variant}\n"
            )
    return "".join(parts)


def step_yaml_sync(args: argparse.Namespace) -> dict[str, Any]:
    """In a child process (Django set up): the four timed commands on ``args.n`` entries."""
    from django.core.management import call_command

    from scheduling.models import Schedule

    Schedule.objects.all().delete()
    folder = Path(tempfile.mkdtemp(prefix="ostinato-bench-yaml-"))
    path = folder / "schedules.yaml"
    text = entries(args.n)
    path.write_text(text)

    def timed(*options: str) -> dict[str, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        call_command("sync_schedules", str(path), *options, stdout=StringIO(), stderr=StringIO())
        return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}

    measured = {"dry_run": timed("--dry-run"), "first": timed(), "unchanged": timed()}
    assert Schedule.objects.count() == args.n
    path.write_text(entries(args.n, variant=1))
    measured["changed"] = timed()
    path.unlink()
    folder.rmdir()
    return {"n": args.n, "bytes": len(text.encode()), **measured}


Child = Callable[..., dict[str, Any]]


def yaml_sync_step(child: Child, say: Callable[[str], None], env: dict[str, str]) -> dict[str, Any]:
    """Both sizes, printed with the ratio of the time per entry to the 1,000-entry run's."""
    say(
        f"== YAML sync: manage.py sync_schedules of {SIZES[0]:,} then {SIZES[1]:,} entries (one file each); "
        f"baseline: the time per entry at {SIZES[0]:,}, measured first"
    )
    results = {n: child(env, "yaml-sync", "-n", n) for n in SIZES}
    base, big = results[SIZES[0]], results[SIZES[1]]
    for n, result in results.items():
        figures = ", ".join(
            f"{LABELS[step]} {result[step]['wall_s']:.2f} s (CPU {result[step]['cpu_s']:.2f})" for step in STEPS
        )
        say(f"  N={n:,} ({result['bytes'] / 1e6:.1f} MB): {figures}")
    ratios = {step: (big[step]["wall_s"] / SIZES[1]) / (base[step]["wall_s"] / SIZES[0]) for step in STEPS}
    say(
        f"  per entry at {SIZES[1]:,} vs at {SIZES[0]:,} (1.0 = linear): "
        + ", ".join(f"{LABELS[step]} {ratio:.2f}x" for step, ratio in ratios.items())
    )
    slowest = max(big[step]["wall_s"] for step in STEPS)
    verdict = "met" if slowest < GOAL_SECONDS else "NOT met"
    say(f"  goal: every step under {GOAL_SECONDS:.0f} s at {SIZES[1]:,}: {verdict} (slowest {slowest:.2f} s)")
    return {"results": results, "per_entry_ratio": ratios, "goal_met": slowest < GOAL_SECONDS}
