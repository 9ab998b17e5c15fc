"""API representations. Schedules are validated by the model (``full_clean``), exactly as the admin does."""

from __future__ import annotations

import copy
import json
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from orchestrator import registry
from orchestrator.models import Directive, Job, LLMCall, Run, RunArtifact, RunStatus, RunTrigger, token_totals
from scheduling.api.fields import STRICT_FIELDS, StrictCharField
from scheduling.inputs import unstorable
from scheduling.models import OccurrenceStatus, Schedule, ScheduledRun, ScheduleKind, ScheduleSource
from scheduling.timing import MAX_INTERVAL_SECONDS

#: The largest ``params`` object accepted, serialised as JSON.
MAX_PARAMS_BYTES = 64 * 1024


def validate_params(value: Any) -> Any:
    """A JSON object of reasonable size that PostgreSQL can store (no NUL, no lone surrogate)."""
    if not isinstance(value, dict):
        raise serializers.ValidationError('must be a JSON object, e.g. {"path": "var/app.log"}')
    problem = unstorable(value)
    if problem:
        raise serializers.ValidationError(problem)
    if len(json.dumps(value)) > MAX_PARAMS_BYTES:
        raise serializers.ValidationError(f"must be at most {MAX_PARAMS_BYTES} bytes as JSON")
    return value


class JobKeyField(serializers.SlugRelatedField):  # type: ignore[type-arg]
    """A job by its key; an unknown key lists the known ones."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(slug_field="key", queryset=Job.objects.all(), **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str) or not data:
            raise serializers.ValidationError("must be the key of a job, e.g. noop")
        problem = unstorable(data)
        if problem:
            raise serializers.ValidationError(f"must be the key of a job, e.g. noop; a key {problem}")
        try:
            return Job.objects.get(key=data)
        except Job.DoesNotExist:
            known = ", ".join(Job.objects.order_by("key").values_list("key", flat=True)) or "(none)"
            raise serializers.ValidationError(f"unknown job {data!r}; jobs: {known}") from None


class DirectiveNameField(serializers.SlugRelatedField):  # type: ignore[type-arg]
    """A directive by its name, or null for none; an empty name is refused as the schema says."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(slug_field="name", queryset=Directive.objects.all(), **kwargs)

    def run_validation(self, data: Any = empty) -> Any:
        if data == "":  # DRF reads "" as null for a related field: the schema promises a name or null
            raise serializers.ValidationError("must be the name of a directive, or null for none")
        return super().run_validation(data)

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str) or not data:
            raise serializers.ValidationError("must be the name of a directive")
        problem = unstorable(data)
        if problem:
            raise serializers.ValidationError(f"must be the name of a directive; a name {problem}")
        try:
            return Directive.objects.select_related("job").get(name=data)
        except Directive.DoesNotExist:
            raise serializers.ValidationError(f"unknown directive {data!r}") from None


