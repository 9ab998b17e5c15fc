"""What runs when: schedules, their timing, their controls (pause, limited runs, calendars, deadlines).

``Schedule.next_run_at`` is the nominal time of its earliest occurrence not yet handled;
``due_at`` is when the beat should handle it (``next_run_at`` plus the occurrence's jitter) and is
what the beat polls, through a partial index on enabled rows. Both are kept current by
``Schedule.save`` (and the queryset methods below) in the same transaction as the edit, so a
running beat sees a change on its next tick without reloading anything.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, router, transaction
from django.db.models import Q
from django.utils import timezone

from orchestrator import constraints, registry
from orchestrator.constraints import unique_error
from orchestrator.errors import ValidationError
from orchestrator.models import Directive, Job
from scheduling.core import timing
from scheduling.core.jitter import due_time
from scheduling.core.policies import MisfirePolicy, OverlapPolicy
from scheduling.core.timing import Kind
from scheduling.models.schedule_fields import (
    BEAT_FIELDS,
    CONSTRAINTS,
    OPTIONAL_NUMBERS,
    PAUSE_FIELDS,
    RANGES,
    TIMING_FIELDS,
    ScheduleSource,
)


class ScheduleQuerySet(models.QuerySet["Schedule"]):
    def delete(self) -> tuple[int, dict[str, int]]:
        """Lock the rows first (``Schedule.delete`` says why), then delete them with their occurrences."""
        with transaction.atomic(using=self.db):
            list(self.select_for_update().values_list("pk", flat=True))
            return super().delete()

    def due(self, now: datetime) -> ScheduleQuerySet:
        return self.filter(enabled=True, due_at__lte=now)

    def set_enabled(self, enabled: bool, *, now: datetime | None = None) -> int:
        """Enable or disable every schedule in the queryset, keeping ``next_run_at`` consistent."""
        now = now or timezone.now()
        changed = 0
        with transaction.atomic():
            for schedule in self.select_for_update().exclude(enabled=enabled):
                schedule.enabled = enabled
                schedule.save(now=now, update_fields=["enabled", "next_run_at", "due_at", "updated_at", *PAUSE_FIELDS])
                changed += 1
        return changed

    def update_timing(self, *, now: datetime | None = None, **fields: Any) -> int:
        """``update()`` for timing fields: validates and recomputes each row's next run."""
        unknown = set(fields) - set(TIMING_FIELDS)
        if unknown:
            raise ValueError(f"update_timing() takes only timing fields, not {', '.join(sorted(unknown))}")
        now = now or timezone.now()
        count = 0
        with transaction.atomic():
            for schedule in self.select_for_update():
                for name, value in fields.items():
                    setattr(schedule, name, value)
                schedule.save(now=now)
                count += 1
        return count


