"""A real worker drops the time-limit timers of ended runs from its event loop (``workers.timers``).

Each run's soft time limit is a timer in the worker's main process; cancelled when the run ends,
it used to stay there until the job's timeout (an hour here). ``inspect timers`` is how an operator
sees what a worker's loop holds.
"""

from __future__ import annotations

import json

from orchestrator import service
from orchestrator.models import RunTrigger
from tests import factories
from tests.helpers import wait_finished, wait_ready, worker_reply
from tests.processes import wait_until


def test_a_worker_drops_the_cancelled_timers_of_ended_runs(live):
    job = factories.job("noop", timeout_seconds=3600)
    wait_ready(live.worker(concurrency=2, env={"WORKER_TIMER_PRUNE_SECONDS": "1"}))
    runs = [service.create_run(service.RunRequest(job=job, trigger=RunTrigger.API)) for _ in range(40)]
    assert {wait_finished(run).status for run in runs} == {"succeeded"}

    census = wait_until(
        lambda: (found := worker_reply("timers")) is not None and found["cancelled"] == 0 and found,
        timeout=15,
        message="the worker's loop to hold no cancelled timer",
    )
    print(f"\nafter 40 runs with an hour's timeout: {census}")
    assert census["entries"] < 40, "not one timer per ended run"

    answers = json.loads(live.run_celery("inspect", "timers", "--json", "--timeout", "3"))  # fails on a non-zero exit
    assert [set(reply) for reply in answers.values()] == [{"entries", "cancelled"}], "the operator's view"
