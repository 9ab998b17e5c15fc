"""``django.tasks`` Tasks as jobs (kind ``django_task``, the ``django-tasks`` backport): at every door by
import path, and enqueued once per run through the configured task backend.

The Tasks are in ``tests.django_task_app``, a test-only app this module installs for its tests
(a Task is a job only in a module of an installed app). The enqueue tests use the backport's
database backend, its table created inside the test's transaction (PostgreSQL's DDL is
transactional: it is gone with the test), so what the backend stored is read back as rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.db import connection
from django.utils import timezone
from django_tasks import task
from django_tasks.signals import task_enqueued

from orchestrator import execution, registry, retries, task_jobs
from orchestrator.context import RunContext
from orchestrator.errors import RunStateError
from orchestrator.models import Job, JobKind, Run, RunStatus
from scheduling.models import Schedule
from tests import factories
from tests.doors import DOORS, submit

pytestmark = pytest.mark.django_db

APP = "tests.django_task_app"
ADD = f"{APP}.tasks.add"
NOTED = f"{APP}.tasks.noted"
SIGNATURE = f"{ADD}(x, y, *, scale=1)"


def _outside(x: int) -> int:
    return x


#: A real Task, but in a module of no installed app (the test suite's): never a job.
outside = task()(_outside)


@pytest.fixture(autouse=True)
def task_app(settings) -> None:
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, APP]


@pytest.fixture
def database_backend(settings) -> Iterator[Any]:
    """The backport's database backend as the default task backend; its model (rows it stored)."""
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "django_tasks", "django_tasks.backends.database"]
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.database.DatabaseBackend"}}
    from django_tasks.backends.database.models import DBTaskResult

    with connection.schema_editor() as editor:
        editor.create_model(DBTaskResult)
    yield DBTaskResult
    # Installing the app registered its admin (once per process): an admin page of a model whose
    # app is gone would break every admin page of the tests after this one.
    if admin.site.is_registered(DBTaskResult):
        admin.site.unregister(DBTaskResult)


# -- the doors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("door", DOORS)
def test_a_task_is_a_job_by_its_import_path_at_every_door(door: str, tmp_path):
    errors = submit(
        door, {"job": ADD, "interval_seconds": 60, "params": {"args": [1, 2], "kwargs": {"scale": 3}}}, tmp=tmp_path
    )
    assert errors == {}
    schedule = Schedule.objects.get()
    assert schedule.job.key == ADD and schedule.job.kind == JobKind.DJANGO_TASK
    assert schedule.params == {"args": [1, 2], "kwargs": {"scale": 3}}
    job = Job.objects.get(key=ADD)
    # The run only enqueues: the Celery app's default queue, a short timeout, no retries (the module's docstring).
    assert (job.queue, job.timeout_seconds, job.max_retries) == ("default", 60, 0)
    assert job.description == "Adds two numbers (and scales the sum)."


#: (what, params, message on ``params``): refused at every door, nothing written.
REFUSED = [
    ("a missing argument", {"args": [1]},
     f"args and kwargs do not fit {SIGNATURE}: missing a required argument: 'y'"),
    ("too many arguments", {"args": [1, 2, 3]},
     f"args and kwargs do not fit {SIGNATURE}: too many positional arguments"),
    ("an unknown keyword", {"args": [1, 2], "kwargs": {"scael": 3}},
     f"args and kwargs do not fit {SIGNATURE}: got an unexpected keyword argument 'scael'"),
    ("kwargs that are not an object", {"args": [1, 2], "kwargs": [3]},
     "kwargs: must be an object of keyword arguments, e.g. {\"dry_run\": true}, not [3]"),
    ("a key that is neither args nor kwargs", {"args": [1, 2], "priority": 3},
     "priority: is not a param of a task; a task takes args (a list) and kwargs (an object)"),
]  # fmt: skip


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize(("what", "params", "message"), REFUSED, ids=[case[0] for case in REFUSED])
def test_args_that_do_not_fit_the_tasks_function_are_refused_on_params(door, what, params, message, tmp_path):
    errors = submit(door, {"job": ADD, "interval_seconds": 60, "params": params}, tmp=tmp_path)
    assert errors.get("params") == [message], errors
    assert not Schedule.objects.exists()


