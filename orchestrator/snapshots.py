"""What a run freezes when it is created, as typed values: the run snapshot and the runs about to be written.

A run's ``directive_snapshot`` column keeps a JSON object (the API and the admin show it as it is):

    {"job": {"key", "kind", "queue", "timeout_seconds", "max_retries", "max_concurrency"},
     "directive": {"id", "name", "params"} | null,
     "params": {...},                       # the directive's params, then the caller's, then frozen by the job
     "schedule": {"id", "name", "tenant", "scheduled_for", "max_concurrency", "overlap_policy",
                  "deadline_seconds"},  # runs of a schedule; deadline_seconds 0: none
     "freeze_error": "...",                 # when the job's ``freeze_params`` failed
     "step": {"id", "job", "dag"}}          # only in a DAG step's context

``RunSnapshot.of`` reads it (every reader goes through it instead of reading keys), ``base_snapshot``
and ``plan_run`` write it. Later edits of the job, directive or schedule never change a run's
record. The orchestrator knows nothing of schedules beyond this frozen ``ScheduleRef``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchestrator import ids, registry, task_jobs
from orchestrator.models import RunTrigger

if TYPE_CHECKING:
    from orchestrator.models import Directive, Job

logger = logging.getLogger(__name__)

#: A job's timeout when a snapshot does not say (rows written before the field existed).
DEFAULT_TIMEOUT_SECONDS = 3600


@dataclass(frozen=True, kw_only=True, slots=True)
class JobSettings:
    """A job's settings as frozen into its runs (from a ``Job`` row or a raw dispatch row)."""

    id: int
    key: str
    queue: str
    timeout_seconds: int
    max_retries: int
    max_concurrency: int | None
    #: ``function``, ``celery_task`` or ``django_task`` (``orchestrator.models.JobKind``).
    kind: str = registry.FUNCTION

    @classmethod
    def of(cls, job: Job) -> JobSettings:
        return cls(
            id=job.pk,
            key=job.key,
            queue=job.queue,
            timeout_seconds=job.timeout_seconds,
            max_retries=job.max_retries,
            max_concurrency=job.max_concurrency,
            kind=job.kind,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "queue": self.queue,
            "timeout_seconds": self.timeout_seconds,
            "max_retries": self.max_retries,
            "max_concurrency": self.max_concurrency,
        }


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

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "params": dict(self.params)}


