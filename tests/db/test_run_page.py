"""The run page (the run admin's change view): its title, its attempt, its times, its refreshing."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import LazySettings
from django.test import Client
from django.urls import reverse

from orchestrator.models import Run, RunStatus
from tests import factories
from tests.records import run_for


@pytest.fixture(autouse=True)
def event_log(settings: LazySettings, tmp_path: Path) -> Path:
    settings.EVENTS_PATH = tmp_path / "events.jsonl"
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    return Path(settings.EVENTS_PATH)


def page(client: Client, run: Run) -> str:
    response = client.get(reverse("admin:orchestrator_run_change", args=[run.pk]))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


@pytest.mark.django_db
def test_the_title_is_the_job_and_the_run_id_not_a_row_number(admin_client: Client) -> None:
    run = run_for(factories.schedule("noop", name="nightly"))
    text = page(admin_client, run)
    assert f"<title>noop run {run.id} |" in text
    assert f"<h1>noop run {run.id}</h1>" in text
    assert f"{run.job_id}:{run.id}" not in text
    assert str(run) == f"noop run {run.id}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "attempt", "shown"),
    [
        (RunStatus.QUEUED, 0, "not started yet (the first attempt is 1)"),
        (RunStatus.RUNNING, 1, "attempt 1 of 1"),
        (RunStatus.SUCCEEDED, 2, "attempt 2 of 2"),
        (RunStatus.PENDING, 1, "attempt 1 of 1 (waiting to retry)"),
    ],
)
def test_the_attempt_reads_the_same_as_everywhere_else(
    admin_client: Client, status: str, attempt: int, shown: str
) -> None:
    run = run_for(factories.schedule("noop"), status=status, attempt=attempt)
    assert shown in page(admin_client, run)
    api = admin_client.get(f"/api/runs/{run.pk}/").json()
    assert api["attempt"] == attempt  # the same number: 1 is the first, 0 before it starts


@pytest.mark.django_db
def test_an_active_run_page_refreshes_itself_and_a_final_one_does_not(admin_client: Client) -> None:
    schedule = factories.schedule("noop")
    active = page(admin_client, run_for(schedule, status=RunStatus.RUNNING))
    assert 'id="ost-run-live" data-run-active="true"' in active
    assert "orchestrator/run_refresh.js" in active
    assert "<script>" not in active  # the refresher is a static file (CSP)
    final = page(admin_client, run_for(schedule, status=RunStatus.SUCCEEDED))
    assert 'id="ost-run-live" data-run-active="false"' in final


@pytest.mark.django_db
def test_times_show_the_schedules_zone_with_utc_beside_it(admin_client: Client) -> None:
    schedule = factories.schedule("noop", kind="cron", cron="30 9 * * *", timezone="Europe/Berlin")
    moment = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
    run = run_for(schedule, created_at=moment, scheduled_for=moment)
    text = page(admin_client, run)
    assert "2026-12-07 09:30:00 CET (08:30 UTC)" in text
    assert "p.m." not in text and "a.m." not in text


@pytest.mark.django_db
def test_a_dag_runs_steps_are_an_ordered_table_with_status_duration_and_links(admin_client: Client) -> None:
    from orchestrator import artifacts
    from orchestrator.models import RunArtifact

    steps = [
        {"id": "fetch", "job": "noop", "needs": [], "status": "succeeded", "started_at": "2026-12-07T08:30:00+00:00",
         "finished_at": "2026-12-07T08:30:01.5+00:00", "duration_ms": 1500, "error": "", "result": {"rows": 3}},
        {"id": "triage", "job": "log_triage", "needs": ["fetch"], "status": "failed", "started_at": None,
         "finished_at": None, "duration_ms": 20, "error": "JobFailed: <b>bad</b>", "result": None},
        {"id": "report", "job": "noop", "needs": ["triage"], "status": "skipped", "started_at": None,
         "finished_at": None, "duration_ms": None, "error": "", "result": None},
    ]  # fmt: skip
    run = run_for(factories.schedule("noop"), status=RunStatus.FAILED, steps=steps)
    written = artifacts.write(run.id, "fetch/out.json", "{}")
    found = RunArtifact.objects.create(
        run=run, name=written.name, path=written.relative_path, size_bytes=2, sha256=written.sha256
    )
    response = admin_client.get(reverse("admin:orchestrator_run_change", args=[run.pk]))
    body = response.content.decode()
    assert re.findall(r'<tr data-step="([^"]+)">', body) == ["fetch", "triage", "report"]
    assert "1.5 s" in body and "20 ms" in body
    assert 'data-status="skipped"' in body and 'data-status="failed"' in body
    assert "JobFailed: &lt;b&gt;bad&lt;/b&gt;" in body
    assert reverse("admin:orchestrator_run_artifact_text", args=[run.pk, found.pk]) in body
    assert '"finished_at": ' not in body  # not the raw JSON


def test_what_django_formats_by_itself_reads_iso_like_too() -> None:
    from django.template import Context, Template
    from django.utils import formats

    moment = datetime(2026, 12, 6, 21, 31, tzinfo=UTC)
    assert formats.date_format(moment, "DATETIME_FORMAT") == "2026-12-06 21:31:00 UTC"  # not "Dec. 6, 2026, 9:31 p.m."
    rendered = Template("{% load ostinato_time %}{{ at|moment:'Europe/Berlin' }}").render(Context({"at": moment}))
    assert rendered == "2026-12-06 22:31:00 CET (21:31 UTC)"
