"""The raw Celery task the end-to-end benchmark compares the orchestrator with (``-I bench.tasks``).

Imported by the bench's worker only. With ``BENCH_EARLY_ACK`` set (``--e2e-early-ack``) it also
makes that worker acknowledge every message when its task starts, the raw task's and the run
task's alike, to measure what BENCHMARKS.md describes; the project itself acknowledges late.
"""

from __future__ import annotations

import os
from typing import Any

from project.celery import app

RAW_TASK = "bench.noop"


@app.task(name=RAW_TASK, ignore_result=True)
def noop(*args: Any) -> None:
    """Does nothing: the cost of a message through a worker and nothing else."""


def acknowledge_early() -> None:
    """Both tasks acknowledge at start in this process (the worker reads each task's own flag)."""
    from workers.tasks import run

    for task in (noop, run):
        task.acks_late = False


if os.environ.get("BENCH_EARLY_ACK"):
    acknowledge_early()
