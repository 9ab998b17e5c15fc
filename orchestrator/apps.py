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
        _audit_models(self)
        post_migrate.connect(_sync_job_rows, sender=self)
        hooks.run_ended.connect(notifications.on_run_ended)


def _sync_job_rows(**kwargs: object) -> None:
    from django.db import connections

    from orchestrator import audit
    from orchestrator.models import AuditEntry
    from orchestrator.registry import sync_job_rows

    using = str(kwargs.get("using", "default"))
    audited = AuditEntry._meta.db_table in connections[using].introspection.table_names()
    with audit.acting("system", audit.OTHER_DOOR) if audited else audit.suspended():
        sync_job_rows(using=using)


def _audit_models(config: AppConfig) -> None:
    """Every change to a job (and to a notification rule, where that model exists) leaves an audit entry."""
    from orchestrator import audit

    audit.register(config.get_model("Job"))
    for name in ("NotificationRule",):
        try:
            audit.register(config.get_model(name), secret=("secret",))
        except LookupError:
            continue
