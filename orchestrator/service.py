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
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orchestrator import db, events, guards, hooks, ids, publish, registry, store
from orchestrator.context import RunContext
from orchestrator.errors import PublishError
from orchestrator.models import ACTIVE_STATUSES, Directive, Job, Run, RunStatus, RunTrigger

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

ERROR_MAX_CHARS = 10_000


@dataclass(frozen=True, kw_only=True, slots=True)
class JobSettings:
    """A job's settings as frozen into its runs (from a ``Job`` row or a raw dispatch row)."""

    id: int
    key: str
    queue: str
    timeout_seconds: int
    max_retries: int
    max_concurrency: int | None

    @classmethod
    def of(cls, job: Job) -> JobSettings:
        return cls(
            id=job.pk,
            key=job.key,
            queue=job.queue,
            timeout_seconds=job.timeout_seconds,
            max_retries=job.max_retries,
            max_concurrency=job.max_concurrency,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class DirectiveRef:
    id: int
    name: str
    params: Mapping[str, Any]

    @classmethod
    def of(cls, directive: Directive | None) -> DirectiveRef | None:
        if directive is None:
            return None
        return cls(id=directive.pk, name=directive.name, params=dict(directive.params or {}))


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """What a caller asks to run. ``context`` is frozen into the snapshot (e.g. the schedule)."""

    job: Job
    trigger: str
    directive: Directive | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)


class RunLike(Protocol):
    """What publishing needs of a run: a ``PlannedRun`` just built, or a ``Run`` row."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def trigger(self) -> str: ...
    @property
    def directive_snapshot(self) -> Any: ...
    @property
    def attempt(self) -> int: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class PlannedRun:
    """A run about to be written: id, job, frozen snapshot. No ORM instance on the hot path."""

    id: uuid.UUID
    job_id: int
    trigger: str
    directive_snapshot: dict[str, Any]
    created_at: datetime
    attempt: int = 0


def base_snapshot(job: JobSettings, directive: DirectiveRef | None, params: Mapping[str, Any]) -> dict[str, Any]:
    """The frozen configuration shared by a batch of runs of one job/directive/params.

    Later edits of the job or directive do not change a run's record. Params are merged
    directive first, then the caller's (a schedule's overrides, an API request's). The job's
    ``freeze_params`` hook (see ``registry.job``) then turns them into what the run keeps, e.g. a
    DAG file's parsed steps, once per batch. When it fails, the params stay as given and the error
    is kept as ``freeze_error`` for the job to fail with when the run starts, so one bad file
    never stops the other runs of a dispatch batch.
    """
    merged: dict[str, Any] = {}
    if directive is not None:
        merged.update(directive.params)
    merged.update(params)
    freeze_error = ""
    try:
        merged = dict(registry.freeze_params(job.key, merged))
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
        "directive": None
        if directive is None
        else {"id": directive.id, "name": directive.name, "params": dict(directive.params)},
        "params": merged,
    }
    if freeze_error:
        snapshot["freeze_error"] = freeze_error
    return snapshot


#: ``RunTrigger.values`` builds a new list on every access: costly once per run in a burst of thousands.
_TRIGGERS = frozenset(RunTrigger.values)


def plan_run(
    *, job_id: int, base: Mapping[str, Any], context: Mapping[str, Any], trigger: str, now: datetime
) -> PlannedRun:
    """A new ``pending`` run: ``base`` (see ``base_snapshot``) plus this run's ``context``."""
    if trigger not in _TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}")
    return PlannedRun(
        id=ids.uuid4(), job_id=job_id, trigger=trigger, directive_snapshot={**base, **context}, created_at=now
    )


def snapshot_for(request: RunRequest) -> dict[str, Any]:
    """The frozen configuration of the run ``request`` asks for (JSON-safe)."""
    base = base_snapshot(JobSettings.of(request.job), DirectiveRef.of(request.directive), request.params or {})
    frozen: dict[str, Any] = json.loads(json.dumps({**base, **request.context}, default=str))
    return frozen


def build_run(request: RunRequest, *, now: datetime) -> PlannedRun:
    """The planned run ``request`` asks for; write it with ``insert_runs`` in the caller's transaction."""
    return plan_run(job_id=request.job.pk, base=snapshot_for(request), context={}, trigger=request.trigger, now=now)


def insert_runs(runs: Sequence[PlannedRun]) -> None:
    """Write planned runs as ``pending``, in one statement per batch (see ``orchestrator.store``)."""
    store.insert_runs(runs)


def message_for(run: RunLike, *, attempt: int | None = None) -> publish.RunMessage:
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
        job_key=str(job.get("key") or "?"),
    )


