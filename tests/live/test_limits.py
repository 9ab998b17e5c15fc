"""Limits that hold across several worker processes: per job, global, per schedule; and routing."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from orchestrator import events, service
from orchestrator.models import Run, RunTrigger
from scheduling.surfaces.actions import run_now
from tests import factories
from tests.helpers import wait_ready
from tests.processes import wait_until

FINAL = ("succeeded", "failed", "timed_out", "cancelled")


def create_runs(job_key: str, count: int, params: dict) -> list[Run]:
    job = factories.job(job_key)
    return [
        service.create_run(service.RunRequest(job=job, trigger=RunTrigger.API, params=params)) for _ in range(count)
    ]


def wake_gaps_ms(runs: list[Run]) -> list[float]:
    """For each run that started after waiting: milliseconds since the latest slot before it freed."""
    ends = sorted(r.finished_at for r in runs)
    gaps = []
    for run in sorted(runs, key=lambda r: r.started_at):
        freed = [end for end in ends if end <= run.started_at]
        if freed and run.started_at - run.created_at > timedelta(seconds=0.3):  # it had to wait
            gaps.append((run.started_at - freed[-1]).total_seconds() * 1000)
    return gaps


def peak_overlap(runs: list[Run]) -> int:
    """The most runs whose recorded [started_at, finished_at] intervals overlap at one instant."""
    edges: list[tuple[datetime, int]] = []
    for run in runs:
        assert run.started_at and run.finished_at
        edges += [(run.started_at, 1), (run.finished_at, -1)]
    current = peak = 0
    for _, step in sorted(edges, key=lambda edge: (edge[0], edge[1])):  # an end before a start at one instant
        current += step
        peak = max(peak, current)
    return peak


def start_workers(live, count: int = 3, concurrency: int = 4, env: dict | None = None, queues: str = "default"):
    """Workers, and a beat as every deployment has: a freed slot wakes the longest waiter, and the
    beat's recheck (``SCHEDULER_WAIT_RECHECK_SECONDS``) catches a wake lost to a race with an unclaim."""
    workers = [live.worker(f"worker{i}", concurrency=concurrency, env=env, queues=queues) for i in range(count)]
    beat = live.beat(env=env)
    for worker in workers:
        wait_ready(worker)
    wait_ready(beat)
    return workers


def wait_all_final(ids: list[uuid.UUID], timeout: float) -> list[Run]:
    wait_until(
        lambda: Run.objects.filter(id__in=ids, status__in=FINAL).count() == len(ids),
        timeout=timeout,
        message=f"{len(ids)} runs to finish",
    )
    return list(Run.objects.filter(id__in=ids))


def test_job_limit_holds_across_three_workers(live, redis_db):
    factories.job("probe", max_concurrency=2)
    start_workers(live)
    key = f"probe-{uuid.uuid4().hex[:8]}"
    runs = create_runs("probe", 40, {"key": key, "seconds": 0.5})
    finished = wait_all_final([r.id for r in runs], timeout=120)

    assert {r.status for r in finished} == {"succeeded"}
    measured = int(redis_db.get(f"{key}:peak"))
    from_intervals = peak_overlap(finished)
    gaps = sorted(wake_gaps_ms(finished))
    print(
        f"\njob limit 2, 40 runs on 3 workers x 4: peak {measured} measured by the job, {from_intervals} from "
        f"intervals; a waiting run started {gaps[len(gaps) // 2]:.0f} ms (median), {gaps[-1]:.0f} ms (max) "
        "after a slot freed"
    )
    assert measured == 2
    assert from_intervals == 2
    assert redis_db.llen(f"{key}:done") == 40, "each run executed exactly once"
    waiting = [e for e in events.iter_events() if e.get("event") == "run_waiting"]
    assert waiting and all("job probe max_concurrency=2" in e["reason"] for e in waiting)
    assert redis_db.zcard("ostinato:limit:job:probe") == 0, "every slot was released"


def test_global_limit_holds_across_three_workers(live, redis_db):
    start_workers(live, env={"SCHEDULER_MAX_GLOBAL_RUNS": "3"})
    key = f"probe-{uuid.uuid4().hex[:8]}"
    runs = create_runs("probe", 30, {"key": key, "seconds": 0.5})
    finished = wait_all_final([r.id for r in runs], timeout=120)

    assert {r.status for r in finished} == {"succeeded"}
    measured = int(redis_db.get(f"{key}:peak"))
    print(f"\nglobal limit 3, 30 runs on 3 workers x 4: peak measured by the job {measured}")
    assert measured == 3
    assert peak_overlap(finished) == 3


def test_schedule_limit_applies_to_run_now(live, redis_db):
    key = f"probe-{uuid.uuid4().hex[:8]}"
    schedule = factories.schedule(
        "probe", kind="cron", cron="0 0 1 1 *", max_concurrency=1, params={"key": key, "seconds": 0.4}
    )
    start_workers(live, count=2, concurrency=3)
    runs = [run_now(schedule) for _ in range(6)]
    finished = wait_all_final([r.id for r in runs], timeout=60)
    assert {r.status for r in finished} == {"succeeded"}
    assert int(redis_db.get(f"{key}:peak")) == 1


def test_runs_go_to_their_jobs_queue(live, redis_db):
    factories.job("probe", queue="heavy")
    start_workers(live, count=1, concurrency=2, queues="default")
    key = f"probe-{uuid.uuid4().hex[:8]}"
    [run] = create_runs("probe", 1, {"key": key, "seconds": 0.1})
    assert redis_db.llen("heavy") == 1, "the message waits on the job's queue"
    run.refresh_from_db()
    assert run.status == "queued"
    heavy = live.worker("heavy", queues="heavy", concurrency=1)
    wait_ready(heavy)
    [done] = wait_all_final([run.id], timeout=30)
    assert done.status == "succeeded" and done.worker.startswith("heavy")


def test_inspect_runs_shows_readable_runs(live):
    wait_ready(live.worker(concurrency=1))
    wait_ready(live.beat())
    schedule = factories.schedule("probe", interval_seconds=2, params={"key": "inspect", "seconds": 120})
    run = wait_until(
        lambda: Run.objects.filter(occurrence__schedule=schedule, status="running").first(),
        timeout=30,
        message="running",
    )
    active = live.run_celery("inspect", "active", "--timeout", "5")
    assert f"'id': '{run.id}', 'name': 'workers.run:probe'" in active
    output = live.run_celery("inspect", "runs", "--timeout", "5")
    assert f"run={run.id}" in output
    assert "job=probe" in output
    assert f"schedule='{schedule.name}'" in output
    assert f"scheduled_for={events.utc_stamp(run.occurrence.scheduled_for)}" in output
    assert "trigger=schedule" in output
    assert "attempt=1) running since " in output  # a readable line, not a dict with an epoch float
    assert "time_start" not in output
