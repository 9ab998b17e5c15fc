"""The name a real worker knows a run by is its job's, so what the worker keeps per name stays bounded.

Celery counts the tasks a worker accepted by their (shadow) name for the worker's whole life and
returns that count from ``inspect stats``. Run messages once named each run (its id, schedule and
time): a worker held one more entry for every run it ever took, and ``inspect stats`` answered
with all of them.
"""

from __future__ import annotations

import re

from orchestrator import service
from orchestrator.models import Run, RunStatus, RunTrigger
from tests import factories
from tests.helpers import wait_finished, wait_ready, worker_reply
from tests.processes import wait_until


def test_a_worker_counts_runs_per_job_and_inspect_runs_describes_each(live):
    wait_ready(live.worker(concurrency=2))
    noop = factories.job("noop")
    slow = service.create_run(
        service.RunRequest(job=factories.job("sleep"), trigger=RunTrigger.API, params={"seconds": 4})
    )
    wait_until(
        lambda: Run.objects.get(id=slow.id).status == RunStatus.RUNNING, timeout=30, message="the sleep run to start"
    )
    active = wait_until(lambda: worker_reply("active"), timeout=10, message="the worker to list its active run")
    assert [(task["name"], task["id"], task["args"]) for task in active] == [
        ("workers.run:sleep", str(slow.id), [str(slow.id), 0])
    ]

    listed = worker_reply("runs")  # the CLI form is in test_limits (a scheduled run)
    [line] = listed  # one readable line a run: the first attempt is 1, as on the run page and in the events
    assert line.startswith(f"(run={slow.id}, job=sleep, trigger=api, attempt=1) running since ")
    assert re.search(r"running since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(\d+\.\d s\), pid \d+$", line), line

    runs = [service.create_run(service.RunRequest(job=noop, trigger=RunTrigger.API)) for _ in range(25)]
    assert {wait_finished(run).status for run in [slow, *runs]} == {"succeeded"}

    stats = wait_until(lambda: worker_reply("stats"), timeout=10, message="the worker's stats")
    assert stats["total"] == {"workers.run:sleep": 1, "workers.run:noop": 25}
