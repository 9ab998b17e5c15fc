"""The job registry: where a job's code is found, by its kind and key.

An ``@job`` function is registered under a key:

    @job("log_triage", queue="default", timeout_seconds=300)
    def log_triage(ctx: RunContext) -> dict: ...

A Celery task of the app (kind ``celery_task``) is found by its name and a ``django.tasks`` Task
(kind ``django_task``) by its import path (``orchestrator.task_jobs``). The code's settings are
defaults for the ``Job`` row created for it (for every registered function when the apps start,
for a task when a door first names it); once the row exists, operators own it (admin, API) and
the code never overwrites it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings

from orchestrator import task_jobs
from orchestrator.definitions import JobDefinition, JobFunc, ParamsFreezer, ParamsValidator
from orchestrator.errors import UnknownJobError, ValidationError
from orchestrator.params import Param, check

if TYPE_CHECKING:
    from orchestrator.models import Job

#: Job kinds (``orchestrator.models.JobKind``'s values; the registry imports no model).
FUNCTION, CELERY_TASK, DJANGO_TASK = "function", "celery_task", "django_task"

logger = logging.getLogger(__name__)

BUILTIN_JOB_MODULES = (
    "orchestrator.jobs.builtin",
    "orchestrator.jobs.log_triage",
    "orchestrator.jobs.report",
    "orchestrator.jobs.dag",
)


_registry: dict[str, JobDefinition] = {}


def job(
    key: str,
    *,
    queue: str = "default",
    timeout_seconds: int = 3600,
    max_retries: int = 0,
    max_concurrency: int | None = None,
    description: str | None = None,
    validate_params: ParamsValidator | None = None,
    freeze_params: ParamsFreezer | None = None,
    params: Sequence[Param] | None = None,
) -> Callable[[JobFunc], JobFunc]:
    """Register ``func`` as the job ``key``; registering a second function under one key is an error.

    ``params`` declares the params the job takes (``orchestrator.params.Param``): any other key,
    or a value of the wrong kind, is refused wherever a schedule is validated (``Schedule.clean``:
    admin, the schedules page, the API, YAML sync). ``validate_params(params)`` runs after that
    check, with the merged directive and schedule params, and raises ``ValidationError``.
    ``freeze_params(params)`` runs when a run is built; what it returns is the run's frozen params.
    """

    def register(func: JobFunc) -> JobFunc:
        existing = _registry.get(key)
        if existing is not None and existing.func is not func:
            raise ValueError(f"job {key!r} is already registered by {existing.func.__module__}")
        _registry[key] = JobDefinition(
            key=key,
            func=func,
            description=(description or (func.__doc__ or "").strip().split("\n")[0]),
            queue=queue,
            timeout_seconds=timeout_seconds,
            max_retries=max_retries,
            max_concurrency=max_concurrency,
            validate_params=validate_params,
            freeze_params=freeze_params,
            params=None if params is None else tuple(params),
        )
        return func

    return register


def get(key: str) -> JobDefinition:
    try:
        return _registry[key]
    except KeyError:
        raise UnknownJobError(key, list(_registry)) from None


def resolve(key: str, kind: str = FUNCTION) -> JobDefinition:
    """The code of the job ``key`` of ``kind``; ``UnknownJobError`` when this process has none."""
    if kind == CELERY_TASK:
        found = task_jobs.celery_definition(key)
    elif kind == DJANGO_TASK:
        found = task_jobs.django_definition(key)
    else:
        return get(key)
    if found is None:
        raise UnknownJobError(key, keys())
    return found


def has_code(key: str, kind: str = FUNCTION) -> bool:
    """Whether this process knows the code of the job ``key`` of ``kind`` (a row without code cannot run)."""
    try:
        resolve(key, kind)
    except UnknownJobError:
        return False
    return True


def celery_task_names() -> list[str]:
    """The names of the Celery app's tasks that may be jobs, sorted."""
    return task_jobs.celery_task_names()


def task_kind(key: str) -> str | None:
    """The kind of the host task named ``key`` (a Celery task's name, a Task's import path), or None."""
    if key in _registry:
        return None
    if task_jobs.celery_task(key) is not None:
        return CELERY_TASK
    if task_jobs.django_task(key) is not None:
        return DJANGO_TASK
    return None


def validate_params(key: str, params: Mapping[str, Any], kind: str = FUNCTION) -> None:
    """Check ``params`` against job ``key``'s declared params, then its own check; ``ValidationError`` keyed
    ``params.<name>``. A key not registered in this process has neither."""
    if kind != FUNCTION:
        task = task_jobs.celery_definition(key) if kind == CELERY_TASK else task_jobs.django_definition(key)
        if task is not None and task.validate_params is not None:
            task.validate_params(params)
        return
    definition = _registry.get(key)
    if definition is None:
        return
    if definition.params is not None:
        errors = check(key, definition.params, params)
        if errors:
            raise ValidationError(errors)
    if definition.validate_params is not None:
        definition.validate_params(params)


def freeze_params(key: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
    """Job ``key``'s frozen form of ``params`` (``params`` itself when the job has no freezer)."""
    definition = _registry.get(key)
    if definition is None or definition.freeze_params is None:
        return params
    return definition.freeze_params(params)


def keys() -> list[str]:
    return sorted(_registry)


def definitions() -> list[JobDefinition]:
    return [_registry[key] for key in keys()]


def load_job_modules() -> None:
    """Import the built-in job modules and those named in ``SCHEDULER_JOB_MODULES``."""
    for module in (*BUILTIN_JOB_MODULES, *settings.SCHEDULER_JOB_MODULES):
        importlib.import_module(module)


def task_job(key: str) -> Job | None:
    """The ``Job`` row of the host task ``key``, created on first use from the task's own settings; None
    when ``key`` names no task of the Celery app and no ``django.tasks`` Task."""
    from orchestrator.models import Job

    row = Job.objects.filter(key=key).first()
    if row is not None:
        return row
    kind = task_kind(key)
    if kind is None:
        return None
    definition = resolve(key, kind)
    row, created = Job.objects.get_or_create(
        key=key,
        defaults={
            "kind": kind,
            "description": definition.description,
            "queue": definition.queue,
            "timeout_seconds": definition.timeout_seconds,
            "max_retries": definition.max_retries,
        },
    )
    if created:
        logger.info("created the job row of %s %s (queue %s)", kind, key, row.queue)
    return row


def sync_job_rows(using: str = "default") -> list[str]:
    """Create a ``Job`` row for every registered key that has none; return the keys created."""
    from orchestrator.models import Job

    existing = set(Job.objects.using(using).values_list("key", flat=True))
    created = []
    for definition in definitions():
        if definition.key in existing:
            continue
        Job.objects.using(using).create(
            key=definition.key,
            description=definition.description,
            queue=definition.queue,
            timeout_seconds=definition.timeout_seconds,
            max_retries=definition.max_retries,
            max_concurrency=definition.max_concurrency,
        )
        created.append(definition.key)
    if created:
        logger.info("created job rows for %s", ", ".join(created))
    return created