class ScheduleSerializer(serializers.ModelSerializer[Schedule]):
    job = JobKeyField(help_text="The key of the job this schedule runs.")
    directive = DirectiveNameField(
        required=False,
        allow_null=True,
        help_text="Optional: the name of a directive; it must belong to `job`.",
    )
    params = serializers.JSONField(
        required=False,
        validators=[validate_params],
        help_text="A JSON object merged over the directive's params.",
    )
    timing = serializers.CharField(source="describe_timing", read_only=True)

    serializer_field_mapping = {**serializers.ModelSerializer.serializer_field_mapping, **STRICT_FIELDS}

    class Meta:
        model = Schedule
        fields = [
            "id",
            "name",
            "description",
            "job",
            "directive",
            "params",
            "kind",
            "cron",
            "interval_seconds",
            "run_at",
            "timezone",
            "enabled",
            "start_at",
            "end_at",
            "overlap_policy",
            "misfire_policy",
            "misfire_grace_seconds",
            "max_concurrency",
            "jitter_seconds",
            "tenant",
            "timing",
            "next_run_at",
            "last_run_at",
            "source",
            "source_path",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "timing",
            "next_run_at",
            "last_run_at",
            "source",
            "source_path",
            "created_at",
            "updated_at",
        ]
        # The rules between fields are the model's (``Schedule.clean``); the schema says them in words.
        extra_kwargs = {
            "max_concurrency": {"min_value": 1},
            # The model checks the name is free (``full_clean``), in the words of the database's refusal.
            "name": {"validators": []},
            "kind": {
                "help_text": "How fire times are defined: `cron` (then `cron` is required), `interval` (then "
                "`interval_seconds` is required) or `once` (then `run_at` is required)."
            },
            "cron": {
                "help_text": "Required when `kind` is `cron`: 5 fields (minute hour day-of-month month day-of-week), "
                "or 6 with seconds first, or a macro such as @daily; evaluated in `timezone`."
            },
            "interval_seconds": {
                "help_text": f"Required when `kind` is `interval`: elapsed seconds between runs, 1 to "
                f"{MAX_INTERVAL_SECONDS} (10 years)."
            },
            "run_at": {"help_text": "Required when `kind` is `once`: when it runs."},
            "start_at": {"help_text": "No runs before this time; must be before `end_at` when both are given."},
            "end_at": {"help_text": "No runs after this time; must be after `start_at` when both are given."},
            "jitter_seconds": {
                "help_text": "Delay each dispatch by a stable per-occurrence offset in [0, jitter), never past the "
                "next occurrence; must be 0 when `kind` is `once`."
            },
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The model's own validation (``full_clean``: field checks, ``Schedule.clean``, a free name, constraints)."""
        candidate = copy.copy(self.instance) if self.instance is not None else Schedule()
        for name, value in attrs.items():
            setattr(candidate, name, value)
        try:
            candidate.full_clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(serializers.as_serializer_error(exc)) from exc
        return attrs


class ScheduleCreateSerializer(ScheduleSerializer):
    """Creating through the API records where the schedule came from."""

    def create(self, validated_data: dict[str, Any]) -> Schedule:
        validated_data["source"] = ScheduleSource.API
        return super().create(validated_data)


class RunScheduleSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    scheduled_for = serializers.DateTimeField(allow_null=True)


class RunSerializer(serializers.ModelSerializer[Run]):
    job = serializers.CharField(source="job.key", read_only=True)
    duration_ms = serializers.IntegerField(read_only=True, allow_null=True)
    schedule = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = [
            "id",
            "job",
            "trigger",
            "status",
            "schedule",
            "attempt",
            "created_at",
            "queued_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "worker",
            "wait_reason",
            "error",
        ]
        read_only_fields = fields

    @extend_schema_field(RunScheduleSerializer(allow_null=True))
    def get_schedule(self, run: Run) -> dict[str, Any] | None:
        """The schedule the run belongs to, as frozen in its snapshot (None for a run of no schedule)."""
        frozen = (run.directive_snapshot or {}).get("schedule")
        if not frozen:
            return None
        return {"id": frozen.get("id"), "name": frozen.get("name"), "scheduled_for": frozen.get("scheduled_for")}


class ArtifactSerializer(serializers.ModelSerializer[RunArtifact]):
    class Meta:
        model = RunArtifact
        fields = ["name", "path", "size_bytes", "sha256", "content_type", "created_at"]
        read_only_fields = fields


class LLMCallSerializer(serializers.ModelSerializer[LLMCall]):
    class Meta:
        model = LLMCall
        fields = ["model", "prompt_tokens", "completion_tokens", "created_at"]
        read_only_fields = fields


class TokenCountSerializer(serializers.Serializer[dict[str, Any]]):
    model = serializers.CharField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class RunDetailSerializer(RunSerializer):
    """One run with its frozen snapshot, outcome, artifacts and token counts (counts only, never text)."""

    artifacts = ArtifactSerializer(many=True, read_only=True)
    llm_calls = LLMCallSerializer(many=True, read_only=True)
    tokens = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = [
            *RunSerializer.Meta.fields,
            "task_id",
            "publish_after",
            "directive_snapshot",
            "result",
            "steps",
            "artifacts",
            "llm_calls",
            "tokens",
        ]
        read_only_fields = fields

    @extend_schema_field(TokenCountSerializer(many=True))
    def get_tokens(self, run: Run) -> list[dict[str, Any]]:
        """Prompt, completion and total tokens by model."""
        return [{"model": model, **counts} for model, counts in sorted(token_totals(run.llm_calls.all()).items())]


class RunCancelSerializer(serializers.Serializer[dict[str, Any]]):
    reason = StrictCharField(
        required=False, max_length=500, default="cancelled through the API", help_text="Recorded on the run."
    )


class OccurrenceRunSerializer(RunSerializer):
    class Meta(RunSerializer.Meta):
        fields = [f for f in RunSerializer.Meta.fields if f != "schedule"]
        read_only_fields = fields


class OccurrenceSerializer(serializers.ModelSerializer[ScheduledRun]):
    """One occurrence of a schedule (or one run-now request: ``scheduled_for`` is then null) and its run."""

    run = OccurrenceRunSerializer(read_only=True, allow_null=True)

    class Meta:
        model = ScheduledRun
        fields = [
            "id",
            "scheduled_for",
            "status",
            "reason",
            "trigger",
            "dispatched_at",
            "created_at",
            "missed_count",
            "missed_until",
            "run",
        ]
        read_only_fields = fields


class JobSerializer(serializers.ModelSerializer[Job]):
    registered = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = ["key", "description", "queue", "max_concurrency", "timeout_seconds", "max_retries", "registered"]
        read_only_fields = fields

    def get_registered(self, job: Job) -> bool:
        """Whether this process knows code for the job (a row without code cannot run)."""
        known: list[str] = registry.keys()
        return job.key in known


class ErrorSerializer(serializers.Serializer[dict[str, Any]]):
    """An error that is not about one field: 401, 403, 404, 405, 409."""

    detail = serializers.CharField()


# --- query parameters ------------------------------------------------------------------------------


class StrictBooleanField(serializers.BooleanField):
    """A query flag spelled ``true`` or ``false`` (as the schema says), not 1, yes or on."""

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, bool):
            return data
        if isinstance(data, str) and data.lower() in ("true", "false"):
            return data.lower() == "true"
        self.fail("invalid", input=data)
        raise AssertionError("unreachable")  # fail() raises


