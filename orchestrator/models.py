"""How a run executes: jobs, directives, runs, their artifacts and token counts.

The orchestrator knows nothing of schedules: a run's schedule, if any, is data in its frozen
``directive_snapshot`` and the ``scheduling.ScheduledRun`` row that points at it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from orchestrator import constraints, ids
from orchestrator.constraints import unique_error
from orchestrator.notification_models import Channel as Channel  # defined apart, models of this app
from orchestrator.notification_models import DeliveryStatus as DeliveryStatus
from orchestrator.notification_models import Notification as Notification
from orchestrator.notification_models import NotificationEvent as NotificationEvent
from orchestrator.notification_models import NotificationRule as NotificationRule

QUEUE_NAME = RegexValidator(
    r"^[A-Za-z0-9_.:-]{1,100}$",
    "A queue name is 1-100 letters, digits, '_', '.', ':' or '-'.",
)


class JobKind(models.TextChoices):
    """What a job's code is: an ``@job`` function, a task of the Celery app, or a ``django.tasks`` Task."""

    FUNCTION = "function", "@job function"
    CELERY_TASK = "celery_task", "Celery task"
    DJANGO_TASK = "django_task", "django.tasks Task"


class Job(constraints.LockedOnEdit, models.Model):
    """Operational settings of a job; its code is found by ``kind`` and ``key`` (``orchestrator.registry``)."""

    key = models.CharField(
        max_length=200,
        unique=True,
        help_text="The @job key (log_triage), the Celery task's name (billing.tasks.send_invoices) "
        "or the django.tasks Task's import path.",
    )
    kind = models.CharField(max_length=20, choices=JobKind.choices, default=JobKind.FUNCTION)
    description = models.TextField(blank=True)
    queue = models.CharField(
        max_length=100,
        default="default",
        validators=[QUEUE_NAME],
        help_text="Celery queue its runs go to; start workers with -Q <queue>.",
    )
    max_concurrency = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Runs of this job at once across all workers; empty for no limit.",
    )
    timeout_seconds = models.PositiveIntegerField(
        default=3600,
        help_text="A run is stopped and marked timed_out after this many seconds.",
    )
    max_retries = models.PositiveSmallIntegerField(
        default=0,
        help_text="Failed runs are retried this many times, with exponential backoff.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(condition=Q(timeout_seconds__gt=0), name="job_timeout_positive"),
            models.CheckConstraint(
                condition=Q(max_concurrency__isnull=True) | Q(max_concurrency__gt=0),
                name="job_max_concurrency_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.key

    def unique_error_message(
        self, model_class: type[models.Model], unique_check: Sequence[str]
    ) -> DjangoValidationError:
        return unique_error(model_class, unique_check)  # the words of the database's own refusal


class Directive(constraints.LockedOnEdit, models.Model):
    """A named configuration of a job: the params a run starts from (frozen into the run)."""

    name = models.CharField(max_length=200, unique=True)
    job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="directives")
    params = models.JSONField(default=dict, blank=True, help_text="A JSON object passed to the job.")
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def unique_error_message(
        self, model_class: type[models.Model], unique_check: Sequence[str]
    ) -> DjangoValidationError:
        return unique_error(model_class, unique_check)  # the words of the database's own refusal


class RunStatus(models.TextChoices):
    PENDING = "pending", "pending"  # committed, not yet published
    QUEUED = "queued", "queued"  # published (or waiting for a limit slot)
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"
    TIMED_OUT = "timed_out", "timed out"
    CANCELLED = "cancelled", "cancelled"


ACTIVE_STATUSES: tuple[str, ...] = (RunStatus.PENDING, RunStatus.QUEUED, RunStatus.RUNNING)
FINAL_STATUSES: tuple[str, ...] = (
    RunStatus.SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.TIMED_OUT,
    RunStatus.CANCELLED,
)


class RunTrigger(models.TextChoices):
    SCHEDULE = "schedule", "schedule"
    MANUAL = "manual", "manual"
    API = "api", "api"
    #: Created by a backfill of a schedule's past fire times (``scheduling.Backfill``).
    BACKFILL = "backfill", "backfill"


class RunQuerySet(models.QuerySet["Run"]):
    def active(self) -> RunQuerySet:
        """Pending, queued or running: each status by itself, so each reads its own partial index.

        ``status IN (...)`` matches none of the partial indexes (``run_publish_after_idx`` and the
        others are each for one status), so it read the whole table: 0.35 s at a million runs.
        """
        either = Q(status=ACTIVE_STATUSES[0])
        for status in ACTIVE_STATUSES[1:]:
            either |= Q(status=status)
        return self.filter(either)

    def unclaim(self, run_id: uuid.UUID | str, *, attempt: int, reason: str, publish_after: datetime) -> bool:
        """Undo the claim of ``attempt`` (it found no free limit slot): back to ``pending``, waiting.

        The run waits in the database, not in a worker: a slot's release wakes it (it is published
        again), and ``publish_after`` is the safety net if that wake-up is lost.
        """
        return (
            self.filter(id=run_id, status=RunStatus.RUNNING, attempt=attempt + 1).update(
                status=RunStatus.PENDING,
                attempt=attempt,
                started_at=None,
                worker="",
                wait_reason=reason[:255],
                publish_after=publish_after,
            )
            == 1
        )

    def publishable(self, *, now: datetime, limit: int) -> RunQuerySet:
        """``pending`` runs whose ``publish_after`` has passed: the beat's recovery publishes them.

        They are runs whose publisher died between commit and publish (or found the broker down),
        retries whose backoff has elapsed, and runs waiting for a limit slot whose wake-up was lost.
        """
        return self.filter(status=RunStatus.PENDING, publish_after__lte=now).order_by("publish_after")[:limit]


class Run(models.Model):
    """One execution of a job, with everything needed to understand it afterwards."""

    #: Time-ordered (version 7): new runs land on the primary key's newest leaves (``orchestrator.ids``).
    id = models.UUIDField(primary_key=True, default=ids.uuid7_now, editable=False)
    # db_index off: run_job_created_idx (job, -created_at) serves the foreign key too
    job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="runs", db_index=False)
    directive_snapshot = models.JSONField(
        default=dict, help_text="The job, directive and params as they were when the run was created."
    )
    trigger = models.CharField(max_length=20, choices=RunTrigger.choices)
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.PENDING)
    created_at = models.DateTimeField()
    #: While ``pending``: when the beat may publish it (if nobody has sooner). Set at creation
    #: (a grace period), for a retry (its backoff) and for a run waiting for a limit slot.
    publish_after = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=255, blank=True)
    task_id = models.CharField(max_length=255, blank=True)
    #: Executions started so far (0 before the first); a message carries the value it expects.
    attempt = models.PositiveIntegerField(default=0)
    #: Why a pending or queued run is not running yet (a limit, a retry backoff), empty otherwise.
    wait_reason = models.CharField(max_length=255, blank=True)
    result = models.JSONField(null=True, blank=True, help_text="The job's small summary of what it did.")
    steps = models.JSONField(default=list, blank=True, help_text="Per-step results of a DAG run.")
    #: The W3C ``traceparent`` of the span that created the run (``orchestrator.tracing``), empty when
    #: tracing was off: a republish continues that trace, a retry links to it.
    traceparent = models.CharField(max_length=55, blank=True, default="", db_default="")

    objects: ClassVar[RunQuerySet] = RunQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["-created_at"]
        # Every status change rewrites each index entry of the row (status is indexed): keep few,
        # and partial where a status selects the rows (recovery, lost messages, the reaper).
        indexes = [
            models.Index(fields=["publish_after"], name="run_publish_after_idx", condition=Q(status=RunStatus.PENDING)),
            models.Index(fields=["queued_at"], name="run_queued_at_idx", condition=Q(status=RunStatus.QUEUED)),
            models.Index(fields=["started_at"], name="run_running_idx", condition=Q(status=RunStatus.RUNNING)),
            models.Index(fields=["job", "-created_at"], name="run_job_created_idx"),
            models.Index(fields=["-created_at"], name="run_created_idx"),
        ]

    def __str__(self) -> str:
        """``log_triage run <uuid>``: the job (as frozen, no query) and the run's id, never a row number."""
        job = (self.directive_snapshot or {}).get("job") if isinstance(self.directive_snapshot, dict) else None
        key = job.get("key") if isinstance(job, dict) else None
        return f"{key or 'job ' + str(self.job_id)} run {self.id}"

    @property
    def duration_ms(self) -> int | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return int((self.finished_at - self.started_at).total_seconds() * 1000)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class RunArtifact(models.Model):
    """A file a run wrote under ``ARTIFACTS_DIR/<run id>/``."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="artifacts")
    name = models.CharField(max_length=255)
    path = models.CharField(max_length=512, help_text="Relative to ARTIFACTS_DIR.")
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=100, default="application/octet-stream")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "name"]
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="artifact_unique_name_per_run")]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.name}"


class LLMCallQuerySet(models.QuerySet["LLMCall"]):
    def totals(self) -> dict[str, int]:
        """Calls, prompt, completion and total tokens of the calls in the queryset (one query)."""
        row = self.aggregate(
            calls=models.Count("id"),
            prompt_tokens=models.Sum("prompt_tokens"),
            completion_tokens=models.Sum("completion_tokens"),
        )
        prompt, completion = row["prompt_tokens"] or 0, row["completion_tokens"] or 0
        return {
            "calls": row["calls"],
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }


class LLMCall(models.Model):
    """Token counts of one language-model call. Deliberately no field for prompt or response text."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="llm_calls")
    model = models.CharField(max_length=200)
    prompt_tokens = models.PositiveIntegerField()
    completion_tokens = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects: ClassVar[LLMCallQuerySet] = LLMCallQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["run", "created_at"]

    def __str__(self) -> str:
        return f"{self.model}: {self.prompt_tokens}+{self.completion_tokens}"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def describe_totals(totals: dict[str, int]) -> str:
    """``3 call(s): 1200 prompt + 300 completion = 1500 tokens``, as the admin pages show it."""
    return (
        f"{totals['calls']} call(s): {totals['prompt_tokens']} prompt + {totals['completion_tokens']} completion"
        f" = {totals['total_tokens']} tokens"
    )


