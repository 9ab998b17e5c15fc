"""The one path for every run, scheduled, manual or from the API.

1. ``build_run`` freezes the job's settings, the directive and the merged params into
   ``directive_snapshot``; ``insert_runs`` writes the rows (inside the caller's transaction).
2. ``publish_runs`` sends the messages after commit and marks the runs ``queued``.
3. ``execute_run`` (called by the worker's task) claims the run with a compare-and-set on
   ``(status, attempt)``, executes the registered job, and records the outcome, artifacts,
   token counts and events. A duplicate delivery loses the compare-and-set and does nothing.
"""

from __future__ import annotations

import json
import logging
import random
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from orchestrator import events, hooks, publish, registry
from orchestrator.context import RunContext
from orchestrator.errors import PublishError
from orchestrator.models import ACTIVE_STATUSES, Directive, Job, Run, RunStatus, RunTrigger

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

#: Retry backoff: base * 2**(attempt-1), times a random factor in [0.5, 1.5), capped.
RETRY_BASE_SECONDS = 2.0
RETRY_CAP_SECONDS = 600.0
ERROR_MAX_CHARS = 10_000


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """What a caller asks to run. ``context`` is frozen into the snapshot (e.g. the schedule)."""

    job: Job
    trigger: str
    directive: Directive | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)


def snapshot_for(request: RunRequest) -> dict[str, Any]:
    """The frozen configuration of a run: later edits of the job or directive do not change it.

    The job's ``freeze_params`` hook (see ``registry.job``) turns the params into what the run
    keeps, e.g. a DAG file's parsed steps. When it fails, the params stay as given and the error
    is kept as ``freeze_error`` for the job to fail with when the run starts, so one bad file
    never stops the other runs of a dispatch batch.
    """
    job = request.job
    directive = request.directive
    params: dict[str, Any] = {}
    if directive is not None:
        params.update(directive.params or {})
    params.update(request.params or {})
    freeze_error = ""
    try:
        params = dict(registry.freeze_params(job.key, params))
    except Exception as exc:  # one bad reference must not stop a dispatch batch: the run fails on start instead
        freeze_error = f"{type(exc).__name__}: {exc}"
        logger.warning("could not freeze the params of a %s run: %s", job.key, exc, extra={"job": job.key})
    snapshot: dict[str, Any] = {
        "job": {
            "key": job.key,
            "queue": job.queue,
            "timeout_seconds": job.timeout_seconds,
            "max_retries": job.max_retries,
            "max_concurrency": job.max_concurrency,
        },
        "directive": (
            None
            if directive is None
            else {"id": directive.pk, "name": directive.name, "params": dict(directive.params or {})}
        ),
        "params": params,
    }
    if freeze_error:
        snapshot["freeze_error"] = freeze_error
    snapshot.update(request.context)
    frozen: dict[str, Any] = json.loads(json.dumps(snapshot, default=str))
    return frozen


def build_run(request: RunRequest, *, now: datetime) -> Run:
    """An unsaved ``pending`` run with its id, task id and frozen snapshot."""
    if request.trigger not in RunTrigger.values:
        raise ValueError(f"unknown trigger {request.trigger!r}")
    run_id = uuid.uuid4()
    return Run(
        id=run_id,
        job=request.job,
        directive_snapshot=snapshot_for(request),
        trigger=request.trigger,
        status=RunStatus.PENDING,
        created_at=now,
        pending_since=now,
        task_id=publish.task_id_for(run_id, 0),
    )


def insert_runs(runs: Sequence[Run]) -> None:
    """Write built runs in one statement; call inside the transaction that creates their context."""
    if runs:
        Run.objects.bulk_create(runs, batch_size=1000)


