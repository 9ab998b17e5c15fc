"""Settings that are small decisions rather than values: the secret key, the database, the
broker's transport options.

The demo (no ``DATABASE_URL``) gets SQLite and a generated key kept under ``var/``; anything else
must say what it uses. The transport options serve Redis, RabbitMQ and Redis Sentinel at once:
each transport reads its own and ignores the rest.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from project.env import env_int, env_optional_str

SQLITE_OPTIONS: dict[str, Any] = {
    # WAL lets the web process read while the beat and the worker write.
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
}


def secret_key(var_dir: Path, *, demo: bool) -> str:
    """``DJANGO_SECRET_KEY``; in the demo only, a generated one kept in ``var/secret_key`` (0600)."""
    configured = env_optional_str("DJANGO_SECRET_KEY")
    if configured:
        return configured
    if not demo:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DATABASE_URL is set (outside the demo)")
    key_file = var_dir / "secret_key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def database(url: str | None, var_dir: Path) -> dict[str, Any]:
    """The default database: ``url`` (``DATABASE_URL``), or the demo's SQLite file under ``var/``."""
    if url is None:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": var_dir / "db.sqlite3", "OPTIONS": dict(SQLITE_OPTIONS)}
    config: dict[str, Any] = dict(
        dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 600, minimum=0), conn_health_checks=True)
    )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
        config["CONN_MAX_AGE"] = 0
    return config


def broker_transport_options(*, visibility_timeout: int, sentinel_master: str | None) -> dict[str, Any]:
    """Celery's ``broker_transport_options``: how long an unacknowledged message is held, failing
    fast on a dead broker, publisher confirms, and the Sentinels' master when there is one."""
    return {
        "visibility_timeout": visibility_timeout,
        # Each worker looks for messages past that timeout every 10 s (kombu's restore interval), not
        # every tenth time (kombu's default throttle): one cheap sorted-set query per worker.
        "unacked_restore_throttle": 1,
        "socket_connect_timeout": 2,
        # A publisher facing a dead broker fails fast instead of blocking the beat: the runs stay
        # pending and recovery publishes them. (Workers reconnect through their own consumer loop.)
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.5,
        # RabbitMQ: a publish returns once the broker has the message (publisher confirms), so a run
        # is marked queued only then; without it a message lost on a dropped connection left its run
        # queued until its in-flight note expired (docs/BROKERS.md). Ignored by the Redis transport.
        "confirm_publish": True,
        # Redis Sentinel (REDIS_URL=sentinel://...): the master to ask them for, and short timeouts
        # on the connections to the Sentinels themselves.
        **(
            {"master_name": sentinel_master, "sentinel_kwargs": {"socket_connect_timeout": 2, "socket_timeout": 2}}
            if sentinel_master
            else {}
        ),
    }
