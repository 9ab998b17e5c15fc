"""API representations. Schedules are validated by the model (``full_clean``), exactly as the admin does."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orchestrator import registry, rerun
from orchestrator.errors import ValidationError
from orchestrator.models import Job, LLMCall, Run, RunArtifact, token_totals
from scheduling.core.policies import MisfirePolicy, OverlapPolicy
from scheduling.core.timing import MAX_INTERVAL_SECONDS, Kind
from scheduling.models import PAUSE_FIELDS, Schedule, ScheduledRun, ScheduleSource
from scheduling.surfaces import calendar_input, control_state, pausing, schedule_input
from scheduling.surfaces.api.fields import StrictCharField
from scheduling.surfaces.api.inputs import (
    BooleanInput,
    ChoiceInput,
    DateTimeInput,
    DirectiveInput,
    IntegerInput,
    JobInput,
    NamesInput,
    ObjectInput,
    TextInput,
)


class ScheduleSerializer(serializers.ModelSerializer[Schedule]):
    """A schedule. Input is cleaned by ``schedule_input`` and validated by the model, as at every door."""

    name = TextInput(help_text="The schedule's unique name.")
    description = TextInput()
    job = JobInput(help_text="The key of the job this schedule runs.")
    directive = DirectiveInput(help_text="Optional: the name of a directive; it must belong to `job`.")
    params = ObjectInput(help_text="A JSON object merged over the directive's params.")
    tenant = TextInput()
    enabled = BooleanInput()
    kind = ChoiceInput(
        choices=Kind.choices(),
        help_text="How fire times are defined: `cron` (then `cron` is required), `interval` (then "
        "`interval_seconds` is required) or `once` (then `run_at` is required). Left out: the kind whose field "
        "is given.",
    )
    cron = TextInput(
        help_text="Required when `kind` is `cron`: 5 fields (minute hour day-of-month month day-of-week), "
        "or 6 with seconds first, or a macro such as @daily; evaluated in `timezone`."
    )
    interval_seconds = IntegerInput(
        help_text=f"Required when `kind` is `interval`: elapsed seconds between runs, 1 to {MAX_INTERVAL_SECONDS} "
        "(10 years)."
    )
    run_at = DateTimeInput(
        help_text="Required when `kind` is `once`: when it runs, in the future; without an offset: in `timezone`."
    )
    timezone = TextInput(help_text="IANA time zone name, e.g. Europe/Berlin.")
    start_at = DateTimeInput(help_text="No runs before this; must be before `end_at` when both are given.")
    end_at = DateTimeInput(help_text="No runs after this; must be after `start_at` when both are given.")
    jitter_seconds = IntegerInput(
        help_text="Delay each dispatch by a stable per-occurrence offset in [0, min(jitter, gap)); "
        "must be 0 when `kind` is `once`."
    )
    overlap_policy = ChoiceInput(choices=OverlapPolicy.choices())
    misfire_policy = ChoiceInput(choices=MisfirePolicy.choices())
    misfire_grace_seconds = IntegerInput(help_text="At least 1.")
    max_concurrency = IntegerInput(help_text="At least 1; null for no limit.")
    pause_after_failures = IntegerInput(
        help_text="Pause by itself after this many consecutive failed or timed-out scheduled runs (manual runs "
        "do not count; a success resets the count); at least 1; null: never."
    )
    remaining_runs = IntegerInput(
        help_text="Occurrences still to dispatch; each one the beat dispatches takes one, at 0 there are no more "
        "(manual and backfill runs take none); 0 or more; null: unlimited."
    )
    deadline_seconds = IntegerInput(
        help_text="A run not finished this many seconds after its scheduled time is overdue; at least 1; "
        "null: no deadline."
    )
    calendars = NamesInput(
        help_text="Exclusion calendars by name (`/api/calendars/`): a fire time one of them excludes is recorded "
        "skipped. Replaces the list; [] for none."
    )
    timing = serializers.CharField(source="describe_timing", read_only=True)
    state = serializers.SerializerMethodField(
        help_text="`enabled`, `paused` (disabled with a note: see `pause_note`, `paused_by`, `paused_at`, "
        "`resume_at`) or `disabled`."
    )

    class Meta:
        model = Schedule
        fields = [
            "id",
            *schedule_input.FIELDS,
            "timing",
            "state",
            *PAUSE_FIELDS,
            "failure_streak",
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
            *PAUSE_FIELDS,
            "failure_streak",
            "next_run_at",
            "last_run_at",
            "source",
            "source_path",
            "created_at",
            "updated_at",
        ]

    def get_state(self, schedule: Schedule) -> control_state.State:
        return control_state.state(schedule)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The one validation path (``schedule_input.validate``), as at every door."""
        instance = self.instance if isinstance(self.instance, Schedule) else None
        try:
            self._validated = schedule_input.validate(attrs, instance=instance, now=timezone.now())
        except ValidationError as exc:
            raise serializers.ValidationError(exc.errors) from exc
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Schedule:
        calendar_input.save(self._validated)
        return self._validated

    def update(self, instance: Schedule, validated_data: dict[str, Any]) -> Schedule:
        request = self.context.get("request")
        pausing.resume_before_enabling(self._validated, by=pausing.actor(getattr(request, "user", None)))
        calendar_input.save(self._validated)
        return self._validated


