"""A schedule of kind ``django_task``, live: each occurrence enqueues the Task once, the backport's worker runs it.

Real processes: two beats and a worker of ours, and the ``django-tasks`` backport's own
``db_worker``, all with ``tests.settings_django_tasks`` (the project's settings plus the backport's
database backend and the test-only app of Tasks). The backend's table is migrated for the test and
dropped after it. What the backend stored is read with SQL: this process does not install it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from orchestrator import registry
from orchestrator.models import ACTIVE_STATUSES, JobKind, Run
from scheduling.models import Schedule, ScheduledRun
from tests import factories
from tests.helpers import QUICK, wait_ready
from tests.processes import Processes, wait_until

ADD = "tests.django_task_app.tasks.add"
ENV = {"DJANGO_SETTINGS_MODULE": "tests.settings_django_tasks"}
TABLE = "django_tasks_database_dbtaskresult"
TASK_WORKER_ID = "ostinato-live-db-worker"


@pytest.fixture
def task_backend(live: Processes, settings) -> Iterator[None]:
    """The backend's table in the test's database while the test runs; the app of Tasks in this process."""
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "tests.django_task_app"]
    live.run_manage("migrate", "django_tasks_database", "--no-input", env=ENV)
    try:
        yield
    finally:
        live.stop_all()  # nothing uses the table any more
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
            cursor.execute("DELETE FROM django_migrations WHERE app = 'django_tasks_database'")


def stored_tasks() -> dict[str, dict[str, Any]]:
    """The backend's rows by result id (its JSON columns come back as text through Django's cursor)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, status, task_path, args_kwargs, return_value, worker_ids FROM {TABLE}")
        return {
            str(found_id): {"status": status, "task_path": path, "args_kwargs": _json(args_kwargs),
                            "return_value": _json(value), "worker_ids": _json(worker_ids)}
            for found_id, status, path, args_kwargs, value, worker_ids in cursor.fetchall()
        }  # fmt: skip


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def test_each_occurrence_enqueues_the_task_once_and_the_backends_worker_runs_it(live: Processes, task_backend):
    quick = {**QUICK, **ENV}
    worker = live.worker(env=quick, concurrency=2)
    beats = [live.beat("beat-a", env=quick), live.beat("beat-b", env=quick)]
    for proc in (worker, *beats):
        wait_ready(proc)
    task_worker = live.manage(
        "db-worker",
        "db_worker",
        "--no-reload",
        "--no-startup-delay",
        "--interval=0.2",
        f"--worker-id={TASK_WORKER_ID}",
        env=ENV,
    )

    job = registry.task_job(ADD)
    assert job is not None and job.kind == JobKind.DJANGO_TASK
    params = {"args": [2, 3], "kwargs": {"scale": 10}}
    schedule = factories.schedule(ADD, interval_seconds=1, overlap_policy="allow", params=params)
    wait_until(
        lambda: Run.objects.filter(occurrence__schedule=schedule, status="succeeded").count() >= 6,
        timeout=60,
        message="six runs of the schedule",
    )
    Schedule.objects.filter(id=schedule.id).update(enabled=False)
    runs = wait_until(
        lambda: (
            None
            if Run.objects.filter(occurrence__schedule=schedule, status__in=ACTIVE_STATUSES).exists()
            else list(Run.objects.filter(occurrence__schedule=schedule).select_related("occurrence"))
        ),
        timeout=30,
        message="the schedule's runs to end",
    )
    stored = wait_until(
        lambda: (found := stored_tasks()) and all(row["status"] == "SUCCEEDED" for row in found.values()) and found,
        timeout=30,
        message="the backend's worker to run every task",
    )
    assert task_worker.alive(), task_worker.tail()

    occurrences = ScheduledRun.objects.filter(schedule=schedule)
    assert len(runs) == occurrences.count() >= 6
    assert {run.status for run in runs} == {"succeeded"}
    per_occurrence = Counter(run.occurrence.scheduled_for for run in runs)
    assert set(per_occurrence.values()) == {1}
    kept = [run.result["task_result_id"] for run in runs]
    # Exactly once: one stored task per run (per occurrence), each the one its run kept.
    assert len(set(kept)) == len(kept) == len(stored) and set(kept) == set(stored)
    assert {run.result["backend"] for run in runs} == {"default"}
    for row in stored.values():
        assert row["task_path"] == ADD and row["args_kwargs"] == params
        assert row["return_value"] == 50 and row["worker_ids"] == [TASK_WORKER_ID]  # run by the backport's worker
