"""The schedule table's field groups and value rules, named once for the model, its queryset and the doors."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

#: Whole-number fields, their least value and what ``Schedule.clean`` says below it. The interval's
#: rule is the time core's (``validate_spec``, for interval schedules only).
RANGES = {
    "misfire_grace_seconds": (
        1,
        "must be at least 1 second: a beat dispatches a moment after an occurrence's due time, "
        "so with no grace every occurrence would be missed",
    ),
    "jitter_seconds": (0, "must be 0 or more seconds, not {value}"),
    "max_concurrency": (1, "must be at least 1, or empty for no limit"),
    "pause_after_failures": (1, "must be at least 1, or empty to never pause by itself"),
    "remaining_runs": (0, "must be 0 or more, or empty for unlimited, not {value}"),
    "deadline_seconds": (1, "must be at least 1 second, or empty for no deadline"),
}
OPTIONAL_NUMBERS = frozenset({"max_concurrency", "pause_after_failures", "remaining_runs", "deadline_seconds"})


#: Written only by the beat (and by an edit that recomputes them).
BEAT_FIELDS = ("next_run_at", "due_at", "last_run_at")
#: Who paused a schedule, why, when, and until when: cleared when it is enabled again.
PAUSE_FIELDS = ("pause_note", "paused_by", "paused_at", "resume_at")
TIMING_FIELDS = ("kind", "cron", "interval_seconds", "run_at", "timezone", "start_at", "end_at", "jitter_seconds")


class ScheduleSource(models.TextChoices):
    ADMIN = "admin", "admin"
    API = "api", "API"
    YAML = "yaml", "YAML sync"
    #: The Celery app's ``beat_schedule`` (``manage.py sync_beat_schedule``, and every beat at start).
    CODE = "code", "beat_schedule (code)"
    #: django-celery-beat's ``PeriodicTask`` rows (``manage.py import_celery_beat``).
    CELERY_BEAT = "celery_beat", "django-celery-beat import"
    DEMO = "demo", "demo"
    OTHER = "other", "other"


#: The rules the database itself holds (``Schedule.Meta.constraints``), whatever door wrote the row.
CONSTRAINTS: list[models.BaseConstraint] = [
    models.CheckConstraint(
        condition=~Q(kind="interval") | Q(interval_seconds__gt=0), name="schedule_interval_positive"
    ),
    models.CheckConstraint(condition=~Q(kind="once") | Q(run_at__isnull=False), name="schedule_once_run_at"),
    models.CheckConstraint(condition=~Q(kind="cron") | ~Q(cron=""), name="schedule_cron_present"),
    models.CheckConstraint(
        condition=Q(start_at__isnull=True) | Q(end_at__isnull=True) | Q(end_at__gt=F("start_at")),
        name="schedule_end_after_start",
    ),
    models.CheckConstraint(
        condition=Q(max_concurrency__isnull=True) | Q(max_concurrency__gt=0),
        name="schedule_max_concurrency_positive",
    ),
]
