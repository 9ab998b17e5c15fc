from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

from orchestrator import conf
from orchestrator.hooks import RunEnded

if TYPE_CHECKING:
    from scheduling.engine.reports import BeatStarted

conf.apply_defaults()


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from orchestrator import hooks, store
        from scheduling import checks  # noqa: F401  (checks register themselves)
        from scheduling.engine import alerts, controls, deadlines
        from scheduling.engine import hooks as engine_hooks
        from scheduling.ops import observe
        from scheduling.surfaces import run_again

        hooks.run_ended.connect(_release_buffered_after_run)
        hooks.run_ended.connect(controls.count_run_end)
        store.add_end_read(controls.STREAK_READ)
        hooks.run_ended.connect(deadlines.flag_late_end)
        hooks.run_again.connect(run_again.record_occurrence)
        engine_hooks.beat_started.connect(_sync_beat_schedule)
        observe.install()
        alerts.install()
        _audit_models(self)


def _audit_models(config: AppConfig) -> None:
    """Every change to a schedule (its calendars too) or a calendar leaves an audit entry."""
    from orchestrator import audit
    from scheduling.surfaces.audit_words import schedule_action

    audit.register(config.get_model("Schedule"), classify=schedule_action)
    audit.register(config.get_model("Calendar"))


def _release_buffered_after_run(ended: RunEnded) -> None:
    """When a run of a buffering schedule ends, start its next buffered occurrence right away."""
    from django.utils import timezone

    from scheduling.core.policies import BUFFERING
    from scheduling.engine.buffered import release_buffered

    schedule = ended.frozen.schedule
    if schedule is not None and schedule.id and schedule.overlap_policy in BUFFERING:
        release_buffered(timezone.now(), [schedule.id])


def _sync_beat_schedule(started: BeatStarted) -> None:
    """A starting beat brings the Celery app's ``beat_schedule`` into the database (no prune)."""
    from scheduling.surfaces.imports.beat_schedule import sync_at_beat_start

    sync_at_beat_start(started)
