"""``celery -A project inspect runs``: the runs each worker is executing, each described in full.

Run messages are named by their job (``workers.run:<job>``, see ``orchestrator.broker.shadow_of``),
so ``inspect active`` shows a run's id (the task id), job and arguments but not its schedule and
time. This command adds them from the message's ``argsrepr``, which Celery keeps as sent.
Importing it registers the command (``workers.apps`` does); it imports no Django model.
"""

from __future__ import annotations

from typing import Any

from celery.worker import state as worker_state
from celery.worker.control import inspect_command

from orchestrator.broker import RUN_TASK_NAME


@inspect_command()
def runs(state: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """This worker's executing runs, oldest first: run id, description, job, when it started, process."""
    requests = [r for r in state.tset(worker_state.active_requests) if r.type == RUN_TASK_NAME]
    return [
        {
            "run": request.args[0] if request.args else request.id,
            "description": request.argsrepr,
            "name": request.name,
            "time_start": request.time_start,
            "worker_pid": request.worker_pid,
        }
        for request in sorted(requests, key=lambda r: r.time_start or 0.0)
    ]
