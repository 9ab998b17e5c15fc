"""Which limits apply to a claimed run: the global one, its job's (current), its schedule's (frozen)."""

from __future__ import annotations

from django.conf import settings

from orchestrator import keys
from orchestrator.models import Run
from orchestrator.snapshots import RunSnapshot
from workers.leases import Limit

WAITING_PREFIX = "waiting for a slot"


def limits_for(run: Run, snapshot: RunSnapshot | None = None) -> list[Limit]:
    """Most specific first: a run waits in the waiting room of the narrowest limit that is full.

    The job's ``max_concurrency`` and the global limit are read as the run is delivered, so
    lowering them affects runs not yet started; the schedule's is the one frozen into the run
    (``snapshot``, when the caller already read it).
    """
    limits: list[Limit] = []
    schedule = (snapshot or RunSnapshot.of(run.directive_snapshot)).schedule
    if schedule is not None and schedule.max_concurrency:
        limits.append(
            Limit(
                scope=keys.schedule_scope(schedule.id),
                capacity=schedule.max_concurrency,
                label=f"schedule {schedule.name} max_concurrency={schedule.max_concurrency}",
            )
        )
    job_limit = run.job.max_concurrency
    if job_limit:
        limits.append(
            Limit(
                scope=keys.job_scope(run.job.key),
                capacity=job_limit,
                label=f"job {run.job.key} max_concurrency={job_limit}",
            )
        )
    global_limit = settings.SCHEDULER_MAX_GLOBAL_RUNS
    if global_limit:
        label = f"SCHEDULER_MAX_GLOBAL_RUNS={global_limit}"
        limits.append(Limit(scope=keys.GLOBAL_SCOPE, capacity=global_limit, label=label))
    return limits