def describe(run: RunLike, attempt: int) -> str:
    """How a run reads in ``celery inspect runs``: run id, job, schedule and time, attempt."""
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


R = TypeVar("R", bound=RunLike)


def publish_runs(runs: Sequence[R], *, now: datetime, recovered: bool = False, announce: bool = True) -> list[R]:
    """Publish committed ``pending`` runs, mark them ``queued``, record ``schedule_enqueued``.

    Never call inside a transaction: a worker could receive a message for a row it cannot see yet.
    The event is written just before the messages go out, so no worker's ``run_started`` can
    precede it; if the broker then refuses them, ``run_publish_failed`` follows, the runs stay
    ``pending``, and recovery publishes them later (its ``schedule_enqueued`` carries
    ``recovered``). ``announce=False`` publishes without events (a retry or a run woken from a
    limit wait was announced before). Returns the runs published.
    """
    if not runs:
        return []
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("publish_runs() must run after the transaction that created the runs commits")
    if announce:
        extra = {"recovered": True} if recovered else {}
        events.emit([{"event": events.SCHEDULE_ENQUEUED, **run_event_fields(run), **extra} for run in runs])
    try:
        publish.publish([message_for(run) for run in runs])
    except PublishError as exc:
        logger.warning("%s; they stay pending for recovery", exc, extra={"event": events.RUN_PUBLISH_FAILED})
        if announce:
            events.emit(
                [{"event": events.RUN_PUBLISH_FAILED, **run_event_fields(run), "error": str(exc)[:500]} for run in runs]
            )
        return []
    store.mark_queued([run.id for run in runs], now=now)
    return list(runs)


def create_run(request: RunRequest, *, now: datetime | None = None) -> Run:
    """Create, commit and publish one run that belongs to no schedule; returns its row."""
    now = now or timezone.now()
    with transaction.atomic():
        run = build_run(request, now=now)
        insert_runs([run])
    publish_runs([run], now=now)
    return Run.objects.get(id=run.id)


def run_event_fields(run: RunLike) -> dict[str, Any]:
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