def message_for(run: Run, *, attempt: int | None = None, countdown: float | None = None) -> publish.RunMessage:
    snapshot = run.directive_snapshot or {}
    job = snapshot.get("job") or {}
    attempt = run.attempt if attempt is None else attempt
    return publish.RunMessage(
        run_id=run.id,
        attempt=attempt,
        queue=str(job.get("queue") or "default"),
        task_id=publish.task_id_for(run.id, attempt),
        timeout_seconds=int(job.get("timeout_seconds") or 3600),
        label=describe(run, attempt),
        countdown=countdown,
    )


def describe(run: Run, attempt: int) -> str:
    """How a run reads in ``celery inspect active``: run id, job, schedule and time, attempt."""
    snapshot = run.directive_snapshot or {}
    job = (snapshot.get("job") or {}).get("key", "?")
    parts = [f"run={run.id}", f"job={job}"]
    schedule = snapshot.get("schedule")
    if schedule:
        parts.append(f"schedule={schedule.get('name')!r}")
        if schedule.get("scheduled_for"):
            parts.append(f"scheduled_for={schedule['scheduled_for']}")
    parts.append(f"trigger={run.trigger}")
    parts.append(f"attempt={attempt}")
    return "(" + ", ".join(parts) + ")"


def publish_runs(runs: Sequence[Run], *, now: datetime, recovered: bool = False) -> list[Run]:
    """Publish committed ``pending`` runs, mark them ``queued`` and record ``schedule_enqueued``.

    Never call inside a transaction: a worker could receive a message for a row it cannot see yet.
    On a broker failure the runs stay ``pending`` and recovery publishes them later (then with
    ``recovered`` set, which the event carries). Returns the runs published.
    """
    if not runs:
        return []
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("publish_runs() must run after the transaction that created the runs commits")
    try:
        publish.publish([message_for(run) for run in runs])
    except PublishError as exc:
        logger.warning("%s; they stay pending for recovery", exc, extra={"event": "publish_failed"})
        return []
    Run.objects.mark_queued([run.id for run in runs], now=now)
    extra = {"recovered": True} if recovered else {}
    events.emit([{"event": events.SCHEDULE_ENQUEUED, **run_event_fields(run), **extra} for run in runs])
    return list(runs)


def create_run(request: RunRequest, *, now: datetime | None = None) -> Run:
    """Create, commit and publish one run (the path for runs that belong to no schedule)."""
    now = now or timezone.now()
    with transaction.atomic():
        run = build_run(request, now=now)
        insert_runs([run])
    publish_runs([run], now=now)
    return run


def run_event_fields(run: Run) -> dict[str, Any]:
    """The fields every event about ``run`` carries."""
    snapshot = run.directive_snapshot or {}
    fields: dict[str, Any] = {
        "run_id": str(run.id),
        "job": (snapshot.get("job") or {}).get("key", ""),
        "trigger": run.trigger,
    }
    schedule = snapshot.get("schedule")
    if schedule:
        fields["schedule"] = schedule.get("name")
        fields["schedule_id"] = schedule.get("id")
        if schedule.get("scheduled_for"):
            fields["scheduled_for"] = schedule["scheduled_for"]
    return fields


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What ``execute_run`` did: ``duplicate`` when another delivery owns the run."""

    run_id: uuid.UUID
    status: str
    error: str = ""
    retry_in_seconds: float | None = None


DUPLICATE = "duplicate"
RETRYING = "retrying"


def retry_delay_seconds(attempts_made: int, *, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter for the retry after ``attempts_made`` failed attempts."""
    factor = (rng or random).uniform(0.5, 1.5)
    return min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * float(2 ** max(attempts_made - 1, 0)) * factor)


def _error_text(exc: BaseException) -> str:
    summary = f"{type(exc).__name__}: {exc}"
    detail = "".join(traceback.format_exception(exc))
    return (summary + "\n\n" + detail)[:ERROR_MAX_CHARS]


def _json_safe(value: Any) -> Any:
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str))


