"""``celery -A project inspect runs``: the runs each worker is executing, one readable line each.

Run messages are named by their job (``workers.run:<job>``, see ``orchestrator.broker.shadow_of``),
so ``inspect active`` shows a run's id (the task id), job and arguments but not its schedule and
time. This command adds them from the message's ``argsrepr``, which Celery keeps as sent:
``(run=3f2a…, job=log_triage, schedule='nightly', scheduled_for=…, trigger=schedule, attempt=1)
running since 2026-12-07 02:00:01 UTC (12.3 s), pid 4242``. The reply is a list of these strings
(Celery's CLI prints one a line); ``--json`` gives the same list.
Importing it registers the command (``workers.apps`` does); it imports no Django model.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from celery.worker import state as worker_state
from celery.worker.control import inspect_command

from orchestrator.broker import RUN_TASK_NAME


def describe_request(request: Any, *, now: float) -> str:
    """One executing run as a line: its description, since when (UTC) and for how long, its process."""
    description = request.argsrepr or f"(run={request.args[0] if request.args else request.id})"
    started = request.time_start
    parts = [str(description)]
    if started:
        since = datetime.fromtimestamp(started, UTC)
        parts.append(f"running since {since:%Y-%m-%d %H:%M:%S} UTC ({max(now - started, 0.0):.1f} s)")
    if request.worker_pid:
        parts.append(f"pid {request.worker_pid}")
    return ", ".join(parts[:1]) + (" " + ", ".join(parts[1:]) if len(parts) > 1 else "")


@inspect_command()
def runs(state: Any, **kwargs: Any) -> list[str]:
    """This worker's executing runs, oldest first, one readable line each."""
    requests = [r for r in state.tset(worker_state.active_requests) if r.type == RUN_TASK_NAME]
    now = time.time()
    return [describe_request(request, now=now) for request in sorted(requests, key=lambda r: r.time_start or 0.0)]
