"""The project's one exception hierarchy.

Errors carry structured fields; driver errors are wrapped with ``raise ... from exc``.
``ValidationError`` is also a Django ``ValidationError`` so admin forms, the API and model
``full_clean`` all show its per-field messages without translation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.core.exceptions import SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError


class SchedulerError(Exception):
    """Root of every error this project raises on purpose."""


class ValidationError(SchedulerError, DjangoValidationError):
    """Bad input, keyed by field: ``errors = {"cron": ["... what is wrong, what is allowed"]}``."""

    def __init__(self, errors: Mapping[str, str | Sequence[str]]) -> None:
        self.errors: dict[str, list[str]] = {
            field: [messages] if isinstance(messages, str) else list(messages) for field, messages in errors.items()
        }
        DjangoValidationError.__init__(self, {field: list(msgs) for field, msgs in self.errors.items()})

    def __str__(self) -> str:
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in self.errors.items())


class UnknownJobError(SchedulerError):
    def __init__(self, key: str, known: Sequence[str]) -> None:
        self.key = key
        self.known = list(known)
        super().__init__(f"unknown job {key!r}; registered jobs: {', '.join(sorted(known)) or '(none)'}")


class ArtifactNameError(ValidationError):
    """An artifact name that is empty, too long, or would leave the run's artifact folder."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem
        super().__init__({"name": f"artifact name {name!r} {problem}"})


class PublishError(SchedulerError):
    """The broker refused or lost a batch of run messages; the runs stay pending for recovery."""

    def __init__(self, run_ids: Sequence[str], cause: str) -> None:
        self.run_ids = list(run_ids)
        super().__init__(f"could not publish {len(self.run_ids)} run(s): {cause}")


class RunStateError(SchedulerError):
    """A status change lost its compare-and-set: the run was not in the expected state."""

    def __init__(self, run_id: str, expected: Sequence[str], action: str) -> None:
        self.run_id = run_id
        self.expected = list(expected)
        super().__init__(f"cannot {action} run {run_id}: it is no longer {' or '.join(expected)}")


class BackfillStateError(SchedulerError):
    """A backfill was asked to change (cancel) when it no longer runs: it finished or was cancelled."""

    def __init__(self, backfill_id: object, status: str, action: str) -> None:
        self.backfill_id = backfill_id
        self.status = status
        super().__init__(f"cannot {action} backfill {backfill_id}: it is {status}, not running")


class ConstraintError(ValidationError):
    """The database refused a write for one of its constraints; ``errors`` names the field.

    Raised by ``orchestrator.constraints.enforced`` (a unique name taken by a concurrent request, a
    referenced row deleted meanwhile); every door shows it as it shows a validation error.
    """

    def __init__(self, constraint: str, errors: Mapping[str, str | Sequence[str]]) -> None:
        self.constraint = constraint
        super().__init__(errors)


class TaskRetry(SchedulerError):
    """A host task asked to be retried (``self.retry()``, ``autoretry_for``): the run's next attempt follows.

    ``delay_seconds``: the countdown the task asked for (None: the scheduler's backoff). The task's
    own ``max_retries`` already allowed it (past it, Celery raises the task's error instead).
    """

    def __init__(self, task: str, *, delay_seconds: float | None, reason: str) -> None:
        self.task = task
        self.delay_seconds = delay_seconds
        self.reason = reason
        super().__init__(f"{task} asked to be retried" + (f": {reason}" if reason else ""))


class RowDeletedError(SchedulerError):
    """A row an edit was saving was deleted meanwhile (by another request); nothing was saved.

    The doors answer it as "not found" (404), as they would had the delete come first.
    """

    def __init__(self, model: str, pk: object) -> None:
        self.model = model
        self.pk = pk
        super().__init__(f"{model} {pk} was deleted meanwhile (by another request); nothing was saved")


class QueryParameterError(ValidationError, SuspiciousOperation):
    """A query-string parameter that cannot be used (``?schedule=²``); ``errors`` names it.

    Also a ``SuspiciousOperation``, so Django answers 400 (not 500) wherever it is raised, with or
    without ``scheduling.surfaces.middleware.BadInputMiddleware``, which adds the message to the answer.
    """
