"""A worker keeps its database connection across runs, and replaces a broken one without losing a run."""

from __future__ import annotations

from django.db import connection

from orchestrator import service
from orchestrator.models import Run, RunTrigger
from tests import factories
from tests.helpers import wait_finished, wait_ready


def start() -> Run:
    return service.create_run(service.RunRequest(job=factories.job("db_backend"), trigger=RunTrigger.API))


def run_once() -> dict:
    run = wait_finished(start())
    assert run.status == "succeeded", run.error
    return dict(run.result)


def test_runs_reuse_the_connection_and_leave_no_result_rows(live):
    wait_ready(live.worker(concurrency=1))
    seen = [run_once() for _ in range(4)]
    assert len({s["pid"] for s in seen}) == 1, seen
    # one connection for every run of the process, not one per task (Celery's default in a worker)
    assert len({s["backend"] for s in seen}) == 1, seen


def test_a_killed_connection_is_replaced_and_the_next_run_succeeds(live):
    wait_ready(live.worker(concurrency=1))
    first = run_once()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [first["backend"]])
    second = run_once()
    third = run_once()
    assert second["backend"] != first["backend"]
    assert third["backend"] == second["backend"]
