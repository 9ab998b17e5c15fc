"""Which limits apply to a claimed run: the global one, its job's (current), its schedule's (frozen)."""

from __future__ import annotations

from django.conf import settings

from orchestrator.models import Run
from workers.leases import Limit

WAITING_PREFIX = "waiting for a slot"


def limits_for(run: Run) -> list[Limit]:
    """Most specific first: a run waits in the waiting room of the narrowest limit that is full.

    The job's ``max_concurrency`` and the global limit are read as the run is delivered, so
    lowering them affects runs not yet started; the schedule's is the one frozen into the run.
    """
    limits: list[Limit] = []
    schedule = (run.directive_snapshot or {}).get("schedule") or {}
    schedule_limit = schedule.get("max_concurrency")
    if schedule_limit:
        limits.append(
            Limit(
                scope=f"schedule:{schedule.get('id')}",
                capacity=int(schedule_limit),
                label=f"schedule {schedule.get('name')} max_concurrency={schedule_limit}",
            )
        )
    job_limit = run.job.max_concurrency
    if job_limit:
        limits.append(
            Limit(
                scope=f"job:{run.job.key}", capacity=job_limit, label=f"job {run.job.key} max_concurrency={job_limit}"
            )
        )
    global_limit = settings.SCHEDULER_MAX_GLOBAL_RUNS
    if global_limit:
        limits.append(Limit(scope="global", capacity=global_limit, label=f"SCHEDULER_MAX_GLOBAL_RUNS={global_limit}"))
    return limits
