"""Integration fixtures: real PostgreSQL, Redis, Celery workers and beats started by the tests."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from django.conf import LazySettings
from django.db import connection

from tests.conftest import failed
from tests.processes import ROOT, Processes, wait_until


def _subprocess_env(events_path: Path, artifacts_dir: Path) -> dict[str, str]:
    settings_dict = connection.settings_dict
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "COV_")) and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(
        {
            "DATABASE_URL": (
                f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}"
            ),
            "EVENTS_PATH": str(events_path),
            # log_triage may read this test's files and the samples (tests narrow it per worker).
            "LOG_ROOTS": f"{events_path.parent},{ROOT / 'configs' / 'samples'}",
            "ARTIFACTS_DIR": str(artifacts_dir),
            "SCHEDULER_TICK_SECONDS": "0.2",
            "SCHEDULER_MAINTENANCE_SECONDS": "1",
            "SCHEDULER_RECOVERY_GRACE_SECONDS": "3",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        }
    )
    return env


@pytest.fixture(autouse=True)
def _no_throttle_counters() -> Iterator[None]:
    """No test inherits another's failed logins or bad API tokens: the throttling counters live in
    Redis (Django's cache), which outlives a test, and every test client comes from 127.0.0.1."""
    client = redis_lib.Redis.from_url(os.environ["REDIS_URL"])

    def clear() -> None:
        stale = list(client.scan_iter(match="ostinato-cache:*", count=1000))
        if stale:
            client.delete(*stale)

    clear()
    yield
    clear()
    client.close()


@pytest.fixture
def redis_db() -> Iterator[redis_lib.Redis]:
    """This session's Redis database, emptied before the test."""
    client = redis_lib.Redis.from_url(os.environ["REDIS_URL"])
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def live(
    transactional_db: None,
    settings: LazySettings,
    tmp_path: Path,
    redis_db: redis_lib.Redis,
    request: pytest.FixtureRequest,
) -> Iterator[Processes]:
    """Processes sharing this test's database, Redis db, event log and artifact folder with the test."""
    events_path = tmp_path / "events.jsonl"
    artifacts_dir = tmp_path / "artifacts"
    settings.EVENTS_PATH = events_path
    settings.ARTIFACTS_DIR = artifacts_dir
    settings.LOG_ROOTS = [tmp_path, ROOT / "configs" / "samples"]
    procs = Processes(env=_subprocess_env(events_path, artifacts_dir), logs=tmp_path / "logs")
    try:
        yield procs
    finally:
        procs.stop_all()
        if failed(request):
            sys.stderr.write("\n" + procs.report() + "\n")


def wait_ready(proc, timeout: float = 30.0) -> None:
    """Wait until a Celery worker or beat has started (or fail with its output)."""
    marker = "beat: Starting" if proc.name.startswith("beat") else " ready."

    def ready() -> bool:
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited early:\n{proc.tail()}")
        return marker in proc.output()

    wait_until(ready, timeout=timeout, message=f"{proc.name} to be ready")


@pytest.fixture
def dags(settings: LazySettings, tmp_path: Path) -> Path:
    """A folder for this test's DAG files, allowed in this process; pass ``dag_env(folder)`` to workers."""
    folder = tmp_path / "dags"
    folder.mkdir()
    settings.DAG_ROOTS = [folder, ROOT / "configs" / "dags"]
    return folder


def dag_env(folder: Path) -> dict[str, str]:
    """The environment that lets worker processes read the DAG files in ``folder`` too."""
    return {"DAG_ROOTS": f"{folder},{ROOT / 'configs' / 'dags'}"}


def write_dag(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip())
    return str(path)


#: The events that record a run's end in the event log.
END_EVENTS = frozenset({"run_finished", "run_cancelled"})


def wait_finished(run, timeout: float = 60.0, *, recorded: bool = True):
    """The run once it has left pending, queued and running (fails after ``timeout``).

    ``recorded``: also once its end is in the event log (``settings.EVENTS_PATH``). The event is
    appended just after the end is committed, so a test that reads the log as soon as the row
    says so could miss it.
    """
    from orchestrator.models import ACTIVE_STATUSES, Run

    ended = wait_until(
        lambda: Run.objects.filter(pk=run.pk).exclude(status__in=ACTIVE_STATUSES).first(),
        timeout=timeout,
        message=f"run {run.pk} to finish",
    )
    if recorded:
        wait_recorded(run)
    return ended


def wait_recorded(run) -> list[dict]:
    """The run's events once its end (``END_EVENTS``) is in the event log (``settings.EVENTS_PATH``)."""
    from django.conf import settings

    from orchestrator import events

    def ended() -> list[dict] | None:
        found = events.events_for_run(run.pk, settings.EVENTS_PATH)
        return found if any(e.get("event") in END_EVENTS for e in found) else None

    return wait_until(ended, timeout=10, message=f"the end of run {run.pk} in the event log")


def worker_reply(command: str) -> Any:
    """The one worker's answer to an ``inspect`` command (a broadcast with replies); None before it answers."""
    from project.celery import app

    replies = app.control.broadcast(command, reply=True, timeout=2)
    return next((reply for answer in replies for reply in answer.values()), None)