def test_a_task_that_takes_its_context_is_given_the_rest():
    job = registry.task_job(NOTED)
    assert job is not None and job.kind == JobKind.DJANGO_TASK
    definition = registry.resolve(NOTED, JobKind.DJANGO_TASK)
    assert definition.call_help == f"args (a list) and kwargs (an object) for {NOTED}(note='')"
    registry.validate_params(NOTED, {"args": ["seen"]}, JobKind.DJANGO_TASK)
    registry.validate_params(NOTED, {"kwargs": {"note": "seen"}}, JobKind.DJANGO_TASK)
    with pytest.raises(Exception, match="too many positional arguments"):
        registry.validate_params(NOTED, {"args": ["seen", "twice"]}, JobKind.DJANGO_TASK)


#: Import paths that name no Task of an installed app: an unknown job, no row made.
NOT_TASKS = [
    (f"{APP}.tasks.plain", "a plain function beside the Tasks"),
    (f"{APP}.tasks.unwrapped", "a Task's function"),
    (f"{APP}.tasks.nope", "nothing at that name"),
    (f"{APP}.nowhere.add", "a module that does not exist"),
    (f"{__name__}.outside", "a Task in a module of no installed app"),
    ("django_tasks.task", "the backport's own decorator"),
    (f"{APP}.tasks.add()", "not an import path"),
]


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize(("path", "what"), NOT_TASKS, ids=[case[1] for case in NOT_TASKS])
def test_a_path_that_is_no_task_of_an_installed_app_is_an_unknown_job(door: str, path: str, what: str, tmp_path):
    errors = submit(door, {"job": path, "interval_seconds": 60}, tmp=tmp_path)
    known = ", ".join(Job.objects.order_by("key").values_list("key", flat=True))
    assert errors.get("job") == [f"unknown job {path!r}; jobs in this deployment: {known}"], errors
    assert not Job.objects.filter(key=path).exists() and not Schedule.objects.exists()


def test_the_same_task_is_no_job_while_its_app_is_not_installed(settings):
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != APP]
    assert registry.task_kind(ADD) is None and registry.task_job(ADD) is None


def test_a_backends_own_task_class_is_a_task():
    assert registry.task_kind(f"{APP}.tasks.own_class") == JobKind.DJANGO_TASK


def test_the_job_admin_makes_a_tasks_row_by_its_import_path(admin_client):
    fields = {
        "queue": "default",
        "timeout_seconds": "30",
        "max_retries": "1",
        "directives-TOTAL_FORMS": "0",
        "directives-INITIAL_FORMS": "0",
    }
    response = admin_client.post("/admin/orchestrator/job/add/", {"key": ADD, **fields})
    assert response.status_code == 302, response.context["adminform"].form.errors
    job = Job.objects.get(key=ADD)
    assert (job.kind, job.timeout_seconds, job.max_retries) == (JobKind.DJANGO_TASK, 30, 1)


def test_the_forms_and_the_api_show_a_task_job_once_it_has_its_row(admin_client):
    registry.task_job(ADD)
    page = admin_client.get("/admin/scheduling/schedule/add/").content.decode()
    assert f'value="{ADD}"' in page
    assert f"args (a list) and kwargs (an object) for {SIGNATURE}" in page.replace("&#x27;", "'")
    listed = {job["key"]: job for job in admin_client.get("/api/jobs/").json()["results"]}
    assert listed[ADD]["kind"] == "django_task" and listed[ADD]["registered"] is True


# -- enqueued once per run ---------------------------------------------------------------------------


def _run(path: str = ADD, params: dict[str, Any] | None = None, **job_changes: Any) -> Run:
    registry.task_job(path)
    if job_changes:
        factories.job(path, **job_changes)
    run = factories.run_row(path)
    snapshot = dict(run.directive_snapshot)
    snapshot["params"] = params if params is not None else {"args": [1, 2], "kwargs": {"scale": 3}}
    Run.objects.filter(id=run.id).update(directive_snapshot=snapshot)
    return Run.objects.get(id=run.id)