def execute_run(
    run_id: uuid.UUID | str,
    *,
    attempt: int,
    worker: str,
    clock: Clock = timezone.now,
    timeout_exceptions: tuple[type[BaseException], ...] = (),
) -> Outcome:
    """Claim and execute the delivery of ``attempt`` of a run; record everything it did.

    Idempotent per delivery: when the claim is lost (a duplicate message, a cancelled run, a
    stale attempt), nothing runs and ``Outcome.status`` is ``duplicate``.
    """
    run_uuid = uuid.UUID(str(run_id))
    if not Run.objects.claim(run_uuid, attempt=attempt, worker=worker, now=clock()):
        logger.debug("run %s attempt %s already claimed or no longer runnable", run_uuid, attempt)
        return Outcome(run_id=run_uuid, status=DUPLICATE)
    run = Run.objects.select_related("job").get(id=run_uuid)
    base = run_event_fields(run)
    events.emit([{"event": events.RUN_STARTED, **base, "worker": worker, "attempt": run.attempt}])
    logger.info("run started", extra={"event": events.RUN_STARTED, **base, "worker": worker})

    context = RunContext(
        run_id=run.id,
        job_key=base["job"],
        attempt=run.attempt,
        trigger=run.trigger,
        snapshot=run.directive_snapshot,
        logger=logging.getLogger(f"jobs.{base['job']}"),
    )
    status: str = RunStatus.SUCCEEDED
    error = ""
    result: Any = None
    caught: BaseException | None = None
    try:
        definition = registry.get(base["job"])
        result = _json_safe(definition.func(context))
    except timeout_exceptions as exc:
        status, error, caught = RunStatus.TIMED_OUT, f"timed out after {run.job.timeout_seconds}s", exc
    except Exception as exc:
        status, error, caught = RunStatus.FAILED, _error_text(exc), exc

    finished = clock()
    if status == RunStatus.FAILED and run.attempt <= run.job.max_retries:
        retried = _schedule_retry(run, error=error, now=finished, base=base)
        if retried is not None:
            return retried

    if not Run.objects.finish(run.id, attempt=attempt, status=status, now=finished, error=error, result=result):
        current = Run.objects.filter(id=run.id).values_list("status", flat=True).first()
        logger.info("run %s ended as %s but is now %s; keeping %s", run.id, status, current, current, extra=base)
        status = str(current)
    duration_ms = int((finished - (run.started_at or finished)).total_seconds() * 1000)
    finished_event = {
        "event": events.RUN_FINISHED,
        **base,
        "status": status,
        "worker": worker,
        "attempt": run.attempt,
        "duration_ms": duration_ms,
    }
    if error:
        finished_event["error"] = error.split("\n", 1)[0][:500]
    events.emit([finished_event])
    logger.info(
        "run finished",
        extra={"event": events.RUN_FINISHED, **base, "status": status, "duration_ms": duration_ms},
        exc_info=caught if status == RunStatus.FAILED else None,
    )
    hooks.run_ended(hooks.RunEnded(run_id=run.id, job_key=base["job"], status=status, snapshot=run.directive_snapshot))
    return Outcome(run_id=run.id, status=status, error=error)


def _schedule_retry(run: Run, *, error: str, now: datetime, base: Mapping[str, Any]) -> Outcome | None:
    """``running`` -> ``pending`` for the next attempt, then publish it with a backoff."""
    delay = retry_delay_seconds(run.attempt)
    moved = Run.objects.filter(id=run.id, status=RunStatus.RUNNING, attempt=run.attempt).update(
        status=RunStatus.PENDING,
        pending_since=now,
        error=error,
        task_id=publish.task_id_for(run.id, run.attempt),
        wait_reason=f"retry {run.attempt} of {run.job.max_retries} after {delay:.1f}s",
    )
    if moved != 1:
        return None  # cancelled meanwhile: record the end as usual
    events.emit(
        [
            {
                "event": events.RUN_RETRIED,
                **base,
                "attempt": run.attempt,
                "retry_in_seconds": round(delay, 3),
                "error": error.split("\n", 1)[0][:500],
            }
        ]
    )
    logger.info("run failed; retry %s in %.1fs", run.attempt, delay, extra={"event": events.RUN_RETRIED, **base})
    try:
        publish.publish([message_for(run, attempt=run.attempt, countdown=delay)])
    except PublishError as exc:
        logger.warning("%s; recovery will publish the retry", exc, extra=dict(base))
    else:
        Run.objects.mark_queued([run.id], now=now)
    return Outcome(run_id=run.id, status=RETRYING, error=error, retry_in_seconds=delay)


