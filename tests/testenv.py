"""Pytest plugin loaded with ``-p tests.testenv``, before pytest-django reads the settings.

Each pytest session takes a free *slot* (an exclusive lock file, held until it exits) and with
it a PostgreSQL database name and a Redis database number of its own (and a RabbitMQ vhost, made
by ``tests/brokers.py`` when a test asks for one), so two test runs on one machine never see each
other's data. The services themselves must be up: a session that cannot
reach them stops at once with a message naming the service (the test command starts them).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import IO

import pytest

from tests import slots

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TEST_PG_USER", "postgres")
REDIS_HOST = os.environ.get("TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("TEST_REDIS_PORT", "6379"))
RABBITMQ_HOST = os.environ.get("TEST_RABBITMQ_HOST", "127.0.0.1")
RABBITMQ_PORT = int(os.environ.get("TEST_RABBITMQ_PORT", "5672"))

_held: IO[str] | None = None


def _take_slot() -> int:
    global _held
    found = slots.take_slot()
    if found is None:
        raise pytest.UsageError(f"all {len(slots.SLOTS)} test slots are taken by other test runs on this machine")
    slot, _held = found
    return slot


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    missing = [
        f"{name} on {host}:{port}"
        for name, host, port in (
            ("PostgreSQL", PG_HOST, PG_PORT),
            ("Redis", REDIS_HOST, REDIS_PORT),
            ("RabbitMQ", RABBITMQ_HOST, RABBITMQ_PORT),
        )
        if not _reachable(host, port)
    ]
    if missing:
        raise pytest.UsageError(
            "the test suite needs real services and cannot reach: "
            + ", ".join(missing)
            + ". Start them (./scripts/test does) and run again."
        )
    slot = _take_slot()
    scratch = Path(tempfile.gettempdir()) / f"ostinato-tests-{slot}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    os.environ.update(
        {
            "OSTINATO_TEST_SLOT": str(slot),
            "DATABASE_URL": f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/ostinato_s{slot}",
            "REDIS_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{slot}",
            "DJANGO_SECRET_KEY": "tests-only-secret-key-not-for-production-use-0123456789",
            "DJANGO_DEBUG": "false",
            "DJANGO_HTTPS": "false",  # the test servers speak plain http (test_settings_security.py checks https)
            "SCHEDULER_VAR_DIR": str(scratch / "var"),
            "EVENTS_PATH": str(scratch / "events.jsonl"),
            "ARTIFACTS_DIR": str(scratch / "artifacts"),
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
            "SCHEDULER_JOB_MODULES": "tests.jobs",
        }
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    """Release this session's slot (held since start-up so no other run takes it)."""
    global _held
    if _held is not None:
        _held.close()
        _held = None