class ScheduleCreateSerializer(ScheduleSerializer):
    """Creating through the API records where the schedule came from."""

    def create(self, validated_data: dict[str, Any]) -> Schedule:
        self._validated.source = ScheduleSource.API
        return super().create(validated_data)


class RunScheduleSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    scheduled_for = serializers.DateTimeField(allow_null=True)


class RunSerializer(serializers.ModelSerializer[Run]):
    job = serializers.CharField(source="job.key", read_only=True)
    duration_ms = serializers.IntegerField(read_only=True, allow_null=True)
    schedule = serializers.SerializerMethodField()
    attempt = serializers.IntegerField(
        read_only=True,
        help_text="The attempt running or last made: the first is 1 (as on the run page, in `inspect runs` "
        "and in the events); 0 before the first starts.",
    )

    rerun_of = serializers.SerializerMethodField(help_text="The run this one was started again from (Run again).")

    class Meta:
        model = Run
        fields = [
            "id",
            "job",
            "trigger",
            "status",
            "schedule",
            "rerun_of",
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

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_rerun_of(self, run: Run) -> str | None:
        return rerun.rerun_of(run)

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
    overdue = serializers.BooleanField(source="is_overdue", read_only=True, help_text="Unfinished at its deadline.")

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
            "overdue",
            "overdue_at",
            "run",
        ]
        read_only_fields = fields


class HistoryPageSerializer(serializers.Serializer[Any]):
    """A page of a schedule's history: numbered pages carry ``count`` and ``previous``, cursor pages do not."""

    count = serializers.IntegerField(
        required=False,
        help_text="With `page`: exact below 100,000 rows, PostgreSQL's estimate above. Absent with `cursor`.",
    )
    next = serializers.URLField(allow_null=True, help_text="The next page, or null on the last.")
    previous = serializers.URLField(allow_null=True, required=False, help_text="With `page`: the page before.")
    results = OccurrenceSerializer(many=True)


class JobSerializer(serializers.ModelSerializer[Job]):
    # Text, not an enum in the schema: a second "kind" enum beside the schedule's would collide (W001).
    kind = serializers.CharField(read_only=True, help_text="function, celery_task or django_task.")
    registered = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "key",
            "kind",
            "description",
            "queue",
            "max_concurrency",
            "timeout_seconds",
            "max_retries",
            "registered",
        ]
        read_only_fields = fields

    def get_registered(self, job: Job) -> bool:
        """Whether this process knows code for the job (a row without code cannot run)."""
        return registry.has_code(job.key, job.kind)


class ErrorSerializer(serializers.Serializer[dict[str, Any]]):
    """An error that is not about one field: 401, 403, 404, 405, 409."""

    detail = serializers.CharField()
