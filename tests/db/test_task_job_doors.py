"""A host project's Celery tasks as jobs, at every door: the job by the task's name, params as args and kwargs.

The task's ``Job`` row is made on first use, from the task's own settings (queue, time limit,
description); what does not fit the task's signature is refused on ``params`` at save time, with
the same words at the admin, the schedules page, the API and YAML sync.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from orchestrator import registry, snapshots
from orchestrator.models import Job, JobKind
from scheduling.models import Schedule
from tests import host_tasks  # noqa: F401  (registers the host's tasks in the Celery app)
from tests.doors import DOORS, submit

pytestmark = pytest.mark.django_db

SIGNATURE = "host.add(x, y, *, scale=1)"


@pytest.mark.parametrize("door", DOORS)
def test_a_task_with_args_and_kwargs_is_a_job_at_every_door(door: str, tmp_path):
    errors = submit(
        door, {"job": "host.add", "interval_seconds": 60, "params": {"args": [1, 2], "kwargs": {"scale": 3}}},
        tmp=tmp_path,
    )  # fmt: skip
    assert errors == {}
    schedule = Schedule.objects.get()
    assert schedule.job.key == "host.add" and schedule.job.kind == JobKind.CELERY_TASK
    assert schedule.params == {"args": [1, 2], "kwargs": {"scale": 3}}
    job = Job.objects.get(key="host.add")
    assert (job.queue, job.timeout_seconds, job.max_retries) == ("default", 3600, 0)
    assert job.description == "Adds two numbers (and scales the sum)."


#: (what, params, message on ``params``): refused at every door, nothing written.
REFUSED = [
    ("a missing argument", {"args": [1]},
     f"args and kwargs do not fit {SIGNATURE}: missing a required argument: 'y'"),
    ("too many arguments", {"args": [1, 2, 3]},
     f"args and kwargs do not fit {SIGNATURE}: too many positional arguments"),
    ("an unknown keyword", {"args": [1, 2], "kwargs": {"scael": 3}},
     f"args and kwargs do not fit {SIGNATURE}: got an unexpected keyword argument 'scael'"),
    ("args that are not a list", {"args": {"x": 1}},
     'args: must be a list of positional arguments, e.g. [42], not {"x": 1}'),
    ("a key that is neither args nor kwargs", {"args": [1, 2], "retries": 3},
     "retries: is not a param of a task; a task takes args (a list) and kwargs (an object)"),
]  # fmt: skip


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize(("what", "params", "message"), REFUSED, ids=[case[0] for case in REFUSED])
def test_args_that_do_not_fit_the_task_are_refused_on_params(door, what, params, message, tmp_path):
    errors = submit(door, {"job": "host.add", "interval_seconds": 60, "params": params}, tmp=tmp_path)
    assert errors.get("params") == [message], errors
    assert not Schedule.objects.exists()


@pytest.mark.parametrize("door", DOORS)
def test_a_name_that_is_no_task_is_an_unknown_job(door: str, tmp_path):
    errors = submit(door, {"job": "host.nope", "interval_seconds": 60}, tmp=tmp_path)
    known = ", ".join(Job.objects.order_by("key").values_list("key", flat=True))
    assert errors.get("job") == [f"unknown job 'host.nope'; jobs in this deployment: {known}"], errors
    assert not Job.objects.filter(key="host.nope").exists()


def test_the_tasks_own_queue_and_time_limit_become_the_jobs():
    job = registry.task_job("host.routed")
    assert job is not None and job.kind == JobKind.CELERY_TASK
    assert (job.queue, job.timeout_seconds) == ("billing", 30)  # the soft limit, the earlier of the two
    assert registry.task_job("host.routed") == job  # made once


def test_celerys_own_tasks_and_our_run_task_are_not_jobs():
    assert registry.task_job("celery.backend_cleanup") is None
    assert registry.task_job("workers.run") is None
    names = registry.celery_task_names()
    assert "host.add" in names and "workers.run" not in names
    assert not [name for name in names if name.startswith("celery.")]


def test_the_forms_offer_the_apps_tasks_with_their_params(admin_client):
    page = admin_client.get("/admin/scheduling/schedule/add/").content.decode()
    assert 'value="host.add"' in page and "host.add (Celery task)" in page
    assert f"args (a list) and kwargs (an object) for {SIGNATURE}" in page.replace("&#x27;", "'")


def test_the_api_lists_a_task_job_with_its_kind(admin_client):
    registry.task_job("host.add")
    listed = {job["key"]: job for job in admin_client.get("/api/jobs/").json()["results"]}
    assert listed["host.add"]["kind"] == "celery_task" and listed["host.add"]["registered"] is True
    assert listed["noop"]["kind"] == "function"


def test_a_tasks_own_time_limit_wins_over_the_rows_timeout():
    routed, added = registry.task_job("host.routed"), registry.task_job("host.add")
    assert routed is not None and added is not None
    Job.objects.filter(pk__in=[routed.pk, added.pk]).update(timeout_seconds=999)
    routed.refresh_from_db()
    added.refresh_from_db()

    def frozen_timeout(job: Job) -> int:
        planned = snapshots.build_run(snapshots.RunRequest(job=job, trigger="api"), now=timezone.now())
        return int(planned.directive_snapshot["job"]["timeout_seconds"])

    assert frozen_timeout(routed) == 30, "the task's soft_time_limit"
    assert frozen_timeout(added) == 999, "no limit of its own: the row's"


def test_the_job_admin_adds_a_row_for_a_celery_task_by_its_name(admin_client):
    form = {"key": "host.add", "description": "", "queue": "invoices", "max_concurrency": "2"}
    form |= {"timeout_seconds": "60", "max_retries": "1", "directives-TOTAL_FORMS": "0"}
    form |= {"directives-INITIAL_FORMS": "0", "directives-MIN_NUM_FORMS": "0", "directives-MAX_NUM_FORMS": "1000"}
    response = admin_client.post("/admin/orchestrator/job/add/", form)
    assert response.status_code == 302, response.content[:500]
    job = Job.objects.get(key="host.add")
    assert (job.kind, job.queue, job.max_concurrency) == (JobKind.CELERY_TASK, "invoices", 2)
