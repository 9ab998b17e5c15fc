"""What a delivered run message needs before it may start: is it still runnable, and which limits apply."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings

from orchestrator.models import Run, RunStatus
from workers.leases import Limit

WAITING_PREFIX = "waiting for a slot"


@dataclass(frozen=True, kw_only=True)
class Delivery:
    run_id: uuid.UUID
    attempt: int
    job_key: str
    wait_reason: str
    limits: list[Limit]


def delivery_for(run_id: uuid.UUID | str, attempt: int) -> Delivery | None:
    """The run's current limits (one query), or None when this message is stale (run ended, or another attempt).

    Limits are read when the run is delivered, so an operator lowering a job's or schedule's
    ``max_concurrency`` affects runs not yet started. Most specific first: a run waits in the
    waiting room of the narrowest limit that is full.
    """
    row = (
        Run.objects.filter(id=run_id)
        .values(
            "status",
            "attempt",
            "wait_reason",
            "job__key",
            "job__max_concurrency",
            "occurrence__schedule_id",
            "occurrence__schedule__name",
            "occurrence__schedule__max_concurrency",
        )
        .first()
    )
    if row is None or row["status"] not in (RunStatus.PENDING, RunStatus.QUEUED) or row["attempt"] != attempt:
        return None
    limits: list[Limit] = []
    schedule_limit = row["occurrence__schedule__max_concurrency"]
    if schedule_limit:
        limits.append(
            Limit(
                scope=f"schedule:{row['occurrence__schedule_id']}",
                capacity=schedule_limit,
                label=f"schedule {row['occurrence__schedule__name']} max_concurrency={schedule_limit}",
            )
        )
    job_limit = row["job__max_concurrency"]
    if job_limit:
        limits.append(
            Limit(
                scope=f"job:{row['job__key']}",
                capacity=job_limit,
                label=f"job {row['job__key']} max_concurrency={job_limit}",
            )
        )
    global_limit = settings.SCHEDULER_MAX_GLOBAL_RUNS
    if global_limit:
        limits.append(Limit(scope="global", capacity=global_limit, label=f"SCHEDULER_MAX_GLOBAL_RUNS={global_limit}"))
    return Delivery(
        run_id=uuid.UUID(str(run_id)),
        attempt=attempt,
        job_key=row["job__key"],
        wait_reason=row["wait_reason"],
        limits=limits,
    )