def recover_pending(*, now: datetime, grace_seconds: float, limit: int = 500) -> list[Run]:
    """Publish runs committed but left ``pending`` for longer than the grace period.

    They are runs whose publisher died between commit and publish, or whose broker was down.
    Several beats run this at once: each takes the stale rows it can lock and moves their
    ``pending_since`` forward (a lease for one more grace period) before publishing, so the
    others leave them alone. A run published twice anyway still executes once.
    """
    threshold = now - timedelta(seconds=grace_seconds)
    with transaction.atomic():
        stale = list(
            Run.objects.stale_pending(older_than=threshold, limit=limit)
            .select_for_update(skip_locked=True)
            .select_related("job")
        )
        if not stale:
            return []
        Run.objects.filter(id__in=[run.id for run in stale]).update(pending_since=now)
    published = publish_runs(stale, now=now, recovered=True)
    for run in published:
        logger.info("published a run left pending", extra={"event": "run_recovered", **run_event_fields(run)})
    return published


def cancel_runs(run_ids: Sequence[uuid.UUID | str], *, reason: str, now: datetime) -> list[Run]:
    """Cancel runs that are still pending, queued or running; returns the ones this call cancelled.

    Each run changes status with a compare-and-set, so a run that finished meanwhile keeps its
    outcome. After the surrounding transaction commits, the cancelled runs' Celery tasks are
    revoked (a running one is terminated), ``run_cancelled`` is recorded and the run-ended hooks
    run; limit slots are released by the worker as its task ends, or expire with their lease.
    """
    cancelled: list[Run] = []
    candidates = Run.objects.filter(id__in=list(run_ids), status__in=ACTIVE_STATUSES).select_related("job")
    for run in candidates:
        changed = Run.objects.filter(id=run.id, status=run.status, attempt=run.attempt).update(
            status=RunStatus.CANCELLED, finished_at=now, error=reason, wait_reason=""
        )
        if changed:
            run.status, run.finished_at, run.error = RunStatus.CANCELLED, now, reason
            cancelled.append(run)
    if cancelled:
        transaction.on_commit(lambda: _after_cancel(cancelled, reason))
    return cancelled


def _after_cancel(cancelled: Sequence[Run], reason: str) -> None:
    revoke_runs(cancelled)
    events.emit(
        [
            {"event": events.RUN_CANCELLED, **run_event_fields(run), "status": RunStatus.CANCELLED, "reason": reason}
            for run in cancelled
        ]
    )
    for run in cancelled:
        logger.info("run cancelled: %s", reason, extra={"event": events.RUN_CANCELLED, **run_event_fields(run)})
        hooks.run_ended(
            hooks.RunEnded(
                run_id=run.id, job_key=run.job.key, status=RunStatus.CANCELLED, snapshot=run.directive_snapshot
            )
        )


def revoke_runs(runs: Sequence[Run]) -> None:
    """Revoke the runs' Celery tasks everywhere, terminating one already executing."""
    task_ids = [run.task_id or publish.task_id_for(run.id, run.attempt) for run in runs]
    if not task_ids:
        return
    from project.celery import app

    try:
        app.control.revoke(task_ids, terminate=True, signal="SIGTERM")
    except Exception as exc:  # the broker may be down: the database already says cancelled
        logger.warning("could not revoke %d task(s): %s", len(task_ids), exc)


def runs_by_id(ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Run]:
    return {run.id: run for run in Run.objects.filter(id__in=list(ids)).select_related("job")}
