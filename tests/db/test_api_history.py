"""The API's history, runs, jobs, schema and docs, and its answers to malformed input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.models import LLMCall, Run, RunArtifact
from scheduling.models import OccurrenceStatus, Schedule, ScheduledRun
from tests import factories
from tests.db.test_api import _schedule
from tests.db.test_api import admin as admin  # the fixture: an API client of a superuser

pytestmark = pytest.mark.django_db

# --- history -----------------------------------------------------------------------------------


def _occurrences(schedule: Schedule, count: int, start: datetime) -> list[ScheduledRun]:
    rows = []
    for index in range(count):
        when = start + timedelta(minutes=index)
        run = Run.objects.create(
            job=schedule.job,
            trigger="schedule",
            status="succeeded" if index % 3 else "failed",
            created_at=when,
            directive_snapshot={"schedule": {"id": schedule.pk, "name": schedule.name}},
        )
        rows.append(
            ScheduledRun.objects.create(
                schedule=schedule,
                scheduled_for=when,
                status=OccurrenceStatus.DISPATCHED,
                run=run,
                dispatched_at=when,
                created_at=when,
            )
        )
    ScheduledRun.objects.create(
        schedule=schedule,
        scheduled_for=start + timedelta(minutes=count),
        status=OccurrenceStatus.SKIPPED,
        reason="run x of this schedule is still active (overlap policy skip)",
        created_at=start + timedelta(minutes=count),
    )
    return rows


def test_history_is_newest_first_paginated_and_filterable(admin):
    schedule = _schedule(name="with-history")
    start = datetime(2030, 1, 1, tzinfo=UTC)
    _occurrences(schedule, 7, start)

    first = admin.get(f"/api/schedules/{schedule.pk}/history/", {"page_size": 3}).json()
    assert first["count"] == 8
    times = [row["scheduled_for"] for row in first["results"]]
    assert times == ["2030-01-01T00:07:00Z", "2030-01-01T00:06:00Z", "2030-01-01T00:05:00Z"]
    assert first["results"][0]["status"] == "skipped" and first["results"][0]["run"] is None
    assert first["results"][1]["run"]["status"] == "failed" and first["results"][2]["run"]["status"] == "succeeded"
    second = admin.get(first["next"]).json()
    assert second["results"][0]["scheduled_for"] == "2030-01-01T00:04:00Z"
    assert admin.get(f"/api/schedules/{schedule.pk}/history/", {"page": 99}).status_code == 404

    failed = admin.get(f"/api/schedules/{schedule.pk}/history/", {"run_status": "failed"}).json()
    assert [row["scheduled_for"] for row in failed["results"]] == [
        "2030-01-01T00:06:00Z",
        "2030-01-01T00:03:00Z",
        "2030-01-01T00:00:00Z",
    ]
    skipped = admin.get(f"/api/schedules/{schedule.pk}/history/", {"status": "skipped"}).json()
    assert skipped["count"] == 1
    window = admin.get(
        f"/api/schedules/{schedule.pk}/history/",
        {"since": "2030-01-01T00:02:00Z", "until": "2030-01-01T00:04:00Z"},
    ).json()
    assert [row["scheduled_for"] for row in window["results"]] == ["2030-01-01T00:03:00Z", "2030-01-01T00:02:00Z"]
    backwards = admin.get(
        f"/api/schedules/{schedule.pk}/history/", {"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}
    )
    assert backwards.status_code == 400 and "until" in backwards.json()


# --- runs and jobs -----------------------------------------------------------------------------


@pytest.mark.parametrize("list_path", ["history", "runs"])
def test_numbered_pages_end_at_row_ten_thousand_with_a_400_that_says_what_to_use(admin, list_path):
    schedule = _schedule(name="deep-pages")
    _occurrences(schedule, 3, datetime(2030, 1, 1, tzinfo=UTC))
    url = f"/api/schedules/{schedule.pk}/history/" if list_path == "history" else "/api/runs/"

    # The last numbered page within the first 10,000 rows is answered (a 404 here: these lists are short).
    assert admin.get(url, {"page": 10_000, "page_size": 1}).status_code == 404
    assert admin.get(url, {"page": 200}).status_code == 404  # 50 rows a page by default: rows 9,951-10,000
    for query in ({"page": 10_001, "page_size": 1}, {"page": 201}, {"page": 30_006}):
        response = admin.get(url, query)
        assert response.status_code == 400, (query, response.content)
        [message] = response.json()["page"]
        assert message.startswith(f"page {query['page']} of {query.get('page_size', 50)} rows starts past row 10,000")
        assert "time filters" in message and "`cursor`" in message
    assert admin.get(url, {"page": 1, "page_size": 500}).status_code == 200


def test_runs_list_filters_and_detail(admin):
    schedule = _schedule(name="runs-of")
    start = datetime(2030, 1, 1, tzinfo=UTC)
    occurrences = _occurrences(schedule, 4, start)
    other = Run.objects.create(job=factories.job("sleep"), trigger="manual", status="running", created_at=start)
    run = occurrences[1].run
    assert run is not None
    run.started_at, run.finished_at = start, start + timedelta(milliseconds=1500)
    run.save()
    RunArtifact.objects.create(
        run=run, name="triage.json", path=f"{run.pk}/triage.json", size_bytes=10, sha256="a" * 64
    )
    LLMCall.objects.create(run=run, model="llama3", prompt_tokens=100, completion_tokens=20)
    LLMCall.objects.create(run=run, model="llama3", prompt_tokens=50, completion_tokens=5)

    everything = admin.get("/api/runs/").json()
    assert everything["count"] == 5
    assert admin.get("/api/runs/", {"job": "sleep"}).json()["results"][0]["id"] == str(other.pk)
    assert admin.get("/api/runs/", {"trigger": "manual"}).json()["count"] == 1
    assert admin.get("/api/runs/", {"status": "failed"}).json()["count"] == 2
    assert admin.get("/api/runs/", {"schedule": schedule.pk}).json()["count"] == 4
    window = admin.get(
        "/api/runs/", {"created_after": "2030-01-01T00:01:00Z", "created_before": "2030-01-01T00:03:00Z"}
    )
    assert window.json()["count"] == 2

    detail = admin.get(f"/api/runs/{run.pk}/").json()
    assert detail["duration_ms"] == 1500
    assert detail["schedule"] == {"id": schedule.pk, "name": "runs-of", "scheduled_for": None}
    assert detail["artifacts"][0]["name"] == "triage.json"
    assert detail["tokens"] == [{"model": "llama3", "prompt_tokens": 150, "completion_tokens": 25, "total_tokens": 175}]
    assert "directive_snapshot" in detail and detail["directive_snapshot"]["schedule"]["name"] == "runs-of"
    assert admin.get("/api/runs/not-a-uuid/").status_code == 404


def test_cancel_a_run_and_409_once_it_ended(admin, transactional_db):
    run = Run.objects.create(
        job=factories.job("sleep"), trigger="manual", status="queued", created_at=datetime.now(UTC)
    )
    response = admin.post(f"/api/runs/{run.pk}/cancel/", {"reason": "operator asked"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "cancelled" and response.json()["error"] == "operator asked"
    run.refresh_from_db()
    assert run.status == "cancelled"
    again = admin.post(f"/api/runs/{run.pk}/cancel/")
    assert again.status_code == 409 and "is cancelled" in again.json()["detail"]


def test_jobs(admin):
    listed = admin.get("/api/jobs/").json()
    keys = [row["key"] for row in listed["results"]]
    assert {"noop", "sleep", "fail", "log_triage"} <= set(keys)
    noop = admin.get("/api/jobs/noop/").json()
    assert noop["registered"] is True and noop["queue"] == "default"
    assert admin.get("/api/jobs/missing/").status_code == 404


def test_schema_lists_every_endpoint(admin):
    response = admin.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths) == {
        "/api/schedules/",
        "/api/schedules/{id}/",
        "/api/schedules/{id}/run-now/",
        "/api/schedules/{id}/enable/",
        "/api/schedules/{id}/disable/",
        "/api/schedules/{id}/history/",
        "/api/runs/",
        "/api/runs/{id}/",
        "/api/runs/{id}/cancel/",
        "/api/jobs/",
        "/api/jobs/{key}/",
        "/api/schedules/{id}/backfill/",
        "/api/schedules/{id}/pause/",
        "/api/schedules/{id}/resume/",
        "/api/schedules/{id}/audit/",
        "/api/calendars/",
        "/api/calendars/{id}/",
        "/api/backfills/",
        "/api/backfills/{id}/",
        "/api/backfills/{id}/cancel/",
        "/api/notification-rules/",
        "/api/notification-rules/{id}/",
        "/api/notifications/",
        "/api/notifications/{id}/",
    }
    assert {"get", "patch", "delete"} <= set(paths["/api/schedules/{id}/"])
    assert "put" not in paths["/api/schedules/{id}/"]


def test_docs_page_and_its_assets_are_served_locally(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("reader", password="pw-reader-123456"))
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui-bundle.js" in html
    # The start-up script is a file of its own (no inline script: Content-Security-Policy); it names the schema.
    script_url = next(part.split('"')[0] for part in html.split('src="')[1:] if "script" in part.split('"')[0])
    script = client.get(script_url.replace("&amp;", "&"))
    assert script.status_code == 200 and "/api/schema/" in script.content.decode()
    asset = next(part.split('"')[0] for part in html.split('src="')[1:] if "swagger-ui-bundle.js" in part)
    assert asset.startswith("/static/"), "the Swagger UI comes from this server, not a CDN"
    response = client.get(asset)
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:100]


def test_the_schema_generates_without_warnings_and_validates(tmp_path):
    from django.core.management import call_command

    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert "/api/schedules/{id}/run-now/" in target.read_text()


def test_unknown_paths_under_the_api_are_json_404s(admin):
    for path in ("/api/schedules/abc/", "/api/nothing-here/", "/api/runs/1/2/3/", "/api/schedules/a%0Ab/disable/"):
        response = admin.get(path)
        assert response.status_code == 404 and response.json() == {"detail": "Not found."}, path


@pytest.mark.parametrize("field", ["name", "tenant", "cron", "timezone", "description"])
def test_nul_characters_in_text_fields_are_a_400(admin, field):
    body = {"name": "nul", "job": "noop", "cron": "0 * * * *", field: "a\u0000b"}
    response = admin.post("/api/schedules/", body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert admin.get("/api/schedules/", {"name": "a\u0000b"}).status_code == 400


def test_boolean_filters_are_spelled_true_or_false(admin):
    _schedule(name="on")
    assert admin.get("/api/schedules/", {"enabled": "TRUE"}).json()["count"] == 1
    assert admin.get("/api/schedules/", {"enabled": "false"}).json()["count"] == 0
    assert "enabled" in admin.get("/api/schedules/", {"enabled": "1"}).json()
