"""Executing one delivery of a run: claim it, run its job, record everything it did.

``execute_run`` (the worker's task calls ``claim_run`` and ``execute_claimed`` itself, with the
run's limit slots in between) claims the delivery with a compare-and-set on ``(status, attempt)``,
so a duplicate message does nothing; then the registered job runs and its outcome, result,
error, artifacts (written by the job through its context), events and hooks are recorded the same
way for every trigger.
"""

from __future__ import annotations

import json
import logging
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from orchestrator import db, events, guards, hooks, registry, retries, store
from orchestrator.context import RunContext
from orchestrator.errors import TaskRetry
from orchestrator.models import Run, RunStatus
from orchestrator.publishing import run_event_fields
from orchestrator.snapshots import RunSnapshot

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

ERROR_MAX_CHARS = 10_000
DUPLICATE = "duplicate"
RETRYING = retries.RETRYING


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What ``execute_run`` did: ``duplicate`` when another delivery owns the run."""

    run_id: uuid.UUID
    status: str
    error: str = ""
    retry_in_seconds: float | None = None


def claim_run(run_id: uuid.UUID | str, *, attempt: int, worker: str, now: datetime) -> Run | None:
    """Claim the delivery of ``attempt`` (see ``store.claim_run``); None when another delivery owns it."""
    return store.claim_run(uuid.UUID(str(run_id)), attempt=attempt, worker=worker, now=now)


def unclaim_run(run: Run, *, reason: str, recheck_seconds: float, now: datetime, newly: bool) -> bool:
    """Give a claimed run back (no free limit slot): ``pending`` again, waiting; ``run_waiting`` when newly."""
    held = Run.objects.unclaim(
        run.id, attempt=run.attempt - 1, reason=reason, publish_after=now + timedelta(seconds=recheck_seconds)
    )
    if held and newly:
        fields = run_event_fields(run)
        events.emit([{"event": events.RUN_WAITING, **fields, "reason": reason}])
        logger.info("run waiting: %s", reason, extra={"event": events.RUN_WAITING, **fields})
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
    snapshot: RunSnapshot | None = None,
    clock: Clock = timezone.now,
    timeout_exceptions: tuple[type[BaseException], ...] = (),
) -> Outcome:
    """Execute a claimed run's job and record everything it did (status, result, error, events).

    ``snapshot``: the run's, when the caller already read it (it is read from ``run`` otherwise).
    """
    worker = run.worker
    attempt = run.attempt - 1
    if snapshot is None:
        snapshot = RunSnapshot.of(run.directive_snapshot)
    base = run_event_fields(run, snapshot)
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
    asked: TaskRetry | None = None
    try:
        definition = registry.resolve(base["job"], snapshot.job.kind)
        result = _json_safe(definition.func(context))
    except TaskRetry as exc:  # a host task's own retry(): the run's next attempt, when the task said
        status, error, caught, asked = RunStatus.FAILED, _error_text(exc.__cause__ or exc), exc, exc
    except timeout_exceptions as exc:
        status, error, caught = RunStatus.TIMED_OUT, f"timed out after {run.job.timeout_seconds}s", exc
    except Exception as exc:
        status, error, caught = RunStatus.FAILED, _error_text(exc), exc

    finished = clock()
    # The outcome is recorded patiently: a database restarting meanwhile delays the record, never loses it.
    denied = _access_denied(caught)
    if denied is not None:
        _record_access_denied(denied, base=base, worker=worker, attempt=run.attempt)
    elif asked is not None or (status == RunStatus.FAILED and run.attempt <= run.job.max_retries):
        wanted = asked.delay_seconds if asked is not None else None
        delay = db.patiently(
            lambda: retries.schedule_retry(
                run, error=error, now=finished, base=base, delay=wanted, by_task=bool(asked)
            ),
            what="schedule a retry",
        )
        if delay is not None:
            return Outcome(run_id=run.id, status=RETRYING, error=error, retry_in_seconds=delay)

    read = db.patiently(
        lambda: store.finish_run(
            run.id,
            attempt=attempt,
            status=status,
            started=run.started_at or finished,
            now=finished,
            error=error,
            result=result,
            snapshot=snapshot,
        ),
        what="record a run's end",
    )
    if read is None:
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
    hooks.run_ended.send(
        hooks.RunEnded(
            run_id=run.id,
            job_key=base["job"],
            status=status,
            snapshot=run.directive_snapshot,
            read=read or {},
            parsed=snapshot,
        )
    )
    return Outcome(run_id=run.id, status=status, error=error)


def _error_text(exc: BaseException) -> str:
    summary = f"{type(exc).__name__}: {exc}"
    detail = "".join(traceback.format_exception(exc))
    return (summary + "\n\n" + detail)[:ERROR_MAX_CHARS]


def _json_safe(value: Any) -> Any:
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str))


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
