"""Every setting the three apps read, with its default: a Django project that sets none of them works.

The apps read ``django.conf.settings.<NAME>`` when they need a value (never at import), so a test
or a host may change one at any time. ``apply_defaults`` (called when Django loads each app's
config) sets every name the project left out to its default below; a name the project sets is
never touched. The standalone project (``project/settings.py``) fills them from environment
variables; README.md, "Configuration", documents each.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings


@dataclass(frozen=True)
class Derived:
    """A default computed from the other settings (after the plain defaults are in place)."""

    compute: Callable[[Any], Any]


def _base_dir(conf: Any) -> Path:
    return Path(getattr(conf, "BASE_DIR", None) or Path.cwd())


def _var(*parts: str) -> Derived:
    """A path under ``<BASE_DIR>/var/ostinato/`` (the standalone project points these under its own ``var/``)."""
    return Derived(lambda conf: _base_dir(conf).joinpath("var", "ostinato", *parts))


DEFAULTS: dict[str, Any] = {
    # where things are
    "BASE_DIR": Derived(lambda conf: Path.cwd()),  # relative paths in params and YAML are read from here
    "SCHEDULER_REDIS_URL": None,  # None: the Celery broker URL when it is a Redis URL
    "SCHEDULER_REDIS_SENTINEL_MASTER": None,  # a sentinel:// URL's master name; None: the broker's master_name
    "SCHEDULER_REDIS_STARTER": None,  # dotted path of a callable run before the first Redis connection
    "SCHEDULER_CELERY_APP": None,  # "module:attribute" of the Celery app; None: celery.current_app
    "EVENTS_PATH": _var("logs", "orchestrator_state.jsonl"),
    "ARTIFACTS_DIR": _var("artifacts"),
    "EVENTS_MAX_BYTES": 100 * 1024 * 1024,
    "EVENTS_KEEP_FILES": 5,
    "SCHEDULER_JOB_MODULES": [],
    # the beat
    "SCHEDULER_TICK_SECONDS": 1.0,
    "SCHEDULER_BATCH_SIZE": 500,
    "SCHEDULER_PREPARE_AHEAD_SECONDS": 2.0,
    "SCHEDULER_PREPARE_MAX": 5000,
    "SCHEDULER_RECOVERY_GRACE_SECONDS": 15.0,
    "SCHEDULER_LOST_MESSAGE_SECONDS": 30.0,
    "SCHEDULER_MAINTENANCE_SECONDS": 1.0,
    "SCHEDULER_MISFIRE_THRESHOLD_SECONDS": 30.0,
    "SCHEDULER_MAX_CATCHUP": 100,
    "SCHEDULER_MAX_ENUMERATE": 1000,
    "SCHEDULER_BEAT_HEARTBEAT_SECONDS": 15.0,
    "SCHEDULER_FAULT_CRASH_AFTER_COMMIT": False,
    "SCHEDULER_TRACING": "",  # "otel": OpenTelemetry traces (orchestrator.tracing)
    "SCHEDULER_BACKFILL_MAX": 1_000_000,
    "SCHEDULER_BACKFILL_BATCH": 500,
    # runs and workers
    "SCHEDULER_MAX_GLOBAL_RUNS": None,
    "SCHEDULER_LEASE_TTL_SECONDS": 30.0,
    "SCHEDULER_RETRY_BACKOFF_SECONDS": 2.0,
    "SCHEDULER_RETRY_BACKOFF_MAX_SECONDS": 600.0,
    "SCHEDULER_HARD_TIMEOUT_MARGIN_SECONDS": 30.0,
    "SCHEDULER_WAIT_RECHECK_SECONDS": 10.0,
    "SCHEDULER_DB_PATIENCE_SECONDS": 60.0,
    "SCHEDULER_MAX_JOB_TIMEOUT_SECONDS": 6 * 3600,
    "SCHEDULER_INFLIGHT_NOTE_SECONDS": Derived(lambda conf: int(conf.SCHEDULER_MAX_JOB_TIMEOUT_SECONDS) + 3600),
    "DB_PREPARED_STATEMENTS": True,
    "WORKER_TIMER_PRUNE_SECONDS": 30.0,
    # notifications (signed webhooks, email)
    "SCHEDULER_NOTIFY_QUEUE": "notifications",
    "SCHEDULER_NOTIFY_TIMEOUT_SECONDS": 10.0,
    "SCHEDULER_NOTIFY_MAX_ATTEMPTS": 5,
    "SCHEDULER_NOTIFY_BACKOFF_SECONDS": 5.0,
    "SCHEDULER_NOTIFY_BACKOFF_MAX_SECONDS": 600.0,
    "SCHEDULER_NOTIFY_REPUBLISH_SECONDS": 60.0,
    "SCHEDULER_NOTIFY_CA_FILE": "",  # a PEM bundle trusted besides the system's CAs (a private CA's webhooks)
    "SCHEDULER_PUBLIC_URL": "",  # e.g. https://ostinato.example.com: links in notifications
    # health, metrics, the API
    "HEALTH_CELERY_TIMEOUT_SECONDS": 1.0,
    "METRICS_MULTIPROC_DIR": Derived(lambda conf: Path(tempfile.gettempdir()) / "ostinato-metrics"),
    "METRICS_TOKEN": None,
    "METRICS_PORT": None,
    "METRICS_ADDR": "127.0.0.1",
    "API_TOKEN_MAX_AGE_SECONDS": 90 * 24 * 3600,
    # built-in jobs: DAG files, logs, the local language model
    "DAG_ROOTS": Derived(lambda conf: [_base_dir(conf) / "configs" / "dags"]),
    "LOG_ROOTS": Derived(lambda conf: [_base_dir(conf) / "var" / "ostinato" / "logs"]),
    "LLM_BASE_URL": None,
    "LLM_MODEL": "local",
    "LLM_API_KEY": None,
    "LLM_ALLOWED_HOSTS": [],
    "LLM_TIMEOUT_SECONDS": 60.0,
    "LLM_MAX_RETRIES": 2,
    "LLM_MAX_TOKENS": 512,
}


def apply_defaults() -> None:
    """Set each setting the project left out to its default (idempotent; never overrides)."""
    derived: list[tuple[str, Derived]] = []
    for name, default in DEFAULTS.items():
        if hasattr(settings, name):
            continue
        if isinstance(default, Derived):
            derived.append((name, default))
        else:
            setattr(settings, name, list(default) if isinstance(default, list) else default)
    for name, default in derived:
        setattr(settings, name, default.compute(settings))
