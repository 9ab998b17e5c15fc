"""The run lifecycle with real workers: lost workers, timeouts, retries, cancel."""

from __future__ import annotations

import time
import uuid

from django.utils import timezone

from orchestrator import events, service
from orchestrator.keys import INFLIGHT
from orchestrator.models import Run, RunTrigger
from tests import factories
from tests.helpers import wait_ready, wait_recorded
from tests.processes import wait_until

FAST = {
    "SCHEDULER_LEASE_TTL_SECONDS": "3",
    "SCHEDULER_MAINTENANCE_SECONDS": "0.5",
    "SCHEDULER_RETRY_BACKOFF_SECONDS": "0.2",
    "SCHEDULER_HARD_TIMEOUT_MARGIN_SECONDS": "1",
}


def start(job_key: str, **params) -> Run:
    return service.create_run(service.RunRequest(job=factories.job(job_key), trigger=RunTrigger.API, params=params))


def events_of(run: Run) -> list[dict]:
    return events.events_for_run(run.id)


def wait_started(run: Run) -> None:
    """Until its job has begun: the claim commits ``running`` before the slot is taken and ``run_started`` written."""
    wait_until(lambda: "run_started" in [e["event"] for e in events_of(run)], timeout=30, message="its job to start")


def slots_in_use(redis_db, scope: str) -> int:
    now_ms = int(redis_db.time()[0]) * 1000
    return int(redis_db.zcount(f"ostinato:limit:{scope}", now_ms, "+inf"))


def test_a_killed_worker_frees_its_slot_and_its_run_fails_as_worker_lost(live, redis_db):
    factories.job("probe", max_concurrency=1, max_retries=0)
    victim = live.worker("victim", concurrency=1, env=FAST)
    wait_ready(victim)
    wait_ready(live.beat(env=FAST))
    run = start("probe", key="lost", seconds=60)
    wait_started(run)
    assert slots_in_use(redis_db, "job:probe") == 1

    victim.kill()  # SIGKILL the whole worker: no cleanup of any kind
    killed_at = time.monotonic()
    wait_until(lambda: slots_in_use(redis_db, "job:probe") == 0, timeout=10, message="the slot to expire")
    freed_after = time.monotonic() - killed_at
    lost = wait_until(
        lambda: Run.objects.filter(id=run.id, status="failed").first(), timeout=15, message="the run to be reaped"
    )
    print(f"\nslot free {freed_after:.1f}s after SIGKILL (lease TTL 3s); run ended: {lost.error}")
    assert lost.error.startswith("worker lost")
    assert [e["event"] for e in wait_recorded(run)][-1] == "run_finished"

    # the freed slot is usable: a new run of the same limited job succeeds on another worker
    wait_ready(live.worker("survivor", concurrency=1, env=FAST))
    second = start("probe", key="lost-2", seconds=0.2)
    wait_until(lambda: Run.objects.filter(id=second.id, status="succeeded").exists(), timeout=30, message="2nd run")
    assert not Run.objects.filter(status="running").exists()


def test_a_run_without_limits_outliving_the_lease_ttl_keeps_its_heartbeat(live, redis_db):
    """No slot is taken at its start (no limit applies): its process's renewer writes the heartbeat
    within a third of the TTL, before the reaper may ask for it, and forgets its in-flight note."""
    factories.job("probe", max_retries=0)
    wait_ready(live.worker(concurrency=1, env=FAST))
    wait_ready(live.beat(env=FAST))  # its reaper looks at runs started more than the 3 s TTL ago
    run = start("probe", key="unlimited-long", seconds=5)
    wait_until(lambda: Run.objects.filter(id=run.id, status="running").exists(), timeout=30, message="running")
    wait_until(lambda: redis_db.exists(f"ostinato:lease:{run.id}"), timeout=3, message="its heartbeat")
    assert redis_db.zscore(INFLIGHT, str(run.id)) is None, "its in-flight note went with that round"
    done = wait_until(
        lambda: Run.objects.filter(id=run.id).exclude(status="running").first(), timeout=30, message="its end"
    )
    assert done.status == "succeeded", done.error
    assert redis_db.llen("unlimited-long:done") == 1
    # The end is committed inside the heartbeat (recorded intervals never overlap beyond the limits);
    # the release follows it. Renewed every TTL/3, a lease never has less than 2/3 of the TTL left:
    # gone before that ran out means released, not expired.
    lease = f"ostinato:lease:{run.id}"
    ttl_left = redis_db.pttl(lease) / 1000  # negative when already gone
    wait_until(lambda: not redis_db.exists(lease), timeout=max(ttl_left - 0.5, 0.1), message="released at its end")


