from __future__ import annotations

from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from orchestrator import hooks
        from scheduling import checks, observe  # noqa: F401  (checks register themselves)

        hooks.on_run_ended(_release_buffered_after_run)
        observe.install()


def _release_buffered_after_run(ended: object) -> None:
    """When a run of a buffering schedule ends, start its next buffered occurrence right away."""
    from django.utils import timezone

    from orchestrator.hooks import RunEnded
    from scheduling.dispatch import release_buffered

    if not isinstance(ended, RunEnded):
        return
    schedule = ended.snapshot.get("schedule") or {}
    if schedule.get("overlap_policy") in ("buffer_one", "buffer_all") and schedule.get("id"):
        release_buffered(timezone.now(), [int(schedule["id"])])
