"""The run task: a Celery message names a run and the attempt it was published for.

Routed by the publisher to the job's queue (``Job.queue``); executed through the orchestrator
service, the same path for every trigger.
"""

from __future__ import annotations

import socket
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from orchestrator import service
from orchestrator.publish import RUN_TASK_NAME
from project.celery import app


@app.task(name=RUN_TASK_NAME, bind=True, ignore_result=True)
def run(self: Task[Any, Any], run_id: str, attempt: int = 0) -> str:
    """Execute attempt ``attempt`` of run ``run_id``; a duplicate delivery does nothing."""
    outcome = service.execute_run(
        run_id,
        attempt=attempt,
        worker=self.request.hostname or socket.gethostname(),
        timeout_exceptions=(SoftTimeLimitExceeded,),
    )
    return outcome.status
