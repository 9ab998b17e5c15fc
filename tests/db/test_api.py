"""The REST API on PostgreSQL: every endpoint, authentication, model permissions, validation by field."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from scheduling.models import Schedule
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
