"""The REST API on PostgreSQL: every endpoint, authentication, model permissions, validation by field."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from orchestrator.models import LLMCall, Run, RunArtifact
from scheduling.models import OccurrenceStatus, Schedule, ScheduledRun
from scheduling.surfaces.api.tokens import ApiToken
from tests import factories

pytestmark = pytest.mark.django_db


def _client(user: User | None = None, *, token: bool = True) -> APIClient:
    client = APIClient()
    if user is not None:
        if token:
            _token, key = ApiToken.objects.issue(user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        else:
            client.force_login(user)
    return client


def _user(name: str, *perms: str) -> User:
    user = User.objects.create_user(name, password="pw-" + uuid.uuid4().hex)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return User.objects.get(pk=user.pk)  # fresh: no permission cache


@pytest.fixture
def admin() -> APIClient:
    return _client(User.objects.create_superuser("root", password="pw-" + uuid.uuid4().hex))


def _schedule(**fields) -> Schedule:
    fields.setdefault("kind", "cron")
    fields.setdefault("cron", "0 3 * * *")
    return factories.schedule(**fields)


# --- authentication and permissions -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/schedules/"),
        ("post", "/api/schedules/"),
        ("get", "/api/schedules/1/"),
        ("patch", "/api/schedules/1/"),
        ("delete", "/api/schedules/1/"),
        ("post", "/api/schedules/1/run-now/"),
        ("post", "/api/schedules/1/enable/"),
        ("post", "/api/schedules/1/disable/"),
        ("get", "/api/schedules/1/history/"),
        ("get", "/api/runs/"),
        ("get", "/api/runs/2f0b7c1e-6c55-4c8e-9a57-6d0f1e2a3b4c/"),
        ("post", "/api/runs/2f0b7c1e-6c55-4c8e-9a57-6d0f1e2a3b4c/cancel/"),
        ("get", "/api/jobs/"),
        ("get", "/api/jobs/noop/"),
        ("get", "/api/schema/"),
    ],
)
def test_anonymous_requests_get_401_with_a_json_body(method, path):
    response = getattr(APIClient(), method)(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")
    assert b"detail" in response.content  # JSON (the schema view answers in its own YAML)


def test_a_bad_token_is_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/schedules/").status_code == 401


def test_docs_page_sends_a_browser_without_a_session_to_the_login():
    response = APIClient().get("/api/docs/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_permissions_follow_the_model_permissions():
    schedule = _schedule(name="perm-target")
    nobody = _client(_user("nobody"))
    assert nobody.get("/api/schedules/").status_code == 403
    assert nobody.get("/api/runs/").status_code == 403
    assert nobody.get("/api/jobs/").status_code == 403

    viewer = _client(_user("viewer", "scheduling.view_schedule"))
    assert viewer.get("/api/schedules/").status_code == 200
    assert viewer.get(f"/api/schedules/{schedule.pk}/").status_code == 200
    assert viewer.patch(f"/api/schedules/{schedule.pk}/", {"cron": "0 4 * * *"}, format="json").status_code == 403
    assert viewer.post(f"/api/schedules/{schedule.pk}/disable/").status_code == 403
    assert viewer.post(f"/api/schedules/{schedule.pk}/run-now/").status_code == 403
    assert viewer.delete(f"/api/schedules/{schedule.pk}/").status_code == 403
    assert viewer.get(f"/api/schedules/{schedule.pk}/history/").status_code == 403  # needs occurrence + run views

    editor = _client(_user("editor", "scheduling.view_schedule", "scheduling.change_schedule"), token=False)
    assert editor.patch(f"/api/schedules/{schedule.pk}/", {"cron": "0 4 * * *"}, format="json").status_code == 200
    assert editor.post(f"/api/schedules/{schedule.pk}/disable/").status_code == 200
    assert (
        editor.post("/api/schedules/", {"name": "x", "job": "noop", "cron": "* * * * *"}, format="json").status_code
        == 403
    )
    schedule.refresh_from_db()
    assert schedule.cron == "0 4 * * *" and not schedule.enabled


def test_session_authentication_needs_the_csrf_token_for_writes():
    user = _user("csrf", "scheduling.view_schedule", "scheduling.change_schedule")
    schedule = _schedule(name="csrf-target")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(f"/api/schedules/{schedule.pk}/disable/")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


# --- schedules --------------------------------------------------------------------------------


def test_create_list_retrieve_patch_delete(admin):
    created = admin.post(
        "/api/schedules/",
        {
            "name": "nightly-export",
            "job": "sleep",
            "params": {"seconds": 0},
            "cron": "30 2 * * *",
            "timezone": "Europe/Berlin",
            "overlap_policy": "buffer_one",
            "max_concurrency": 2,
            "tenant": "acme",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["source"] == "api" and body["job"] == "sleep" and body["kind"] == "cron"
    assert body["timing"] == "cron 30 2 * * * (Europe/Berlin)"
    assert body["next_run_at"] is not None
    row = Schedule.objects.get(pk=body["id"])
    assert row.source == "api" and row.next_run_at is not None

    listed = admin.get("/api/schedules/", {"tenant": "acme"}).json()
    assert listed["count"] == 1 and listed["results"][0]["name"] == "nightly-export"
    assert admin.get("/api/schedules/", {"tenant": "other"}).json()["count"] == 0
    assert admin.get("/api/schedules/", {"job": "sleep", "enabled": "true"}).json()["count"] == 1

    patched = admin.patch(f"/api/schedules/{row.pk}/", {"kind": "interval", "interval_seconds": 600}, format="json")
    assert patched.status_code == 200, patched.json()
    assert patched.json()["timing"] == "every 600s"
    row.refresh_from_db()
    assert row.kind == "interval" and row.next_run_at is not None and row.next_run_at.timestamp() % 600 == 0

    assert admin.get(f"/api/schedules/{row.pk}/").json()["interval_seconds"] == 600
    assert admin.delete(f"/api/schedules/{row.pk}/").status_code == 204
    assert not Schedule.objects.filter(pk=row.pk).exists()
    assert admin.get(f"/api/schedules/{row.pk}/").status_code == 404
    assert admin.put(f"/api/schedules/{row.pk}/", {}, format="json").status_code == 405


@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [
        ({"cron": "61 * * * *"}, "cron", "cron"),
        ({"cron": "* * *"}, "cron", "has 3 fields"),
        ({"timezone": "Europe/Berln"}, "timezone", "Did you mean Europe/Berlin"),
        ({"kind": "interval", "interval_seconds": 0}, "interval_seconds", ""),
        ({"kind": "once"}, "run_at", "required for a one-off"),
        ({"job": "no-such-job"}, "job", "unknown job 'no-such-job'"),
        ({"params": ["not", "an", "object"]}, "params", "JSON object"),
        ({"params": {"x": "nul\u0000byte"}}, "params", "NUL"),
        ({"job": "no\u0000op"}, "job", "must not contain NUL"),
        (
            {"overlap_policy": "sometimes"},
            "overlap_policy",
            "must be one of skip, allow, buffer_one, buffer_all, replace",
        ),
        ({"directive": ""}, "directive", "or null for none"),
        ({"max_concurrency": 0}, "max_concurrency", ""),
        ({"start_at": "2030-01-02T00:00:00Z", "end_at": "2030-01-01T00:00:00Z"}, "end_at", "after start_at"),
        ({"kind": "once", "run_at": "2030-01-01T00:00:00Z", "jitter_seconds": 5}, "jitter_seconds", "one-off"),
        ({"name": ""}, "name", ""),
        ({"misfire_grace_seconds": 0}, "misfire_grace_seconds", "at least 1 second"),
    ],
)
def test_validation_errors_name_the_field(admin, payload, field, fragment):
    timing = {} if {"kind", "interval_seconds", "run_at"} & set(payload) else {"cron": "0 * * * *"}
    body = {"name": "validated", "job": "noop", **timing, **payload}
    response = admin.post("/api/schedules/", body, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert field in errors, errors
    assert fragment in " ".join(errors[field])
    assert not Schedule.objects.filter(name="validated").exists()


def test_patch_is_validated_against_the_whole_schedule(admin):
    schedule = _schedule(name="patched", kind="interval", interval_seconds=60, cron="")
    response = admin.patch(f"/api/schedules/{schedule.pk}/", {"kind": "cron"}, format="json")
    assert response.status_code == 400 and "cron" in response.json()
    schedule.refresh_from_db()
    assert schedule.kind == "interval"


def test_duplicate_names_are_rejected_by_field(admin):
    _schedule(name="taken")
    response = admin.post("/api/schedules/", {"name": "taken", "job": "noop", "cron": "* * * * *"}, format="json")
    assert response.status_code == 400 and "name" in response.json()


def test_directive_must_belong_to_the_job(admin):
    from orchestrator.models import Directive

    Directive.objects.create(name="sleepy", job=factories.job("sleep"), params={"seconds": 1})
    response = admin.post(
        "/api/schedules/", {"name": "d", "job": "noop", "directive": "sleepy", "cron": "* * * * *"}, format="json"
    )
    assert response.status_code == 400 and "belongs to job 'sleep'" in response.json()["directive"][0]
    ok = admin.post(
        "/api/schedules/", {"name": "d", "job": "sleep", "directive": "sleepy", "cron": "* * * * *"}, format="json"
    )
    assert ok.status_code == 201 and ok.json()["directive"] == "sleepy"


def test_malformed_json_and_filters_are_400(admin):
    response = admin.generic("POST", "/api/schedules/", "{not json", content_type="application/json")
    assert response.status_code == 400 and "detail" in response.json()
    bad = admin.get("/api/runs/", {"status": "exploded", "created_after": "yesterday"})
    assert bad.status_code == 400 and set(bad.json()) == {"status", "created_after"}
    assert admin.get("/api/runs/?status=failed&status=succeeded").json() == {"status": ["give this parameter once"]}
    assert "trigger" in admin.get("/api/runs/?trigger=").json(), "an empty value is validated, not ignored"
    paged = admin.get("/api/schedules/", {"page_size": "0"})
    assert paged.status_code == 400 and "page_size" in paged.json()
    assert "page" in admin.get("/api/schedules/", {"page": "first"}).json()
    assert admin.get("/api/schedules/", {"page_size": "501"}).status_code == 400


def test_enable_and_disable(admin):
    schedule = _schedule(name="toggle")
    disabled = admin.post(f"/api/schedules/{schedule.pk}/disable/")
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    schedule.refresh_from_db()
    assert not schedule.enabled
    enabled = admin.post(f"/api/schedules/{schedule.pk}/enable/")
    assert enabled.status_code == 200 and enabled.json()["enabled"] is True
    assert enabled.json()["next_run_at"] is not None


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
