"""Jobs that die the hard way end in a recorded state, never a run stuck ``running``.

``os._exit`` and a segfault take the pool process down with the run (it ends ``failed``, "worker
lost", once its heartbeat lease expires); an exception raised inside C code is an ordinary
failure; a job that leaks memory past ``WORKER_MAX_MEMORY_PER_CHILD_KB`` (Celery's
``worker_max_memory_per_child``) finishes, and its pool process is replaced before the next run.
A job hanging past its timeout is covered by ``test_lifecycle`` (soft and hard time limits).
"""

from __future__ import annotations

from orchestrator import events, service
from orchestrator.models import Run, RunTrigger
from tests import factories
from tests.helpers import wait_finished, wait_ready

FAST = {
    "SCHEDULER_LEASE_TTL_SECONDS": "3",
    "SCHEDULER_MAINTENANCE_SECONDS": "0.5",
}


def start(job_key: str, **params) -> Run:
    return service.create_run(service.RunRequest(job=factories.job(job_key), trigger=RunTrigger.API, params=params))


def test_exit_segfault_and_an_error_raised_in_c_each_end_recorded(live):
    factories.job("crash", max_retries=0)
    wait_ready(live.worker(concurrency=2, env=FAST))
    wait_ready(live.beat(env=FAST))  # its reaper ends the runs whose pool process died
    runs = {how: start("crash", how=how) for how in ("exit", "segfault", "c_error")}
    ended = {how: wait_finished(run, timeout=60) for how, run in runs.items()}
    after = wait_finished(start("noop"), timeout=60)
    print("\n" + "\n".join(f"{how}: {run.status}: {run.error.splitlines()[0]}" for how, run in ended.items()))

    for how in ("exit", "segfault"):
        assert ended[how].status == "failed" and ended[how].error.startswith("worker lost"), how
    assert ended["c_error"].status == "failed"
    assert ended["c_error"].error.startswith("TypeError")
    assert after.status == "succeeded", "the worker goes on serving runs"
    for run in runs.values():
        names = [e["event"] for e in events.events_for_run(run.id)]
        assert names.count("run_started") == 1 and names[-1] == "run_finished"
    assert not Run.objects.filter(status__in=("pending", "queued", "running")).exists()


def test_a_leaking_job_finishes_and_its_pool_process_is_replaced(live):
    factories.job("crash", max_retries=0)
    # a pool process starts near 60 MB resident here: 150 MB leaked passes a 120 MB limit
    worker = live.worker(concurrency=1, env={**FAST, "WORKER_MAX_MEMORY_PER_CHILD_KB": str(120 * 1024)})
    wait_ready(worker)
    first = wait_finished(start("crash", how="leak", mb=150), timeout=60)
    second = wait_finished(start("crash", how="leak", mb=1), timeout=60)
    print(f"\nleak: {first.status} {first.result}, next run {second.status} {second.result}")
    assert first.status == second.status == "succeeded"
    assert first.result["leaked_mb"] == 150
    assert second.result["pid"] != first.result["pid"], "the leaking pool process was replaced"
    assert second.result["leaked_mb"] == 1, "the new process starts without the leaked memory"
