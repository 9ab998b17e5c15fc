"""The raw Celery task the end-to-end benchmark compares the orchestrator with (``-I bench.tasks``).

Imported by the bench's worker only. It is acknowledged as the worker's ``WORKER_ACKS_LATE`` says,
like the run task: both sides of a pair run on the same worker settings.
"""

from __future__ import annotations

from typing import Any

from project.celery import app

RAW_TASK = "bench.noop"


@app.task(name=RAW_TASK, ignore_result=True)
def noop(*args: Any) -> None:
    """Does nothing: the cost of a message through a worker and nothing else."""