def test_a_killed_workers_run_is_retried_when_its_job_allows(live, redis_db):
    factories.job("probe", max_concurrency=1, max_retries=1)
    victim = live.worker("victim", concurrency=1, env=FAST)
    wait_ready(victim)
    wait_ready(live.beat(env=FAST))
    run = start("probe", key="retry-after-loss", seconds=4)
    wait_started(run)
    victim.kill()
    wait_ready(live.worker("survivor", concurrency=1, env=FAST))
    done = wait_until(
        lambda: Run.objects.filter(id=run.id, status="succeeded").first(), timeout=40, message="the retried run"
    )
    assert done.attempt == 2 and done.worker.startswith("survivor")
    names = [e["event"] for e in events_of(run)]
    assert names.count("run_retried") == 1 and names.count("run_started") == 2
    assert redis_db.llen("retry-after-loss:done") == 1, "only the retry completed; the killed attempt never did"


def test_soft_timeout_ends_timed_out(live):
    factories.job("sleep", timeout_seconds=1)
    wait_ready(live.worker(env=FAST))
    run = start("sleep", seconds=10)
    done = wait_until(
        lambda: Run.objects.filter(id=run.id, status="timed_out").first(), timeout=30, message="timed_out"
    )
    assert "timed out after 1s" in done.error
    assert wait_recorded(run)[-1]["status"] == "timed_out"


def test_a_job_ignoring_its_timeout_is_killed_and_ends_timed_out(live, settings):
    settings.SCHEDULER_HARD_TIMEOUT_MARGIN_SECONDS = 1  # the publisher (this process) sets the time limits
    factories.job("stubborn", timeout_seconds=1)
    wait_ready(live.worker(env=FAST))
    wait_ready(live.beat(env=FAST))
    run = start("stubborn", seconds=60)
    done = wait_until(
        lambda: Run.objects.filter(id=run.id, status="timed_out").first(), timeout=30, message="timed_out"
    )
    assert "hard time limit" in done.error


def test_fails_twice_then_succeeds_with_two_retries(live):
    factories.job("fail", max_retries=2)
    wait_ready(live.worker(env=FAST))
    wait_ready(live.beat(env=FAST))
    run = start("fail", times=2, message="flaky")
    done = wait_until(
        lambda: Run.objects.filter(id=run.id, status="succeeded").first(), timeout=40, message="succeeded"
    )
    assert done.attempt == 3
    assert done.result == {"succeeded_on_attempt": 3}
    names = [e["event"] for e in events_of(run)]
    assert names.count("run_retried") == 2
    assert names.count("run_started") == 3
    retried = [e for e in events_of(run) if e["event"] == "run_retried"]
    assert [e["attempt"] for e in retried] == [1, 2] and all("flaky" in e["error"] for e in retried)


def test_retries_exhausted_end_failed(live):
    factories.job("fail", max_retries=1)
    wait_ready(live.worker(env=FAST))
    wait_ready(live.beat(env=FAST))
    run = start("fail")
    done = wait_until(lambda: Run.objects.filter(id=run.id, status="failed").first(), timeout=40, message="failed")
    assert done.attempt == 2
    assert [e["event"] for e in events_of(run)].count("run_retried") == 1


def test_cancel_a_running_run_terminates_it_and_frees_its_slot(live, redis_db):
    factories.job("probe", max_concurrency=1)
    wait_ready(live.worker(concurrency=1, env=FAST))
    key = f"cancel-{uuid.uuid4().hex[:6]}"
    run = start("probe", key=key, seconds=30)
    wait_started(run)
    assert slots_in_use(redis_db, "job:probe") == 1

    [cancelled] = service.cancel_runs([run.id], reason="stopped by the test", now=timezone.now())
    assert cancelled.id == run.id
    assert slots_in_use(redis_db, "job:probe") == 0, "cancel frees the slot at once"
    run.refresh_from_db()
    assert run.status == "cancelled" and run.error == "stopped by the test"
    assert events_of(run)[-1]["event"] == "run_cancelled"

    # the task's process was terminated: the job never completed, and a new run can start at once
    follow_up = start("probe", key=f"{key}-next", seconds=0.2)
    wait_until(lambda: Run.objects.filter(id=follow_up.id, status="succeeded").exists(), timeout=30, message="next")
    time.sleep(1)
    assert redis_db.llen(f"{key}:done") == 0
    run.refresh_from_db()
    assert run.status == "cancelled"


def test_cancel_a_queued_run_before_any_worker_takes_it(live):
    run = start("noop")
    run.refresh_from_db()
    assert run.status == "queued"
    service.cancel_runs([run.id], reason="not needed", now=timezone.now())
    wait_ready(live.worker(env=FAST))
    time.sleep(2)  # give the worker time to receive and drop the message
    run.refresh_from_db()
    assert run.status == "cancelled" and run.started_at is None
    assert "run_started" not in [e["event"] for e in events_of(run)]
