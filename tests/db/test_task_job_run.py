"""A host task's own code inside a run, in this process: most tasks set no ``queue`` option of their own."""

from __future__ import annotations

import logging
import uuid

import pytest
from celery import Celery, signals

from orchestrator import connections, task_jobs
from orchestrator.context import RunContext
from tests import host_tasks


def test_a_task_without_a_queue_option_runs_with_its_args_and_kwargs():
    assert not hasattr(host_tasks.add, "queue"), "Celery tasks have no queue attribute unless they set one"
    context = RunContext(
        run_id=uuid.uuid4(),
        job_key="host.add",
        attempt=1,
        trigger="api",
        snapshot={"params": {"args": [1, 2], "kwargs": {"scale": 3}}},
        logger=logging.getLogger(__name__),
    )
    assert task_jobs.run_celery_task("host.add", context) == 9


def test_a_tasks_definition_is_built_once_per_task_object():
    """Every run resolves its job's code; building it (route, signature help) once per process is enough."""
    first = task_jobs.celery_definition("host.add")
    assert first is not None and task_jobs.celery_definition("host.add") is first


def test_a_task_registered_anew_under_its_name_gets_a_new_definition():
    app = connections.celery_app()
    name = "host.redefined"

    def define(queue: str) -> None:
        def redefined() -> None:
            """A host task defined again, as a reloaded module would."""

        app.task(name=name, queue=queue, shared=False)(redefined)

    try:
        define("one")
        before = task_jobs.celery_definition(name)
        app.tasks.unregister(name)
        define("two")
        after = task_jobs.celery_definition(name)
    finally:
        app.tasks.unregister(name)
    assert before is not None and after is not None
    assert (before.queue, after.queue) == ("one", "two")


#: A Celery app named by ``SCHEDULER_CELERY_APP`` in the test below (one per case).
APP: Celery | None = None


@pytest.mark.parametrize("worker_started", [False, True], ids=["web or beat process", "worker's pool process"])
def test_the_apps_tasks_are_discovered_once_per_process_and_not_again_after_a_worker_start(settings, worker_started):
    """A worker discovers the tasks as it starts, before its pool forks; doing it again in every pool
    process would run Django's system checks once more there (Celery's Django fix-up)."""
    global APP
    APP = Celery(f"discovery-{worker_started}", set_as_current=False)
    settings.SCHEDULER_CELERY_APP = f"{__name__}:APP"
    discoveries: list[object] = []

    def discovered(sender: object, **kwargs: object) -> None:
        discoveries.append(sender)

    signals.import_modules.connect(discovered, sender=APP, weak=False)
    try:
        if worker_started:
            APP.loader.init_worker()  # what ``celery worker`` does as it starts
        for _ in range(3):
            assert task_jobs.celery_task("host.nothing") is None
    finally:
        signals.import_modules.disconnect(discovered, sender=APP)
    assert discoveries == [APP], "once: by the worker's start, else by the first lookup"
