"""What the runs of the ``redis-restarts`` step did: ``python -m bench.child restart-runs --marks T0,T1,...``.

A child step (Django set up by ``bench.child``), read once the queue is drained: every run of the
bench database (the step's ``e2e-prepare`` truncated the table, so only this phase's), its status,
how many ``run_started`` and ``run_finished`` events the workers wrote for it (the event log,
``settings.EVENTS_PATH``), and how many ended between each two consecutive marks (wall-clock
seconds: the first take, each shutdown and restart of Redis, the drain).
"""

from __future__ import annotations

import argparse
from bisect import bisect_right
from collections import Counter
from typing import Any


def window_counts(finished: list[float], marks: list[float]) -> list[int]:
    """Runs that ended in each ``[marks[i], marks[i + 1])``; those before the first mark count in the first
    window, those at or after the last in the last (the marks are polled, a few ms late)."""
    counts = [0] * (len(marks) - 1)
    for moment in finished:
        counts[min(max(bisect_right(marks, moment) - 1, 0), len(counts) - 1)] += 1
    return counts


def step_restart_runs(args: argparse.Namespace) -> dict[str, Any]:
    from django.conf import settings

    from bench.child_io import sql
    from orchestrator import events

    marks = [float(mark) for mark in args.marks.split(",")]
    rows = sql("SELECT id::text, status, extract(epoch FROM finished_at)::float8 FROM orchestrator_run")
    started: Counter[str] = Counter()
    finished: Counter[str] = Counter()
    for event in events.iter_events(settings.EVENTS_PATH):
        if event.get("event") == "run_started":
            started[str(event.get("run_id"))] += 1
        elif event.get("event") == "run_finished":
            finished[str(event.get("run_id"))] += 1
    twice = [run_id for run_id, _, _ in rows if started[run_id] > 1 or finished[run_id] > 1]
    never = [run_id for run_id, _, _ in rows if started[run_id] == 0 or finished[run_id] == 0]
    return {
        "runs": len(rows),
        "statuses": dict(Counter(status for _, status, _ in rows)),
        "executed_twice": len(twice),
        "never_executed": len(never),
        "twice_ids": twice[:20],
        "never_ids": never[:20],
        "windows": window_counts([end for _, _, end in rows if end is not None], marks),
    }