def retry_delay_seconds(attempts_made: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter for the retry after ``attempts_made`` failed attempts (seconds)."""
    factor = (rng or random).uniform(0.5, 1.5)
    return min(cap, base * float(2 ** max(attempts_made - 1, 0)) * factor)


def _error_text(exc: BaseException) -> str:
    summary = f"{type(exc).__name__}: {exc}"
    detail = "".join(traceback.format_exception(exc))
    return (summary + "\n\n" + detail)[:ERROR_MAX_CHARS]


def _json_safe(value: Any) -> Any:
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str))


_CLAIM_PG = """
UPDATE orchestrator_run AS r
SET status = 'running', attempt = r.attempt + 1, started_at = %s, finished_at = NULL, worker = %s
FROM orchestrator_job AS j
WHERE j.id = r.job_id AND r.id = %s AND r.status IN ('pending', 'queued') AND r.attempt = %s
RETURNING r.trigger, r.directive_snapshot, r.created_at, r.wait_reason, r.job_id, j.key, j.queue,
          j.timeout_seconds, j.max_retries, j.max_concurrency"""


_FINISH_PG = """
UPDATE orchestrator_run SET status = %s, started_at = %s, finished_at = %s, error = %s, result = %s::jsonb,
    wait_reason = ''
WHERE id = %s AND status = 'running' AND attempt = %s
RETURNING id"""


def finish_run(
    run_id: uuid.UUID, *, attempt: int, status: str, started: datetime, now: datetime, error: str, result: Any
) -> bool:
    """``Run.objects.finish`` as one raw statement on PostgreSQL: the ORM's query building cost more than
    the update itself for short runs (bench/results/*profile-worker-noop-*.txt)."""
    if not db.is_postgres():
        return Run.objects.finish(
            run_id, attempt=attempt, status=status, started=started, now=now, error=error, result=result
        )
    encoded = None if result is None else json.dumps(result)
    return bool(
        db.execute(_FINISH_PG, [status, started, now, error, encoded, run_id, attempt + 1], fetch=True, prepare=True)
    )


def claim_run(run_id: uuid.UUID | str, *, attempt: int, worker: str, now: datetime) -> Run | None:
    """Compare-and-set the delivery of ``attempt`` to ``running``; the run and its job's current settings.

    None when the claim is lost: a duplicate or stale message, a cancelled or finished run. One
    statement on PostgreSQL (``UPDATE ... RETURNING``).
    """
    run_uuid = uuid.UUID(str(run_id))
    if not db.is_postgres():
        if not Run.objects.claim(run_uuid, attempt=attempt, worker=worker, now=now):
            return None
        return Run.objects.select_related("job").get(id=run_uuid)
    rows = db.execute(_CLAIM_PG, [now, worker, run_uuid, attempt], fetch=True, prepare=True)
    if not rows:
        return None
    trigger, snapshot, created_at, wait_reason, job_id, key, queue, timeout, retries, job_max = rows[0]
    run = Run(
        id=run_uuid,
        job_id=job_id,
        trigger=trigger,
        directive_snapshot=json.loads(snapshot) if isinstance(snapshot, str) else snapshot,
        status=RunStatus.RUNNING,
        attempt=attempt + 1,
        created_at=created_at,
        started_at=now,
        worker=worker,
        wait_reason=wait_reason,
    )
    run.job = Job(
        id=job_id, key=key, queue=queue, timeout_seconds=timeout, max_retries=retries, max_concurrency=job_max
    )
    return run


def unclaim_run(run: Run, *, reason: str, recheck_seconds: float, now: datetime, newly: bool) -> bool:
    """Give a claimed run back (no free limit slot): ``pending`` again, waiting; ``run_waiting`` when newly."""
    held = Run.objects.unclaim(
        run.id, attempt=run.attempt - 1, reason=reason, publish_after=now + timedelta(seconds=recheck_seconds)
    )
    if held and newly:
        events.emit([{"event": events.RUN_WAITING, **run_event_fields(run), "reason": reason}])
        logger.info("run waiting: %s", reason, extra={"event": events.RUN_WAITING, **run_event_fields(run)})
    return held


def execute_run(
    run_id: uuid.UUID | str,
    *,
    attempt: int,
    worker: str,
    clock: Clock = timezone.now,
    timeout_exceptions: tuple[type[BaseException], ...] = (),
) -> Outcome:
    """Claim and execute the delivery of ``attempt`` of a run (no limits); see ``execute_claimed``."""
    run = claim_run(run_id, attempt=attempt, worker=worker, now=clock())
    if run is None:
        return Outcome(run_id=uuid.UUID(str(run_id)), status=DUPLICATE)
    return execute_claimed(run, clock=clock, timeout_exceptions=timeout_exceptions)


def execute_claimed(
    run: Run,
    *,
    clock: Clock = timezone.now,
    timeout_exceptions: tuple[type[BaseException], ...] = (),
) -> Outcome:
    """Execute a claimed run's job and record everything it did (status, result, error, events)."""
    worker = run.worker
    attempt = run.attempt - 1
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
    # The outcome is recorded patiently: a database restarting meanwhile delays the record, never loses it.
    denied = _access_denied(caught)
    if denied is not None:
        _record_access_denied(denied, base=base, worker=worker, attempt=run.attempt)
    elif status == RunStatus.FAILED and run.attempt <= run.job.max_retries:
        retried = db.patiently(lambda: _schedule_retry(run, error=error, now=finished, base=base), what="retry")
        if retried is not None:
            return retried

    if not db.patiently(
        lambda: finish_run(
            run.id,
            attempt=attempt,
            status=status,
            started=run.started_at or finished,
            now=finished,
            error=error,
            result=result,
        ),
        what="record a run's end",
    ):
        current = db.patiently(
            lambda: Run.objects.filter(id=run.id).values_list("status", flat=True).first(), what="read a run"
        )
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


def _access_denied(exc: BaseException | None) -> guards.AccessDenied | None:
    """The guard refusal behind ``exc`` (itself, or a cause or context of it), if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, guards.AccessDenied):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _record_access_denied(denied: guards.AccessDenied, *, base: Mapping[str, Any], worker: str, attempt: int) -> None:
    """A guard refused the job: an ``access_denied`` event naming the setting; no retry (it would be refused again)."""
    events.emit(
        [
            {
                "event": events.ACCESS_DENIED,
                **base,
                "worker": worker,
                "attempt": attempt,
                "setting": denied.setting,
                "error": str(denied)[:500],
            }
        ]
    )
    logger.warning(
        "access denied: %s",
        denied,
        extra={"event": events.ACCESS_DENIED, **base, "setting": denied.setting},
    )


def _schedule_retry(run: Run, *, error: str, now: datetime, base: Mapping[str, Any]) -> Outcome | None:
    """``running`` -> ``pending`` for the next attempt; the beat publishes it when the backoff ends.

    The retry waits in the database rather than as a countdown message held by a worker, so a
    worker that dies meanwhile cannot strand it.
    """
    delay = retry_delay_seconds(
        run.attempt,
        base=float(settings.SCHEDULER_RETRY_BACKOFF_SECONDS),
        cap=float(settings.SCHEDULER_RETRY_BACKOFF_MAX_SECONDS),
    )
    moved = Run.objects.filter(id=run.id, status=RunStatus.RUNNING, attempt=run.attempt).update(
        status=RunStatus.PENDING,
        publish_after=now + timedelta(seconds=delay),
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
    return Outcome(run_id=run.id, status=RETRYING, error=error, retry_in_seconds=delay)


def retry_or_fail(run: Run, *, error: str, status: str, now: datetime) -> str:
    """End a run whose execution was lost (its worker died): retry it when its job allows, else end it.

    ``run`` is as loaded while ``running``. Returns the status it ended in, ``retrying``, or ``""``
    when the run changed meanwhile (nothing done).
    """
    base = run_event_fields(run)
    retryable = status == RunStatus.FAILED and run.attempt <= run.job.max_retries
    if retryable and _schedule_retry(run, error=error, now=now, base=base) is not None:
        return RETRYING
    if not Run.objects.filter(id=run.id, status=RunStatus.RUNNING, attempt=run.attempt).update(
        status=status, finished_at=now, error=error
    ):
        return ""
    duration_ms = int((now - (run.started_at or now)).total_seconds() * 1000)
    events.emit(
        [
            {
                "event": events.RUN_FINISHED,
                **base,
                "status": status,
                "worker": run.worker,
                "attempt": run.attempt,
                "duration_ms": duration_ms,
                "error": error[:500],
            }
        ]
    )
    logger.warning("run ended: %s", error, extra={"event": events.RUN_FINISHED, **base, "status": status})
    hooks.run_ended(hooks.RunEnded(run_id=run.id, job_key=run.job.key, status=status, snapshot=run.directive_snapshot))
    return status


def publish_woken(run_ids: Sequence[uuid.UUID | str], *, now: datetime) -> list[Run]:
    """Publish runs woken from a limit wait (those still waiting; others are left alone)."""
    if not run_ids:
        return []
    runs = list(Run.objects.filter(id__in=list(run_ids), status=RunStatus.PENDING).select_related("job"))
    return publish_runs(runs, now=now, announce=False)


def publish_due(*, now: datetime, limit: int = 500) -> list[Run]:
    """Publish ``pending`` runs whose ``publish_after`` has passed; the beat's recovery step.

    Several beats run this at once: each takes the rows it can lock and moves their
    ``publish_after`` one grace period ahead (a lease) before publishing, so the others leave them
    alone. A run published twice anyway still executes once.
    """
    grace = timedelta(seconds=float(settings.SCHEDULER_RECOVERY_GRACE_SECONDS))
    with transaction.atomic():
        due = list(
            Run.objects.publishable(now=now, limit=limit).select_for_update(skip_locked=True).select_related("job")
        )
        if not due:
            return []
        Run.objects.filter(id__in=[run.id for run in due]).update(publish_after=now + grace)
    never_published = [run for run in due if announced_by_recovery(run)]
    again = [run for run in due if not announced_by_recovery(run)]
    published = publish_runs(never_published, now=now, recovered=True) + publish_runs(again, now=now, announce=False)
    for run in published:
        logger.info("published a pending run", extra={"event": "run_recovered", **run_event_fields(run)})
    return published


def announced_by_recovery(run: Run) -> bool:
    """Whether ``publish_due`` publishes ``run`` for the first time, and so announces it
    (``schedule_enqueued`` with ``recovered``): a run never queued, not a retry. Asked of the
    run as it was read before publishing (``publish_due`` returns those objects)."""
    return run.queued_at is None and run.attempt == 0


def republish_lost(*, now: datetime, limit: int = 500) -> list[Run]:
    """Publish again the queued runs whose message the broker lost (Redis restarted without its data).

    Only runs queued longer than ``SCHEDULER_LOST_MESSAGE_SECONDS`` are looked at, and only those
    whose in-flight note is gone; a run whose message still waits in a long queue keeps its note.
    """
    threshold = now - timedelta(seconds=float(settings.SCHEDULER_LOST_MESSAGE_SECONDS))
    queued = list(Run.objects.filter(status=RunStatus.QUEUED, queued_at__lt=threshold).order_by("queued_at")[:limit])
    if not queued:
        return []
    try:
        lost = publish.lost_messages([run.id for run in queued])
    except Exception as exc:  # Redis is down: nothing can be published now anyway
        logger.warning("could not check for lost messages: %s", exc)
        return []
    if not lost:
        return []
    moved = Run.objects.filter(id__in=lost, status=RunStatus.QUEUED).update(status=RunStatus.PENDING, publish_after=now)
    logger.warning("%d queued run(s) lost their message in the broker; publishing them again", moved)
    return publish_due(now=now, limit=limit)


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
