"""The raw Celery tasks the end-to-end benchmarks compare the orchestrator with (``-I bench.tasks``).

Imported by the bench's worker and its child processes. They are acknowledged as the worker's
``WORKER_ACKS_LATE`` says, like the run task: both sides of a pair run on the same worker settings.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from project.celery import app

RAW_TASK = "bench.noop"
#: A host project's own task, as a host writes one: the ``task-e2e`` step sends it with ``apply_async``
#: (raw) and runs it as a schedule's job (``Job.kind = celery_task``, ours), the same code on both sides.
HOST_TASK = "bench.tasks.host_noop"
#: What both sides of ``task-e2e`` call it with: ``apply_async(args, kwargs)``, and the schedules' params.
HOST_ARGS: list[Any] = [1]
HOST_KWARGS: dict[str, Any] = {"tag": "bench"}


@app.task(name=RAW_TASK, ignore_result=True)
def noop(*args: Any) -> None:
    """Does nothing: the cost of a message through a worker and nothing else."""


@shared_task(name=HOST_TASK)
def host_noop(*args: Any, **kwargs: Any) -> None:
    """Does nothing with its args and kwargs: a host task whose whole cost is the path around it."""
