"""Celery tasks as a host project writes them (plain, bound, retrying, routed), for the tests of tasks as jobs.

The test process imports this module (so the tasks are in the Celery app the doors look them up
in); workers started for those tests import it with ``-I tests.host_tasks``. Names are explicit so
a test reads what a worker logs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Task, shared_task


@shared_task(name="host.add")
def add(x: int, y: int, *, scale: int = 1) -> int:
    """Adds two numbers (and scales the sum)."""
    return (x + y) * scale


@shared_task(bind=True, name="host.who")
def who(self: Task[Any, Any], note: str = "") -> dict[str, Any]:
    """What the task sees of itself while it runs."""
    return {"id": self.request.id, "retries": self.request.retries, "name": self.name, "note": note}


@shared_task(bind=True, name="host.flaky", max_retries=3)
def flaky(self: Task[Any, Any], fail_times: int) -> dict[str, int]:
    """Asks to be retried (after 0.2 s) until it has failed ``fail_times`` times."""
    if self.request.retries < fail_times:
        raise self.retry(countdown=0.2, exc=RuntimeError(f"not yet ({self.request.retries})"))
    return {"retries": self.request.retries}


@shared_task(name="host.always_fails", autoretry_for=(ValueError,), max_retries=2, default_retry_delay=1)
def always_fails(marker: str) -> None:
    """Fails every time; Celery's autoretry tries it twice more (a second apart), then gives up."""
    with Path(marker).open("a") as attempts:
        attempts.write("attempt\n")
    raise ValueError("still broken")


@shared_task(name="host.quiet", ignore_result=True)
def quiet() -> dict[str, str]:
    return {"never": "kept"}


@shared_task(name="host.big")
def big(size: int) -> str:
    return "x" * size


@shared_task(name="host.routed", queue="billing", soft_time_limit=30, time_limit=40)
def routed() -> str:
    """Runs on the billing queue, within 30 seconds."""
    return "billed"
