"""System checks for the orchestrator's settings (ids are stable: orchestrator.E001...)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register


def _writable_dir(path: Path) -> bool:
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK)


@register()
def check_paths(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if not _writable_dir(Path(settings.ARTIFACTS_DIR)):
        messages.append(
            Error(
                f"ARTIFACTS_DIR {settings.ARTIFACTS_DIR} cannot be created or written.",
                hint="Point ARTIFACTS_DIR at a writable folder.",
                id="orchestrator.E001",
            )
        )
    if not _writable_dir(Path(settings.EVENTS_PATH).parent):
        messages.append(
            Warning(
                f"The folder of EVENTS_PATH {settings.EVENTS_PATH} cannot be created or written; "
                "runs will complete but their events will not be logged.",
                hint="Point EVENTS_PATH (or STATE_STORE_PATH) at a writable location.",
                id="orchestrator.W001",
            )
        )
    return messages


@register()
def check_llm(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """The language-model settings, without any network access (the guard resolves hosts at call time)."""
    from urllib.parse import urlsplit

    from orchestrator.guards import AllowedHosts, literal_address
    from orchestrator.llm import MAX_RETRIES_LIMIT

    messages: list[CheckMessage] = []
    if settings.LLM_MAX_RETRIES > MAX_RETRIES_LIMIT:
        messages.append(
            Warning(
                f"LLM_MAX_RETRIES={settings.LLM_MAX_RETRIES} is more than {MAX_RETRIES_LIMIT}; "
                f"the client retries at most {MAX_RETRIES_LIMIT} times.",
                hint="Retries are bounded; use a smaller number.",
                id="orchestrator.W003",
            )
        )
    url = settings.LLM_BASE_URL
    if not url:
        return messages
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 (raises for a malformed port)
    except ValueError:
        host, parts = "", urlsplit("")
    if parts.scheme not in ("http", "https") or not host:
        messages.append(
            Error(
                f"LLM_BASE_URL {url!r} is not an http(s) URL with a host.",
                hint="For example http://127.0.0.1:8080/v1 (the base of an OpenAI-compatible API).",
                id="orchestrator.E002",
            )
        )
        return messages
    allowed = AllowedHosts.parse(settings.LLM_ALLOWED_HOSTS)
    literal = literal_address(host)
    if not (
        host == "localhost" or allowed.allows_name(host) or (literal is not None and allowed.allows_address(literal))
    ):
        messages.append(
            Warning(
                f"LLM_BASE_URL names {host!r}, which is neither localhost nor listed in LLM_ALLOWED_HOSTS; "
                "calls will be refused unless every address it resolves to is loopback or allowed.",
                hint="Use a loopback address, or list the host in LLM_ALLOWED_HOSTS on purpose.",
                id="orchestrator.W002",
            )
        )
    return messages


@register()
def check_tracing(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """``SCHEDULER_TRACING``: off (empty) or ``otel`` with the SDK installed (found, not imported)."""
    from importlib.util import find_spec

    value = getattr(settings, "SCHEDULER_TRACING", "") or ""
    if value not in ("", "otel"):
        return [
            Error(
                f"SCHEDULER_TRACING={value!r} is not a tracing mode.",
                hint='Leave it empty (off) or set "otel" (OpenTelemetry; README, "Traces").',
                id="orchestrator.E010",
            )
        ]
    if value == "otel" and find_spec("opentelemetry.sdk") is None:
        return [
            Error(
                "SCHEDULER_TRACING=otel, but the OpenTelemetry SDK is not installed.",
                hint='Install the otel extra (pip install "ostinato[otel]") or turn tracing off.',
                id="orchestrator.E011",
            )
        ]
    return []


@register()
def check_notifications(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """The notification settings: a queue name, positive times and attempts, an absolute public URL."""
    from urllib.parse import urlsplit

    from orchestrator.models import QUEUE_NAME

    messages: list[CheckMessage] = []
    queue = str(settings.SCHEDULER_NOTIFY_QUEUE or "")
    try:
        QUEUE_NAME(queue)
    except Exception:
        messages.append(
            Error(
                f"SCHEDULER_NOTIFY_QUEUE {queue!r} is not a queue name.",
                hint="1-100 letters, digits, '_', '.', ':' or '-', e.g. notifications.",
                id="orchestrator.E012",
            )
        )
    for name in (
        "SCHEDULER_NOTIFY_TIMEOUT_SECONDS",
        "SCHEDULER_NOTIFY_MAX_ATTEMPTS",
        "SCHEDULER_NOTIFY_BACKOFF_SECONDS",
    ):
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            messages.append(
                Error(
                    f"{name} must be a positive number, not {value!r}.",
                    hint="See README, Notifications.",
                    id="orchestrator.E013",
                )
            )
    public = str(settings.SCHEDULER_PUBLIC_URL or "")
    if public and (urlsplit(public).scheme not in ("http", "https") or not urlsplit(public).netloc):
        messages.append(
            Warning(
                f"SCHEDULER_PUBLIC_URL {public!r} is not an absolute http(s) URL; notification links will not open.",
                hint="For example https://ostinato.example.com",
                id="orchestrator.W010",
            )
        )
    ca_file = str(getattr(settings, "SCHEDULER_NOTIFY_CA_FILE", "") or "")
    if ca_file and not Path(ca_file).is_file():
        messages.append(
            Error(
                f"SCHEDULER_NOTIFY_CA_FILE {ca_file!r} is not a file; HTTPS webhooks would fail every attempt.",
                hint="A PEM file of CA certificates, or leave it empty to trust the system's CAs only.",
                id="orchestrator.E015",
            )
        )
    return messages


AUDIT_MIDDLEWARE = "orchestrator.audit_middleware.AuditMiddleware"


@register()
def check_audit_middleware(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """Without the audit middleware, changes made in the admin and on /schedules/ name no user."""
    if AUDIT_MIDDLEWARE in getattr(settings, "MIDDLEWARE", []):
        return []
    return [
        Warning(
            "changes made in the admin and on /schedules/ are audited without the user who made them",
            hint=f'add "{AUDIT_MIDDLEWARE}" to MIDDLEWARE, after '
            '"django.contrib.auth.middleware.AuthenticationMiddleware"',
            id="orchestrator.W004",
        )
    ]


@register()
def check_redis_sentinel(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """A ``sentinel://`` Redis URL names its Sentinels well and comes with the master's name."""
    from orchestrator import connections
    from orchestrator.errors import SchedulerError

    try:
        url = connections.redis_url()
    except SchedulerError:
        return []  # no Redis named at all: said where Redis is first used
    if not connections.is_sentinel_url(url):
        return []
    try:
        connections.SentinelTarget.parse(url, connections.sentinel_master_name())
    except SchedulerError as exc:
        return [
            Error(
                str(exc),
                hint="sentinel://host:26379/0;sentinel://host2:26379 with SCHEDULER_REDIS_SENTINEL_MASTER "
                "(REDIS_SENTINEL_MASTER) or the broker's master_name transport option",
                id="orchestrator.E014",
            )
        ]
    return []
