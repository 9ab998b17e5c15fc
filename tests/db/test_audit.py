"""The audit trail at the web doors: who, which door, when, what changed (fields before and after).

The admin, /schedules/ and the API (session and token) each leave an entry per change, recorded at
the model layer (``orchestrator.audit``); calendars changed with a schedule join its entry; a
secret is never stored. Shown by ``GET /api/schedules/{id}/audit/`` (its permission, shape and
cost here) and on the admin's History page. YAML, imports, the CLI and the beat: ``test_audit_doors``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from orchestrator import audit
from orchestrator.models import AuditEntry, Job
from scheduling.models import Calendar, Schedule
from scheduling.surfaces.api.tokens import ApiToken
from tests import factories, host_tasks
from tests.doors import form_data

pytestmark = pytest.mark.django_db

assert host_tasks.add.name == "host.add"


def _user(name: str, *perms: str) -> Any:
    user = get_user_model().objects.create_user(name, password=f"{name}-password-1", is_staff=True)
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def editor() -> Any:
    return _user(
        "editor",
        "scheduling.view_schedule",
        "scheduling.add_schedule",
        "scheduling.change_schedule",
        "scheduling.delete_schedule",
        "scheduling.view_calendar",
    )


@pytest.fixture
def root() -> Any:
    return get_user_model().objects.create_superuser("root", password="root-password-1")


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def trail(obj: Any) -> list[AuditEntry]:
    """The object's entries, oldest first."""
    return list(reversed(audit.entries_for(obj)))


def last(obj: Any) -> AuditEntry:
    found = audit.entries_for(obj).first()
    assert found is not None
    return found


# --- API ------------------------------------------------------------------------------------------


def test_an_api_patch_of_the_params_leaves_an_entry_with_only_what_changed(editor: Any) -> None:
    schedule = factories.schedule("probe", name="patched", params={"seconds": 1})
    before = audit.entries_for(schedule).count()
    answer = _api(editor).patch(f"/api/schedules/{schedule.pk}/", {"params": {"seconds": 2}}, format="json")
    assert answer.status_code == 200, answer.content
    assert audit.entries_for(schedule).count() == before + 1
    entry = last(schedule)
    assert (entry.actor, entry.door, entry.action) == ("editor", "api", "changed")
    assert entry.changes == {"params": {"before": {"seconds": 1}, "after": {"seconds": 2}}}
    assert abs(entry.at - timezone.now()) < timedelta(minutes=1)