@dataclass(frozen=True, kw_only=True, slots=True)
class ScheduleRef:
    """The schedule a run belongs to, as it was when the run was created."""

    id: int
    name: str
    tenant: str = ""
    #: The occurrence's nominal time, ISO 8601 UTC with a ``Z``; None for a run asked for by hand.
    scheduled_for: str | None = None
    max_concurrency: int | None = None
    overlap_policy: str = ""
    #: The schedule's deadline when the run was created: 0 for none, None when the snapshot predates it.
    deadline_seconds: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "tenant": self.tenant,
            "scheduled_for": self.scheduled_for,
            "max_concurrency": self.max_concurrency,
            "overlap_policy": self.overlap_policy,
            "deadline_seconds": self.deadline_seconds,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class FrozenJob:
    """The job settings a run froze (no row id: the row may be gone or changed since)."""

    #: The job's key; empty when the snapshot names none.
    key: str
    kind: str = registry.FUNCTION
    queue: str = "default"
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    max_retries: int = 0
    max_concurrency: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RunSnapshot:
    """A run's frozen configuration, read from its ``directive_snapshot`` (see the module docstring)."""

    job: FrozenJob
    params: Mapping[str, Any] = field(default_factory=dict)
    directive: DirectiveRef | None = None
    schedule: ScheduleRef | None = None
    freeze_error: str = ""

    @classmethod
    def of(cls, data: Mapping[str, Any] | None) -> RunSnapshot:
        """Read a stored snapshot; missing or malformed parts read as absent, never as an error."""
        data = data or {}
        job = _mapping(data.get("job"))
        directive = _mapping(data.get("directive"))
        schedule = _mapping(data.get("schedule"))
        return cls(
            job=FrozenJob(
                key=str(job.get("key") or ""),
                kind=str(job.get("kind") or registry.FUNCTION),
                queue=str(job.get("queue") or "default"),
                timeout_seconds=int(job.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS),
                max_retries=int(job.get("max_retries") or 0),
                max_concurrency=_optional_int(job.get("max_concurrency")),
            ),
            params=_mapping(data.get("params")),
            directive=DirectiveRef(
                id=int(directive.get("id") or 0),
                name=str(directive.get("name") or ""),
                params=_mapping(directive.get("params")),
            )
            if directive
            else None,
            schedule=ScheduleRef(
                id=int(schedule.get("id") or 0),
                name=str(schedule.get("name") or ""),
                tenant=str(schedule.get("tenant") or ""),
                scheduled_for=str(schedule["scheduled_for"]) if schedule.get("scheduled_for") else None,
                max_concurrency=_optional_int(schedule.get("max_concurrency")),
                overlap_policy=str(schedule.get("overlap_policy") or ""),
                deadline_seconds=_optional_int(schedule.get("deadline_seconds")),
            )
            if schedule
            else None,
            freeze_error=str(data.get("freeze_error") or ""),
        )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _optional_int(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """What a caller asks to run. ``schedule`` is frozen into the snapshot when the run belongs to one."""

    job: Job
    trigger: str
    directive: Directive | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    schedule: ScheduleRef | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PlannedRun:
    """A run about to be written: id, job, frozen snapshot (its JSON form). No ORM instance on the hot path."""

    id: uuid.UUID
    job_id: int
    trigger: str
    directive_snapshot: dict[str, Any]
    created_at: datetime
    attempt: int = 0
    #: The span that created it (``orchestrator.tracing.begin``); empty when tracing is off.
    traceparent: str = ""


def base_snapshot(job: JobSettings, directive: DirectiveRef | None, params: Mapping[str, Any]) -> dict[str, Any]:
    """The frozen configuration shared by a batch of runs of one job, directive and params (JSON form).

    Params are merged directive first, then the caller's (a schedule's overrides, an API request's).
    The job's ``freeze_params`` hook (see ``registry.job``) then turns them into what the run keeps,
    e.g. a DAG file's parsed steps, once per batch. When it fails, the params stay as given and the
    error is kept as ``freeze_error`` for the job to fail with when the run starts, so one bad file
    never stops the other runs of a dispatch batch.
    """
    merged: dict[str, Any] = {}
    if directive is not None:
        merged.update(directive.params)
    merged.update(params)
    freeze_error = ""
    try:
        if job.kind == registry.FUNCTION:  # a task's args and kwargs are kept as given
            merged = dict(registry.freeze_params(job.key, merged))
    except Exception as exc:  # one bad reference must not stop a dispatch batch: the run fails on start instead
        freeze_error = f"{type(exc).__name__}: {exc}"
        logger.warning("could not freeze the params of a %s run: %s", job.key, exc, extra={"job": job.key})
    if job.kind == registry.CELERY_TASK:  # a task's own time limit wins over the row's timeout
        own = task_jobs.celery_time_limit(job.key)
        if own is not None and own != job.timeout_seconds:
            job = dataclasses.replace(job, timeout_seconds=own)
    snapshot: dict[str, Any] = {
        "job": job.as_json(),
        "directive": None if directive is None else directive.as_json(),
        "params": merged,
    }
    if freeze_error:
        snapshot["freeze_error"] = freeze_error
    return snapshot


#: ``RunTrigger.values`` builds a new list on every access: costly once per run in a burst of thousands.
_TRIGGERS = frozenset(RunTrigger.values)


def plan_run(
    *, job_id: int, base: Mapping[str, Any], schedule: ScheduleRef | None, trigger: str, now: datetime
) -> PlannedRun:
    """A new ``pending`` run: ``base`` (see ``base_snapshot``) plus the schedule it belongs to, if any."""
    if trigger not in _TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}")
    snapshot = dict(base) if schedule is None else {**base, "schedule": schedule.as_json()}
    return PlannedRun(id=ids.uuid7(now), job_id=job_id, trigger=trigger, directive_snapshot=snapshot, created_at=now)


def build_run(request: RunRequest, *, now: datetime) -> PlannedRun:
    """The planned run ``request`` asks for (JSON-safe); write it with ``store.insert_runs`` in a transaction."""
    base = base_snapshot(JobSettings.of(request.job), DirectiveRef.of(request.directive), request.params or {})
    safe: dict[str, Any] = json.loads(json.dumps(base, default=str))
    return plan_run(job_id=request.job.pk, base=safe, schedule=request.schedule, trigger=request.trigger, now=now)
