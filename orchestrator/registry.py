"""The job registry: a job is a Python callable registered under a key.

    @job("log_triage", queue="default", timeout_seconds=300)
    def log_triage(ctx: RunContext) -> dict: ...

The decorator's settings are defaults for the ``Job`` row created for every registered key; once
the row exists, operators own it (admin, API) and the code never overwrites it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

from orchestrator.errors import UnknownJobError

if TYPE_CHECKING:
    from orchestrator.context import RunContext

logger = logging.getLogger(__name__)

JobFunc = Callable[["RunContext"], Mapping[str, Any] | None]

BUILTIN_JOB_MODULES = ("orchestrator.jobs.builtin", "orchestrator.jobs.log_triage")


@dataclass(frozen=True, kw_only=True)
class JobDefinition:
    key: str
    func: JobFunc
    description: str
    queue: str
    timeout_seconds: int
    max_retries: int
    max_concurrency: int | None


_registry: dict[str, JobDefinition] = {}


def job(
    key: str,
    *,
    queue: str = "default",
    timeout_seconds: int = 3600,
    max_retries: int = 0,
    max_concurrency: int | None = None,
    description: str | None = None,
) -> Callable[[JobFunc], JobFunc]:
    """Register ``func`` as the job ``key``; registering a second function under one key is an error."""

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
        )
        return func

    return register


def get(key: str) -> JobDefinition:
    try:
        return _registry[key]
    except KeyError:
        raise UnknownJobError(key, list(_registry)) from None


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
