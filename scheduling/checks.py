"""System checks for the scheduler's settings (ids are stable: scheduling.E001...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register


@register()
def check_scheduler_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    tick = float(settings.SCHEDULER_TICK_SECONDS)
    if not 0 < tick <= 60:
        messages.append(
            Error(
                f"SCHEDULER_TICK_SECONDS is {tick}; it must be more than 0 and at most 60.",
                hint="Edits are picked up within this time; 1 second is the default.",
                id="scheduling.E001",
            )
        )
    visibility = _visibility_timeout()
    patience = float(settings.SCHEDULER_DB_PATIENCE_SECONDS)
    if visibility <= patience:
        messages.append(
            Error(
                f"BROKER_VISIBILITY_TIMEOUT_SECONDS ({visibility}) is not longer than SCHEDULER_DB_PATIENCE_SECONDS "
                f"({patience:g}): while the database is down, every message a worker holds would be delivered "
                "again and again.",
                hint="Keep it at a few minutes at least; the default is longer than the longest job timeout.",
                id="scheduling.E002",
            )
        )
    if 2 * tick > settings.SCHEDULER_RECOVERY_GRACE_SECONDS:
        messages.append(
            Warning(
                "SCHEDULER_RECOVERY_GRACE_SECONDS is shorter than two ticks; recovery may publish runs "
                "that their beat is about to publish (harmless, but wasteful).",
                id="scheduling.W001",
            )
        )
    if float(settings.SCHEDULER_BEAT_HEARTBEAT_SECONDS) < 3 * tick:
        messages.append(
            Warning(
                f"SCHEDULER_BEAT_HEARTBEAT_SECONDS ({settings.SCHEDULER_BEAT_HEARTBEAT_SECONDS:g}) is shorter than "
                f"three ticks ({3 * tick:g}s): an idle beat's heartbeat may expire between two ticks and /readyz "
                "report no beat.",
                id="scheduling.W002",
            )
        )
    if int(settings.SCHEDULER_PREPARE_MAX) > 0 and float(settings.SCHEDULER_PREPARE_AHEAD_SECONDS) <= tick:
        messages.append(
            Warning(
                f"SCHEDULER_PREPARE_AHEAD_SECONDS ({settings.SCHEDULER_PREPARE_AHEAD_SECONDS:g}) is not longer than a "
                f"tick ({tick:g}s): an idle beat may first see a coming burst too late to prepare it in time.",
                hint="Make it about twice SCHEDULER_TICK_SECONDS, or set SCHEDULER_PREPARE_MAX=0 to never prepare.",
                id="scheduling.W003",
            )
        )
    return messages


def _visibility_timeout() -> float:
    """The broker's visibility timeout, as the Celery app has it (kombu's Redis default: an hour)."""
    from orchestrator.connections import celery_app

    options = celery_app().conf.broker_transport_options or {}
    return float(options.get("visibility_timeout", 3600))


#: Apps the three apps need beside them: the admin and its sessions, the API and its documentation.
REQUIRED_APPS = (
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "scheduling",
    "orchestrator",
    "workers",
)
BEAT_SCHEDULER = "scheduling.beat:Scheduler"


@register()
def check_installation(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """What a host project must add for the apps to work: the apps they need, our beat on its Celery app."""
    from django.apps import apps

    from orchestrator.connections import celery_app

    messages: list[CheckMessage] = [
        Error(
            f"{name!r} is not in INSTALLED_APPS; the scheduler needs it.",
            hint=f'Add {name!r} to INSTALLED_APPS (README, "Add it to your Django project").',
            id="scheduling.E004",
        )
        for name in REQUIRED_APPS
        if not apps.is_installed(name)
    ]
    scheduler = str(celery_app().conf.beat_scheduler or "")
    if scheduler.replace(".beat.", ".beat:") not in (BEAT_SCHEDULER, "scheduling.engine.beat:Scheduler"):
        messages.append(
            Warning(
                f"The Celery app's beat_scheduler is {scheduler!r}: `celery beat` would not dispatch the schedules.",
                hint=f'Set beat_scheduler = "{BEAT_SCHEDULER}" on the Celery app (CELERY_BEAT_SCHEDULER with the '
                "CELERY namespace), or pass -S scheduling.beat:Scheduler to celery beat.",
                id="scheduling.W004",
            )
        )
    messages += _check_publisher_confirms(celery_app().conf)
    return messages


def _check_publisher_confirms(conf: Any) -> list[CheckMessage]:
    """RabbitMQ without publisher confirms: a run is marked queued before the broker has its message."""
    from urllib.parse import urlsplit

    scheme = urlsplit(str(conf.broker_url or "")).scheme
    if scheme not in ("amqp", "amqps", "pyamqp") or (conf.broker_transport_options or {}).get("confirm_publish"):
        return []
    return [
        Warning(
            "The Celery broker is RabbitMQ without publisher confirms: a message lost on a dropped connection "
            "leaves its run queued until its in-flight note expires (SCHEDULER_MAX_JOB_TIMEOUT_SECONDS + 1 h).",
            hint='Set broker_transport_options["confirm_publish"] = True on the Celery app (docs/BROKERS.md).',
            id="scheduling.W005",
        )
    ]


@register(Tags.database)
def check_job_timeouts(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    from django.db import DatabaseError

    from orchestrator.models import Job

    if not kwargs.get("databases"):
        return []
    limit = settings.SCHEDULER_MAX_JOB_TIMEOUT_SECONDS
    try:
        too_long = list(Job.objects.filter(timeout_seconds__gt=limit).values_list("key", "timeout_seconds"))
    except DatabaseError:
        return []  # not migrated yet: nothing to check
    return [
        Error(
            f"Job {key!r} has timeout_seconds={timeout}, more than SCHEDULER_MAX_JOB_TIMEOUT_SECONDS={limit}.",
            hint="Lower the job's timeout or raise SCHEDULER_MAX_JOB_TIMEOUT_SECONDS (the broker's default "
            "visibility timeout and the in-flight notes follow it).",
            id="scheduling.E003",
        )
        for key, timeout in too_long
    ]
