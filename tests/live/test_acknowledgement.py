"""When a worker acknowledges a run's message, and what it holds meanwhile (``WORKER_ACKS_LATE``).

Late (the default): the message of the run being executed stays unacknowledged until the run
ends, and nothing more is taken, so nothing waits inside a busy worker. At start
(``WORKER_ACKS_LATE=false``): the running run's message is acknowledged and one more is held in
reserve per process. Both read from a real worker against Redis's ``unacked`` hash (kombu's record
of messages delivered and not yet acknowledged).

A worker that acknowledged at start cannot hand a message back when the database stays down past
its patience: the run's in-flight note goes instead, so the beats' recovery publishes it again.
"""

from __future__ import annotations

import json
import time

import pytest

from orchestrator import events, service
from orchestrator.models import Run, RunStatus, RunTrigger
from tests import factories
from tests.helpers import wait_finished, wait_ready
from tests.processes import wait_until

#: Leases and the reaper fast; the visibility timeout short, and the patience shorter still (scheduling.E002).
FAST = {
    "SCHEDULER_LEASE_TTL_SECONDS": "3",
    "SCHEDULER_MAINTENANCE_SECONDS": "0.5",
    "SCHEDULER_DB_PATIENCE_SECONDS": "1",
    "BROKER_VISIBILITY_TIMEOUT_SECONDS": "3",
}


def start(job, **params) -> Run:
    return service.create_run(service.RunRequest(job=job, trigger=RunTrigger.API, params=params))


def unacked_task_ids(redis_db) -> list[str]:
    """The task ids of the messages delivered and not yet acknowledged (kombu's ``unacked`` hash)."""
    entries = redis_db.hvals("unacked")
    return sorted(json.loads(entry)[0]["headers"]["id"] for entry in entries)


@pytest.mark.parametrize(
    ("acks_late", "held"),
    [
        ("true", "the running run's message only"),
        ("false", "the next run's message only: the running one's was acknowledged at start"),
    ],
)
def test_what_a_busy_worker_holds_unacknowledged(live, redis_db, acks_late, held):
    job = factories.job("probe", max_retries=0)
    wait_ready(live.worker(concurrency=1, env={"WORKER_ACKS_LATE": acks_late}))
    runs = [start(job, key=f"ack-{acks_late}", seconds=4) for _ in range(3)]

    def first_running():
        return Run.objects.filter(status=RunStatus.RUNNING).values_list("id", flat=True).first()

    running = str(wait_until(first_running, timeout=30, message="a run to start"))
    others = {str(run.id) for run in runs} - {running}

    def settled() -> tuple[list[str], int] | None:
        """What the worker holds and what is left in the queue, once it holds exactly one message."""
        holding = unacked_task_ids(redis_db)
        return (holding, redis_db.llen("default")) if len(holding) == 1 else None

    if acks_late == "true":
        holding, queued = wait_until(settled, timeout=10, message="one message held")
        time.sleep(1)  # were it to take another message, it would within this (the run lasts 4 s)
        assert (holding, queued) == ([running], 2) == settled(), held
    else:
        # the running run's acknowledgement and the next message's delivery follow its start
        holding, queued = wait_until(
            lambda: (found := settled()) and found[0][0] in others and found,
            timeout=10,
            message=held,
        )
        assert queued == 1, "one message in reserve, the last still in the queue"
    print(f"\nWORKER_ACKS_LATE={acks_late}: unacked {holding}, queue {queued}, running {running}")

    ended = [wait_finished(run, timeout=60) for run in runs]
    assert [run.status for run in ended] == ["succeeded"] * 3
    # a late acknowledgement follows the run's recorded end
    wait_until(lambda: redis_db.hlen("unacked") == 0, timeout=5, message="every message acknowledged")
    assert redis_db.llen("default") == 0


def test_a_killed_worker_s_reserved_run_comes_back_after_the_visibility_timeout(live, redis_db):
    """Acknowledged at start, the running run is the reaper's; the reserved one goes back to the queue."""
    job = factories.job("probe", max_retries=0)
    victim = live.worker("victim", concurrency=1, env={**FAST, "WORKER_ACKS_LATE": "false"})
    wait_ready(victim)
    wait_ready(live.beat(env=FAST))  # its reaper ends the run the killed worker was running
    long = start(job, key="victim", seconds=60)
    wait_until(lambda: Run.objects.get(id=long.id).status == RunStatus.RUNNING, timeout=30, message="long to start")
    reserved = start(job, key="victim", seconds=0.2)
    wait_until(
        lambda: redis_db.llen("default") == 0 and unacked_task_ids(redis_db) == [str(reserved.id)],
        timeout=10,
        message="the victim to hold the second run in reserve",
    )

    victim.kill()
    wait_ready(live.worker("rescuer", concurrency=1, env={**FAST, "WORKER_ACKS_LATE": "false"}))

    # with the default timeout (hours) the reserved run would still be queued long after this
    came_back = wait_finished(reserved, timeout=60)
    lost = wait_finished(long, timeout=60)
    print(f"\nreserved: {came_back.status} on {came_back.worker}; running at the kill: {lost.status}, {lost.error}")
    assert came_back.status == "succeeded" and came_back.worker.startswith("rescuer")
    assert lost.status == "failed" and lost.error.startswith("worker lost")
    started = [e for e in events.events_for_run(reserved.id) if e["event"] == "run_started"]
    assert len(started) == 1, "the reserved run executed once"
    assert redis_db.hlen("unacked") == 0