class ScheduleFilterSerializer(serializers.Serializer[dict[str, Any]]):
    enabled = StrictBooleanField(required=False, help_text="true or false.")
    job = serializers.CharField(required=False, max_length=100, help_text="A job key.")
    tenant = serializers.CharField(required=False, max_length=100)
    kind = serializers.ChoiceField(choices=ScheduleKind.choices, required=False)
    source = serializers.ChoiceField(choices=ScheduleSource.choices, required=False)  # type: ignore[assignment]
    name = serializers.CharField(required=False, max_length=200, help_text="Part of the name (case-insensitive).")


class HistoryFilterSerializer(serializers.Serializer[dict[str, Any]]):
    status = serializers.ChoiceField(choices=OccurrenceStatus.choices, required=False, help_text="Occurrence status.")
    run_status = serializers.ChoiceField(choices=RunStatus.choices, required=False, help_text="Status of the run.")
    since = serializers.DateTimeField(
        required=False,
        help_text="Occurrences at or after this time (scheduled time, or request time for run-now); "
        "must be before `until` when both are given.",
    )
    until = serializers.DateTimeField(
        required=False, help_text="Occurrences before this time; must be after `since` when both are given."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("since") and attrs.get("until") and attrs["until"] <= attrs["since"]:
            raise serializers.ValidationError({"until": ["must be after since"]})
        return attrs


class RunFilterSerializer(serializers.Serializer[dict[str, Any]]):
    status = serializers.ChoiceField(choices=RunStatus.choices, required=False)
    job = serializers.CharField(required=False, max_length=100, help_text="A job key.")
    schedule = serializers.IntegerField(required=False, min_value=1, help_text="A schedule id.")
    trigger = serializers.ChoiceField(choices=RunTrigger.choices, required=False)
    created_after = serializers.DateTimeField(
        required=False,
        help_text="Runs created at or after this time; must be before `created_before` when both are given.",
    )
    created_before = serializers.DateTimeField(
        required=False,
        help_text="Runs created before this time; must be after `created_after` when both are given.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        after, before = attrs.get("created_after"), attrs.get("created_before")
        if after and before and before <= after:
            raise serializers.ValidationError({"created_before": ["must be after created_after"]})
        return attrs
