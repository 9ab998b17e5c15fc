"""A host's Celery tasks run as jobs by real workers: their own code, under their own name, through our path.

Each run goes through the one orchestrator path (snapshot, claim, records, events); the task sees
our run id as its request id, asks for retries of the same run with ``self.retry()`` or
``autoretry_for``, returns a value the run keeps (capped, or none with ``ignore_result``), and its
messages go to the task's own queue.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator import registry, service, task_jobs
from orchestrator.models import Run, RunTrigger
from tests import host_tasks  # noqa: F401  (registers the host's tasks in this process's Celery app)
from tests.helpers import wait_finished, wait_ready, wait_recorded
from tests.processes import wait_until

WORKER = {"extra": ["-I", "tests.host_tasks"]}
FAST = {"SCHEDULER_MAINTENANCE_SECONDS": "0.3", "SCHEDULER_RECOVERY_GRACE_SECONDS": "1"}


def start(task: str, *args, **kwargs) -> Run:
    job = registry.task_job(task)
    assert job is not None
    request = service.RunRequest(job=job, trigger=RunTrigger.API, params={"args": list(args), "kwargs": kwargs})
    return service.create_run(request)


def test_tasks_run_their_own_code_with_our_run_id_and_keep_what_they_return(live):
    worker = live.worker(concurrency=2, env=FAST, **WORKER)
    wait_ready(worker)
    wait_ready(live.beat(env=FAST))
    added = start("host.add", 2, 3, scale=10)
    seen = start("host.who", note="hello")
    quiet = start("host.quiet")
    big = start("host.big", task_jobs.RESULT_MAX_BYTES)

    assert wait_finished(added).result == 50
    who = wait_finished(seen)
    assert who.status == "succeeded" and who.attempt == 1
    assert who.result == {"id": str(seen.id), "retries": 0, "name": "host.who", "note": "hello"}
    assert wait_finished(quiet).result is None, "ignore_result: nothing kept"
    kept = wait_finished(big)
    assert kept.status == "succeeded" and kept.result == {"result_too_large": {"bytes": 16386, "type": "str"}}
    assert seen.directive_snapshot["job"]["kind"] == "celery_task"
    assert seen.directive_snapshot["params"] == {"args": [], "kwargs": {"note": "hello"}}

    # the worker names the task itself, with our run id (Celery's own "received"/"succeeded" lines)
    log = worker.log.read_text()
    assert f"Task host.who[{seen.id}] received" in log
    assert f"Task host.who[{seen.id}] succeeded" in log
    assert [e["event"] for e in wait_recorded(seen)] == ["schedule_enqueued", "run_started", "run_finished"]


def test_a_tasks_own_retry_is_a_retry_of_the_same_run_and_its_max_retries_stops_it(live, tmp_path: Path):
    wait_ready(live.worker(concurrency=2, env=FAST, **WORKER))
    wait_ready(live.beat(env=FAST))
    flaky = start("host.flaky", 2)
    marker = tmp_path / "attempts.txt"
    broken = start("host.always_fails", str(marker))

    done = wait_finished(flaky)
    assert (done.status, done.attempt, done.result) == ("succeeded", 3, {"retries": 2})
    kinds = [e["event"] for e in wait_recorded(flaky)]
    assert kinds.count("run_retried") == 2 and kinds[-1] == "run_finished"

    failed = wait_finished(broken, timeout=90)
    assert failed.status == "failed" and failed.attempt == 3, failed.error
    assert failed.error.startswith("ValueError: still broken")
    assert marker.read_text().count("attempt") == 3, "autoretry_for: the first try and max_retries=2 more"
    assert [e["event"] for e in wait_recorded(broken)].count("run_retried") == 2


def test_a_tasks_runs_go_to_its_own_queue(live):
    routed = start("host.routed")
    assert routed.directive_snapshot["job"]["queue"] == "billing"
    default_only = live.worker("default-only", queues="default", concurrency=1, env=FAST, **WORKER)
    wait_ready(default_only)
    wait_ready(live.beat(env=FAST))
    wait_until(lambda: Run.objects.filter(id=routed.id, status="queued").exists(), timeout=20, message="queued")
    wait_ready(live.worker("billing", queues="billing", concurrency=1, env=FAST, **WORKER))
    done = wait_finished(routed)
    assert done.status == "succeeded" and done.result == "billed"
    assert "billing" in done.worker and "default-only" not in done.worker
