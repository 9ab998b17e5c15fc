"""Helpers the db, live and e2e tiers share: waiting for processes and runs, DAG files, worker replies."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import redis as redis_lib

from tests.processes import ROOT, Proc, Processes, wait_until


def wait_ready(proc, timeout: float = 30.0) -> None:
    """Wait until a Celery worker or beat has started (or fail with its output)."""
    marker = "beat: Starting" if proc.name.startswith("beat") else " ready."

    def ready() -> bool:
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited early:\n{proc.tail()}")
        return marker in proc.output()

    wait_until(ready, timeout=timeout, message=f"{proc.name} to be ready")


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


#: Beat settings for tests that wait on recovery: maintenance twice a second, lost messages after 3 s.
QUICK = {"SCHEDULER_MAINTENANCE_SECONDS": "0.5", "SCHEDULER_LOST_MESSAGE_SECONDS": "3"}


def start_private_redis(live: Processes, port: int) -> Proc:
    """A Redis server of the test's own on ``port`` (no persistence), stopped with the test's processes."""
    proc = live.start(
        "redis",
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    )
    client = redis_lib.Redis(port=port, socket_connect_timeout=1)
    wait_until(lambda: _ping(client), timeout=10, message="the private Redis")
    return proc


def _ping(client: redis_lib.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis_lib.RedisError:
        return False