def test_api_create_and_delete_are_audited_and_the_trail_outlives_the_schedule(editor: Any) -> None:
    api = _api(editor)
    body = {"name": "made-by-api", "job": "noop", "kind": "interval", "interval_seconds": 300, "params": {}}
    created = api.post("/api/schedules/", body, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    entry = last(Schedule.objects.get(pk=pk))
    assert (entry.actor, entry.door, entry.action) == ("editor", "api", "created")
    assert entry.changes["name"] == {"before": None, "after": "made-by-api"}
    assert entry.changes["interval_seconds"] == {"before": None, "after": 300}
    assert "next_run_at" not in entry.changes and "updated_at" not in entry.changes  # consequences, not input

    assert api.delete(f"/api/schedules/{pk}/").status_code == 204
    answer = api.get(f"/api/schedules/{pk}/audit/")
    assert answer.status_code == 200, answer.content
    actions = [row["action"] for row in answer.json()["results"]]
    assert actions == ["deleted", "created"]
    deleted = answer.json()["results"][0]
    assert deleted["changes"]["name"] == {"before": "made-by-api", "after": None}
    assert api.get("/api/schedules/987654/audit/").status_code == 404


def test_a_token_authenticated_change_names_the_tokens_user_and_never_stores_the_key(editor: Any) -> None:
    schedule = factories.schedule(name="by-token")
    _token, key = ApiToken.objects.issue(editor)
    answer = Client().patch(
        f"/api/schedules/{schedule.pk}/",
        json.dumps({"description": "set with a token"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {key}",
    )
    assert answer.status_code == 200, answer.content
    entry = last(schedule)
    assert (entry.actor, entry.door, entry.changes) == (
        "editor",
        "api",
        {"description": {"before": "", "after": "set with a token"}},
    )
    stored = json.dumps(list(AuditEntry.objects.values()), default=str)
    assert key not in stored and key[:12] not in stored


def test_calendars_changed_with_the_schedule_are_one_entry(editor: Any) -> None:
    Calendar.objects.create(name="holidays", dates=["2026-12-25"])
    Calendar.objects.create(name="weekends", crons=["* * * * 6,0"])
    schedule = factories.schedule(name="with-calendars")
    api = _api(editor)
    url = f"/api/schedules/{schedule.pk}/"
    answer = api.patch(url, {"calendars": ["holidays"], "description": "closed on holidays"}, format="json")
    assert answer.status_code == 200, answer.content
    entry = last(schedule)
    assert entry.changes == {
        "description": {"before": "", "after": "closed on holidays"},
        "calendars": {"before": [], "after": ["holidays"]},
    }
    answer = api.patch(url, {"calendars": ["weekends"]}, format="json")
    assert answer.status_code == 200, answer.content
    assert last(schedule).changes == {"calendars": {"before": ["holidays"], "after": ["weekends"]}}
    assert [e.action for e in trail(schedule)] == ["created", "changed", "changed"]


def test_a_calendars_change_and_a_jobs_change_are_audited(root: Any) -> None:
    calendar = Calendar.objects.create(name="maintenance", crons=["* 2-3 * * *"])
    api = _api(root)
    answer = api.patch(f"/api/calendars/{calendar.pk}/", {"crons": ["* 4 * * *"]}, format="json")
    assert answer.status_code == 200, answer.content
    entry = last(calendar)
    assert (entry.actor, entry.door, entry.changes) == (
        "root",
        "api",
        {"crons": {"before": ["* 2-3 * * *"], "after": ["* 4 * * *"]}},
    )
    job = Job.objects.get(key="noop")
    client = Client()
    client.force_login(root)
    page = client.get(f"/admin/orchestrator/job/{job.pk}/change/")
    assert page.status_code == 200
    data = {**page.context["adminform"].form.initial, "max_concurrency": 3, "description": job.description}
    for inline in page.context["inline_admin_formsets"]:
        prefix = inline.formset.prefix
        data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0, f"{prefix}-MAX_NUM_FORMS": 1000})
    data = {name: "" if value is None else value for name, value in data.items()}
    posted = client.post(f"/admin/orchestrator/job/{job.pk}/change/", data)
    assert posted.status_code == 302, posted.content[:3000]
    entry = last(job)
    assert (entry.actor, entry.door, entry.changes) == (
        "root",
        "admin",
        {"max_concurrency": {"before": None, "after": 3}},
    )


# --- admin and /schedules/ ------------------------------------------------------------------------


def test_an_admin_change_is_audited_and_shown_on_the_history_page(root: Any) -> None:
    schedule = factories.schedule(name="nightly-report", kind="cron", cron="0 2 * * *", timezone="Europe/Berlin")
    client = Client()
    client.force_login(root)
    url = f"/admin/scheduling/schedule/{schedule.pk}/change/"
    answer = client.post(url, form_data(cron="30 3 * * *", description="<b>x</b>"))
    assert answer.status_code == 302, answer.context["adminform"].form.errors if answer.context else answer
    entry = last(schedule)
    assert (entry.actor, entry.door, entry.action) == ("root", "admin", "changed")
    assert entry.changes == {
        "cron": {"before": "0 2 * * *", "after": "30 3 * * *"},
        "description": {"before": "", "after": "<b>x</b>"},
    }
    history = client.get(f"/admin/scheduling/schedule/{schedule.pk}/history/")
    assert history.status_code == 200
    html = history.content.decode()
    assert "Changes at every door" in html and "30 3 * * *" in html
    assert "<b>x</b>" not in html  # values are text, escaped
    assert html.index("Changes at every door") < html.index("Admin history")


def test_an_edit_on_the_schedules_page_is_audited(root: Any) -> None:
    schedule = factories.schedule(name="nightly-report", kind="cron", cron="0 2 * * *", timezone="Europe/Berlin")
    client = Client()
    client.force_login(root)
    answer = client.post(f"/schedules/{schedule.pk}/edit/", form_data(tenant="acme"))
    assert answer.status_code == 302, answer.content[:2000]
    entry = last(schedule)
    assert (entry.actor, entry.door, entry.action, entry.changes) == (
        "root",
        "web",
        "changed",
        {"tenant": {"before": "", "after": "acme"}},
    )


def test_pausing_on_the_schedules_page_names_the_user_and_the_action(root: Any) -> None:
    schedule = factories.schedule(name="paused-on-page")
    client = Client()
    client.force_login(root)
    answer = client.post(f"/schedules/{schedule.pk}/pause/", {"note": "deploy freeze"})
    assert answer.status_code in (200, 302)
    entry = last(schedule)
    assert (entry.actor, entry.door, entry.action) == ("root", "web", "paused")
    assert entry.changes["enabled"] == {"before": True, "after": False}
    assert entry.changes["pause_note"] == {"before": "", "after": "deploy freeze"}


# --- secrets -------------------------------------------------------------------------------------


def test_a_secret_field_is_recorded_as_changed_never_with_its_value() -> None:
    user_model = get_user_model()
    audit.register(user_model, exclude=("last_login",))
    try:
        with audit.acting("cli", "cli"):
            user = user_model.objects.create_user("keeper", password="first-Secret-1")
            first_hash = user.password
            user = user_model.objects.get(pk=user.pk)
            user.set_password("second-Secret-2")
            user.save()
        created, changed = trail(user)
        assert created.changes["password"] == {"before": None, "after": audit.HIDDEN}
        assert changed.changes == {"password": {"before": audit.HIDDEN, "after": audit.HIDDEN}}
        stored = json.dumps(list(AuditEntry.objects.values("changes")))
        for secret in ("first-Secret-1", "second-Secret-2", first_hash, user.password):
            assert secret not in stored
    finally:
        audit.unregister(user_model)


# --- the endpoint ---------------------------------------------------------------------------------


def test_the_audit_endpoint_needs_view_schedule_and_answers_newest_first_paginated(editor: Any) -> None:
    schedule = factories.schedule("probe", name="audited", params={"seconds": 0})
    api = _api(editor)
    for n in range(1, 4):
        assert api.patch(f"/api/schedules/{schedule.pk}/", {"params": {"seconds": n}}, format="json").status_code == 200
    url = f"/api/schedules/{schedule.pk}/audit/"
    answer = api.get(url, {"page_size": 2})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["count"] == 4 and body["next"] is not None and len(body["results"]) == 2
    newest = body["results"][0]
    assert set(newest) == {"at", "actor", "door", "action", "changes"}
    assert newest["changes"] == {"params": {"before": {"seconds": 2}, "after": {"seconds": 3}}}
    assert newest["at"].endswith("Z")
    assert body["results"][1]["changes"]["params"]["after"] == {"seconds": 2}

    assert APIClient().get(url).status_code == 401
    stranger = _user("stranger")
    assert _api(stranger).get(url).status_code == 403
    viewer = _user("viewer", "scheduling.view_schedule")
    assert _api(viewer).get(url).status_code == 200
    assert _api(viewer).get(f"/api/schedules/{schedule.pk}/audit/", {"page": "x"}).status_code == 400


def test_the_audit_endpoint_costs_the_same_however_long_the_trail(editor: Any) -> None:
    schedule = factories.schedule(name="long-trail")
    api = _api(editor)
    url = f"/api/schedules/{schedule.pk}/audit/"
    api.get(url)
    with CaptureQueriesContext(connection) as short:
        assert api.get(url).status_code == 200
    for n in range(30):
        audit.record(schedule, "changed", {"params": {"before": n, "after": n + 1}})
    with CaptureQueriesContext(connection) as long:
        assert api.get(url).status_code == 200
    assert len(long.captured_queries) == len(short.captured_queries)


def test_a_patch_costs_one_insert_for_its_entry(editor: Any) -> None:
    schedule = factories.schedule(name="one-insert")
    api = _api(editor)
    with CaptureQueriesContext(connection) as queries:
        assert api.patch(f"/api/schedules/{schedule.pk}/", {"tenant": "x"}, format="json").status_code == 200
    audit_queries = [q["sql"] for q in queries.captured_queries if "orchestrator_auditentry" in q["sql"]]
    assert len(audit_queries) == 1 and audit_queries[0].startswith("INSERT")


def test_audit_for_gives_the_schedule_page_its_last_entries() -> None:
    schedule = factories.schedule(name="for-the-page")
    for n in range(5):
        audit.record(schedule, "changed", {"tenant": {"before": str(n), "after": str(n + 1)}})
    shown = audit.audit_for(schedule, limit=3)
    assert [row["changes"]["tenant"]["after"] for row in shown] == ["5", "4", "3"]
    assert set(shown[0]) == {"at", "actor", "door", "action", "changes"}


def test_the_admin_lists_every_entry_read_only(root: Any) -> None:
    schedule = factories.schedule(name="<i>listed</i>")
    audit.record(schedule, "changed", {"tenant": {"before": "", "after": "<script>x</script>"}})
    client = Client()
    client.force_login(root)
    page = client.get("/admin/orchestrator/auditentry/")
    assert page.status_code == 200
    assert "&lt;i&gt;listed&lt;/i&gt;" in page.content.decode() and "<i>listed" not in page.content.decode()
    entry = last(schedule)
    detail = client.get(f"/admin/orchestrator/auditentry/{entry.pk}/change/")
    assert detail.status_code == 200 and "<script>x</script>" not in detail.content.decode()
    assert client.get("/admin/orchestrator/auditentry/add/").status_code == 403
    assert client.post(f"/admin/orchestrator/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
