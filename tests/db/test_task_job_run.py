"""A host task's own code inside a run, in this process: most tasks set no ``queue`` option of their own."""

from __future__ import annotations

import logging
import uuid

from orchestrator import task_jobs
from orchestrator.context import RunContext
from tests import host_tasks


def test_a_task_without_a_queue_option_runs_with_its_args_and_kwargs():
    assert not hasattr(host_tasks.add, "queue"), "Celery tasks have no queue attribute unless they set one"
    context = RunContext(
        run_id=uuid.uuid4(),
        job_key="host.add",
        attempt=1,
        trigger="api",
        snapshot={"params": {"args": [1, 2], "kwargs": {"scale": 3}}},
        logger=logging.getLogger(__name__),
    )
    assert task_jobs.run_celery_task("host.add", context) == 9