def _context(run: Run) -> RunContext:
    return RunContext(
        run_id=run.id,
        job_key=run.job.key,
        attempt=run.attempt,
        trigger=run.trigger,
        snapshot=run.directive_snapshot,
        logger=logging.getLogger("tests"),
    )


class DyingEnqueue:
    """While on: the worker dies right after the backend stored the task, before the run records it."""

    def __enter__(self) -> None:
        task_enqueued.connect(self.die)

    def __exit__(self, *exc: object) -> None:
        task_enqueued.disconnect(self.die)

    def die(self, **kwargs: Any) -> None:
        raise RuntimeError("worker died after the enqueue")


def test_a_run_enqueues_the_task_once_and_keeps_its_result_id(database_backend):
    run = _run()
    outcome = execution.execute_run(run.id, attempt=0, worker="w1")
    assert outcome.status == RunStatus.SUCCEEDED, outcome.error
    [stored] = database_backend.objects.all()
    assert (stored.task_path, stored.args_kwargs, stored.status) == (
        ADD,
        {"args": [1, 2], "kwargs": {"scale": 3}},
        "READY",  # the backend's worker runs it (the live tier)
    )
    assert Run.objects.get(id=run.id).result == {"task_result_id": str(stored.id), "backend": "default"}
    assert execution.execute_run(run.id, attempt=0, worker="w2").status == execution.DUPLICATE
    assert database_backend.objects.count() == 1


def test_a_retry_after_the_worker_died_past_the_enqueue_does_not_enqueue_again(database_backend):
    run = _run(max_retries=1)
    claimed = execution.claim_run(run.id, attempt=0, worker="w1", now=timezone.now())
    first = task_jobs.enqueue_django_task(ADD, _context(claimed))  # committed; then the worker is killed
    later = timezone.now() + timedelta(minutes=5)
    assert retries.retry_or_fail(claimed, error="worker lost", status=RunStatus.FAILED, now=later) == retries.RETRYING
    outcome = execution.execute_run(run.id, attempt=1, worker="w2")
    assert outcome.status == RunStatus.SUCCEEDED, outcome.error
    [stored] = database_backend.objects.all()
    assert first == {"task_result_id": str(stored.id), "backend": "default"} == Run.objects.get(id=run.id).result


def test_a_worker_that_dies_before_the_record_enqueued_nothing_and_its_retry_enqueues_once(database_backend):
    run = _run(max_retries=1)
    with DyingEnqueue():
        outcome = execution.execute_run(run.id, attempt=0, worker="w1")
    assert outcome.status == retries.RETRYING and "worker died after the enqueue" in outcome.error
    assert database_backend.objects.count() == 0  # the backend's row went with our transaction
    assert Run.objects.get(id=run.id).result is None
    assert execution.execute_run(run.id, attempt=1, worker="w2").status == RunStatus.SUCCEEDED
    [stored] = database_backend.objects.all()
    assert Run.objects.get(id=run.id).result == {"task_result_id": str(stored.id), "backend": "default"}


def test_without_retries_a_failed_enqueue_fails_the_run(database_backend):
    run = _run()
    with DyingEnqueue():
        outcome = execution.execute_run(run.id, attempt=0, worker="w1")
    assert outcome.status == RunStatus.FAILED and database_backend.objects.count() == 0


def test_a_run_that_is_no_longer_running_enqueues_nothing(database_backend):
    run = _run()
    claimed = execution.claim_run(run.id, attempt=0, worker="w1", now=timezone.now())
    Run.objects.filter(id=run.id).update(status=RunStatus.CANCELLED)
    with pytest.raises(RunStateError, match="no longer running"):
        task_jobs.enqueue_django_task(ADD, _context(claimed))
    assert database_backend.objects.count() == 0


def test_the_immediate_backend_runs_it_in_the_worker_and_the_run_keeps_its_id():
    run = _run(NOTED, {"kwargs": {"note": "now"}})
    assert execution.execute_run(run.id, attempt=0, worker="w1").status == RunStatus.SUCCEEDED
    result = Run.objects.get(id=run.id).result
    assert set(result) == {"task_result_id", "backend"} and result["task_result_id"] and result["backend"] == "default"