class Schedule(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="schedules")
    directive = models.ForeignKey(
        Directive,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="schedules",
        help_text="Optional: the directive whose params the runs start from.",
    )
    params = models.JSONField(default=dict, blank=True, help_text="A JSON object merged over the directive's params.")
    kind = models.CharField(max_length=20, choices=Kind.choices(), default=Kind.CRON)
    cron = models.CharField(
        max_length=200,
        blank=True,
        help_text="5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first; "
        "evaluated in the schedule's time zone.",
    )
    interval_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="For interval schedules: elapsed seconds between runs."
    )
    run_at = models.DateTimeField(null=True, blank=True, help_text="For one-off schedules.")
    timezone = models.CharField(
        max_length=64, default="UTC", help_text="IANA time zone name for cron, e.g. Europe/Berlin."
    )
    enabled = models.BooleanField(default=True)
    start_at = models.DateTimeField(null=True, blank=True, help_text="No runs before this time.")
    end_at = models.DateTimeField(null=True, blank=True, help_text="No runs after this time.")
    next_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    due_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_run_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Nominal time of the last occurrence dispatched."
    )
    overlap_policy = models.CharField(
        max_length=20,
        choices=OverlapPolicy.choices(),
        default=OverlapPolicy.SKIP,
        help_text="What happens when an occurrence is due while a run of this schedule is still active.",
    )
    misfire_policy = models.CharField(
        max_length=20,
        choices=MisfirePolicy.choices(),
        default=MisfirePolicy.RUN_ONCE,
        help_text="What happens to occurrences that fell due while no beat ran (or while disabled).",
    )
    misfire_grace_seconds = models.PositiveIntegerField(
        default=3600, help_text="Occurrences later than this are recorded missed under every policy."
    )
    max_concurrency = models.PositiveIntegerField(
        null=True, blank=True, help_text="Runs of this schedule at once across all workers; empty for no limit."
    )
    jitter_seconds = models.PositiveIntegerField(
        default=0,
        help_text="Delay each dispatch by a stable per-occurrence offset in [0, min(jitter, gap)), where gap is the "
        "time to the next fire time: never past the next.",
    )
    tenant = models.CharField(max_length=100, blank=True, db_index=True)
    source = models.CharField(max_length=20, choices=ScheduleSource.choices, default=ScheduleSource.ADMIN)
    source_path = models.CharField(
        max_length=500,
        blank=True,
        help_text="Where a sync or an import read it from: the YAML file, beat_schedule or django_celery_beat.",
    )
    pause_note = models.TextField(blank=True, help_text="Why it is paused: shown wherever the schedule is.")
    paused_by = models.CharField(
        max_length=150, blank=True, help_text="Who paused it: a username, 'cli', 'yaml:<file>' or 'system'."
    )
    paused_at = models.DateTimeField(null=True, blank=True)
    resume_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A paused schedule resumes by itself at this time (once, by one beat); then it is cleared. "
        "Occurrences that fell due while paused follow the misfire policy.",
    )
    pause_after_failures = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Pause by itself after this many consecutive failed or timed-out scheduled runs; empty for never.",
    )
    #: Consecutive failed or timed-out scheduled runs (manual runs do not count); a success resets it.
    failure_streak = models.PositiveIntegerField(default=0, editable=False)
    remaining_runs = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Occurrences still to dispatch; each dispatched one takes one, at 0 no more. "
        "Manual runs do not count. Empty for unlimited.",
    )
    calendars = models.ManyToManyField(
        "scheduling.Calendar",
        blank=True,
        related_name="schedules",
        help_text="Exclusion calendars: a fire time one of them excludes is recorded skipped and never runs.",
    )
    deadline_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="A run not finished this many seconds after its scheduled time is overdue (shown, counted, "
        "an event); empty for no deadline.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects: ClassVar[ScheduleQuerySet] = ScheduleQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["due_at"], name="schedule_due_idx", condition=Q(enabled=True)),
            models.Index(fields=["resume_at"], name="schedule_resume_idx", condition=Q(resume_at__isnull=False)),
            # The few schedules with a deadline: each maintenance pass starts its overdue check here.
            models.Index(fields=["id"], name="schedule_deadline_idx", condition=Q(deadline_seconds__isnull=False)),
        ]
        constraints = CONSTRAINTS

    def __str__(self) -> str:
        return self.name

    def unique_error_message(
        self, model_class: type[models.Model], unique_check: Sequence[str]
    ) -> DjangoValidationError:
        return unique_error(model_class, unique_check)  # the words of the database's own refusal

    @classmethod
    def from_db(cls, db: str | None, field_names: Collection[str], values: Collection[Any]) -> Schedule:
        instance = super().from_db(db, field_names, values)
        instance._loaded = instance._snapshot()
        return instance

    def _snapshot(self) -> tuple[Any, ...]:
        """The timing fields, ``remaining_runs`` and ``enabled`` as loaded: what an edit compares against."""
        fields = (*TIMING_FIELDS, "remaining_runs", "enabled")
        return tuple(self.__dict__.get(name) for name in fields)

    def _remaining_changed(self) -> bool:
        loaded = getattr(self, "_loaded", None)
        return loaded is None or loaded[-2] != self.remaining_runs

    def _timing_changed(self) -> bool:
        loaded = getattr(self, "_loaded", None)
        return loaded is None or loaded[: len(TIMING_FIELDS)] != self._snapshot()[: len(TIMING_FIELDS)]

    # --- validation: the one place every door (admin, API, YAML, CLI) shares ---------------------

    def clean_fields(self, exclude: Collection[str] | None = None) -> None:
        """The fields' own checks, but for the whole numbers whose range ``clean`` states in words
        that say what is allowed (not "Ensure this value is greater than or equal to 0.")."""
        super().clean_fields(exclude={*(exclude or ()), *RANGES, "interval_seconds"})

    def clean(self) -> None:
        loaded = getattr(self, "_loaded", None)
        if self.enabled and loaded is not None and not loaded[-1]:
            self.clear_pause()  # re-enabled at any door: it is no longer paused
            self.failure_streak = 0
        errors: dict[str, list[str]] = {}
        try:
            timing.validate_spec(self)
        except timing.ValidationError as exc:
            errors.update(exc.errors)
        if not isinstance(self.params, dict):
            errors.setdefault("params", []).append('must be a JSON object, e.g. {"path": "var/app.log"}')
        if self.directive_id is not None and self.job_id is not None:
            directive = self.directive
            if directive is not None and directive.job_id != self.job_id:
                errors.setdefault("directive", []).append(
                    f"belongs to job {directive.job.key!r}, not to this schedule's job"
                )
        interval = self.interval_seconds
        if interval is not None and (isinstance(interval, bool) or not isinstance(interval, int)):
            errors.setdefault("interval_seconds", [f"must be a whole number, not {interval!r}"])
        for name, (least, words) in RANGES.items():
            value = getattr(self, name)
            if value is None and name in OPTIONAL_NUMBERS:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                errors.setdefault(name, []).append(f"must be a whole number, not {value!r}")
            elif value < least:
                errors.setdefault(name, []).append(words.format(value=value))
        if self.jitter_seconds and self.kind == Kind.ONCE:
            errors.setdefault("jitter_seconds", []).append("does not apply to one-off schedules; use 0")
        if self.resume_at is not None:
            if self.enabled:
                errors.setdefault("resume_at", []).append(
                    "applies to a paused schedule only: pause it (enabled off, with a note) or leave it empty"
                )
            if self.resume_at.tzinfo is None:
                errors.setdefault("resume_at", []).append("must include a time zone offset, e.g. 2026-12-24T08:00:00Z")
        if self.job_id is not None and isinstance(self.params, dict):
            errors.update(self._job_params_errors())
        if errors:
            raise ValidationError(errors)

    def _job_params_errors(self) -> dict[str, list[str]]:
        """The job's own check of the params a run would get (directive params, then the schedule's)."""
        merged = {**((self.directive.params or {}) if self.directive is not None else {}), **self.params}
        try:
            registry.validate_params(self.job.key, merged, self.job.kind)
        except ValidationError as exc:
            return {
                "params": [
                    message if key == "params" else f"{key.removeprefix('params.')}: {message}"
                    for key, messages in exc.errors.items()
                    for message in messages
                ]
            }
        return {}

    def clear_pause(self) -> None:
        self.pause_note, self.paused_by, self.paused_at, self.resume_at = "", "", None, None

    @property
    def paused(self) -> bool:
        """Disabled with a note or a time: paused by someone (or by itself), not just switched off."""
        return not self.enabled and (self.paused_at is not None or bool(self.pause_note))

    # --- next run --------------------------------------------------------------------------------

    def reschedule(self, now: datetime) -> None:
        """Point ``next_run_at``/``due_at`` at the first occurrence after ``now`` (and after the last run)."""
        self._point_after(max(now, self.last_run_at) if self.last_run_at else now)

    def continue_after_last_run(self, now: datetime) -> None:
        """Point ``next_run_at``/``due_at`` at the first occurrence after ``last_run_at``, even one that has passed.

        For a schedule taken over from another scheduler that ran it until ``last_run_at`` (an
        import's handover): an occurrence that fell due since then ran nowhere, so it stays due and
        the beat takes it up under the misfire and overlap policies (run, or recorded ``missed`` or
        ``skipped`` with the reason) instead of the cursor jumping over it unrecorded. Without a last
        run, as ``reschedule(now)``.
        """
        if self.last_run_at is None:
            self.reschedule(now)
        else:
            self._point_after(self.last_run_at)

    def _point_after(self, after: datetime) -> None:
        upcoming = [] if self.remaining_runs == 0 else timing.next_fire_times(self, after, 1)
        self.next_run_at = upcoming[0] if upcoming else None
        self.due_at = (
            None
            if self.next_run_at is None
            else due_time(self, self.pk or 0, self.jitter_seconds, self.next_run_at, None)
        )

    def needs_recompute(self) -> bool:
        """Whether saving recomputes the next run: the timing changed, or a finished schedule is re-enabled."""
        loaded = getattr(self, "_loaded", None)
        re_enabled = loaded is not None and not loaded[-1] and self.enabled and self.next_run_at is None
        runs_given = self._remaining_changed() and (self.remaining_runs == 0 or self.next_run_at is None)
        return self._timing_changed() or re_enabled or runs_given

    def edit_fields(self, recompute: bool) -> list[str]:
        """What an edit of a stored row writes: every field but the beat's, and its cursor only if recomputed.

        ``remaining_runs`` (the beat counts it down) only when the edit changed it, and the failure
        streak only when the edit re-enabled the schedule (it starts again from 0): an edit racing a
        dispatch never gives back a run the beat took, nor forgets a failure.
        """
        owned = set(BEAT_FIELDS) if not recompute else {"last_run_at"}
        if not self._remaining_changed():
            owned.add("remaining_runs")
        loaded = getattr(self, "_loaded", None)
        if not (loaded is not None and not loaded[-1] and self.enabled):
            owned.add("failure_streak")
        return [f.name for f in self._meta.concrete_fields if not f.primary_key and f.name not in owned]

    def save(self, *args: Any, now: datetime | None = None, **kwargs: Any) -> None:
        """Validate; recompute the next run when the timing changed or a finished schedule is re-enabled.

        The beat owns ``next_run_at``, ``due_at`` and ``last_run_at``: an edit writes them only when
        it recomputes them, so an edit racing a dispatch never rewinds the schedule's cursor.

        An edit locks its row first: a delete that came first (or is under way) makes it raise
        ``RowDeletedError`` (the doors answer 404) instead of failing to update a row that is gone;
        a delete that comes later waits for the edit to commit.
        """
        self.clean()
        now = now or timezone.now()
        with constraints.edited(self, kwargs) as updating:
            self._save(args, kwargs, now=now, updating=updating)
        self._loaded = self._snapshot()

    def _save(self, args: tuple[Any, ...], kwargs: dict[str, Any], *, now: datetime, updating: bool) -> None:
        recompute = self.needs_recompute()
        if updating and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = self.edit_fields(recompute)
        if recompute:
            if self._state.adding and self.jitter_seconds:
                super().save(*args, **kwargs)  # the jitter is seeded by the primary key
                args, kwargs = (), {"update_fields": ["next_run_at", "due_at"]}
            self.reschedule(now)
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = sorted({*kwargs["update_fields"], "next_run_at", "due_at"})
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        """Lock the row, then delete it with its occurrences.

        Without the lock a beat could claim the schedule while the delete collects its occurrences,
        insert one more and commit first: the delete's commit would then fail on the foreign key. With
        it, a beat's claim skips the locked row (``SKIP LOCKED``), or the delete waits for the tick.
        """
        with transaction.atomic(using=kwargs.get("using") or router.db_for_write(Schedule, instance=self)):
            Schedule.objects.select_for_update().filter(pk=self.pk).exists()
            return super().delete(*args, **kwargs)

    def describe_timing(self) -> str:
        """A short machine-neutral description: ``cron 0 2 * * * (Europe/Berlin)``, ``every 300s``."""
        if self.kind == Kind.CRON:
            return f"cron {self.cron} ({self.timezone})"
        if self.kind == Kind.INTERVAL:
            return f"every {self.interval_seconds}s"
        return f"once at {self.run_at.astimezone(UTC).isoformat() if self.run_at else '?'}"
