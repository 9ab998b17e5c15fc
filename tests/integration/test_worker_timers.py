"""A real worker drops the time-limit timers of ended runs from its event loop (``workers.timers``).

Each run's soft time limit is a timer in the worker's main process; cancelled when the run ends,
it used to stay there until the job's timeout (an hour here). ``inspect timers`` is how an operator
sees what a worker's loop holds.
"""

from __future__ import annotations

import json
import subprocess

from orchestrator import service
from orchestrator.models import RunTrigger
from project.celery import app
from tests import factories
from tests.integration.conftest import wait_finished, wait_ready
from tests.processes import PYTHON, ROOT, wait_until


def loop_census() -> dict[str, int] | None:
    """What the one worker answers to ``inspect timers`` (the command is a broadcast with replies)."""
    replies = app.control.broadcast("timers", reply=True, timeout=2)
    return next((reply for answer in replies for reply in answer.values()), None)


def test_a_worker_drops_the_cancelled_timers_of_ended_runs(live):
    job = factories.job("noop", timeout_seconds=3600)
    wait_ready(live.worker(concurrency=2, env={"WORKER_TIMER_PRUNE_SECONDS": "1"}))
    runs = [service.create_run(service.RunRequest(job=job, trigger=RunTrigger.API)) for _ in range(40)]
    assert {wait_finished(run).status for run in runs} == {"succeeded"}

    census = wait_until(
        lambda: (found := loop_census()) is not None and found["cancelled"] == 0 and found,
        timeout=15,
        message="the worker's loop to hold no cancelled timer",
    )
    print(f"\nafter 40 runs with an hour's timeout: {census}")
    assert census["entries"] < 40, "not one timer per ended run"

    cli = subprocess.run(
        [PYTHON, "-m", "celery", "-A", "project", "inspect", "timers", "--json", "--timeout", "3"],
        cwd=ROOT,
        env=live.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    answers = json.loads(cli.stdout)
    assert [set(reply) for reply in answers.values()] == [{"entries", "cancelled"}], "the operator's view"
