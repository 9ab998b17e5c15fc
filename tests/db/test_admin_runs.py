"""The run, job and directive admin through Django's test client, on the real database and Redis."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import LazySettings
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from orchestrator import artifacts, events
from orchestrator.ids import short
from orchestrator.models import Directive, Job, LLMCall, Run, RunArtifact, RunStatus
from tests import factories
from tests.records import run_for, staff_user

RUNS = "/admin/orchestrator/run/"
#: Another run's worker in the shared event log; "-" and "@" never occur in the page's random CSRF
#: token, which a two-letter name did about once in sixty runs.
OTHER_WORKER = "other-worker@elsewhere"


def text(response: Any) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def event_log(settings: LazySettings, tmp_path: Path) -> Path:
    settings.EVENTS_PATH = tmp_path / "events.jsonl"
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    return Path(settings.EVENTS_PATH)


def finished_run_with_everything(event_log: Path) -> Run:
    schedule = factories.schedule(
        "log_triage", name="triage", kind="cron", cron="0 3 * * *", params={"top": 3, "path": "configs/samples/app.log"}
    )
    run = run_for(
        schedule,
        status=RunStatus.FAILED,
        scheduled_for=timezone.now().replace(microsecond=0),
        error="JobFailed: disk on fire\n\nTraceback (most recent call last): ...",
        result={"errors": 3},
    )
    written = artifacts.write(run.id, "report.md", "# Triage\n3 errors\n", "text/markdown")
    RunArtifact.objects.create(
        run=run,
        name=written.name,
        path=written.relative_path,
        size_bytes=written.size_bytes,
        sha256=written.sha256,
        content_type=written.content_type,
    )
    for model, prompt, completion in (("llama3", 800, 90), ("llama3", 200, 10), ("mistral", 50, 5)):
        LLMCall.objects.create(run=run, model=model, prompt_tokens=prompt, completion_tokens=completion)
    base = {"run_id": str(run.id), "job": "log_triage", "trigger": "schedule", "schedule": "triage"}
    events.record_events(
        [
            {"event": "schedule_enqueued", **base},
            {"event": "run_started", **base, "worker": "worker-1@host", "attempt": 1},
            {"event": "run_started", "run_id": "someone-else", "worker": OTHER_WORKER},
            {"event": "run_finished", **base, "status": "failed", "duration_ms": 2000, "error": "JobFailed: disk"},
        ],
        event_log,
    )
    return run


@pytest.mark.django_db
def test_run_page_shows_snapshot_timings_worker_error_artifacts_tokens_and_events(
    admin_client: Client, event_log: Path
) -> None:
    run = finished_run_with_everything(event_log)
    response = admin_client.get(reverse("admin:orchestrator_run_change", args=[run.pk]))
    assert response.status_code == 200
    page = text(response)
    assert '"key": "log_triage"' in page and '"top": 3' in page  # the frozen snapshot, pretty-printed
    assert "JobFailed: disk on fire" in page and "Traceback" in page
    assert "worker-1@host" in page
    assert "2.0 s" in page  # duration
    assert "✖ failed" in page
    download = reverse("admin:orchestrator_run_artifact", args=[run.pk, run.artifacts.get().pk])
    assert f'href="{download}"' in page and "report.md" in page
    # Token totals by model.
    assert "<td><code>llama3</code></td><td>1000</td><td>100</td><td><strong>1100</strong></td>" in page
    assert "<td><code>mistral</code></td><td>50</td><td>5</td><td><strong>55</strong></td>" in page
    # This run's events from the JSONL log, oldest first; another run's are not shown.
    assert re.findall(r'data-event="([^"]+)"', page) == ["schedule_enqueued", "run_started", "run_finished"]
    assert OTHER_WORKER not in page
    # Read-only: no save button, no edit form.
    assert 'name="_save"' not in page


@pytest.mark.django_db
def test_artifacts_download_for_staff_only(admin_client: Client, client: Client, event_log: Path) -> None:
    run = finished_run_with_everything(event_log)
    url = reverse("admin:orchestrator_run_artifact", args=[run.pk, run.artifacts.get().pk])

    response = admin_client.get(url)
    assert response.status_code == 200
    assert response.getvalue() == b"# Triage\n3 errors\n"
    assert response["Content-Disposition"] == 'attachment; filename="report.md"'
    assert response["X-Content-Type-Options"] == "nosniff"

    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")
    from django.contrib.auth.models import User

    outsider = User.objects.create_user("outsider", password="pw")  # logged in, not staff
    client.force_login(outsider)
    assert client.get(url).status_code == 302
    no_perm = staff_user("staff-without-run-perms")
    client.force_login(no_perm)
    assert client.get(url).status_code == 403


@pytest.mark.django_db
def test_artifact_with_an_unsafe_name_or_a_missing_file_is_not_served(admin_client: Client, event_log: Path) -> None:
    run = finished_run_with_everything(event_log)
    escaping = RunArtifact.objects.create(run=run, name="../../../etc/passwd", path="x", size_bytes=1, sha256="0" * 64)
    gone = RunArtifact.objects.create(run=run, name="gone.txt", path="x", size_bytes=1, sha256="0" * 64)
    for artifact in (escaping, gone):
        url = reverse("admin:orchestrator_run_artifact", args=[run.pk, artifact.pk])
        assert admin_client.get(url).status_code == 404
    other_run = run_for(run.occurrence.schedule)
    mismatched = reverse("admin:orchestrator_run_artifact", args=[other_run.pk, run.artifacts.get(name="report.md").pk])
    assert admin_client.get(mismatched).status_code == 404


@pytest.mark.django_db
def test_run_list_filters_by_status_job_trigger_date_and_schedule(admin_client: Client) -> None:
    nightly = factories.schedule("noop", name="nightly")
    other = factories.schedule("sleep", name="other")
    ok = run_for(nightly, status=RunStatus.SUCCEEDED)
    bad = run_for(nightly, status=RunStatus.FAILED, trigger="manual")
    old = run_for(other, status=RunStatus.SUCCEEDED, created_at=timezone.now() - timedelta(days=40))

    def ids(query: str) -> set[Any]:
        response = admin_client.get(RUNS + query)
        assert response.status_code == 200, query
        return {run.pk for run in response.context["cl"].result_list}

    assert ids("?status__exact=failed") == {bad.pk}
    assert ids(f"?job__id__exact={Job.objects.get(key='sleep').pk}") == {old.pk}
    assert ids("?trigger__exact=manual") == {bad.pk}
    since = (timezone.now() - timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert ids("?" + urlencode({"created_at__gte": str(since)})) == {ok.pk, bad.pk}  # as the date filter links
    assert ids(f"?schedule={nightly.pk}") == {ok.pk, bad.pk}
    assert ids(f"?q={short(bad.pk)}") == {bad.pk}  # the short id from the lists
    page = text(admin_client.get(RUNS + f"?schedule={nightly.pk}"))
    assert "nightly" in page and "✖ failed" in page


@pytest.mark.django_db
def test_run_list_query_count_does_not_grow_with_runs(admin_client: Client, django_assert_num_queries) -> None:
    schedule = factories.schedule("noop")

    def listed() -> int:
        response = admin_client.get(RUNS)
        assert response.status_code == 200
        return len(response.context["cl"].result_list)

    for _ in range(3):
        run_for(schedule)
    listed()
    with django_assert_num_queries(QUERIES_PER_RUN_LIST):
        assert listed() == 3
    for index in range(97):
        run_for(schedule, status=RunStatus.FAILED if index % 2 else RunStatus.SUCCEEDED)
    with django_assert_num_queries(QUERIES_PER_RUN_LIST):
        assert listed() == 100


#: Session, user, the job filter's choices, the planner's row estimate, the count (exact only because
#: the table is small: see test_history_at_scale), the page (job and schedule joined in).
#: No unfiltered count and no date hierarchy: both scan the whole (unbounded) runs table.
QUERIES_PER_RUN_LIST = 6


@pytest.mark.django_db(transaction=True)
def test_cancel_action_cancels_active_runs_and_keeps_finished_ones(
    admin_client: Client, event_log: Path, redis_db
) -> None:
    schedule = factories.schedule("noop")
    queued = run_for(schedule, status=RunStatus.QUEUED)
    running = run_for(schedule, status=RunStatus.RUNNING)
    done = run_for(schedule, status=RunStatus.SUCCEEDED)

    response = admin_client.post(
        RUNS,
        {"action": "cancel_action", "_selected_action": [queued.pk, running.pk, done.pk]},
        follow=True,
    )
    notes = [str(m) for m in response.context["messages"]]
    assert any(note.startswith("Cancelled 2 runs") for note in notes), notes
    assert "1 run had already finished and kept its outcome." in notes
    statuses = dict(Run.objects.values_list("pk", "status"))
    assert statuses == {queued.pk: "cancelled", running.pk: "cancelled", done.pk: "succeeded"}
    assert "cancelled by admin in the admin" in Run.objects.get(pk=running.pk).error
    cancelled_events = {e["run_id"] for e in events.iter_events(event_log) if e["event"] == "run_cancelled"}
    assert cancelled_events == {str(queued.pk), str(running.pk)}
    assert LogEntry.objects.filter(object_id=str(running.pk)).exists()


@pytest.mark.django_db(transaction=True)
def test_cancel_button_on_an_active_run(admin_client: Client, event_log: Path, redis_db) -> None:
    schedule = factories.schedule("noop")
    queued = run_for(schedule, status=RunStatus.QUEUED)
    done = run_for(schedule, status=RunStatus.SUCCEEDED)

    def page(run: Run) -> str:
        return text(admin_client.get(reverse("admin:orchestrator_run_change", args=[run.pk])))

    assert 'data-action="cancel"' in page(queued)
    assert 'data-action="cancel"' not in page(done)
    admin_client.post(reverse("admin:orchestrator_run_cancel", args=[queued.pk]))
    assert Run.objects.get(pk=queued.pk).status == "cancelled"


@pytest.mark.django_db
def test_cancel_needs_the_change_permission(client: Client) -> None:
    schedule = factories.schedule("noop")
    queued = run_for(schedule, status=RunStatus.QUEUED)
    client.force_login(staff_user("run-viewer", "orchestrator.view_run"))
    response = client.get(RUNS)
    assert response.status_code == 200
    assert response.context["action_form"] is None or "cancel_action" not in dict(
        response.context["action_form"].fields["action"].choices
    )
    client.post(RUNS, {"action": "cancel_action", "_selected_action": [queued.pk]})
    assert client.post(reverse("admin:orchestrator_run_cancel", args=[queued.pk])).status_code == 403
    assert Run.objects.get(pk=queued.pk).status == "queued"


# --- jobs and directives ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_job_admin_edits_limits_and_records_what_changed(admin_client: Client) -> None:
    job = Job.objects.get(key="sleep")
    factories.schedule("sleep")
    listing = text(admin_client.get("/admin/orchestrator/job/"))
    assert "sleep" in listing and "no limit" in listing
    url = reverse("admin:orchestrator_job_change", args=[job.pk])
    page = text(admin_client.get(url))
    assert "A run over the limit waits in its queue" in page
    response = admin_client.post(
        url,
        {
            "description": job.description,
            "queue": "heavy",
            "max_concurrency": "2",
            "timeout_seconds": "600",
            "max_retries": "1",
            "directives-TOTAL_FORMS": "0",
            "directives-INITIAL_FORMS": "0",
            "directives-MIN_NUM_FORMS": "0",
            "directives-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    job.refresh_from_db()
    assert (job.queue, job.max_concurrency, job.timeout_seconds, job.max_retries) == ("heavy", 2, 600, 1)
    message = LogEntry.objects.get(object_id=str(job.pk)).get_change_message()
    assert "Queue: 'default' → 'heavy'" in message and "Max concurrency: (empty) → 2" in message


@pytest.mark.django_db
def test_job_admin_refuses_bad_values_and_unregistered_keys(admin_client: Client) -> None:
    job = Job.objects.get(key="noop")
    response = admin_client.post(
        reverse("admin:orchestrator_job_change", args=[job.pk]),
        {
            "queue": "no spaces allowed",
            "max_concurrency": "0",
            "timeout_seconds": "0",
            "max_retries": "0",
            "directives-TOTAL_FORMS": "0",
            "directives-INITIAL_FORMS": "0",
        },
    )
    errors = response.context["adminform"].form.errors
    assert "A queue name is 1-100 letters" in errors["queue"][0]
    assert errors["max_concurrency"] == ["must be 1 or more, or empty for no limit"]
    assert errors["timeout_seconds"] == ["must be at least 1 second"]
    response = admin_client.post(
        "/admin/orchestrator/job/add/",
        {"key": "not_a_job", "queue": "default", "timeout_seconds": "60", "max_retries": "0"},
    )
    assert (
        response.context["adminform"]
        .form.errors["key"][0]
        .startswith("is not a registered job, a task of the Celery app nor a django.tasks Task; registered jobs: ")
    )


@pytest.mark.django_db
def test_directive_params_are_validated_as_a_json_object(admin_client: Client) -> None:
    job = Job.objects.get(key="log_triage")
    add = "/admin/orchestrator/directive/add/"
    response = admin_client.post(add, {"name": "triage-app", "job": job.pk, "params": '{"path": }'})
    assert response.context["adminform"].form.errors["params"] == [
        "is not valid JSON: Expecting value at line 1, column 10"
    ]
    response = admin_client.post(add, {"name": "triage-app", "job": job.pk, "params": '"just a string"'})
    assert response.context["adminform"].form.errors["params"] == [
        'must be a JSON object, e.g. {"path": "var/app.log"}, not the str "just a string"'
    ]
    response = admin_client.post(add, {"name": "triage-app", "job": job.pk, "params": '{"path": "/var/log/app.log"}'})
    assert response.status_code == 302
    directive = Directive.objects.get(name="triage-app")
    assert directive.params == {"path": "/var/log/app.log"}
    page = text(admin_client.get(reverse("admin:orchestrator_directive_change", args=[directive.pk])))
    assert '{\n  "path": "/var/log/app.log"\n}' in page  # shown indented
    listing = text(admin_client.get("/admin/orchestrator/directive/"))
    assert '{"path": "/var/log/app.log"}' in listing
