from __future__ import annotations

from django.apps import AppConfig

from orchestrator import conf

conf.apply_defaults()


class OrchestratorConfig(AppConfig):
    name = "orchestrator"
    verbose_name = "Orchestrator"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from orchestrator import checks, hooks, notifications, registry  # noqa: F401  (checks register themselves)

        registry.load_job_modules()
        post_migrate.connect(_sync_job_rows, sender=self)
        hooks.run_ended.connect(notifications.on_run_ended)


def _sync_job_rows(**kwargs: object) -> None:
    from orchestrator.registry import sync_job_rows

    sync_job_rows(using=str(kwargs.get("using", "default")))