def token_totals(calls: Iterable[LLMCall]) -> dict[str, dict[str, int]]:
    """Prompt, completion and total tokens by model."""
    totals: dict[str, dict[str, int]] = {}
    for call in calls:
        row = totals.setdefault(call.model, {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0})
        row["prompt_tokens"] += call.prompt_tokens
        row["completion_tokens"] += call.completion_tokens
        row["total_tokens"] += call.total_tokens
    return totals


class AuditEntry(models.Model):
    """One change to an audited row (``orchestrator.audit``): who, through which door, when, what changed.

    ``changes`` is ``{field: {"before": ..., "after": ...}}`` with JSON-safe values, the changed
    fields only (every field on creation and deletion), never a secret's value. The row is named by
    its model's label and key, not a foreign key: the entry outlives the row it describes.
    """

    model = models.CharField(max_length=100, help_text="The changed row's model, e.g. scheduling.schedule.")
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200, help_text="The row's name when the entry was written.")
    actor = models.CharField(
        max_length=200, help_text="A username, yaml:<file>, import_celery_beat, beat_schedule, cli, beat or system."
    )
    door = models.CharField(max_length=30, help_text="admin, web, api, yaml, import, cli, beat or other.")
    action = models.CharField(max_length=30, help_text="created, changed, deleted, paused, resumed, ...")
    changes = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(db_index=False)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["model", "object_id", "-at"], name="audit_object_at_idx")]

    def __str__(self) -> str:
        return f"{self.object_repr} {self.action} by {self.actor}"

    def as_dict(self) -> dict[str, object]:
        """The entry as the API and the schedule page show it."""
        return {
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "actor": self.actor,
            "door": self.door,
            "action": self.action,
            "changes": self.changes,
        }
