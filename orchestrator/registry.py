"""The job registry: a job is a Python callable registered under a key.

    @job("log_triage", queue="default", timeout_seconds=300)
    def log_triage(ctx: RunContext) -> dict: ...

The decorator's settings are defaults for the ``Job`` row created for every registered key; once
the row exists, operators own it (admin, API) and the code never overwrites it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

from orchestrator.errors import UnknownJobError, ValidationError
from orchestrator.params import Param, check

if TYPE_CHECKING:
    from orchestrator.context import RunContext

logger = logging.getLogger(__name__)

JobFunc = Callable[["RunContext"], Mapping[str, Any] | None]
#: Checks a job's params when a schedule is saved (every door); raises ``ValidationError`` keyed by field.
ParamsValidator = Callable[[Mapping[str, Any]], None]
#: Turns params into what a run freezes (e.g. a referenced file's parsed content), when the run is built.
ParamsFreezer = Callable[[Mapping[str, Any]], Mapping[str, Any]]

BUILTIN_JOB_MODULES = (
    "orchestrator.jobs.builtin",
    "orchestrator.jobs.log_triage",
    "orchestrator.jobs.report",
    "orchestrator.jobs.dag",
)


@dataclass(frozen=True, kw_only=True)
class JobDefinition:
    key: str
    func: JobFunc
    description: str
    queue: str
    timeout_seconds: int
    max_retries: int
    max_concurrency: int | None
    validate_params: ParamsValidator | None = None
    freeze_params: ParamsFreezer | None = None
    #: The params the job takes (None: any JSON object; the job's own check may still refuse some).
    params: tuple[Param, ...] | None = None


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


def validate_params(key: str, params: Mapping[str, Any]) -> None:
    """Check ``params`` against job ``key``'s declared params, then its own check; ``ValidationError`` keyed
    ``params.<name>``. A key not registered in this process has neither."""
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
